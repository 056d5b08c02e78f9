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

Resuming restores all of it, so a run that was stopped (Ctrl-C, SIGTERM, or killed
after its last checkpoint) ends with weights bit-identical to an uninterrupted run.
Loading never runs code: arrays and JSON only.
"""

from __future__ import annotations

import inspect
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError

FORMAT = "chainrule-checkpoint"
VERSION = 1
FILENAME = "checkpoint.safetensors"
REQUIRED = ("optimizer", "rng", "place", "history", "model", "run")


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


def restore_object(obj: Any, prefix: str, arrays: dict[str, np.ndarray], numbers: dict[str, Any]) -> None:
    """Put back what ``object_state`` took, writing arrays into the existing ones in place."""
    for name, value in numbers.items():
        current = getattr(obj, name, None)
        if isinstance(value, dict) and "arrays" in value:
            saved = [arrays[f"{prefix}/{name}/{i}"] for i in range(value["arrays"])]
            if not isinstance(current, list) or len(current) != len(saved):
                raise DataError(f"the checkpoint's optimiser state {name!r} does not fit this "
                                "optimiser; resume with the same optimiser and network")
            for mine, theirs in zip(current, saved):
                if mine.shape != theirs.shape:
                    raise DataError(f"the checkpoint's {name!r} has shape {theirs.shape}, the "
                                    f"optimiser {mine.shape}; resume with the same network")
                mine[...] = theirs
        elif isinstance(value, dict) and "array" in value:
            setattr(obj, name, arrays[f"{prefix}/{name}"].copy())
        elif isinstance(value, dict) and "object" in value:
            if current is None or type(current).__name__ != value["object"]:
                raise DataError(f"the checkpoint has a {value['object']} for {name!r}; resume "
                                "with the same settings")
            restore_object(current, f"{prefix}/{name}", arrays, value["state"])
        elif isinstance(current, list) and isinstance(value, list):
            current[:] = value
        else:
            setattr(obj, name, value)


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

    from .io import write_atomic

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"the checkpoint folder {folder} is a file; give a folder name")
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "version": str(VERSION),
            "state": json.dumps({**state, "format": FORMAT, "version": VERSION})}
    blob = save({k: np.ascontiguousarray(v) for k, v in arrays.items()}, metadata=meta)
    return write_atomic(checkpoint_path(folder), blob)


def read(folder: str | os.PathLike) -> Checkpoint:
    """Load the checkpoint in ``folder`` (a clear ``DataError`` if it is missing or broken)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = checkpoint_path(folder)
    if not path.exists():
        raise DataError(f"no checkpoint in {folder} (looked for {path.name}); start the run with "
                        "--checkpoint DIR first")
    blob = path.read_bytes()
    try:
        arrays = load(blob)
        header_len = int.from_bytes(blob[:8], "little")
        header = json.loads(blob[8:8 + header_len])
        meta = header.get("__metadata__") or {}
        if meta.get("format") != FORMAT:
            raise DataError(f"{path} is not a chainrule checkpoint")
        state = json.loads(meta.get("state", ""))
        missing = [key for key in REQUIRED if key not in state]
        if missing:
            raise ValueError(f"it lacks {', '.join(missing)}")
    except (SafetensorError, ValueError, OSError, AttributeError, TypeError) as exc:
        raise DataError(f"{path} is not a readable checkpoint ({exc}); it may be damaged — start "
                        "the run again") from None
    if int(state.get("version", 0)) > VERSION:
        raise DataError(f"{path} was written by a newer chainrule (checkpoint version "
                        f"{state['version']}); upgrade chainrule to resume it")
    return Checkpoint(arrays, state)


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    return rng.bit_generator.state


def restore_rng(rng: np.random.Generator, state: dict[str, Any]) -> None:
    rng.bit_generator.state = state
