"""The declared structure of the JSON chainrule reads from files, checked before use.

A model file's metadata and a checkpoint's state are JSON that anyone can edit, so
nothing in them is believed until it has been checked against a table of fields:

* its **types** (a number where a number belongs, a list of text where column names
  belong, an object where an object belongs),
* its **ranges** (layer sizes ≥ 1, scales > 0, finite numbers, a known activation
  dtype …),
* and its **lengths**, against what the tensors and the data say (``context``): the
  input scaler and the column names have one entry per input of the network, the
  classes one per output (two for a sigmoid head), a checkpoint's row order one per
  training row.

A field the table does not declare is refused: a new field, even an optional one, is
one entry in the table (``Field(check, required=False)``), so that every key a file can
hold is one this code knows how to check.  ``loads`` bounds the JSON's size and nesting
before it parses it.  A violation is one ``DataError`` line naming the file and the
field (``x_scaler.offset``, ``history.logs.loss[3]``).

The tables: ``MODEL`` (a model file's ``chainrule`` metadata, see ``io``) and
``CHECKPOINT`` (a checkpoint's state, see ``checkpoint``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from .errors import DataError

MAX_DEPTH = 64  # the deepest nesting any file of chainrule's has is 6
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


class Invalid(Exception):
    """A value that breaks its declared structure: ``where`` it is and ``what`` is wrong."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(where, what)
        self.where, self.what = where, what


def depth(text: str | bytes) -> int:
    """How deeply the JSON ``text`` nests its lists and objects (linear time, no parsing)."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    bare = np.frombuffer(_STRINGS.sub(b'""', raw), dtype=np.uint8)
    steps = (np.isin(bare, (ord("["), ord("{"))).astype(np.int64)
             - np.isin(bare, (ord("]"), ord("}"))).astype(np.int64))
    return int(np.cumsum(steps).max(initial=0))


def loads(text: str | bytes, source: str, what: str, max_bytes: int,
          max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads(text)`` once its size and nesting are known to be sane; a ``DataError``
    naming ``source`` (the file) and ``what`` (the part of it) otherwise."""
    if len(text) > max_bytes:
        raise DataError(f"{source}: its {what} is {len(text):,} bytes, more than chainrule reads "
                        f"({max_bytes:,}); the file is damaged or was edited")
    if depth(text) > max_depth:
        raise DataError(f"{source}: its {what} nests deeper than {max_depth} levels; the file is "
                        "damaged or was edited")
    try:
        return json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):  # ValueError: JSON, huge ints
        raise DataError(f"{source}: its {what} is not valid JSON; the file is damaged") from None


# ------------------------------------------------------------------------------------
# The checks: each is ``check(value, where, context)`` and raises ``Invalid``.

Context = Mapping[str, Any]
Length = int | str | None  # a number, or the key in the context that holds it


def _length(length: Length, context: Context) -> int | None:
    return context.get(length) if isinstance(length, str) else length


#: How a length from the context is said in a message.
MEANING = {
    "inputs": "the network has {} input(s)", "outputs": "the network has {} output(s)",
    "layers": "the network has {} layer(s)", "classes": "the output layer holds {} classes",
    "targets": "the network predicts {} target column(s)", "rows": "the data have {} "
    "training row(s)", "parameters": "the network has {} parameter tensors",
}


def _said(length: Length, n: int) -> str:
    return MEANING.get(length, "{} are needed").format(n) if isinstance(length, str) \
        else f"{n} are needed"


def _type_name(value: Any) -> str:
    return {bool: "true/false", int: "a whole number", float: "a number", str: "text",
            list: "a list", dict: "an object", type(None): "null"}.get(type(value), "?")


class Check:
    """One declared kind of value."""

    def __call__(self, value: Any, where: str, context: Context) -> None:  # pragma: no cover
        raise NotImplementedError


