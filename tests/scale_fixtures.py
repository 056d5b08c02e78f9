"""What the streaming and Dask tests share: the small tanh network, the regression table
(240 rows of two inputs on very different scales, so scaling matters) and a loopback
``LocalCluster`` of two worker processes.  Test files import the fixtures by name."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule


def net(seed: int = 1, sizes=(2, 4, 1)):
    return chainrule.mlp(list(sizes), activation="tanh", seed=seed)


def same_weights(a, b) -> bool:
    return all(np.array_equal(p.data, q.data) for p, q in zip(a.parameters(), b.parameters()))


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(240, 2)) * [3.0, 0.5] + [10.0, -1.0]
    y = np.sin(X[:, 0]) + X[:, 1] ** 2
    return X, y


@pytest.fixture(scope="module")
def client():
    """Two worker processes on 127.0.0.1 (``connect("local:2")``), closed after the module."""
    from chainrule.cluster import connect

    c = connect("local:2")
    yield c
    cluster = c.cluster
    c.close()
    cluster.close()
