"""The training loop: the seed's algorithm, for any batch size.

For each epoch: put the rows in a (seeded) random order; for each batch of
``batch_size`` rows (1 is the seed's per-row algorithm): predict, measure the loss,
back-propagate, and move every parameter by its update rule (``w ← w − η ∂L/∂w`` for
SGD).  After the epoch: its mean training loss, the validation loss and the metrics
go into the ``History``, and the callbacks (early stopping among them) may stop.

``Trainer`` is the loop, a step or an epoch at a time; ``fit`` drives it, and so do the
web playground (``web.run``) and the scikit-learn estimators (through ``fit``), so they
draw the same rows and reach the same weights by construction.  Each epoch runs on the
engine ``fastpath.choose`` picks (the fused loop or the graph); the per-epoch scores
need no graph (``forward_array``, the losses' ``value``).  The checkpoint format is
``checkpoint``'s (``save_run``, ``restore_run``).

A loss or gradient that stops being finite ends training with a ``DivergenceError``
*before* it can reach the weights.  Ctrl-C ends training cleanly after the current
step, with the weights kept.

Classification (losses ``cross_entropy`` and ``bce``) takes labels (numbers or text,
or one-hot rows); the model keeps ``classes_``.  ``scale`` fits a scaler to the
training inputs (and to regression targets) and keeps it in the model, so
``model.predict`` works on raw inputs and answers in the targets' own units.
"""

from __future__ import annotations

import math
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from . import checkpoint as ckpt
from . import fastpath, ops
from . import metrics as metric_fns
from .data import Scaler, all_finite, as_inputs, as_targets, encode_labels, same_rows
from .errors import ConfigError, DataError, DivergenceError
from .init import make_rng
from .losses import CLASSIFICATION_LOSSES, Loss, _weight_shares, get_loss
from .nn.module import Module
from .optim import Optimizer, make_optimizer
from .tables import encode_frame, needs_encoding
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
    """The error, with ``step``, ``what`` (loss or gradient) and ``value`` kept on it."""
    error = DivergenceError(
        f"training diverged in epoch {epoch} (step {step}): the {what} became {value}. "
        f"The learning rate {optimizer.lr:g} is too large for this data; try a smaller one "
        f"(e.g. {optimizer.lr / 10:g}) or scale the inputs. {weights}"
    )
    error.step, error.what, error.value = step, what, value
    return error


GROWTH, GROWTH_EPOCHS = 1e6, 3  # a loss this many times its first, rising this many epochs


def _after_epoch(history: History, stop: _StopFlag, stopping: bool, epoch: int, epochs: int,
                 every: int, save: Callable[[], None]) -> bool:
    """After an epoch has ended (in ``fit``, a streamed run or on Dask): the checkpoint when
    one is due (a stop, early stopping, the last epoch, every ``every``-th), then True when
    the run ends here (Ctrl-C/SIGTERM: ``interrupted``; a callback: ``stopped_early``)."""
    if stop.requested or stopping or epoch == epochs or epoch % every == 0:
        save()
    if stop.requested:
        history.interrupted = True
    elif stopping:
        history.stopped_early = True
    return stop.requested or stopping


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
    classes, onehot = encode_labels(y, classes if fitting else getattr(model, "classes_", None))
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
    if getattr(model, "encoding", None) is not None and hasattr(X, "columns"):  # raw: text → one-hot
        X = encode_frame(X, model.encoding, model.dtype)[0]
    X = as_inputs(X, dtype=model.dtype)
    same_rows(X, Y)
    if fitting and scale is not None:
        model.x_scaler = Scaler.fit(scale, X)
        regression = loss.name not in CLASSIFICATION_LOSSES
        model.y_scaler = Scaler.fit(scale, Y) if regression else None
    x_scaler, y_scaler = getattr(model, "x_scaler", None), getattr(model, "y_scaler", None)
    if x_scaler is not None:  # (a Predictor keeps them: ``nn.predictor``)
        X = x_scaler.transform(X)
    if y_scaler is not None:
        Y = y_scaler.transform(Y)
    W = None
    if sample_weight is not None:
        W = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if len(W) != len(X) or not all_finite(W) or np.any(W < 0):
            raise ConfigError(f"sample_weight needs {len(X)} finite numbers ≥ 0, one per row")
    return _Prepared(X, Y, W)


