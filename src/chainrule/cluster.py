"""Training on a Dask cluster: data-parallel local SGD with parameter averaging.

``fit(model, X, y, cluster=client, sync_every=S)`` prepares the run as ``fit`` does — one
``train.Trainer`` on the client, so the validation split, the scalers, the classes, the
one-hot inputs, the optimiser, the metrics, early stopping and checkpoints are ``fit``'s —
and hands its epochs to ``run_epochs`` here.  The prepared (scaled) rows are sent to every
worker once (replicated, so losing a worker loses no data).  Each epoch the client draws
the row order as ``fit`` does (``rng.permutation(n)``) and deals it out in rounds: in a
round each of the W workers takes the next S rows of the order (worker w the w-th group)
and steps through them with the optimiser's rule (row after row, or in batches) from the
current weights; the new weights are their mean, ``w ← (1/W) Σ_w w^(w)``.

**Optimiser state is averaged like the weights.**  Momentum buffers, Adam's moment
estimates ``m`` and ``v``, RMSprop's and Adagrad's sums travel with the weights each
round and come back as their mean over the workers; Adam's step count ``t`` advances by
the steps of the first worker (which always takes a full share of the round).  So no state
lives only on a worker, every round is a pure function of its inputs, and a worker lost
mid-run costs only its task, which Dask runs again elsewhere with the same result.
With one worker and ``sync_every=1`` each round is one step of the optimiser from the
state before it: exactly ``fit`` on one machine, bit for bit, for every optimiser and
schedule (the client's optimiser sets each epoch's rate).

Each worker keeps the run's ``Trainer`` (its copy of the model, the optimiser and the
compiled loop) between rounds, keyed by the run, so a round costs the steps and the
transfer of the weights, not a new set-up; a worker that lacks it (one that joined or
restarted) builds it from the run's template.  The client holds the weights, the history
and, here, the rows it was given; checkpoints are written at a round's end.  Dask itself
is imported only here and in ``clusterread`` (paths and Dask DataFrames, read by the
workers); ``connect`` turns ``tcp://HOST:PORT`` or ``local:N`` into a client.
"""

from __future__ import annotations

import copy
import logging
import socket
import uuid
import warnings
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

import numpy as np

from . import checkpoint as ckpt
from . import train
from .errors import ConfigError, DivergenceError
from .losses import Loss


def require_dask() -> None:
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError("training on Dask needs dask and distributed; install them with: "
                          "pip install 'chainrule[scale]'") from None


LOCAL_START_SECONDS = 60  # how long ``local:N``'s workers may take to start


def connect(address: str, timeout: float = 10.0) -> Any:
    """A ``distributed.Client``: ``local:N`` starts a ``LocalCluster`` of N one-thread
    worker processes on 127.0.0.1; ``tcp://HOST:PORT`` connects to a running scheduler."""
    require_dask()
    from distributed import Client, LocalCluster

    text = str(address).strip()
    if text.startswith("local:"):
        count = text[len("local:"):]
        if not count.isdigit() or int(count) < 1:
            raise ConfigError(f"--dask local:N needs a number of workers ≥ 1, got {text!r}")
        # Quiet: its HTTP server on a free port of 127.0.0.1 (":8787" warns when taken; None
        # means that default), no dashboard, and none of distributed's logs: a failed task
        # reaches the client as its exception (a bad cell: one line), so the workers'
        # "Compute Failed" and the scheduler's "Removing worker … lose computed tasks" as a
        # failed run closes the cluster only repeat it.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Port .* is already in use")
            cluster = LocalCluster(n_workers=int(count), threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                   scheduler_kwargs={"dashboard": False},
                                   silence_logs=logging.CRITICAL)
        logging.getLogger("distributed").setLevel(logging.CRITICAL)
        client = Client(cluster)
        try:  # every worker registered with the scheduler before the client is used (on a
            # busy machine one may still be starting: a run would see fewer, or none)
            client.wait_for_workers(int(count), timeout=LOCAL_START_SECONDS)
        except TimeoutError:
            client.close()
            cluster.close()
            raise ConfigError(f"the {count} local Dask workers did not all start within "
                              f"{LOCAL_START_SECONDS} s; try fewer (local:N) or a less busy "
                              "machine") from None
        return client
    if not text.startswith("tcp://"):
        raise ConfigError(f"--dask takes tcp://HOST:PORT (a running 'dask scheduler') or local:N, "
                          f"got {text!r}")
    _probe(text, timeout)
    try:
        return Client(text, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"no Dask scheduler answers at {text} (after {timeout:g} s); start one "
                          "with 'dask scheduler' and check the address") from exc


