"""Checkpoints: everything a training run needs to continue exactly where it stopped.

A checkpoint is one ``.safetensors`` file, written atomically (a temporary file in the
same folder, flushed to disk, then renamed over the old one), holding

* the model's parameters (``model/layers.0.weight`` …),
* the optimiser's state arrays (``optim/m/0`` …: momenta, Adam moments, sums),
* and, as JSON in the metadata: the optimiser's numbers (step counts, the current
  learning rate, the schedule's state), the random generator's state, where training
  stands (epoch, and inside an epoch: the row order, the next row, the running loss),
  the history so far, the early-stopping state, the model's scalers and classes, and
  whatever settings the caller adds (the command line keeps its options there, so
  ``chainrule train --resume DIR`` needs nothing else).

This module owns the format: ``save_run`` writes a training run's state and
``restore_run`` puts it back (``fit`` calls both; ``Place`` is where training stands).
Resuming restores all of it, so a run that was stopped (Ctrl-C, SIGTERM, or killed
after its last checkpoint) ends with weights bit-identical to an uninterrupted run.
Loading never runs code: arrays and JSON only, and nothing in them is used before it
is checked — the state against ``schema.CHECKPOINT`` when read, the row order and the
place in training against the data when resumed (``check_progress``), the optimiser's
numbers against ``schema.OPTIMISER_FIELDS`` when restored.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import files, schema
from .data import Scaler
from .errors import ChainruleError, ConfigError, DataError

FORMAT = "chainrule-checkpoint"
VERSION = 1
FILENAME = "checkpoint.safetensors"


def _json_value(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def object_state(obj: Any, prefix: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Split an object's attributes into arrays (lists of arrays) and JSON numbers.

    Lists of arrays become ``prefix/name/i``; numbers, strings and lists of numbers go
    to the JSON part; a nested object with ``__dict__`` (a schedule) is walked in turn.
    Parameters (tensors) are skipped: the model's own file holds them.
    """
    arrays: dict[str, np.ndarray] = {}
    numbers: dict[str, Any] = {}
    for name, value in vars(obj).items():
        if name == "params":
            continue
        if isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
            for i, arr in enumerate(value):
                arrays[f"{prefix}/{name}/{i}"] = np.ascontiguousarray(arr)
            numbers[name] = {"arrays": len(value)}
        elif isinstance(value, np.ndarray):
            arrays[f"{prefix}/{name}"] = np.ascontiguousarray(value)
            numbers[name] = {"array": True}
        elif _json_value(value) or (isinstance(value, (list, tuple)) and all(_json_value(v) for v in value)):
            numbers[name] = value if not isinstance(value, tuple) else list(value)
        elif hasattr(value, "__dict__") and not inspect.isroutine(value) and not inspect.isclass(value):
            sub_arrays, sub_numbers = object_state(value, f"{prefix}/{name}")
            arrays.update(sub_arrays)
            numbers[name] = {"object": type(value).__name__, "state": sub_numbers}
    return arrays, numbers


def _check_value(name: str, value: Any, current: Any, where: str) -> None:
    """A saved number fits its entry in ``schema.OPTIMISER_FIELDS``, or (a name without
    one) has the type of the value it replaces."""
    check = schema.OPTIMISER_FIELDS.get(name)
    try:
        if check is not None:
            check(value, where, {})
        elif not (type(value) is type(current)
                  or (type(current) is float and type(value) is int)):
            raise schema.Invalid(where, f"should be like {current!r}, not {value!r}"[:200])
    except schema.Invalid as bad:
        raise DataError(f"the checkpoint's optimiser state {bad.where} {bad.what}; the file is "
                        "damaged or was edited") from None


