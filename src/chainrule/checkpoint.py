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
Loading never runs code: arrays and JSON only.
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

from .data import Scaler
from .errors import ChainruleError, DataError

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


# -- a training run's checkpoint (what ``fit`` writes and resumes from) ---------------


@dataclass
class Place:
    """Where training stands: the next epoch, and inside it the row order and progress."""

    first_epoch: int
    order: np.ndarray | None = None
    next_row: int = 0
    total: float = 0.0
    seen: int = 0


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
             fingerprint: str) -> None:
    """Write everything a run needs to continue from ``place`` (``fit``'s model, optimiser,
    generator, history, early stopping) into ``folder``."""
    arrays = {f"model/{name}": p.data for name, p in model.named_parameters()}
    x_scaler, y_scaler = getattr(model, "x_scaler", None), getattr(model, "y_scaler", None)
    classes = getattr(model, "classes_", None)
    opt_arrays, opt_numbers = object_state(opt, "optim")
    arrays.update(opt_arrays)
    state: dict[str, Any] = {
        "optimizer": {"type": type(opt).__name__, "state": opt_numbers},
        "rng": rng_state(rng),
        "place": {"first_epoch": place.first_epoch, "next_row": place.next_row,
                  "total": place.total, "seen": place.seen},
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
    if stopper is not None:
        state["early_stopping"] = {"best": stopper.best, "best_epoch": stopper.best_epoch,
                                   "wait": stopper.wait, "monitor": stopper.monitor}
        for name, value in (stopper.best_state or {}).items():
            arrays[f"early/{name}"] = value
    write(folder, arrays, state)


def restore_run(folder: str, model: Any, opt: Any, rng: np.random.Generator, history: Any,
                stopper: Any, n: int, fingerprint: str) -> Place:
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
        raise DataError(f"the checkpoint in {folder} was made on other training data (or another "
                        "validation split or scaling); resume with the same data and settings")
    restore_object(opt, "optim", arrays, state["optimizer"]["state"])
    restore_rng(rng, state["rng"])
    kept = state["model"]
    model.x_scaler = Scaler.from_dict(kept["x_scaler"]) if kept["x_scaler"] else None
    model.y_scaler = Scaler.from_dict(kept["y_scaler"]) if kept["y_scaler"] else None
    if kept["classes"] is not None:
        model.classes_, model.head = np.asarray(kept["classes"]), kept["head"]
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
    order = arrays.get("place/order")
    if order is not None and len(order) != n:
        raise DataError(f"the checkpoint in {folder} was made on {len(order)} training rows, not "
                        f"{n}; resume with the same data")
    return Place(p["first_epoch"], order, p["next_row"], p["total"], p["seen"])