def _probe(address: str, timeout: float) -> None:
    """Refuse at once an address where nothing listens (the connection refused), rather
    than after ``distributed``'s retries for the whole ``timeout``; an address that does
    not answer at all is left to the client's own wait."""
    try:
        where = urlsplit(address)
        host, port = where.hostname, where.port
    except ValueError:
        host = port = None
    if not host or port is None:
        raise ConfigError(f"--dask tcp://HOST:PORT needs a host and a port number, got {address!r}")
    try:
        socket.create_connection((host, port), timeout=min(timeout, 2.0)).close()
    except ConnectionRefusedError:
        raise ConfigError(f"no Dask scheduler answers at {address} (nothing listens there); "
                          "start one with 'dask scheduler' and check the address") from None
    except OSError:  # (no answer, or no route yet: the client waits and says so)
        pass


# ------------------------------------------------------------------------------------
# The optimiser's state as it travels: its arrays, and its step counters.


def _state(opt: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The optimiser's arrays (``checkpoint.object_state``'s) and what describes them, with
    its step counters ``t`` and ``steps``; not its rate or schedule (the client's own)."""
    arrays, numbers = ckpt.object_state(opt, "optim")
    arrays = {key: value.copy() for key, value in arrays.items()}  # (not the live ones)
    kept = {k: v for k, v in numbers.items()
            if k in ("t", "steps") or (isinstance(v, dict) and ("arrays" in v or "array" in v))}
    return arrays, kept


def _set_state(opt: Any, arrays: dict[str, np.ndarray], numbers: dict[str, Any]) -> None:
    ckpt.restore_object(opt, "optim", arrays, numbers)


# ------------------------------------------------------------------------------------
# What runs on a worker.


@dataclass
class Settings:
    """What every round of a run shares: the run's key, and how the worker's Trainer steps."""

    run: str
    loss: Any
    batch_size: int
    engine: str
    epochs: int


@dataclass
class Share:
    """A worker's share of a round, as it comes back: its weights and optimiser state
    after, Σ batch loss × rows, the rows and steps taken; ``failed`` when a batch's loss or
    gradient stopped being finite (then ``value``)."""

    weights: list[np.ndarray]
    arrays: dict[str, np.ndarray]
    numbers: dict[str, Any]
    total: float
    seen: int
    steps: int
    failed: str | None = None
    value: float = 0.0


@dataclass
class Template:
    """The client's model and optimiser, travelling as one object (so the optimiser's
    parameters stay the model's own: Dask sends a tuple's items one by one)."""

    model: Any
    opt: Any


_RUNS: dict[str, train.Trainer] = {}  # in each worker process: the runs' Trainers, kept
KEEP_RUNS = 4


def _trainer(settings: Settings, template: Template, X: np.ndarray,
             Y: np.ndarray) -> train.Trainer:
    """The worker's Trainer for this run: kept from an earlier round, or built from the
    template (a copy of the client's model and optimiser; the rows come scaled)."""
    trainer = _RUNS.get(settings.run)
    if trainer is None:
        mine = copy.deepcopy(template)  # (the optimiser's parameters are the copy's)
        model, opt = mine.model, mine.opt
        model.x_scaler = model.y_scaler = None
        opt.schedule = None  # the client sets each epoch's rate
        # rows Dask handed over are views of its receive buffer, on which NumPy's
        # ``take(..., out=)`` (the fused loop's gather) ran ~200× slower: a copy of our own
        X, Y = (a if a.flags.owndata else np.array(a) for a in (X, Y))
        trainer = train.Trainer(model, X, Y, settings.loss, opt, settings.batch_size,
                                shuffle=False, metrics=[])
        trainer.choose(settings.engine, settings.epochs)
        while len(_RUNS) >= KEEP_RUNS:
            _RUNS.pop(next(iter(_RUNS)))
        _RUNS[settings.run] = trainer
    return trainer


def _round(settings: Settings, template: Template, X: np.ndarray, Y: np.ndarray,
           weights: list[np.ndarray], arrays: dict[str, np.ndarray], numbers: dict[str, Any],
           lr: float, rows: np.ndarray) -> Share:
    """One worker's share of a round: the optimiser's steps over ``rows`` of (X, Y) in their
    order, from ``weights`` and the optimiser state given (a pure function of them)."""
    trainer = _trainer(settings, template, X, Y)
    for p, w in zip(trainer.params, weights):
        p.data[...] = w
    _set_state(trainer.opt, arrays, numbers)
    trainer.opt._lr = lr
    trainer.order, trainer.cursor, trainer.total, trainer._begun = rows, 0, 0.0, True
    before = trainer.history.steps
    failed, value = None, 0.0
    try:
        trainer.advance()  # the rows given (``order``); the client closes the epochs
    except DivergenceError as exc:
        failed, value = exc.what, exc.value
    seen, total = trainer.cursor, trainer.total
    out_arrays, out_numbers = _state(trainer.opt)
    return Share([p.data.copy() for p in trainer.params], out_arrays, out_numbers, total,
                 seen, trainer.history.steps - before, failed, value)


# ------------------------------------------------------------------------------------
# The client: rounds, averages, epochs.


def _mean(arrays: list[np.ndarray]) -> np.ndarray:
    """The mean in the workers' order (deterministic): (a₁ + a₂ + … + a_W) / W."""
    return arrays[0].copy() if len(arrays) == 1 else sum(arrays[1:], arrays[0].copy()) / len(arrays)


def _workers(client: Any, workers: int | None) -> list[str]:
    names = sorted(client.scheduler_info()["workers"])
    if not names:
        raise ConfigError("the Dask cluster has no workers; start some with 'dask worker ADDRESS'")
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) \
                or not 1 <= workers <= len(names):
            raise ConfigError(f"workers must be between 1 and {len(names)} (the cluster's "
                              f"workers), got {workers!r}")
        names = names[:workers]
    return names


