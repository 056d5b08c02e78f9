"""The training loop: the seed's algorithm, for any batch size.

For each epoch: put the rows in a (seeded) random order; for each batch of
``batch_size`` rows (1 is the seed's per-row algorithm): predict, measure the loss,
back-propagate, and move every parameter by its update rule (``w ← w − η ∂L/∂w`` for
SGD).  After the epoch: its mean training loss, the validation loss and the metrics
go into the ``History``, and the callbacks (early stopping among them) may stop.

A loss or gradient that stops being finite ends training with a ``DivergenceError``
*before* it can reach the weights.  Ctrl-C ends training cleanly after the current
step, with the weights kept.

Classification (losses ``cross_entropy`` and ``bce``) takes labels (numbers or text,
or one-hot rows); the model keeps ``classes_``.  ``scale`` fits a scaler to the
training inputs (and to regression targets) and keeps it in the model, so
``model.predict`` works on raw inputs and answers in the targets' own units.
"""

from __future__ import annotations

import hashlib
import math
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from . import fastpath
from . import metrics as metric_fns
from . import checkpoint as ckpt
from .data import Scaler, all_finite, as_inputs, as_targets, encode_labels, same_rows
from .errors import ChainruleError, ConfigError, DataError, DivergenceError
from .init import make_rng
from .losses import CLASSIFICATION_LOSSES, Loss, get_loss
from .nn.module import Module
from .optim import Optimizer, make_optimizer
from .tensor import Tensor



@dataclass
class History:
    """What happened in training, per epoch: ``loss`` (the mean training loss over the
    epoch's steps), ``val_loss``, and each metric (``r2``, ``val_accuracy``, …) in ``logs``."""

    logs: dict[str, list[float]] = field(default_factory=lambda: {"loss": []})
    epoch: list[int] = field(default_factory=list)
    steps: int = 0
    interrupted: bool = False
    stopped_early: bool = False
    best_epoch: int | None = None
    restored_epoch: int | None = None  # early stopping put back this epoch's weights

    @property
    def loss(self) -> list[float]:
        return self.logs["loss"]

    @property
    def val_loss(self) -> list[float]:
        return self.logs.get("val_loss", [])

    def __getitem__(self, key: str) -> list[float]:
        return self.logs[key]

    def __len__(self) -> int:
        return len(self.epoch)

    def last(self) -> dict[str, float]:
        """The latest epoch's numbers: ``{"loss": …, "val_loss": …, …}``."""
        return {k: v[-1] for k, v in self.logs.items() if v}