def restore_object(obj: Any, prefix: str, arrays: dict[str, np.ndarray], numbers: dict[str, Any]) -> None:
    """Put back what ``object_state`` took, writing arrays into the existing ones in place.

    Every saved number is checked first (``_check_value``), every array against the one it
    replaces (shape and dtype): a file can't give an optimiser a state it could not have."""
    for name, value in numbers.items():
        where = f"{prefix}/{name}"
        if name not in vars(obj) or name == "params":
            raise DataError(f"the checkpoint's optimiser state {where[:80]} is not part of a "
                            f"{type(obj).__name__}'s state; resume with the same optimiser")
        current = getattr(obj, name)
        if isinstance(value, dict) and "arrays" in value:
            keys = [f"{prefix}/{name}/{i}" for i in range(value["arrays"])]
            if not isinstance(current, list) or len(current) != len(keys) \
                    or not all(isinstance(mine, np.ndarray) for mine in current):
                raise DataError(f"the checkpoint's optimiser state {name!r} does not fit this "
                                "optimiser; resume with the same optimiser and network")
            for mine, key in zip(current, keys):
                theirs = _array(arrays, key)
                if mine.shape != theirs.shape or mine.dtype != theirs.dtype:
                    raise DataError(f"the checkpoint's {key} is {theirs.dtype} {theirs.shape}, the "
                                    f"optimiser's {mine.dtype} {mine.shape}; resume with the same "
                                    "network")
                mine[...] = theirs
        elif isinstance(value, dict) and "array" in value:
            theirs = _array(arrays, where)
            if isinstance(current, np.ndarray) and (current.shape, current.dtype) != \
                    (theirs.shape, theirs.dtype):
                raise DataError(f"the checkpoint's {where} is {theirs.dtype} {theirs.shape}, the "
                                f"optimiser's {current.dtype} {current.shape}; resume with the "
                                "same network")
            setattr(obj, name, theirs.copy())
        elif isinstance(value, dict) and "object" in value:
            if current is None or type(current).__name__ != value["object"]:
                raise DataError(f"the checkpoint has a {str(value['object'])[:40]} for {name!r}; "
                                "resume with the same settings")
            restore_object(current, f"{prefix}/{name}", arrays, value["state"])
        elif isinstance(current, list) and isinstance(value, list):
            if len(value) != len(current):
                raise DataError(f"the checkpoint's optimiser state {where} has {len(value)} "
                                f"entries, this optimiser {len(current)}; resume with the same "
                                "network")
            _check_value(name, value, current, where)
            for i, (item, now) in enumerate(zip(value, current)):
                _check_value("", item, now, f"{where}[{i}]")
            current[:] = value
        else:
            _check_value(name, value, current, where)
            setattr(obj, name, value)


def _array(arrays: dict[str, np.ndarray], key: str) -> np.ndarray:
    if key not in arrays:
        raise DataError(f"the checkpoint lacks the array {key}; the file is damaged or was edited")
    return arrays[key]


@dataclass
class Checkpoint:
    """A loaded checkpoint: arrays by name and the JSON state."""

    arrays: dict[str, np.ndarray]
    state: dict[str, Any] = field(default_factory=dict)


def checkpoint_path(folder: str | os.PathLike) -> Path:
    return Path(folder) / FILENAME