@dataclass
class Num(Check):
    """A number (not true/false): ``whole`` for integers; within [lo, hi] (``gt``: > lo,
    ``lt``: < hi); finite unless ``finite=False``."""

    lo: float | None = None
    hi: float | None = None
    whole: bool = False
    gt: bool = False
    finite: bool = True
    lt: bool = False

    def __call__(self, value: Any, where: str, context: Context) -> None:
        kinds = (int,) if self.whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise Invalid(where, f"should be {'a whole number' if self.whole else 'a number'}, "
                                 f"not {_type_name(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            if self.finite:
                raise Invalid(where, f"is {value}, not a finite number")
            return
        if self.lo is not None and (value <= self.lo if self.gt else value < self.lo):
            raise Invalid(where, f"is {value!r}, should be {'>' if self.gt else '≥'} {self.lo:g}")
        if self.hi is not None and (value >= self.hi if self.lt else value > self.hi):
            raise Invalid(where, f"is {value!r}, should be {'<' if self.lt else '≤'} {self.hi:g}")


def Int(lo: float | None = None, hi: float | None = None) -> Num:
    return Num(lo, hi, whole=True)


@dataclass
class Str(Check):
    """Text, one of ``choices`` if given, at most ``max_len`` characters."""

    choices: tuple[str, ...] | None = None
    max_len: int = 10_000

    def __call__(self, value: Any, where: str, context: Context) -> None:
        if not isinstance(value, str):
            raise Invalid(where, f"should be text, not {_type_name(value)}")
        if self.choices is not None and value not in self.choices:
            raise Invalid(where, f"is {value[:40]!r}, should be one of {', '.join(self.choices)}")
        if len(value) > self.max_len:
            raise Invalid(where, f"is {len(value):,} characters long, more than {self.max_len:,}")


@dataclass
class Bool(Check):
    def __call__(self, value: Any, where: str, context: Context) -> None:
        if not isinstance(value, bool):
            raise Invalid(where, f"should be true or false, not {_type_name(value)}")


@dataclass
class Maybe(Check):
    """null, or what ``check`` accepts."""

    check: Check

    def __call__(self, value: Any, where: str, context: Context) -> None:
        if value is not None:
            self.check(value, where, context)


@dataclass
class AnyOf(Check):
    """What any of ``checks`` accepts (``what`` says it in a message)."""

    checks: tuple[Check, ...]
    what: str

    def __call__(self, value: Any, where: str, context: Context) -> None:
        for check in self.checks:
            try:
                check(value, where, context)
                return
            except Invalid:
                pass
        raise Invalid(where, f"should be {self.what}, not {_type_name(value)}")


@dataclass
class JSON(Check):
    """Any JSON value (its depth is bounded by ``loads``): free-form information."""

    def __call__(self, value: Any, where: str, context: Context) -> None:
        pass


@dataclass
class ListOf(Check):
    """A list of ``item``s: exactly ``length`` long (a number or a context key), or
    between ``min_len`` and ``max_len``."""

    item: Check
    length: Length = None
    min_len: int = 0
    max_len: int | None = None

    def __call__(self, value: Any, where: str, context: Context) -> None:
        if not isinstance(value, list):
            raise Invalid(where, f"should be a list, not {_type_name(value)}")
        n = _length(self.length, context)
        if n is not None and len(value) != n:
            raise Invalid(where, f"has {len(value)} entries but {_said(self.length, n)}")
        if len(value) < self.min_len:
            raise Invalid(where, f"has {len(value)} entries, fewer than {self.min_len}")
        if self.max_len is not None and len(value) > self.max_len:
            raise Invalid(where, f"has {len(value):,} entries, more than {self.max_len:,}")
        for i, item in enumerate(value):
            self.item(item, f"{where}[{i}]", context)


@dataclass
class Field:
    """One key of an object: what its value must be, and whether it may be missing."""

    check: Check
    required: bool = True


@dataclass
class Obj(Check):
    """An object with the declared ``fields`` and no others; ``extra`` (a check) admits
    any other key whose value passes it (for free-form parts, such as a training
    summary's settings), with keys of at most ``max_keys``."""

    fields: dict[str, Field] = field(default_factory=dict)
    extra: Check | None = None
    max_keys: int = 100_000

    def __call__(self, value: Any, where: str, context: Context) -> None:
        if not isinstance(value, dict):
            raise Invalid(where, f"should be an object, not {_type_name(value)}")
        if len(value) > self.max_keys:
            raise Invalid(where, f"has {len(value):,} keys, more than {self.max_keys:,}")
        for key, spec in self.fields.items():
            if key in value:
                spec.check(value[key], _join(where, key), context)
            elif spec.required:
                raise Invalid(_join(where, key), "is missing")
        for key in value:
            if key not in self.fields:
                if self.extra is None:
                    raise Invalid(_join(where, str(key)[:40]), "is not a field chainrule knows")
                self.extra(value[key], _join(where, str(key)[:40]), context)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def validate(value: Any, schema: Check, source: str, what: str,
             context: Context | None = None, error: type[Exception] = DataError) -> Any:
    """``value`` once it passes ``schema``; else ``error`` (one line naming ``source``,
    ``what`` was read, and the field)."""
    try:
        schema(value, "", context or {})
    except Invalid as bad:
        where = f" field {bad.where}" if bad.where else ""
        raise error(f"{source}: the {what}{where} {bad.what}; the file is damaged or was edited"
                    if error is DataError else f"cannot save {source}: the {what}{where} "
                    f"{bad.what}") from None
    return value


# ------------------------------------------------------------------------------------
# The tables.

NUMBER = Num()
NUMBERS = ListOf(NUMBER)
LABEL = AnyOf((Str(), Num(), Bool()), "text, a number or true/false")
ACTIVATION = Str(max_len=100)
MAX_LAYER = 10_000_000  # neurons in one layer; the tensors bound the real size


def scaler(length: str) -> Obj:
    """A scaler's JSON: ``x' = (x − offset) / scale`` with one entry per column."""
    return Obj({"kind": Field(Str(("standard", "minmax"))),
                "offset": Field(ListOf(NUMBER, length)),
                "scale": Field(ListOf(Num(0, gt=True), length))})


ARCHITECTURE = Obj({
    "kind": Field(Str(("mlp",)), required=False),
    "sizes": Field(ListOf(Int(1, MAX_LAYER), min_len=2, max_len=1000)),
    "activations": Field(ListOf(ACTIVATION, "layers")),
    "dtype": Field(Str(("float64", "float32"))),
})
TRAINING = Obj({
    "final": Field(Maybe(Obj(extra=Maybe(Num(finite=False)))), required=False),
    "history": Field(Maybe(Obj(extra=ListOf(Maybe(Num(finite=False))))), required=False),
    "lr": Field(Maybe(Num(0, gt=True)), required=False),
}, extra=JSON())
#: A model file's ``chainrule`` metadata (see ``io``).  Context: ``inputs``, ``outputs``,
#: ``layers``, ``classes`` and ``targets`` from its architecture and head
#: (``model_context``).  A new key is one more line here, e.g.
#: ``"encoding": Field(Maybe(Obj(extra=…)), required=False)``, and one in ``io.metadata``.
MODEL = Obj({
    "format": Field(Str(("chainrule.model",))),
    "format_version": Field(Int(1)),
    "chainrule_version": Field(Maybe(Str(max_len=100)), required=False),
    "architecture": Field(ARCHITECTURE),
    "task": Field(Maybe(Str(("regression", "classification"))), required=False),
    "head": Field(Maybe(Str(("softmax", "sigmoid"))), required=False),
    "classes": Field(Maybe(Obj({"values": Field(ListOf(LABEL, "classes")),
                                "dtype": Field(Str(max_len=40))})), required=False),
    "x_scaler": Field(Maybe(scaler("inputs")), required=False),
    "y_scaler": Field(Maybe(scaler("outputs")), required=False),
    "loss": Field(Maybe(Str(max_len=100)), required=False),
    "features": Field(Maybe(ListOf(Str(max_len=10_000), "inputs")), required=False),
    "targets": Field(Maybe(ListOf(Str(max_len=10_000), "targets")), required=False),
    "training": Field(Maybe(TRAINING), required=False),
    # text columns as one-hot inputs; tables.check_encoding checks how the parts agree
    # (distinct names, categories of listed inputs, as many inputs as the network takes)
    "encoding": Field(Maybe(Obj({
        "inputs": Field(ListOf(Str(max_len=10_000), min_len=1, max_len=100_000)),
        "categories": Field(Obj(extra=ListOf(Str(max_len=10_000), min_len=1, max_len=1000),
                                max_keys=100_000))})), required=False),
})


def model_context(meta: dict[str, Any]) -> dict[str, int]:
    """The lengths a model's metadata must agree with, from its (checked) architecture
    and head: a softmax head has one class per output, a sigmoid head two on one output."""
    sizes = meta["architecture"]["sizes"]
    head = meta.get("head")
    context = {"inputs": sizes[0], "outputs": sizes[-1], "layers": len(sizes) - 1,
               "targets": 1 if head else sizes[-1]}
    if head is not None:
        context["classes"] = 2 if head == "sigmoid" else sizes[-1]
    return context


def model_consistency(meta: dict[str, Any]) -> tuple[str, str] | None:
    """(field, what is wrong) for facts of a model's metadata that tie fields together."""
    head, classes, task = meta.get("head"), meta.get("classes"), meta.get("task")
    if (head is None) != (classes is None):
        return ("head", "and classes go together: a classifier has both, a regression neither")
    if head == "sigmoid" and meta["architecture"]["sizes"][-1] != 1:
        return ("head", "is sigmoid, which needs one output")
    if task is not None and (task == "classification") != (classes is not None):
        return ("task", f"is {task} but the model {'has' if classes else 'has no'} classes")
    if head is not None and meta.get("y_scaler") is not None:
        return ("y_scaler", "is set on a classifier, whose outputs are never scaled")
    return None


#: A checkpoint's state (see ``checkpoint``).  Context: ``rows`` is known only when
#: resuming (the training rows), so the row order's length is checked there.
PCG64_STATE = Obj({
    "bit_generator": Field(Str(("PCG64",))),
    "state": Field(Obj({"state": Field(Int(0, 2**128 - 1)), "inc": Field(Int(0, 2**128 - 1))})),
    "has_uint32": Field(Int(0, 1)),
    "uinteger": Field(Int(0, 2**32 - 1)),
})
COUNT = Int(0)
FRACTION = Num(0, 1, lt=True)  # [0, 1)
#: The numbers an optimiser or a schedule keeps, by attribute name, with their ranges (as
#: their constructors check them).  ``checkpoint.restore_object`` checks every saved number
#: against its entry here, and a name without one against the type of the value it replaces.
OPTIMISER_FIELDS: dict[str, Check] = {
    "steps": COUNT, "_lr": Num(0), "t": ListOf(COUNT), "momentum": FRACTION, "nesterov": Bool(),
    "weight_decay": Num(0), "beta1": FRACTION, "beta2": FRACTION, "eps": Num(0),
    "alpha": Num(0, 1), "centered": Bool(), "lr_decay": Num(0),
    # schedules
    "lr": Num(0, gt=True), "step_size": Int(1), "gamma": Num(0, 1, gt=True),
    "power": Num(0, gt=True), "epochs": Int(1), "min_lr": Num(0), "factor": Num(0, 1, gt=True, lt=True),
    "patience": COUNT, "threshold": Num(), "cooldown": COUNT, "rate": Num(0),
    "best": Num(finite=False), "bad_epochs": COUNT, "_cooldown_left": COUNT,
}
OPTIMISER_VALUE = AnyOf((Maybe(Num(finite=False)), Str(max_len=100), Bool(), ListOf(Maybe(Num(finite=False))),
                         Obj({"arrays": Field(Int(0, 10_000))}), Obj({"array": Field(Bool())})),
                        "null, a number, text, a list of numbers or an array reference")
OPTIMISER_STATE = Obj(extra=AnyOf((OPTIMISER_VALUE, Obj({"object": Field(Str(max_len=100)),
                                                         "state": Field(Obj(extra=OPTIMISER_VALUE))})),
                                  "an optimiser's number or a schedule's state"))
CHECKPOINT = Obj({
    "format": Field(Str(("chainrule-checkpoint",))),
    "version": Field(Int(1)),
    "optimizer": Field(Obj({"type": Field(Str(max_len=100)), "state": Field(OPTIMISER_STATE)})),
    "rng": Field(PCG64_STATE),
    "place": Field(Obj({"first_epoch": Field(Int(1)), "next_row": Field(COUNT),
                        "total": Field(Num()), "seen": Field(COUNT),
                        "batch_size": Field(Maybe(Int(1)), required=False)})),
    "history": Field(Obj({"logs": Field(Obj({"loss": Field(NUMBERS)},  # r2 may be NaN
                                            extra=ListOf(Num(finite=False)))),
                          "epoch": Field(ListOf(Int(1))), "steps": Field(COUNT),
                          "best_epoch": Field(Maybe(Int(1)))})),
    "model": Field(Obj({"x_scaler": Field(Maybe(scaler("inputs"))),
                        "y_scaler": Field(Maybe(scaler("outputs"))),
                        "classes": Field(Maybe(ListOf(LABEL, "classes", min_len=2))),
                        "head": Field(Maybe(Str(("softmax", "sigmoid"))))})),
    "run": Field(Obj(extra=JSON())),
    "data": Field(Str(max_len=200), required=False),
    "early_stopping": Field(Obj({"best": Field(Maybe(Num(finite=False))), "best_epoch": Field(Maybe(Int(1))),
                                 "wait": Field(COUNT), "monitor": Field(Str(max_len=100))}),
                            required=False),
    "stream": Field(Obj({"parts": Field(ListOf(COUNT)), "part": Field(COUNT),  # (streamfit)
                         "chunk": Field(COUNT), "row": Field(COUNT), "total": Field(Num()),
                         "seen": Field(COUNT), "sizes": Field(ListOf(COUNT)),
                         "buffer": Field(Int(1)), "label_places": Field(Bool())}),
                    required=False),
})


#: The options ``chainrule train`` keeps in a checkpoint (``run.options``), as the command
#: line checks them; ``--resume`` builds the run from them.  An option without an entry
#: here is checked by its click type (``cli.train_cmd.resumed_options``); one that
#: ``train`` does not have is refused.
_NAME = Maybe(Str(max_len=10_000))
TRAIN_OPTIONS = Obj({name: Field(check, required=False) for name, check in {
    "csv": _NAME, "target": _NAME, "features": _NAME,
    "task": Str(("auto", "regression", "classification")),
    "hidden": ListOf(Int(1, MAX_LAYER), max_len=1000),
    "activation": Str(max_len=10_000), "init": _NAME,
    "scale": Maybe(Str(("standard", "minmax", "none"))), "loss": _NAME,
    "lr": Maybe(Num(0, gt=True)), "seed": Int(0), "epochs": Int(1),
    "batch_size": AnyOf((Int(1), Str(("full",))), "a whole number ≥ 1 or 'full'"),
    "optimizer": Str(max_len=100), "momentum": Maybe(FRACTION), "nesterov": Bool(),
    "weight_decay": Maybe(Num(0)), "schedule": _NAME, "validation_split": FRACTION,
    "early_stopping": Maybe(Int(1)), "engine": Str(("auto", "fused", "graph")),
    "no_shuffle": Bool(), "output_activation": Str(max_len=10_000),
    "missing": Str(("error", "drop", "mean")), "delimiter": Maybe(Str(max_len=1)),
}.items()}, extra=JSON(), max_keys=1000)
