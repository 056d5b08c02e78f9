"""Training on a Dask cluster: data-parallel local SGD with parameter averaging.

``fit(model, X, y, cluster=client, sync_every=S)`` runs here.  The prepared (scaled)
rows are sent to every worker once; each epoch the client draws the row order as ``fit``
does (``rng.permutation(n)``, the same generator), and deals it out in rounds: in a
round each of the W workers takes the next S rows of the order (worker w the w-th
group), runs plain SGD on them row after row (or in batches) from the current weights,
and sends its weights back; the new weights are their mean,
``w ← (1/W) Σ_w w^(w)``.  A round is one Dask task per worker, pinned to that worker;
the client never holds more than the weights.

With one worker and ``sync_every=1`` every round is one step of per-row SGD from the
weights before it: exactly ``fit`` on one machine, bit for bit.  For a seed and a worker
count the result is deterministic (the tasks are pure functions of their inputs and the
mean is taken in the workers' order).  Dask itself is imported only here, when a
cluster is given; ``connect`` turns ``tcp://HOST:PORT`` or ``local:N`` into a client.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from . import train
from .errors import ConfigError
from .init import make_rng
from .losses import get_loss
from .nn.module import Module
from .stream import given_option


def require_dask() -> None:
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError("training on Dask needs dask and distributed; install them with: "
                          "pip install 'chainrule[scale]'") from None


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
        cluster = LocalCluster(n_workers=int(count), threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        return Client(cluster)
    if not text.startswith("tcp://"):
        raise ConfigError(f"--dask takes tcp://HOST:PORT (a running 'dask scheduler') or local:N, "
                          f"got {text!r}")
    try:
        return Client(text, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"no Dask scheduler answers at {text} (after {timeout:g} s); start one "
                          "with 'dask scheduler' and check the address") from exc


def _local_steps(model: Module, weights: list[np.ndarray], X: np.ndarray, Y: np.ndarray,
                 rows: np.ndarray, loss: str, lr: float, batch_size: int,
                 engine: str) -> tuple[list[np.ndarray], float, int]:
    """One worker's share of a round: SGD over ``rows`` of (X, Y) in their order, from
    ``weights``.  Returns the weights after, Σ batch loss × rows, and the rows taken."""
    for p, w in zip(model.parameters(), weights):
        p.data[...] = w
    model.x_scaler = model.y_scaler = None  # (the worker's copy: X and Y come scaled)
    history = train.fit(model, X[rows], Y[rows], loss, "sgd", epochs=1, batch_size=batch_size,
                        shuffle=False, lr=lr, metrics=[], engine=engine)
    return [p.data.copy() for p in model.parameters()], history.loss[0] * len(rows), len(rows)


def fit_on_cluster(model: Module, X: Any, y: Any, client: Any, *, loss: str = "mse",
                   optimizer: Any = "sgd", epochs: int = 10, batch_size: int = 1,
                   shuffle: bool = True, seed: int | np.random.Generator | None = None,
                   lr: Any = None, scale: str | None = None, sync_every: int = 1,
                   workers: int | None = None, engine: str = "auto",
                   callbacks: Sequence[train.Callback] = (),
                   **unsupported: Any) -> train.History:
    """``fit`` on a Dask cluster (see the module docstring); ``workers``: use the first N
    of the cluster's workers (default: all); ``lr``: a constant rate (default 0.01);
    ``callbacks`` hear of the run and its epochs (not of single steps, which run on the
    workers); one returning True from ``on_epoch_end`` stops the run."""
    given = sorted(k for k, v in unsupported.items() if given_option(v))
    if given:
        raise ConfigError(f"{', '.join(given)} can't be used when training on a Dask cluster yet")
    if optimizer != "sgd":
        raise ConfigError(f"training on a Dask cluster averages plain SGD; optimizer {optimizer!r} "
                          "is not supported there yet (use 'sgd')")
    rate = 0.01 if lr is None else lr
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
        raise ConfigError(f"on a Dask cluster lr must be a constant number > 0, got {lr!r}")
    if isinstance(sync_every, bool) or not isinstance(sync_every, (int, np.integer)) or sync_every < 1:
        raise ConfigError(f"sync_every must be a whole number of rows ≥ 1, got {sync_every!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ConfigError(f"epochs must be a whole number ≥ 0, got {epochs!r}")
    names = sorted(client.scheduler_info()["workers"])
    if not names:
        raise ConfigError("the Dask cluster has no workers; start some with 'dask worker ADDRESS'")
    if workers is not None:
        if workers < 1 or workers > len(names):
            raise ConfigError(f"workers must be between 1 and {len(names)} (the cluster's workers), "
                              f"got {workers!r}")
        names = names[:workers]
    loss_fn = get_loss(loss)
    rng = make_rng(seed)
    Xs, Ys = train.prepare(model, X, y, loss_fn, scale=scale, fitting=True)
    n, count = len(Xs), len(names)
    batch = train._batch_size(batch_size, n)
    X_on = {w: client.scatter(Xs, workers=[w], broadcast=False) for w in names}
    Y_on = {w: client.scatter(Ys, workers=[w], broadcast=False) for w in names}
    history = train.History()
    params = model.parameters()
    for cb in callbacks:
        cb.on_train_begin(model)
    for epoch in range(1, epochs + 1):
        for cb in callbacks:
            cb.on_epoch_begin(epoch)
        order = rng.permutation(n) if shuffle else np.arange(n)
        total, seen = 0.0, 0
        for start in range(0, n, sync_every * count):
            weights = [p.data.copy() for p in params]
            futures = []
            for k, w in enumerate(names):
                rows = order[start + k * sync_every:start + (k + 1) * sync_every]
                if len(rows):
                    futures.append(client.submit(_local_steps, model, weights, X_on[w], Y_on[w],
                                                 rows, loss_fn.name, float(rate), batch, engine,
                                                 workers=[w], pure=False,
                                                 allow_other_workers=True))
            results = client.gather(futures)
            for p, *news in zip(params, *[r[0] for r in results]):
                p.data[...] = news[0] if len(news) == 1 else sum(news[1:], news[0].copy()) / len(news)
            total += sum(r[1] for r in results)
            seen += sum(r[2] for r in results)
        mean = total / seen
        if not math.isfinite(mean):
            raise train._diverged(epoch, history.steps, "loss", mean,
                                  _Rate(float(rate)))  # (a message with the rate and a smaller one)
        history.logs["loss"].append(mean)
        history.epoch.append(epoch)
        history.steps += -(-n // batch)
        if any([cb.on_epoch_end(epoch, history) for cb in callbacks]):
            history.stopped_early = True
            break
    for cb in callbacks:
        cb.on_train_end(history)
    return history


class _Rate:
    """What ``train._diverged`` reads of an optimiser: its rate."""

    def __init__(self, lr: float) -> None:
        self.lr = lr