def _one_hot(model: Module, X: Any) -> tuple[np.ndarray, Any]:
    """A DataFrame with text columns as numbers (one input per category) and its ids left
    out, and the encoding (None when it needs none)."""
    arr, encoding = encode_frame(X, None, model.dtype)
    sizes = getattr(model, "sizes", None)
    if sizes and sizes[0] != arr.shape[1]:
        shown = ", ".join(f"{k} → {len(v)}" for k, v in encoding.categories.items()) \
            if encoding is not None else "no text columns"
        raise DataError(f"the inputs make {arr.shape[1]} columns once each text column becomes one "
                        f"input per category ({shown}), but the network takes {sizes[0]}; build "
                        f"it with {arr.shape[1]} inputs")
    return arr, encoding


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
# The loop: one stepper, ``Trainer``, that ``fit``, the web playground and the
# scikit-learn estimators all run.


@dataclass
class StepRecord:
    """What one step on the graph engine did: its rows (numbers of training rows), its
    loss, the rate it used and, when asked, each layer's outputs for those rows."""

    rows: np.ndarray
    loss: float
    lr: float
    outputs: list[np.ndarray] | None = None


def _loss_value(loss_fn: Loss, out: np.ndarray, Y: np.ndarray, W: np.ndarray | None) -> float:
    """L over all rows, as the loss computes it, without a graph for a loss of the tables (its
    ``value`` on arrays, reduced as ``Loss.__call__`` reduces the terms); a loss of another
    kind (a subclass: scikit-learn's objective adds a penalty) is called as it is."""
    if type(loss_fn) is not Loss or loss_fn.value is None or Y.shape != out.shape:
        return float(loss_fn(Tensor._wrap(out), Y, sample_weight=W).data)
    terms = loss_fn.value(out, Y)
    if W is None:
        return float(ops._mean(terms))
    share = _weight_shares(W, out, loss_fn.name)
    if terms.ndim > 1:  # ℓ_n = the mean of row n's terms
        terms = ops._mean(terms, axis=tuple(range(1, terms.ndim)))
    return float(np.add.reduce(terms * share))


def _scores(model: Module, loss_fn: Loss, data: _Prepared, y_raw: Any, names: Sequence[str],
            prefix: str, forward: Callable[[np.ndarray], np.ndarray] | None = None,
            loss: bool = True) -> dict[str, float]:
    """Loss (in the scaled space training sees; unless ``loss`` is False) and metrics (in
    the data's own units); the model's outputs without a graph: ``forward`` (the compiled
    loop's forward, when the run is in it) or ``forward_array`` (BLAS products for a
    Sequential)."""
    out = forward(data.X) if forward is not None else model.forward_array(data.X)
    scores = {prefix + "loss": _loss_value(loss_fn, out, data.Y, data.W)} if loss else {}
    if names:
        classes = getattr(model, "classes_", None)
        y_scaler = getattr(model, "y_scaler", None)
        if classes is not None:
            truth, guess = encode_labels(y_raw, classes)[1], model.probabilities(out)
        else:
            truth = data.Y if y_scaler is None else y_scaler.inverse(data.Y)
            guess = out if y_scaler is None else y_scaler.inverse(out)
        for name in names:
            scores[prefix + name] = metric_fns.get_metric(name)(truth, guess)
    return scores


def _metric_names(metrics: Sequence[str] | None, classification: bool) -> list[str]:
    names = list(metrics) if metrics is not None else (["accuracy"] if classification else ["r2"])
    fitting_metrics = metric_fns.CLASSIFICATION if classification else metric_fns.REGRESSION
    for name in names:
        metric_fns.get_metric(name)
        if name not in fitting_metrics:
            raise ConfigError(f"the metric {name} is for {'regression' if classification else 'classification'}; "
                              f"this {'classification' if classification else 'regression'} can report "
                              f"{', '.join(fitting_metrics)}")
    return names


GATHER_BYTES = 1 << 28  # a shuffled epoch's rows are gathered into one copy up to this size