def run_epochs(trainer: train.Trainer, client: Any, epochs: int,
               save: Callable[[ckpt.Place], None], *, engine: str = "auto",
               sync_every: int = 1, workers: int | None = None,
               checkpoint_every: int = 1) -> train.History:
    """``fit``'s epochs for ``trainer`` on ``client``'s workers (the module docstring): rounds
    of ``sync_every`` rows per worker, averaged; ``save(place)`` at a checkpoint (every
    ``checkpoint_every`` epochs, the end, a clean stop by Ctrl-C or SIGTERM after a round)."""
    if isinstance(sync_every, bool) or not isinstance(sync_every, (int, np.integer)) \
            or sync_every < 1:
        raise ConfigError(f"sync_every must be a whole number of rows ≥ 1, got {sync_every!r}")
    if trainer.data.W is not None:
        raise ConfigError("sample_weight can't be used when training on a Dask cluster yet; "
                          "train without it or on one machine")
    names = _workers(client, workers)
    data, history, params = trainer.data, trainer.history, trainer.params
    loss = trainer.loss_fn  # a table's loss by its name (the fused loop knows the entry)
    settings = Settings(uuid.uuid4().hex, loss.spec if type(loss) is Loss else loss,
                        trainer.batch_size, engine, epochs)
    X_on = client.scatter(data.X, broadcast=True, hash=False)
    Y_on = client.scatter(data.Y, broadcast=True, hash=False)
    template = client.scatter(Template(trainer.model, trainer.opt), broadcast=True, hash=False)
    step = sync_every * len(names)
    with train._ctrl_c_after_step() as stop:
        while trainer.epoch_number <= epochs:
            epoch = trainer.epoch_number
            trainer.next_rows()  # opens the epoch: the rate, the callbacks, its row order
            order = trainer.order
            while trainer.cursor < trainer.n and not stop.requested:
                start = trainer.cursor
                arrays, numbers = _state(trainer.opt)
                weights = [p.data.copy() for p in params]
                futures = []
                for k, name in enumerate(names):
                    rows = order[start + k * sync_every:min(start + (k + 1) * sync_every,
                                                            start + step)]
                    if len(rows):
                        futures.append(client.submit(
                            _round, settings, template, X_on, Y_on, weights, arrays, numbers,
                            float(trainer.opt.lr), rows, workers=[name],
                            allow_other_workers=True, pure=False))
                shares = client.gather(futures)
                bad = next((s for s in shares if s.failed), None)
                if bad is not None:
                    raise train._diverged(epoch, history.steps + 1, bad.failed, bad.value,
                                          trainer.opt, "The weights are those before that round.")
                for p, *news in zip(params, *[s.weights for s in shares]):
                    p.data[...] = _mean(news)
                _set_state(trainer.opt, {key: _mean([s.arrays[key] for s in shares])
                                         for key in shares[0].arrays}, shares[0].numbers)
                trainer.total += sum(s.total for s in shares)
                trainer.cursor += sum(s.seen for s in shares)
                history.steps += sum(s.steps for s in shares)
            if trainer.cursor < trainer.n:  # stopped after a round: keep the place
                history.interrupted = True
                save(trainer.place())
                break
            stopping = trainer.end_epoch()
            if train._after_epoch(history, stop, stopping, epoch, epochs, checkpoint_every,
                                  lambda: save(trainer.place())):
                break
    return trainer.finish()
