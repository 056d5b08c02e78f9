"""Model files: one ``.safetensors`` file with the weights and, as JSON, everything else.

``save(model, path)`` writes the parameters as tensors named by their dotted names
(``layers.0.weight`` of shape (fan_in, fan_out), ``layers.0.bias``, …) in the model's
dtype, and one metadata entry, ``"chainrule"``, holding this JSON (format version 1)::

    {"format": "chainrule.model", "format_version": 1, "chainrule_version": "0.1.0",
     "architecture": {"kind": "mlp", "sizes": [2, 2, 1],
                      "activations": ["linear", "linear"], "dtype": "float64"},
     "task": "regression",               # or "classification"
     "head": null,                       # "softmax" | "sigmoid" for a classifier
     "classes": null,                    # {"values": ["a", "b"], "dtype": "object"}
     "x_scaler": {"kind": "standard", "offset": [...], "scale": [...]},  # or null
     "y_scaler": null,
     "loss": "mse", "features": ["IQ", "CGPA"], "targets": ["Package"],
     "training": {...}}                  # whatever the caller passed (training_summary)

``load(path)`` reads it back without running any code (no pickle: safetensors holds
only numbers, JSON only data), bit for bit.  It reads only a regular file
(``files.read``); before it allocates anything it checks the header's declared tensors
against the file's real size, and the metadata against ``schema.MODEL`` (types,
ranges, lengths that agree with the architecture), so a damaged or hostile file gives
a ``DataError`` that names the field, never a crash or a huge allocation.
Saving is atomic: the bytes go to a temporary file in the same folder, which is
flushed to disk and then renamed over the target.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import files, schema
from .data import Scaler
from .errors import ConfigError, DataError
from .files import write_atomic
from .nn import Dense, Module, Sequential, get_activation

if TYPE_CHECKING:
    from .train import History

FORMAT = "chainrule.model"
FORMAT_VERSION = 1
METADATA_KEY = "chainrule"
MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit
_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
             "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}
_DTYPES = {"float64": "F64", "float32": "F32"}


def _safetensors() -> Any:
    try:
        import safetensors.numpy
    except ImportError:  # pragma: no cover - a core dependency
        raise ConfigError("model files need the safetensors package: pip install safetensors") \
            from None
    return safetensors.numpy


# ------------------------------------------------------------------------------------
# Writing.


def _architecture(model: Module) -> dict[str, Any]:
    layers = getattr(model, "layers", None)
    if not isinstance(model, Sequential) or not all(isinstance(l, Dense) for l in layers):
        raise ConfigError(
            f"chainrule saves a Sequential of Dense layers (what mlp() builds); this model is "
            f"{type(model).__name__}"
        )
    return {"kind": "mlp", "sizes": model.sizes,
            "activations": [layer.activation.spec for layer in layers],
            "dtype": str(model.dtype)}


def _classes_json(classes: Any) -> dict[str, Any] | None:
    """Labels as a JSON list, with their NumPy dtype so they load as the same type."""
    if classes is None:
        return None
    arr = np.asarray(classes)
    if arr.dtype.kind not in "biufUO":
        raise ConfigError(f"cannot save class labels of type {arr.dtype}; use numbers or text")
    values = [v.item() if isinstance(v, np.generic) else v for v in arr.tolist()]
    if not all(isinstance(v, (str, int, float, bool)) for v in values):
        raise ConfigError("cannot save these class labels; labels must be numbers or text")
    return {"values": values, "dtype": "object" if arr.dtype.kind == "O" else arr.dtype.str}


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON-friendly")


def metadata(model: Module, *, loss: str | None = None, features: list[str] | None = None,
             targets: list[str] | None = None, training: dict[str, Any] | None = None
             ) -> dict[str, Any]:
    """The JSON a model file carries (see the module docstring).

    ``loss``, ``features``, ``targets`` and ``training`` default to what the model was
    loaded with (``model.metadata``); a classifier's loss defaults to its head's.
    """
    from . import __version__

    before = getattr(model, "metadata", None) or {}
    architecture = _architecture(model)  # first: only a Sequential (a Predictor) is saved
    if loss is None:
        loss = before.get("loss") or {"softmax": "cross_entropy", "sigmoid": "bce"}.get(model.head)
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "chainrule_version": __version__,
        "architecture": architecture,
        "task": "regression" if model.classes_ is None else "classification",
        "head": model.head,
        "classes": _classes_json(model.classes_),
        "x_scaler": None if model.x_scaler is None else model.x_scaler.to_dict(),
        "y_scaler": None if model.y_scaler is None else model.y_scaler.to_dict(),
        "loss": None if loss is None else str(getattr(loss, "spec", loss)),
        "features": list(features) if features is not None else before.get("features"),
        "targets": list(targets) if targets is not None else before.get("targets"),
        "training": dict(training) if training is not None else before.get("training", {}),
    }


def to_bytes(model: Module, **info: Any) -> bytes:
    """The model file's bytes (``info``: the keywords of ``metadata``)."""
    meta = metadata(model, **info)
    try:
        text = json.dumps(meta, default=_jsonable, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"the training information cannot be saved: {exc}; pass numbers, "
                          "text, lists and dicts") from None
    check_metadata(json.loads(text), "the model", error=ConfigError)  # what we write loads again
    tensors = {name: np.ascontiguousarray(value) for name, value in model.state_dict().items()}
    return _safetensors().save(tensors, metadata={METADATA_KEY: text})