def write(folder: str | os.PathLike, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> Path:
    """Write a checkpoint into ``folder`` atomically; returns the file's path."""
    from safetensors.numpy import save

    folder = files.make_folder(folder)
    meta = {"format": FORMAT, "version": str(VERSION),
            "state": json.dumps({**state, "format": FORMAT, "version": VERSION})}
    blob = save({k: np.ascontiguousarray(v) for k, v in arrays.items()}, metadata=meta)
    return files.write_atomic(checkpoint_path(folder), blob)


def _context(table: dict[str, tuple], head: Any) -> dict[str, int]:
    """The lengths the state must agree with, from the model's tensors (``model/layers.K.*``)."""
    weights = [table.get(f"model/layers.{k}.weight") for k in range(len(table) + 1)]
    shapes = [w[1] for w in weights[:weights.index(None)] if len(w[1]) == 2]
    if not shapes:
        return {}
    context = {"inputs": shapes[0][0], "outputs": shapes[-1][1]}
    if head in ("softmax", "sigmoid"):
        context["classes"] = 2 if head == "sigmoid" else shapes[-1][1]
    return context


def read(folder: str | os.PathLike) -> Checkpoint:
    """Load the checkpoint in ``folder``: a regular file whose header, arrays and state
    (``schema.CHECKPOINT``) are checked before anything uses them; a clear ``DataError``
    if it is missing, broken or edited."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    from .io import MAX_HEADER_BYTES, read_header, tensor_table

    path = checkpoint_path(folder)
    if not os.path.lexists(path):
        raise DataError(f"no checkpoint in {folder} (looked for {path.name}); start the run with "
                        "--checkpoint DIR first")
    name = os.fspath(path)
    blob = files.read(path, "checkpoint file")
    header, n = read_header(blob, len(blob), name, "checkpoint")
    table = tensor_table(header, len(blob) - 8 - n, name, "checkpoint")
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"{path} is not a chainrule checkpoint")
    if not isinstance(meta.get("state"), str):
        raise DataError(f"{path} is not a readable checkpoint (it has no state); it may be "
                        "damaged — start the run again")
    state = schema.loads(meta["state"], f"{path} is not a readable checkpoint", "state",
                         MAX_HEADER_BYTES)
    if not isinstance(state, dict):
        raise DataError(f"{path} is not a readable checkpoint (its state is not an object); it "
                        "may be damaged — start the run again")
    version = state.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        raise DataError(f"{path} was written by a newer chainrule (checkpoint version "
                        f"{version}); upgrade chainrule to resume it")
    schema.validate(state, schema.CHECKPOINT, name, "checkpoint state")
    schema.validate(state, schema.CHECKPOINT, name, "checkpoint state",
                    _context(table, state["model"]["head"]))
    order = table.get("place/order")
    if order is not None and (order[0] != "I64" or len(order[1]) != 1):
        raise DataError(f"{path}: the checkpoint's row order is {order[0]} of shape "
                        f"{list(order[1])}, not a list of row numbers; the file is damaged or "
                        "was edited")
    try:
        arrays = load(blob)
    except SafetensorError as exc:
        raise DataError(f"{path} is not a readable checkpoint ({exc}); it may be damaged — start "
                        "the run again") from None
    return Checkpoint(arrays, state)


def check_progress(saved: Checkpoint, rows: int, folder: str | os.PathLike) -> np.ndarray | None:
    """The saved row order, once the place in training is known to fit ``rows`` training
    rows: the order is a permutation of them (the fused loop indexes rows by it without
    bounds checks), the next row lies inside it, and the history has one entry per epoch
    done.  A ``DataError`` naming what does not fit."""
    place, history = saved.state["place"], saved.state["history"]
    order = saved.arrays.get("place/order")
    where = f"the checkpoint in {folder}"
    if order is not None:
        if len(order) != rows:
            raise DataError(f"{where} was made on {len(order)} training rows, not {rows}; resume "
                            "with the same data")
        if rows and (order.min() < 0 or order.max() >= rows
                     or np.bincount(order, minlength=rows).max() != 1):
            raise DataError(f"{where} has a row order that is not an order of the {rows} "
                            "training rows; the file is damaged or was edited")
    inside = rows if order is not None else 0
    if not place["next_row"] <= inside or place["seen"] != place["next_row"]:
        raise DataError(f"{where} stands at row {place['next_row']} (seen {place['seen']}) of an "
                        f"epoch of {inside} rows; the file is damaged or was edited")
    done = place["first_epoch"] - 1
    lengths = {key: len(values) for key, values in history["logs"].items()}
    if history["epoch"] != list(range(1, done + 1)) or any(n != done for n in lengths.values()) \
            or (history["best_epoch"] or 0) > done:
        raise DataError(f"{where} has a history that does not match its {done} epoch(s) done; "
                        "the file is damaged or was edited")
    return order


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    return rng.bit_generator.state


def restore_rng(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Put back a (checked: ``schema.PCG64_STATE``) PCG64 state."""
    try:
        rng.bit_generator.state = state
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataError(f"the checkpoint's random generator state cannot be used ({exc}); the "
                        "file is damaged or was edited") from None



# -- a training run's checkpoint (what ``fit`` writes and resumes from) ---------------


@dataclass
class Place:
    """Where training stands: the next epoch, and inside it the row order and progress."""

    first_epoch: int
    order: np.ndarray | None = None
    next_row: int = 0
    total: float = 0.0
    seen: int = 0
    stream: dict[str, Any] | None = None  # a streamed run's place inside an epoch (streamfit)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # and its ``stream/*`` arrays


def fingerprint(X: np.ndarray, Y: np.ndarray, W: np.ndarray | None) -> str:
    """A hash of the rows training sees (inputs, targets, sample weights), to refuse
    resuming on other data."""
    digest = hashlib.sha256()
    for arr in (X, Y) + (() if W is None else (W,)):
        digest.update(str(arr.shape).encode())
        digest.update(np.ascontiguousarray(arr).tobytes())
    return digest.hexdigest()


def save_run(folder: str, model: Any, opt: Any, rng: np.random.Generator, history: Any,
             stopper: Any, place: Place, run_info: dict[str, Any] | None,
             fingerprint: str, batch_size: int | None = None,
             stream: dict[str, Any] | None = None,
             stream_arrays: dict[str, np.ndarray] | None = None) -> None:
    """Write everything a run needs to continue from ``place`` (``fit``'s model, optimiser,
    generator, history, early stopping) into ``folder``; a streamed run adds its place
    inside the epoch (``stream``: JSON numbers, ``stream_arrays``: its shuffle buffer)."""
    arrays = {f"model/{name}": p.data for name, p in model.named_parameters()}
    x_scaler, y_scaler = getattr(model, "x_scaler", None), getattr(model, "y_scaler", None)
    classes = getattr(model, "classes_", None)
    opt_arrays, opt_numbers = object_state(opt, "optim")
    arrays.update(opt_arrays)
    state: dict[str, Any] = {
        "optimizer": {"type": type(opt).__name__, "state": opt_numbers},
        "rng": rng_state(rng),
        "place": {"first_epoch": place.first_epoch, "next_row": place.next_row,
                  "total": place.total, "seen": place.seen, "batch_size": batch_size},
        "history": {"logs": history.logs, "epoch": history.epoch, "steps": history.steps,
                    "best_epoch": history.best_epoch},
        "model": {"x_scaler": x_scaler.to_dict() if x_scaler else None,
                  "y_scaler": y_scaler.to_dict() if y_scaler else None,
                  "classes": None if classes is None else np.asarray(classes).tolist(),
                  "head": getattr(model, "head", None)},
        "run": run_info or {},
        "data": fingerprint,
    }
    if place.order is not None:
        arrays["place/order"] = place.order.astype(np.int64)
    if stream is not None:
        state["stream"] = stream
        arrays.update(stream_arrays or {})
    if stopper is not None:
        state["early_stopping"] = {"best": stopper.best, "best_epoch": stopper.best_epoch,
                                   "wait": stopper.wait, "monitor": stopper.monitor}
        for name, value in (stopper.best_state or {}).items():
            arrays[f"early/{name}"] = value
    write(folder, arrays, state)


def restore_run(folder: str, model: Any, opt: Any, rng: np.random.Generator, history: Any,
                stopper: Any, n: int, fingerprint: str, batch_size: int | None = None) -> Place:
    """Put back what ``save_run`` wrote into these objects; where training stands."""
    saved = read(folder)
    state, arrays = saved.state, saved.arrays
    weights = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    try:
        model.load_state_dict(weights)
    except ChainruleError as exc:
        raise DataError(f"the checkpoint in {folder} is for another network ({exc}); resume with "
                        "the same network") from None
    if state["optimizer"]["type"] != type(opt).__name__:
        raise DataError(f"the checkpoint in {folder} was made with {state['optimizer']['type']}, "
                        f"not {type(opt).__name__}; resume with the same optimiser")
    if state.get("data") != fingerprint:
        run = state.get("run") if isinstance(state.get("run"), dict) else {}
        if run.get("dask") or "cluster_seed" in run:  # a Dask run's: its workers count too
            raise DataError(f"the checkpoint in {folder} was made on other training data (or "
                            "another validation split or scaling) or by a Dask run with other "
                            "workers or sync_every; resume with the same data, settings, "
                            "workers and sync_every")
        raise DataError(f"the checkpoint in {folder} was made on other training data (or another "
                        "validation split or scaling); resume with the same data and settings")
    restore_object(opt, "optim", arrays, state["optimizer"]["state"])
    restore_rng(rng, state["rng"])
    kept = state["model"]
    model.x_scaler = Scaler.from_dict(kept["x_scaler"]) if kept["x_scaler"] else None
    model.y_scaler = Scaler.from_dict(kept["y_scaler"]) if kept["y_scaler"] else None
    classes = getattr(model, "classes_", None)
    mine = None if classes is None else np.asarray(classes).tolist()
    if (kept["classes"], kept["head"]) != (mine, getattr(model, "head", None)):
        raise DataError(f"the checkpoint in {folder} was made for the classes {kept['classes']!r:.80}"
                        f", not this data's {mine!r:.80}; resume with the same data")
    h = state["history"]
    history.logs = {k: list(v) for k, v in h["logs"].items()}
    history.epoch, history.steps, history.best_epoch = list(h["epoch"]), h["steps"], h["best_epoch"]
    if stopper is not None and "early_stopping" in state:
        es = state["early_stopping"]
        stopper.best, stopper.best_epoch, stopper.wait = es["best"], es["best_epoch"], es["wait"]
        stopper.monitor = es["monitor"]
        best = {k[len("early/"):]: v for k, v in arrays.items() if k.startswith("early/")}
        stopper.best_state = best or None
    p = state["place"]
    order = check_progress(saved, n, folder)  # a permutation of the n rows, or None
    if p.get("batch_size") not in (None, batch_size):
        raise ConfigError(f"the checkpoint in {folder} was made with batch_size {p['batch_size']}"
                          f", not {batch_size}; resume with the same settings")
    kept = {k: v for k, v in arrays.items() if k.startswith("stream/")}
    return Place(p["first_epoch"], order, p["next_row"], p["total"], p["seen"],
                 state.get("stream"), kept)
