"""Shared fixtures and reference implementations for chainrule's tests.

The reference functions here are written with plain NumPy, independently of the
engine, so a test can compare chainrule's numbers with a second computation.
"""

from __future__ import annotations

import os
import shutil
import tempfile

# The compiled kernels of a test run go to a temporary folder made once per run (xdist's
# workers inherit it, and so do the CLI's subprocesses), never to the user's real cache.
# Set CHAINRULE_TEST_CACHE_DIR to keep them between runs (a folder of your choice).
if "CHAINRULE_TESTS_OWN_CACHE" not in os.environ:
    kept = os.environ.get("CHAINRULE_TEST_CACHE_DIR")
    os.environ["CHAINRULE_CACHE_DIR"] = kept or tempfile.mkdtemp(prefix="chainrule-test-kernels-")
    os.environ["CHAINRULE_TESTS_OWN_CACHE"] = "" if kept else os.environ["CHAINRULE_CACHE_DIR"]

import numpy as np  # noqa: E402 - after the cache folder is chosen
import pytest  # noqa: E402

import chainrule  # noqa: E402


def pytest_unconfigure(config: pytest.Config) -> None:
    """The run's temporary kernel folder goes when the run ends (in the main process)."""
    made = os.environ.get("CHAINRULE_TESTS_OWN_CACHE")
    if made and not hasattr(config, "workerinput"):
        shutil.rmtree(made, ignore_errors=True)

# The seed document's table (IQ, CGPA -> Package), written out again so the tests do
# not depend on chainrule.datasets to know what it holds.
SEED_X = np.array([[80.0, 8.0], [60.0, 5.0], [110.0, 7.0]])
SEED_Y = np.array([[5.0], [3.0], [8.0]])


@pytest.fixture
def rng() -> np.random.Generator:
    """The one source of randomness in a test: the same numbers on every run."""
    return np.random.default_rng(0)


@pytest.fixture
def students() -> chainrule.Dataset:
    return chainrule.datasets.students()


@pytest.fixture
def seed_table() -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of the seed's table, copied so a test may change them."""
    return SEED_X.copy(), SEED_Y.copy()


@pytest.fixture
def linear_sgd():
    """The hand-formula reference trainer of the seed's network (see ``linear_net_sgd``)."""
    return linear_net_sgd


def linear_net_sgd(X: np.ndarray, y: np.ndarray, lr: float, epochs: int, batch_size: int,
                   W1: np.ndarray | None = None, W2: np.ndarray | None = None):
    """The seed's linear 2-2-1 network trained with SGD in rows order, by hand formulas.

    O1 = x W1 + b1, ŷ = O1 W2 + b2, L = mean over the batch of (y − ŷ)².
    δ2 = ∂L/∂ŷ = −2(y − ŷ)/B, ∂L/∂W2 = O1ᵀ δ2, ∂L/∂b2 = Σ δ2,
    δ1 = δ2 W2ᵀ,            ∂L/∂W1 = xᵀ δ1,  ∂L/∂b1 = Σ δ1.

    Returns (params, per-epoch mean loss, first diverging (epoch, step) or None).
    """
    W1 = np.ones((2, 2)) if W1 is None else W1.copy()
    W2 = np.ones((2, 1)) if W2 is None else W2.copy()
    b1, b2 = np.zeros(2), np.zeros(1)
    losses, step = [], 0
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(1, epochs + 1):
            total = 0.0
            for start in range(0, len(X), batch_size):
                step += 1
                xb, yb = X[start:start + batch_size], y[start:start + batch_size]
                O1 = xb @ W1 + b1
                pred = O1 @ W2 + b2
                L = float(np.mean((yb - pred) ** 2))
                if not np.isfinite(L):
                    return (W1, b1, W2, b2), losses, (epoch, step)
                d2 = -2.0 * (yb - pred) / len(xb)
                gW2, gb2 = O1.T @ d2, d2.sum(0)
                d1 = d2 @ W2.T
                gW1, gb1 = xb.T @ d1, d1.sum(0)
                if not all(np.isfinite(g).all() for g in (gW1, gb1, gW2, gb2)):
                    return (W1, b1, W2, b2), losses, (epoch, step)
                W1, b1 = W1 - lr * gW1, b1 - lr * gb1
                W2, b2 = W2 - lr * gW2, b2 - lr * gb2
                total += L * len(xb)
            losses.append(total / len(X))
    return (W1, b1, W2, b2), losses, None


# Cases that compile many network shapes or train for long in a subprocess: the README's
# test command leaves them out (pyproject's addopts: -m 'not slow'); `python3 -m pytest
# -m slow` runs them, and CI runs both.  Marked here by name, so that a file keeps its
# tests as they read.  The float64 parity cases that stay in the default run cover the
# loop forms (per-row, mini-batch, all rows) on the first optimisers of the table.
SLOW = (
    "test_fastpath.py::test_fused_training_gives_the_graph_engines_weights_float32[",
    "test_fastpath.py::test_fused_training_gives_the_graph_engines_weights_float64[relu",
    "test_fastpath.py::test_fused_training_gives_the_graph_engines_weights_float64[leaky",
    "test_fastpath.py::test_fused_training_gives_the_graph_engines_weights_float64[elu",
    "test_fastpath.py::test_fused_training_gives_the_graph_engines_weights_float64[softplus",
    "test_fastpath.py::test_fused_training_gives_the_graph_engines_weights_float64[gelu",
    "test_fastpath.py::test_fused_training_gives_the_graph_engines_weights_float64[['tanh'",
    "test_fastpath.py::test_wider_layers_run_in_loops_and_give_the_graph_engines_weights[",
    "test_checkpoint.py::test_killed_runs_resume_to_the_uninterrupted_weights",
    "test_checkpoint.py::test_ctrl_c_writes_a_checkpoint_and_says_how_to_resume",
    "test_cli_toolkit.py::test_ctrl_c_stops_cleanly_and_keeps_the_weights",
    # Dask clusters started by the CLI and runs killed mid-file (10-90 s each); the default
    # run keeps the in-process versions of each (one worker equals fit, a checkpoint inside
    # a streamed epoch resumes bit-identically, the client never holds the table)
    "test_cluster.py::test_cli_a_table_bigger_than_memory_is_read_by_the_dask_workers",
    "test_cluster.py::test_cli_dask_one_worker_equals_a_plain_run_with_validation_and_checkpoints",
    "test_cluster.py::test_validation_rows_of_files_are_held_out_by_hash_on_the_workers",
    "test_cluster.py::test_files_with_a_text_column_read_by_the_workers_equal_fit_in_memory",
    "test_cluster.py::test_cli_dask_workers_read_a_table_with_text_over_memory_and_the_client",
    "test_stream_cli.py::test_sigkill_mid_file_and_resume_end_bit_identical",
    "test_stream_cli.py::test_sigterm_mid_file_checkpoints_after_the_block_and_resumes",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(pattern in item.nodeid for pattern in SLOW):
            item.add_marker(pytest.mark.slow)