def save(model: Module, path: str | os.PathLike, *, loss: str | None = None,
         features: list[str] | None = None, targets: list[str] | None = None,
         training: dict[str, Any] | None = None) -> Path:
    """Save ``model`` to one ``.safetensors`` file, atomically; returns the path.

    ``loss`` (its spec, e.g. ``"huber:0.5"``), ``features`` and ``targets`` (column
    names) and ``training`` (a JSON-friendly dict, e.g. from ``training_summary``) go
    into the metadata beside the architecture, scalers and classes the model keeps.
    """
    return write_atomic(path, to_bytes(model, loss=loss, features=features, targets=targets,
                                       training=training))


def training_summary(history: History, **settings: Any) -> dict[str, Any]:
    """A ``training`` dict for ``save``: the ``settings`` you pass (``optimizer="sgd"``,
    ``lr=0.01``, ``epochs=100``, …) and what the ``History`` says happened, with every
    epoch's numbers under ``"history"`` (so ``plot.plot_history`` can draw it again)."""
    last = history.last()
    return {
        **settings,
        "epochs_run": len(history), "steps": history.steps,
        "final_loss": last.get("loss"), "final": last,
        "best_epoch": history.best_epoch, "stopped_early": history.stopped_early,
        "interrupted": history.interrupted,
        "history": {"epoch": list(history.epoch), **{k: list(v) for k, v in history.logs.items()}},
    }


# ------------------------------------------------------------------------------------
# Reading: check everything the header claims before believing any of it.


def _damaged(path: str, what: str, kind: str = "model file") -> DataError:
    return DataError(f"{path} is not a readable {kind}: {what}")


def read_header(data: bytes, size: int, path: str, kind: str = "model file"
                ) -> tuple[dict[str, Any], int]:
    """The safetensors header (parsed JSON, its size and nesting bounded first) and its
    length, from the first bytes of a ``kind`` ("model file", "checkpoint")."""
    if size < 9:
        raise _damaged(path, f"it has only {size} bytes; it is empty or truncated "
                             "(save it again)", kind)
    n = int.from_bytes(data[:8], "little")
    looks_like_json = data[8:9] == b"{"
    if n > MAX_HEADER_BYTES or not looks_like_json:
        raise _damaged(path, "it is not a safetensors file (the first bytes are not a "
                             "safetensors header); give a .safetensors file saved by chainrule", kind)
    if 8 + n > size:
        raise _damaged(path, f"it is truncated: its header is {n} bytes but the file has "
                             f"{size - 8} after the length; save it again", kind)
    header = schema.loads(data[8:8 + n], f"{path} is not a readable {kind}", "header",
                          MAX_HEADER_BYTES)
    if not isinstance(header, dict):
        raise _damaged(path, "its header is not a JSON object; the file is damaged", kind)
    return header, n


def tensor_table(header: dict[str, Any], data_bytes: int, path: str, kind: str = "model file"
                 ) -> dict[str, tuple]:
    """name → (dtype, shape) for every tensor, after checking the sizes add up to the file."""
    table, spans = {}, []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            ok = (dtype in _ITEMSIZE and all(isinstance(d, int) and d >= 0 for d in shape)
                  and isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end)
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise _damaged(path, f"the header's entry for {name[:60]!r} is malformed", kind)
        if math.prod(shape) * _ITEMSIZE[dtype] != end - begin:
            raise _damaged(path, f"{name[:60]!r} declares shape {shape} but {end - begin} bytes", kind)
        table[name] = (dtype, tuple(shape))
        spans.append((begin, end))
    covered = max((end for _, end in spans), default=0)
    if covered > data_bytes:
        raise _damaged(path, f"it is truncated: the header declares {covered} bytes of weights "
                             f"but only {data_bytes} follow; save it again", kind)
    if covered < data_bytes:
        raise _damaged(path, f"{data_bytes - covered} bytes follow the weights; the file is "
                             "damaged", kind)
    return table