class Callback:
    """Hooks into ``fit``; override the ones you need.  ``on_epoch_end`` may return True to stop."""

    def on_train_begin(self, model: Module) -> None: ...

    def on_epoch_begin(self, epoch: int) -> None: ...

    def on_batch_begin(self, step: int, rows: np.ndarray, X: np.ndarray, y: np.ndarray) -> None: ...

    def on_batch_end(self, step: int, loss: float) -> None: ...

    def on_epoch_end(self, epoch: int, history: History) -> bool | None: ...

    def on_train_end(self, history: History) -> None: ...


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    ``monitor`` is ``val_loss`` (falls back to ``loss`` without validation data) or any
    key of the history; losses improve downwards, ``accuracy`` and ``r2`` upwards.  With
    ``restore_best`` the model ends with the weights of its best epoch.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 10, min_delta: float = 0.0,
                 restore_best: bool = True) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ConfigError(f"patience must be a whole number ≥ 1, got {patience!r}")
        if min_delta < 0:
            raise ConfigError(f"min_delta must be ≥ 0, got {min_delta!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, float(min_delta)
        self.restore_best = restore_best

    def on_train_begin(self, model: Module) -> None:
        self.model, self.best, self.best_state, self.best_epoch, self.wait = model, None, None, None, 0

    def watched(self, history: History) -> str:
        """The history key watched: ``monitor``, or its training twin without validation."""
        if self.monitor in history.logs:
            return self.monitor
        twin = self.monitor[len("val_"):]
        if self.monitor.startswith("val_") and not any(k.startswith("val_") for k in history.logs) \
                and twin in history.logs:
            return twin
        raise ConfigError(f"early stopping can't watch {self.monitor!r}; the history has "
                          f"{', '.join(history.logs)}")

    def on_epoch_end(self, epoch: int, history: History) -> bool:
        key = self.watched(history)
        value = history.logs[key][-1]
        higher = any(word in key for word in ("accuracy", "r2"))
        better = self.best is None or (value > self.best + self.min_delta if higher
                                       else value < self.best - self.min_delta)
        if better:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_state = self.model.state_dict()
            history.best_epoch = epoch
            return False
        self.wait += 1
        return self.wait >= self.patience

    def on_train_end(self, history: History) -> None:
        if self.restore_best and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
            if history.epoch and self.best_epoch != history.epoch[-1]:
                history.restored_epoch = self.best_epoch


class _StopFlag:
    requested = False


@contextmanager
def _ctrl_c_after_step() -> Iterator[_StopFlag]:
    """Turn Ctrl-C (and SIGTERM) into a request to stop after the current step (main thread only)."""
    flag = _StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def request(signum: int, frame: Any) -> None:
        flag.requested = True

    before = {sig: signal.signal(sig, request) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _batch_size(batch_size: int | str | None, n: int) -> int:
    if batch_size is None or batch_size in ("full", "all"):
        return n
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size must be a whole number ≥ 1 or 'full', got {batch_size!r}")
    return min(int(batch_size), n)


def _diverged(epoch: int, step: int, what: str, value: float, optimizer: Optimizer,
              weights: str = "The weights are those before that step.") -> DivergenceError:
    return DivergenceError(
        f"training diverged in epoch {epoch} (step {step}): the {what} became {value}. "
        f"The learning rate {optimizer.lr:g} is too large for this data; try a smaller one "
        f"(e.g. {optimizer.lr / 10:g}) or scale the inputs. {weights}"
    )


GROWTH, GROWTH_EPOCHS = 1e6, 3  # a loss this many times its first, rising this many epochs


def _check_growth(history: History, epoch: int, optimizer: Optimizer) -> None:
    """Divergence that stays finite: the epoch loss above ``GROWTH`` × the first epoch's,
    and rising, for ``GROWTH_EPOCHS`` epochs in a row (``-b full --lr 1e6`` reaches
    1e106 long before ∞)."""
    losses = history.loss[-GROWTH_EPOCHS - 1:]
    first = history.loss[0] if history.loss else 0.0
    if len(losses) > GROWTH_EPOCHS and first > 0 \
            and all(b > a and b > GROWTH * first for a, b in zip(losses, losses[1:])):
        raise _diverged(epoch, history.steps, "epoch loss", float(f"{losses[-1]:.6g}"), optimizer,
                        f"It has grown past {GROWTH:g} times its first value "
                        f"({first:.6g}) for {GROWTH_EPOCHS} epochs.")


# ------------------------------------------------------------------------------------
# Getting the data into the shape the loss wants.


@dataclass
class _Prepared:
    X: np.ndarray  # scaled inputs
    Y: np.ndarray  # scaled targets, or one-hot / 0-1 columns for classification
    W: np.ndarray | None  # sample weights
    rows: np.ndarray | None = None  # each row's number in the data fit was given


def _targets(model: Module, y: Any, loss: Loss, fitting: bool,
             classes: np.ndarray | None = None) -> np.ndarray:
    """Labels → one-hot (cross_entropy) or one 0/1 column (bce); numbers stay numbers.

    Fitting, the classes are ``classes`` (all the labels fit was given, before a
    validation split) or those found in ``y``.
    """
    if loss.name not in CLASSIFICATION_LOSSES:
        return as_targets(y, dtype=model.dtype)
    classes, onehot = encode_labels(y, classes if fitting else model.classes_)
    if fitting:
        model.classes_ = classes
        model.head = "sigmoid" if loss.name == "bce" else "softmax"
    if loss.name == "bce":
        if onehot.shape[1] != 2:
            raise ConfigError(f"bce is for two classes, the labels have {onehot.shape[1]}; "
                              "use cross_entropy")
        return onehot[:, 1:].astype(model.dtype)
    return onehot.astype(model.dtype, copy=False)


def _prepare(model: Module, X: Any, y: Any, loss: Loss, sample_weight: Any, fitting: bool,
             scale: str | None = None, classes: np.ndarray | None = None) -> _Prepared:
    Y = _targets(model, y, loss, fitting, classes)
    X = as_inputs(X, dtype=model.dtype)
    same_rows(X, Y)
    if fitting and scale is not None:
        model.x_scaler = Scaler.fit(scale, X)
        regression = loss.name not in CLASSIFICATION_LOSSES
        model.y_scaler = Scaler.fit(scale, Y) if regression else None
    if model.x_scaler is not None:
        X = model.x_scaler.transform(X)
    if model.y_scaler is not None:
        Y = model.y_scaler.transform(Y)
    W = None
    if sample_weight is not None:
        W = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if len(W) != len(X) or not all_finite(W) or np.any(W < 0):
            raise ConfigError(f"sample_weight needs {len(X)} finite numbers ≥ 0, one per row")
    return _Prepared(X, Y, W)


def prepare(model: Module, X: Any, y: Any, loss: str | Loss = "mse",
            scale: str | None = None, fitting: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The arrays training sees: scaled inputs, and scaled targets or one-hot classes.

    ``fitting``: fit the scalers (and ``classes_``) into ``model`` as ``fit`` would;
    otherwise use those the model keeps (a trained or loaded model).
    """
    data = _prepare(model, X, y, get_loss(loss), None, fitting=fitting, scale=scale)
    return data.X, data.Y


def _split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"validation_split must be between 0 and 1, got {fraction!r}")
    n_val = int(round(n * fraction))
    if n_val < 1 or n_val >= n:
        raise ConfigError(f"validation_split {fraction} of {n} rows leaves no rows for training "
                          "or for validation; use more data or another fraction")
    order = rng.permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


# ------------------------------------------------------------------------------------
# The loop.


def _graph_epoch(model: Module, params: list[Tensor], loss_fn: Loss, opt: Optimizer, data: _Prepared,
                 order: np.ndarray, bs: int, epoch: int, history: History,
                 callbacks: Sequence[Callback], stop: _StopFlag,
                 total: float = 0.0) -> tuple[float, int]:
    """One epoch (or its rest) on the graph engine: the batches of ``order`` in turn.

    Returns ``(total + Σ batch loss × rows, rows seen)``; ``total`` carries the sum of an
    epoch begun before a resume, so the sum is added up in the same order either way.
    """
    seen = 0
    for start in range(0, len(order), bs):
        rows = order[start:start + bs]
        xb, yb = data.X[rows], data.Y[rows]
        step = history.steps + 1
        for cb in callbacks:  # callbacks see each row's number in the data fit was given
            cb.on_batch_begin(step, rows if data.rows is None else data.rows[rows], xb, yb)
        wb = None if data.W is None else data.W[rows]
        L = loss_fn(model(Tensor._wrap(xb)), yb, sample_weight=wb)
        value = float(L.data)
        if not math.isfinite(value):
            raise _diverged(epoch, step, "loss", value, opt)
        opt.zero_grad()
        L.backward()
        for p in params:
            if p.grad is not None and not all_finite(p.grad):
                raise _diverged(epoch, step, "gradient", float(np.abs(p.grad).max()), opt)
        opt.step()
        history.steps = step
        total += value * len(rows)
        seen += len(rows)
        for cb in callbacks:
            cb.on_batch_end(step, value)
        if stop.requested:
            break
    return total, seen


def _fused_epoch(plan: fastpath.Plan, data: _Prepared, order: np.ndarray, bs: int, epoch: int,
                 history: History, stop: _StopFlag, total: float = 0.0) -> tuple[float, int]:
    """``_graph_epoch`` on the fused loop (``fastpath``): the same batches, numbers and errors."""
    done = plan.run(data.X, data.Y, data.W, order, bs, lambda: stop.requested, total)
    history.steps += done.steps
    if done.failed:
        raise _diverged(epoch, history.steps + 1, done.failed, done.value, plan.opt)
    return done.total, done.seen


def _scores(model: Module, loss_fn: Loss, data: _Prepared, y_raw: Any, names: Sequence[str],
            prefix: str) -> dict[str, float]:
    """Loss (in the scaled space training sees) and metrics (in the data's own units)."""
    out = model.forward_array(data.X)
    scores = {prefix + "loss": float(loss_fn(Tensor._wrap(out), data.Y, sample_weight=data.W).data)}
    if names:
        if model.classes_ is not None:
            truth, guess = encode_labels(y_raw, model.classes_)[1], model.probabilities(out)
        else:
            truth = data.Y if model.y_scaler is None else model.y_scaler.inverse(data.Y)
            guess = out if model.y_scaler is None else model.y_scaler.inverse(out)
        for name in names:
            scores[prefix + name] = metric_fns.get_metric(name)(truth, guess)
    return scores


@dataclass
class _Place:
    """Where training stands: the next epoch, and inside it the row order and progress."""

    first_epoch: int
    order: np.ndarray | None = None
    next_row: int = 0
    total: float = 0.0
    seen: int = 0


def _fingerprint(data: _Prepared) -> str:
    """A hash of the rows training sees, to refuse resuming on other data."""
    digest = hashlib.sha256()
    for arr in (data.X, data.Y) + (() if data.W is None else (data.W,)):
        digest.update(str(arr.shape).encode())
        digest.update(np.ascontiguousarray(arr).tobytes())
    return digest.hexdigest()


def _save(folder: str, model: Module, opt: Optimizer, rng: np.random.Generator, history: History,
          stopper: EarlyStopping | None, place: _Place, run_info: dict[str, Any] | None,
          fingerprint: str, batch_size: int | None = None) -> None:
    arrays = {f"model/{name}": p.data for name, p in model.named_parameters()}
    opt_arrays, opt_numbers = ckpt.object_state(opt, "optim")
    arrays.update(opt_arrays)
    state: dict[str, Any] = {
        "optimizer": {"type": type(opt).__name__, "state": opt_numbers},
        "rng": ckpt.rng_state(rng),
        "place": {"first_epoch": place.first_epoch, "next_row": place.next_row,
                  "total": place.total, "seen": place.seen, "batch_size": batch_size},
        "history": {"logs": history.logs, "epoch": history.epoch, "steps": history.steps,
                    "best_epoch": history.best_epoch},
        "model": {"x_scaler": model.x_scaler.to_dict() if model.x_scaler else None,
                  "y_scaler": model.y_scaler.to_dict() if model.y_scaler else None,
                  "classes": None if model.classes_ is None else np.asarray(model.classes_).tolist(),
                  "head": model.head},
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
    ckpt.write(folder, arrays, state)


def _restore(folder: str, model: Module, opt: Optimizer, rng: np.random.Generator,
             history: History, stopper: EarlyStopping | None, n: int, fingerprint: str,
             batch_size: int | None = None) -> _Place:
    saved = ckpt.read(folder)
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
    ckpt.restore_object(opt, "optim", arrays, state["optimizer"]["state"])
    ckpt.restore_rng(rng, state["rng"])
    kept = state["model"]
    model.x_scaler = Scaler.from_dict(kept["x_scaler"]) if kept["x_scaler"] else None
    model.y_scaler = Scaler.from_dict(kept["y_scaler"]) if kept["y_scaler"] else None
    mine = None if model.classes_ is None else np.asarray(model.classes_).tolist()
    if (kept["classes"], kept["head"]) != (mine, model.head):  # fit found them in the same data
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
    order = ckpt.check_progress(saved, n, folder)  # a permutation of the n rows, or None
    if p.get("batch_size") not in (None, batch_size):
        raise ConfigError(f"the checkpoint in {folder} was made with batch_size {p['batch_size']}"
                          f", not {batch_size}; resume with the same settings")
    return _Place(p["first_epoch"], order, p["next_row"], p["total"], p["seen"])


def fit(model: Module, X: Any, y: Any, loss: str | Loss = "mse",
        optimizer: str | Optimizer = "sgd", epochs: int = 10, batch_size: int | str | None = 1,
        shuffle: bool = True, seed: int | np.random.Generator | None = None,
        lr: Any = None, callbacks: Sequence[Callback] = (), *,
        validation_split: float = 0.0, validation_data: tuple[Any, Any] | None = None,
        sample_weight: Any = None, scale: str | None = None,
        metrics: Sequence[str] | None = None, early_stopping: int | EarlyStopping | None = None,
        optimizer_options: dict[str, Any] | None = None, checkpoint: str | None = None,
        checkpoint_every: int = 1, resume: str | None = None,
        run_info: dict[str, Any] | None = None, engine: str = "auto") -> History:
    """Train ``model`` on rows ``X`` with targets ``y``; returns the ``History``.

    ``batch_size=1`` is the seed's algorithm (update after every row); a number N
    averages the gradient over N rows; ``"full"`` (or None) uses every row per step.
    ``optimizer`` is an ``Optimizer`` or a name (``"sgd"``, ``"adam"``, …) built with
    ``lr`` (a number or a schedule; None: the optimiser's default, 0.01 for SGD, 1e-3
    for Adam) and ``optimizer_options``.  ``seed`` fixes the
    validation split and the row order: the same seed gives bit-identical weights.
    ``scale`` (``standard``/``minmax``/``none``) fits a scaler kept in the model;
    ``metrics`` default to ``r2`` (regression) or ``accuracy`` (classification);
    ``early_stopping`` is a patience (epochs) or an ``EarlyStopping``.

    ``checkpoint=DIR`` writes everything needed to continue (see ``checkpoint``) every
    ``checkpoint_every`` epochs, at a clean stop (Ctrl-C, SIGTERM) and at the end;
    ``resume=DIR`` continues such a run — give the same model, data and settings — and
    ends with weights bit-identical to a run that was never stopped.  ``run_info`` is
    stored in the checkpoint as it is (the command line keeps its options there).

    ``engine`` picks how each epoch runs: ``"graph"`` (the autograd engine),
    ``"fused"`` (``fastpath``'s plan, no graph per step: the compiled loop for small
    steps, BLAS products on preallocated arrays for big ones; the same numbers to
    rounding; ``ConfigError`` saying why when it can't run this model, loss, optimiser or
    callbacks) or ``"auto"``
    (fused when it can and it pays, see ``fastpath.choose``; graph otherwise).
    """
    loss_fn = get_loss(loss)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ConfigError(f"epochs must be a whole number ≥ 0, got {epochs!r}")
    rng = make_rng(seed)
    classification = loss_fn.name in CLASSIFICATION_LOSSES
    names = list(metrics) if metrics is not None else (["accuracy"] if classification else ["r2"])
    fitting_metrics = metric_fns.CLASSIFICATION if classification else metric_fns.REGRESSION
    for name in names:
        metric_fns.get_metric(name)
        if name not in fitting_metrics:
            raise ConfigError(f"the metric {name} is for {'regression' if classification else 'classification'}; "
                              f"this {'classification' if classification else 'regression'} can report "
                              f"{', '.join(fitting_metrics)}")
    y_arr = np.asarray(y) if not hasattr(y, "to_numpy") else y.to_numpy()
    X_arr = X.to_numpy() if hasattr(X, "to_numpy") else np.asarray(X)
    if np.ndim(X_arr) == 0 or np.ndim(y_arr) == 0 or len(X_arr) != len(y_arr):
        raise DataError(f"X has {len(np.atleast_1d(X_arr))} rows but y has "
                        f"{len(np.atleast_1d(y_arr))}; give one target per row")
    if sample_weight is not None and np.size(sample_weight) != len(X_arr):
        raise ConfigError(f"sample_weight needs {len(X_arr)} numbers, one per row; got "
                          f"{np.size(sample_weight)}")
    val_raw = validation_data
    rows = None  # every row, in order
    classes = None  # _targets finds them in y: every row, unless a split takes some away
    if validation_split and validation_data is None:
        classes = encode_labels(y_arr)[0] if classification else None  # so: before the split
        rows, va = _split(len(X_arr), validation_split, rng)
        val_raw = (X_arr[va], y_arr[va])
        X_arr, y_arr = X_arr[rows], y_arr[rows]
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight).reshape(-1)[rows]
    data = _prepare(model, X_arr, y_arr, loss_fn, sample_weight, fitting=True, scale=scale,
                    classes=classes)
    data.rows = rows
    val = _prepare(model, val_raw[0], val_raw[1], loss_fn, None, fitting=False) if val_raw else None
    params = model.parameters()
    opt = make_optimizer(optimizer, params, lr=lr, **(optimizer_options or {}))
    n = len(data.X)
    bs = _batch_size(batch_size, n)
    callbacks = list(callbacks)
    if early_stopping is not None:
        callbacks.append(early_stopping if isinstance(early_stopping, EarlyStopping)
                         else EarlyStopping(patience=early_stopping))
    history = History()
    for cb in callbacks:
        cb.on_train_begin(model)
    stopper = next((cb for cb in callbacks if isinstance(cb, EarlyStopping)), None)
    place = _Place(first_epoch=1)
    fingerprint = _fingerprint(data) if checkpoint is not None or resume is not None else ""
    if resume is not None:
        place = _restore(resume, model, opt, rng, history, stopper, n, fingerprint, bs)
        if epochs < place.first_epoch - (place.order is None):
            raise ConfigError(f"the checkpoint in {resume} has done {place.first_epoch - 1} "
                              f"epoch(s){' and part of the next' if place.order is not None else ''}"
                              f"; epochs={epochs} would undo them: give at least "
                              f"{place.first_epoch - (place.order is None)}")
    if checkpoint_every < 1:
        raise ConfigError(f"checkpoint_every must be ≥ 1, got {checkpoint_every!r}")
    save = (lambda where: _save(checkpoint, model, opt, rng, history, stopper, where, run_info,
                                fingerprint, bs)) \
        if checkpoint is not None else (lambda where: None)
    plan = fastpath.choose(engine, model, loss_fn, opt, callbacks, (data.X.shape[1], data.Y.shape[1]),
                           steps=(epochs - place.first_epoch + 1) * -(-n // bs), batch_size=bs)

    with _ctrl_c_after_step() as stop, np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(place.first_epoch, epochs + 1):
            opt.start_epoch(epoch - 1)  # a schedule's epoch index counts from 0
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            if place.order is not None and epoch == place.first_epoch:  # resume inside an epoch
                order, start, total, seen = place.order, place.next_row, place.total, place.seen
            else:
                order = rng.permutation(n) if shuffle else np.arange(n)
                start, total, seen = 0, 0.0, 0
            if plan is not None:
                total, part_seen = _fused_epoch(plan, data, order[start:], bs, epoch, history,
                                                stop, total)
            else:
                total, part_seen = _graph_epoch(model, params, loss_fn, opt, data, order[start:],
                                                bs, epoch, history, callbacks, stop, total)
            seen += part_seen
            if seen < n:  # stopped inside the epoch: keep the place, not a partial epoch loss
                history.interrupted = True
                save(_Place(epoch, order, seen, total, seen))
                break
            history.logs["loss"].append(total / seen)
            history.epoch.append(epoch)
            _check_growth(history, epoch, opt)
            scores = _scores(model, loss_fn, data, y_arr, names, "") if names else {}
            scores.pop("loss", None)
            if val is not None:
                scores.update(_scores(model, loss_fn, val, val_raw[1], names, "val_"))
            for key, value in scores.items():
                history.logs.setdefault(key, []).append(value)
            opt.end_epoch(epoch - 1, total / seen)
            stopping = any([cb.on_epoch_end(epoch, history) for cb in callbacks])
            if stop.requested or stopping or epoch == epochs or epoch % checkpoint_every == 0:
                save(_Place(epoch + 1))
            if stop.requested:
                history.interrupted = True
                break
            if stopping:
                history.stopped_early = True
                break
    for cb in callbacks:
        cb.on_train_end(history)
    return history


def evaluate(model: Module, X: Any, y: Any, loss: str | Loss = "mse",
             metrics: Sequence[str] = ()) -> float | dict[str, float]:
    """The loss over all rows of ``X`` and ``y`` (and, if asked, metrics), recording no graph.

    Inputs and targets are raw: the model's own scalers and classes are applied.  The
    loss is measured where training measures it (on scaled targets when the model scales
    them, so it compares with ``History.loss``); the metrics are in the data's own units.
    """
    loss_fn = get_loss(loss)
    data = _prepare(model, X, y, loss_fn, None, fitting=False)
    scores = _scores(model, loss_fn, data, y, list(metrics), "")
    return scores["loss"] if not metrics else scores
