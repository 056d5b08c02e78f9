"""Two worker processes against one: the scores they reach, and a worker killed mid-run
(slow: real data sizes, fresh clusters, compiled loops for two more network shapes)."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

import chainrule
from chainrule import train

from scale_fixtures import client  # noqa: F401 (fixtures)

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow


def test_digits_two_workers_reach_one_process_accuracy_within_one_percent(client):
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    train_rows, test_rows = order[:1400], order[1400:]
    scores = {}
    for name, extra in (("one", {}), ("two", dict(cluster=client, sync_every=50))):
        model = chainrule.mlp([64, 32, 10], activation="tanh", seed=0)
        train.fit(model, X[train_rows], y[train_rows], loss="cross_entropy", epochs=8, seed=1,
                  lr=0.02, scale="standard", engine="fused", **extra)
        scores[name] = float(np.mean(model.predict(X[test_rows]) == y[test_rows]))
    # one process reaches ~0.96 on the 397 held-out digits; two workers within 1 % of it
    assert scores["one"] > 0.93
    assert scores["two"] >= 0.99 * scores["one"], scores


def test_200k_row_regression_two_workers_reach_one_process_r2_within_one_percent(client):
    rng = np.random.default_rng(7)
    n = 200_000
    X = rng.normal(size=(n, 6))
    y = np.tanh(X[:, 0] - 0.5 * X[:, 1]) + 0.3 * X[:, 2] * X[:, 3] + 0.1 * rng.normal(size=n)
    held_X = rng.normal(size=(20_000, 6))
    held_y = np.tanh(held_X[:, 0] - 0.5 * held_X[:, 1]) + 0.3 * held_X[:, 2] * held_X[:, 3]
    scores = {}
    for name, extra in (("one", {}), ("two", dict(cluster=client, sync_every=2000))):
        model = chainrule.mlp([6, 16, 1], activation="tanh", seed=0)
        train.fit(model, X, y, epochs=2, seed=1, lr=0.01, scale="standard", engine="fused",
                  metrics=[], **extra)
        residual = held_y - model.predict(held_X).reshape(-1)  # R² by hand
        scores[name] = 1 - np.sum(residual ** 2) / np.sum((held_y - held_y.mean()) ** 2)
    # the noise-free targets: one process explains ~97 % of their variance
    assert scores["one"] > 0.9
    assert scores["two"] >= 0.99 * scores["one"], scores


class _KillsAWorker:
    """The client, which kills one worker process (SIGKILL) just before gathering round
    ``at``: its task dies with it, and Dask runs it again on the other worker."""

    def __init__(self, client, at: int) -> None:
        self.client, self.at, self.rounds, self.killed = client, at, 0, None

    def __getattr__(self, name):
        return getattr(self.client, name)

    def gather(self, futures):
        self.rounds += 1
        if self.rounds == self.at:
            pids = self.client.run(os.getpid)
            victim = sorted(pids)[0]
            self.killed = pids[victim]
            os.kill(pids[victim], signal.SIGKILL)
        return self.client.gather(futures)


def test_a_worker_killed_mid_run_is_survived_with_the_same_weights():
    from chainrule.cluster import connect

    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 2))
    y = np.sin(X[:, 0]) + X[:, 1]
    client = connect("local:2")
    try:
        runs = []
        for wrapper in (lambda c: c, lambda c: _KillsAWorker(c, 6)):
            model = chainrule.mlp([2, 4, 1], activation="tanh", seed=1)
            spread = wrapper(client)
            history = train.fit(model, X, y, epochs=3, seed=2, lr=0.05, scale="standard",
                                optimizer="adam", engine="graph", cluster=spread, sync_every=40)
            runs.append((model, history, spread))
        (a, ha, _), (b, hb, killer) = runs
        assert killer.killed is not None  # a worker did die, in round 6 of 15
        # every round is a pure function of its inputs: the rerun task gives the same weights
        assert all(np.array_equal(p.data, q.data) for p, q in zip(a.parameters(), b.parameters()))
        assert ha.loss == hb.loss and len(hb.loss) == 3
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