def _model_json(header: dict[str, Any], path: str) -> dict[str, Any]:
    """The ``chainrule`` metadata, checked against ``schema.MODEL``: its types, ranges, and
    lengths that agree with the architecture (``schema.model_context``)."""
    raw = header.get("__metadata__")
    text = raw.get(METADATA_KEY) if isinstance(raw, dict) else None
    if text is None:
        raise DataError(f"{path} is a safetensors file but not a chainrule model (it has no "
                        "chainrule metadata); train and save one with chainrule")
    if not isinstance(text, str):
        raise _damaged(path, "its chainrule metadata is not text")
    meta = schema.loads(text, f"{path} is not a readable model file", "chainrule metadata",
                        MAX_HEADER_BYTES)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"{path} is not a chainrule model (its metadata names another format)")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _damaged(path, f"its format version {version!r} is not a version number")
    if version > FORMAT_VERSION:
        raise DataError(
            f"{path} was written by a newer chainrule ({str(meta.get('chainrule_version', '?'))[:40]}, "
            f"model format {version}); this chainrule reads format {FORMAT_VERSION} and older. "
            "Upgrade chainrule: pip install --upgrade chainrule"
        )
    return check_metadata(meta, path)


def check_metadata(meta: dict[str, Any], path: str, error: type[Exception] = DataError
                   ) -> dict[str, Any]:
    """``meta`` once it fits ``schema.MODEL`` and its lengths fit its architecture."""
    schema.validate(meta, schema.MODEL, path, "model metadata", error=error)  # types, ranges
    problem = schema.model_consistency(meta)
    if problem:
        field, what = problem
        message = f"the model metadata field {field} {what}"
        raise error(f"{path}: {message}; the file is damaged or was edited"
                    if error is DataError else f"cannot save {path}: {message}")
    schema.validate(meta, schema.MODEL, path, "model metadata", schema.model_context(meta),
                    error=error)  # lengths, now that the architecture is known to be sound
    return meta


def _expected_shapes(arch: dict[str, Any]) -> tuple[list[int], list[str], str]:
    """Sizes, activations and dtype of a checked architecture."""
    return list(arch["sizes"]), list(arch["activations"]), arch["dtype"]


def _check_weights(table: dict[str, tuple], sizes: list[int], dtype: str, path: str) -> None:
    """Every tensor the architecture needs, with its shape and dtype, and nothing else."""
    expected = {}
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        expected[f"layers.{k}.weight"] = (n_in, n_out)
        expected[f"layers.{k}.bias"] = (n_out,)
    missing, unknown = sorted(set(expected) - set(table)), sorted(set(table) - set(expected))
    if missing or unknown:
        raise DataError(f"{path}: the weights don't match the architecture {sizes}: missing "
                        f"{missing}, unexpected {unknown}; the file is damaged or was edited")
    for name, shape in expected.items():
        got_dtype, got_shape = table[name]
        if got_shape != shape:
            raise DataError(f"{path}: {name} has shape {list(got_shape)} but the architecture "
                            f"{sizes} needs {list(shape)}; the file is damaged or was edited")
        if got_dtype != _DTYPES[dtype]:
            raise DataError(f"{path}: {name} is stored as {got_dtype} but the architecture says "
                            f"{dtype}; the file is damaged or was edited")


def _classes(spec: Any, path: str) -> np.ndarray | None:
    if spec is None:
        return None
    try:
        values, dtype = list(spec["values"]), spec["dtype"]
        if dtype == "object":
            arr = np.empty(len(values), dtype=object)
            arr[:] = values
            return arr
        kind = np.dtype(dtype)
        if kind.kind not in "biufU" or kind.itemsize > 40_000:  # no 4 GB text labels
            raise TypeError(dtype)
        return np.array(values, dtype=kind)
    except (KeyError, TypeError, ValueError, OverflowError):
        raise _damaged(path, f"its classes {spec!r} cannot be read") from None


def _scaler(spec: Any, path: str) -> Scaler | None:
    if spec is None:
        return None
    try:
        return Scaler.from_dict(spec)
    except (KeyError, TypeError, ValueError, OverflowError):
        raise _damaged(path, f"its scaler {spec!r} cannot be read") from None


def from_bytes(data: bytes, path: str = "the model") -> Sequential:
    """A model from the bytes of a model file (``path`` names it in error messages)."""
    header, n = read_header(data, len(data), path)
    return _build(header, tensor_table(header, len(data) - 8 - n, path), data, path)