class Trainer:
    """One training run, a step or an epoch at a time: the seed's algorithm, with its
    random draws (the validation split first, then one row order per epoch) made here,
    so everything that trains through it — ``fit``, the web playground, the
    scikit-learn estimators — gets the same rows and the same weights.

    Its state: ``epoch_number`` (the epoch under way, from 1), the epoch's row ``order``
    (None until it begins), ``cursor`` (rows of it done), ``total`` (Σ batch loss × rows so
    far) and ``history``; ``data`` (the prepared training rows) and ``val`` (validation).

    ``step()`` takes the next batch on the graph engine (the playground's step, with
    each layer's outputs when asked); ``epoch()`` runs the rest of the epoch on the engine
    ``choose`` picked (the fused loop or the graph) and ends it: its mean loss, the
    scores, the schedule, the callbacks.  ``fit`` is ``choose`` and ``epoch()`` until
    done.  The arguments are ``fit``'s (see there).
    """

    def __init__(self, model: Module, X: Any, y: Any, loss: str | Loss = "mse",
                 optimizer: str | Optimizer = "sgd", batch_size: int | str | None = 1,
                 shuffle: bool = True, seed: int | np.random.Generator | None = None,
                 lr: Any = None, callbacks: Sequence[Callback] = (), *,
                 validation_split: float = 0.0, validation_data: tuple[Any, Any] | None = None,
                 sample_weight: Any = None, scale: str | None = None,
                 metrics: Sequence[str] | None = None,
                 early_stopping: int | EarlyStopping | None = None,
                 optimizer_options: dict[str, Any] | None = None) -> None:
        self.model, self.loss_fn, self.shuffle = model, get_loss(loss), shuffle
        self.rng = make_rng(seed)
        classification = self.loss_fn.name in CLASSIFICATION_LOSSES
        self.names = _metric_names(metrics, classification)
        y_arr = np.asarray(y) if not hasattr(y, "to_numpy") else y.to_numpy()
        X_arr = X.to_numpy() if hasattr(X, "to_numpy") else np.asarray(X)
        if np.ndim(X_arr) == 0 or np.ndim(y_arr) == 0 or len(X_arr) != len(y_arr):
            raise DataError(f"X has {len(np.atleast_1d(X_arr))} rows but y has "
                            f"{len(np.atleast_1d(y_arr))}; give one target per row")
        if sample_weight is not None and np.size(sample_weight) != len(X_arr):
            raise ConfigError(f"sample_weight needs {len(X_arr)} numbers, one per row; got "
                              f"{np.size(sample_weight)}")
        self.val_raw = validation_data
        rows = None  # every row, in order
        classes = None  # _targets finds them in y: every row, unless a split takes some away
        if validation_split and validation_data is None:
            classes = encode_labels(y_arr)[0] if classification else None  # so: before the split
            rows, va = _split(len(X_arr), validation_split, self.rng)
            self.val_raw = (X_arr[va], y_arr[va])
            X_arr, y_arr = X_arr[rows], y_arr[rows]
            if sample_weight is not None:
                sample_weight = np.asarray(sample_weight).reshape(-1)[rows]
        self.X_raw, self.y_raw = X_arr, y_arr  # the training rows as given
        self.data = _prepare(model, X_arr, y_arr, self.loss_fn, sample_weight, fitting=True,
                             scale=scale, classes=classes)
        self.data.rows = rows
        self.val = _prepare(model, self.val_raw[0], self.val_raw[1], self.loss_fn, None,
                            fitting=False) if self.val_raw else None
        self.params = model.parameters()
        self.opt = make_optimizer(optimizer, self.params, lr=lr, **(optimizer_options or {}))
        self.n = len(self.data.X)
        self.batch_size = _batch_size(batch_size, self.n)
        self.callbacks = list(callbacks)
        if early_stopping is not None:
            self.callbacks.append(early_stopping if isinstance(early_stopping, EarlyStopping)
                                  else EarlyStopping(patience=early_stopping))
        self.stopper = next((cb for cb in self.callbacks if isinstance(cb, EarlyStopping)), None)
        self.history = History()
        self.epoch_number = 1
        self.order: np.ndarray | None = None
        self.cursor, self.total = 0, 0.0
        self._begun = False
        self.plan: fastpath.Plan | None = None
        self._gathered: tuple[np.ndarray, ...] | None = None  # an epoch's rows in its order
        for cb in self.callbacks:
            cb.on_train_begin(model)

    # -- the engine -----------------------------------------------------------------------

    def choose(self, engine: str = "auto", epochs: int | None = None,
               on_compile: Callable[[str], None] | None = None) -> fastpath.Plan | None:
        """Pick the engine for the epochs to come (``fastpath.choose``; ``epochs``: the last
        epoch planned, for ``auto`` to weigh a compile against the run's length) and, for the
        compiled loop, load or compile it now (``on_compile`` gets a line first when it
        compiles)."""
        left = 0 if epochs is None else max(epochs - self.epoch_number + 1, 0)
        self.plan = fastpath.choose(engine, self.model, self.loss_fn, self.opt, self.callbacks,
                                    (self.data.X.shape[1], self.data.Y.shape[1]),
                                    steps=left * -(-self.n // self.batch_size),
                                    batch_size=self.batch_size, rows=self.n,
                                    on_compile=on_compile)
        return self.plan

    # -- where training stands (what a checkpoint keeps) ---------------------------------

    def place(self) -> ckpt.Place:
        """Where training stands: the next epoch, or inside one its order and progress."""
        if self.order is None or self.cursor == 0 and not self._begun:
            return ckpt.Place(self.epoch_number)
        return ckpt.Place(self.epoch_number, self.order, self.cursor, self.total, self.cursor)

    def resume_at(self, place: ckpt.Place) -> None:
        """Continue from ``place`` (a checkpoint's): its epoch and, inside it, its order."""
        self.epoch_number, self.order = place.first_epoch, place.order
        self.cursor, self.total = (place.next_row, place.total) if place.order is not None \
            else (0, 0.0)

    # -- stepping ---------------------------------------------------------------------------

    def _begin(self) -> None:
        """Open the epoch: the schedule's rate and the callbacks, then (unless a resume gave
        it) its row order."""
        if self._begun:
            return
        self.opt.start_epoch(self.epoch_number - 1)  # a schedule's epoch index counts from 0
        for cb in self.callbacks:
            cb.on_epoch_begin(self.epoch_number)
        if self.order is None:
            if not self.shuffle:
                self.order = np.arange(self.n)
            elif self.plan is not None:  # the same order, drawn by the compiled module
                self.order = self.plan.permutation(self.rng, self.n, self.batch_size)
            else:
                self.order = self.rng.permutation(self.n)
            self.cursor, self.total = 0, 0.0
        self._begun = True

    def next_rows(self) -> np.ndarray:
        """The training rows the next step will take."""
        self._begin()
        return self.order[self.cursor:self.cursor + self.batch_size]

    def _graph_step(self, rows: np.ndarray, keep: bool = False) -> StepRecord:
        """One batch on the graph engine: forward, loss, backward, update (or
        ``DivergenceError`` before the update)."""
        data, opt = self.data, self.opt
        xb, yb = data.X[rows], data.Y[rows]
        step = self.history.steps + 1
        for cb in self.callbacks:  # callbacks see each row's number in the data fit was given
            cb.on_batch_begin(step, rows if data.rows is None else data.rows[rows], xb, yb)
        wb = None if data.W is None else data.W[rows]
        outputs = None
        if keep and hasattr(self.model, "layers"):  # each layer's outputs, for the page
            h, outputs = Tensor._wrap(xb), []
            for layer in self.model.layers:
                h = layer(h)
                outputs.append(h.data.copy())
        else:
            h = self.model(Tensor._wrap(xb))
        L = self.loss_fn(h, yb, sample_weight=wb)
        value = float(L.data)
        if not math.isfinite(value):
            raise _diverged(self.epoch_number, step, "loss", value, opt)
        opt.zero_grad()
        L.backward()
        for p in self.params:
            if p.grad is not None and not all_finite(p.grad):
                raise _diverged(self.epoch_number, step, "gradient",
                                float(np.abs(p.grad).max()), opt)
        lr = opt.lr
        opt.step()
        self.history.steps = step
        self.total += value * len(rows)
        self.cursor += len(rows)
        for cb in self.callbacks:
            cb.on_batch_end(step, value)
        return StepRecord(rows, value, lr, outputs)

    def step(self, keep: bool = False) -> StepRecord:
        """The next batch on the graph engine (``keep``: with each layer's outputs); after
        the epoch's last batch, the epoch ends (``end_epoch``)."""
        self._begin()
        with np.errstate(over="ignore", invalid="ignore"):
            record = self._graph_step(self.order[self.cursor:self.cursor + self.batch_size],
                                      keep)
            if self.cursor >= self.n:
                self.end_epoch()
        return record

    def _fused_rows(self, rest: np.ndarray, should_stop: Callable[[], bool] | None) -> None:
        """The rows ``rest`` of the epoch on the plan.  Shuffled rows in the compiled loop
        read one copy of the data gathered in the epoch's order (a gather, ~a nanosecond a
        number), not each row through the permutation (a cache miss a step), unless the
        copy would be big (``GATHER_BYTES``) or the loop reads each row a few steps ahead
        (``Plan.reads_ahead``: then the permutation costs no more than a copy would)."""
        data, plan, order = self.data, self.plan, rest
        X, Y, W = data.X, data.Y, data.W
        if self.shuffle and len(rest) > 1 and not plan.uses_blas(self.batch_size) and \
                not plan.reads_ahead(self.batch_size) and X.nbytes + Y.nbytes <= GATHER_BYTES:
            n = len(rest)  # (the order's rows are valid: drawn here, or checked on resume)
            into_x, into_y, in_order = self._gathered or (X[:0], Y[:0], None)
            if len(into_x) < n or into_x.shape[1:] != X.shape[1:] or into_x.dtype != X.dtype \
                    or into_y.shape[1:] != Y.shape[1:] or into_y.dtype != Y.dtype:
                # allocated once for the run (a streamed run's blocks may need a new one)
                self._gathered = (np.empty_like(X), np.empty_like(Y), np.arange(len(X)))
                into_x, into_y, in_order = self._gathered
            X = np.take(X, rest, axis=0, out=into_x[:n], mode="clip")
            Y = np.take(Y, rest, axis=0, out=into_y[:n], mode="clip")
            W = None if W is None else W[rest]
            order = in_order[:n]
        done = plan.run(X, Y, W, order, self.batch_size, should_stop, self.total)
        self.history.steps += done.steps
        self.total = done.total
        self.cursor += done.seen
        if done.failed:
            raise _diverged(self.epoch_number, self.history.steps + 1, done.failed, done.value,
                            plan.opt)

    def epoch(self, should_stop: Callable[[], bool] | None = None) -> bool:
        """The rest of the current epoch (fused or graph, as ``choose`` picked), then its end.
        Returns True when training should stop: a callback (early stopping) says so, or
        ``should_stop()`` stopped it inside the epoch (then the epoch stays open: ``place``)."""
        self.advance(should_stop)
        if self.cursor < self.n:  # stopped inside the epoch
            return True
        with np.errstate(over="ignore", invalid="ignore"):
            return self.end_epoch()

    def advance(self, should_stop: Callable[[], bool] | None = None) -> None:
        """Train the rows of ``order`` from ``cursor`` on (or until ``should_stop()``),
        without closing the epoch (a Dask worker's round ends here, whatever its length)."""
        self._begin()
        rest = self.order[self.cursor:]
        with np.errstate(over="ignore", invalid="ignore"):
            if self.plan is not None:
                self._fused_rows(rest, should_stop)
            else:
                for start in range(0, len(rest), self.batch_size):
                    self._graph_step(rest[start:start + self.batch_size])
                    if should_stop is not None and should_stop():
                        break

    def end_epoch(self) -> bool:
        """Close the epoch: its mean training loss, the metrics and validation scores, the
        schedule, the callbacks (True when one says stop); the next epoch follows."""
        epoch, history, mean = self.epoch_number, self.history, self.total / self.cursor
        history.logs["loss"].append(mean)
        history.epoch.append(epoch)
        _check_growth(history, epoch, self.opt)
        plan, forward = self.plan, None
        if plan is not None and not plan.uses_blas(self.batch_size):  # the compiled loop's
            forward = partial(plan.outputs, batch_size=self.batch_size)
        scores = _scores(self.model, self.loss_fn, self.data, self.y_raw, self.names, "",
                         forward, loss=False) if self.names else {}  # (loss: the epoch's mean)
        if self.val is not None:
            scores.update(_scores(self.model, self.loss_fn, self.val, self.val_raw[1],
                                  self.names, "val_", forward))
        for key, value in scores.items():
            history.logs.setdefault(key, []).append(value)
        self.opt.end_epoch(epoch - 1, mean)
        self.epoch_number, self.order, self.cursor, self.total = epoch + 1, None, 0, 0.0
        self._begun = False
        return any([cb.on_epoch_end(epoch, history) for cb in self.callbacks])

    def finish(self) -> History:
        """The end of training: the callbacks' ``on_train_end`` (early stopping puts the
        best weights back); returns the history."""
        for cb in self.callbacks:
            cb.on_train_end(self.history)
        return self.history


def fit(model: Module, X: Any, y: Any = None, loss: str | Loss = "mse",
        optimizer: str | Optimizer = "sgd", epochs: int = 10, batch_size: int | str | None = 1,
        shuffle: bool = True, seed: int | np.random.Generator | None = None,
        lr: Any = None, callbacks: Sequence[Callback] = (), *,
        validation_split: float = 0.0, validation_data: tuple[Any, Any] | None = None,
        sample_weight: Any = None, scale: str | None = None,
        metrics: Sequence[str] | None = None, early_stopping: int | EarlyStopping | None = None,
        optimizer_options: dict[str, Any] | None = None, checkpoint: str | None = None,
        checkpoint_every: int = 1, resume: str | None = None,
        run_info: dict[str, Any] | None = None, engine: str = "auto",
        on_compile: Callable[[str], None] | None = None, shuffle_buffer: int | None = None,
        features: str | Sequence[str] | None = None, cluster: Any = None,
        sync_every: int = 1, workers: int | None = None, memory: Any = None,
        checkpoint_rows: int | None = None,
        progress: Callable[[int, int, str], None] | None = None, spool: bool = True) -> History:
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
    callbacks) or ``"auto"`` (fused when it can and it pays, see ``fastpath.choose``;
    graph otherwise).  ``on_compile`` gets one line before the compiled loop is compiled
    (the first use of a network shape on a machine takes seconds; the command line prints
    it).  ``fit`` is ``Trainer``'s ``epoch()`` until done.

    Data bigger than memory (``streamfit``): ``X`` may be a path to CSV or Parquet (a
    file, a folder or a glob; ``y`` then names the target column(s), default the last,
    ``features`` the inputs) or, with ``y=None``, an iterable of ``(X, y)`` chunks;
    ``shuffle_buffer`` rows are shuffled at a time.  A path streams when its data are
    bigger than ``memory`` (bytes or ``"1GB"``; default a quarter of the machine's
    memory); a streamed run also checkpoints every ``checkpoint_rows`` rows, tells
    ``progress(bytes_done, bytes_total, phase)`` after each block and (``spool``) parses
    a CSV once, keeping its numbers in a temporary file for the later passes.  ``cluster=client`` (a Dask
    ``distributed.Client``) runs the epochs data-parallel on its workers, averaging the
    weights and the optimiser's state every ``sync_every`` rows per worker (``cluster``;
    ``workers``: use the first N); the rest is as here, and a path or a Dask DataFrame is
    read by the workers (``clusterread``).
    """
    stream_args = dict(loss=loss, optimizer=optimizer, epochs=epochs, batch_size=batch_size,
                       shuffle=shuffle, seed=seed, lr=lr, scale=scale, engine=engine)
    unsupported = dict(sample_weight=sample_weight, checkpoint=checkpoint, resume=resume,
                       validation_data=validation_data, metrics=metrics)
    if cluster is not None:
        from .clusterread import fit_on_tables, is_table

        if is_table(X):  # files or a Dask DataFrame: read by the workers (``clusterread``)
            local = [name for name, value in (("shuffle_buffer", shuffle_buffer),
                                              ("checkpoint_rows", checkpoint_rows))
                     if value is not None]
            if local:  # (they shape a stream read here; the workers shuffle their partitions)
                raise ConfigError(f"{' and '.join(local)} can't be used when the Dask workers "
                                  "read the table; drop it, or train without cluster=")
            return fit_on_tables(model, X, y, cluster, features=features, sync_every=sync_every,
                                 workers=workers, callbacks=callbacks,
                                 optimizer_options=optimizer_options,
                                 validation_split=validation_split, early_stopping=early_stopping,
                                 checkpoint_every=checkpoint_every, run_info=run_info,
                                 **stream_args, **unsupported)
    from .streamfit import fit_stream, is_stream

    if is_stream(X, y):
        if cluster is not None:
            raise ConfigError("fit on a Dask cluster takes arrays, a DataFrame, CSV/Parquet "
                              "paths or a Dask DataFrame, not an iterable of chunks")
        return fit_stream(model, X, target=y, features=features, shuffle_buffer=shuffle_buffer,
                          callbacks=callbacks, validation_split=validation_split,
                          early_stopping=early_stopping, optimizer_options=optimizer_options,
                          on_compile=on_compile, memory=memory, checkpoint_every=checkpoint_every,
                          checkpoint_rows=checkpoint_rows, run_info=run_info, progress=progress,
                          spool=spool,
                          **stream_args, **unsupported)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ConfigError(f"epochs must be a whole number ≥ 0, got {epochs!r}")
    # A DataFrame's text columns become one-hot inputs and its ids are left out; the model
    # keeps that encoding (a resumed run's fresh model finds the same one in the same data).
    if getattr(model, "encoding", None) is None and needs_encoding(X):
        X, model.encoding = _one_hot(model, X)
    elif getattr(model, "encoding", None) is not None and hasattr(X, "columns"):
        X = encode_frame(X, model.encoding, model.dtype)[0]
    trainer = Trainer(model, X, y, loss, optimizer, batch_size, shuffle, seed, lr, callbacks,
                      validation_split=validation_split, validation_data=validation_data,
                      sample_weight=sample_weight, scale=scale, metrics=metrics,
                      early_stopping=early_stopping, optimizer_options=optimizer_options)
    data, history = trainer.data, trainer.history
    fingerprint = ckpt.fingerprint(data.X, data.Y, data.W) \
        if checkpoint is not None or resume is not None else ""
    if resume is not None:
        place = ckpt.restore_run(resume, model, trainer.opt, trainer.rng, history,
                                 trainer.stopper, trainer.n, fingerprint, trainer.batch_size)
        if epochs < place.first_epoch - (place.order is None):
            raise ConfigError(f"the checkpoint in {resume} has done {place.first_epoch - 1} "
                              f"epoch(s){' and part of the next' if place.order is not None else ''}"
                              f"; epochs={epochs} would undo them: give at least "
                              f"{place.first_epoch - (place.order is None)}")
        trainer.resume_at(place)
    if checkpoint_every < 1:
        raise ConfigError(f"checkpoint_every must be ≥ 1, got {checkpoint_every!r}")

    def save(place: ckpt.Place) -> None:
        if checkpoint is not None:
            ckpt.save_run(checkpoint, model, trainer.opt, trainer.rng, history, trainer.stopper,
                          place, run_info, fingerprint, trainer.batch_size)

    if cluster is not None:  # the epochs on Dask workers (``cluster``)
        from .cluster import run_epochs

        return run_epochs(trainer, cluster, epochs, save, engine=engine, sync_every=sync_every,
                          workers=workers, checkpoint_every=checkpoint_every)
    trainer.choose(engine, epochs, on_compile)
    with _ctrl_c_after_step() as stop:
        while trainer.epoch_number <= epochs:
            epoch = trainer.epoch_number
            stopping = trainer.epoch(lambda: stop.requested)
            if trainer.epoch_number == epoch:  # stopped inside the epoch: keep the place
                history.interrupted = True
                save(trainer.place())
                break
            if _after_epoch(history, stop, stopping, epoch, epochs, checkpoint_every,
                            lambda: save(trainer.place())):
                break
    return trainer.finish()


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