def _build(header: dict[str, Any], table: dict[str, tuple], data: bytes, path: str) -> Sequential:
    """The model, once the header's tensor table is known to fit inside ``data``."""
    meta = _model_json(header, path)
    sizes, acts, dtype = _expected_shapes(meta["architecture"])
    _check_weights(table, sizes, dtype, path)
    try:
        activations = [get_activation(a) for a in acts]
    except ConfigError as exc:
        raise DataError(f"{path}: {exc}; was it written by a newer chainrule?") from None
    try:
        tensors = _safetensors().load(data)
    except Exception as exc:  # safetensors raises its own error type
        raise _damaged(path, str(exc)) from None
    model = Sequential(Dense(a, b, activation=act, init="zeros", dtype=dtype)
                       for a, b, act in zip(sizes[:-1], sizes[1:], activations))
    model.load_state_dict(tensors)
    model.x_scaler = _scaler(meta.get("x_scaler"), path)
    model.y_scaler = _scaler(meta.get("y_scaler"), path)
    model.classes_ = _classes(meta.get("classes"), path)
    model.head = meta.get("head")
    model.metadata = meta
    return model


def load(path: str | os.PathLike) -> Sequential:
    """The model saved at ``path``, ready to ``predict`` on raw inputs.

    The file's JSON (loss, feature and target names, training summary, versions) is
    kept as ``model.metadata``.  Raises ``DataError`` for a missing, truncated,
    damaged or foreign file, or one written by a newer chainrule.
    """
    path_s = os.fspath(path)
    data = files.read(path_s, "model file")
    header, n = read_header(data, len(data), path_s)
    table = tensor_table(header, len(data) - 8 - n, path_s)  # checked before any allocation
    return _build(header, table, data, path_s)


# ------------------------------------------------------------------------------------
# Describing a model, for ``chainrule info``.


def describe(model: Module) -> dict[str, Any]:
    """What a model is: architecture, parameter count, task, classes, scalers, and (for a
    loaded model) its loss, column names, versions and training summary.  JSON-friendly."""
    meta = metadata(model)
    arch = meta["architecture"]
    layers = [{"layer": k, "neurons": n_out, "activation": act, "weights": n_in * n_out,
               "biases": n_out}
              for k, (n_in, n_out, act) in enumerate(
                  zip(arch["sizes"][:-1], arch["sizes"][1:], arch["activations"]), start=1)]
    training = {k: v for k, v in (meta["training"] or {}).items() if k != "history"}
    loaded = getattr(model, "metadata", None) or {}
    return {
        "sizes": arch["sizes"], "layers": layers, "dtype": arch["dtype"],
        "parameters": sum(p.size for p in model.parameters()),
        "task": meta["task"], "head": meta["head"],
        "classes": None if meta["classes"] is None else meta["classes"]["values"],
        "x_scaler": (meta["x_scaler"] or {}).get("kind"),
        "y_scaler": (meta["y_scaler"] or {}).get("kind"),
        "loss": meta["loss"], "features": meta["features"], "targets": meta["targets"],
        "training": training,
        "chainrule_version": loaded.get("chainrule_version"),
        "format_version": loaded.get("format_version"),
    }


def format_description(info: dict[str, Any]) -> str:
    """``describe``'s dict as the lines ``chainrule info`` prints."""
    rows = [("network", f"{' → '.join(map(str, info['sizes']))}  "
                        f"({info['parameters']} parameters, {info['dtype']})")]
    rows += [(f"  layer {layer['layer']}", f"{layer['neurons']} neuron(s), {layer['activation']}, "
              f"{layer['weights']} weights + {layer['biases']} biases") for layer in info["layers"]]
    task = info["task"]
    if info["classes"] is not None:
        task += (f" into {len(info['classes'])} classes: {', '.join(map(str, info['classes']))} "
                 f"({info['head']} head)")
    rows.append(("task", task))
    for key, label in (("loss", "loss"), ("features", "inputs"), ("targets", "targets"),
                       ("x_scaler", "input scaling"), ("y_scaler", "target scaling")):
        rows.append((label, info[key]))
    training = dict(info["training"])
    final = training.pop("final", None) or {}
    rows += [(key.replace("_", " "), value) for key, value in training.items()]
    rows.append(("final", ", ".join(f"{k} {_short(v)}" for k, v in final.items())))
    if info["chainrule_version"]:
        rows.append(("saved by", f"chainrule {info['chainrule_version']} "
                                 f"(model format {info['format_version']})"))
    return "\n".join(f"{label:<15} {_short(value)}" for label, value in rows
                     if value not in (None, "", []))


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ", ".join(map(_short, value))
    return str(value)
