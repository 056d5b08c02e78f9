"""``fit`` on streams (files, chunks) and on a Dask cluster, against ``fit`` on arrays."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule import train
from chainrule.errors import ConfigError


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


@pytest.fixture
def parquet_folder(tmp_path, table):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    X, y = table
    for k, (a, b) in enumerate([(0, 70), (70, 160), (160, 240)]):
        pq.write_table(pa.table({"u": X[a:b, 0], "v": X[a:b, 1], "y": y[a:b]}),
                       tmp_path / f"part-{k}.parquet")
    return tmp_path


def test_fit_on_a_parquet_folder_equals_fit_in_memory(parquet_folder, table):
    # the rows fit the shuffle buffer: gathered once, scaled and shuffled as fit does
    X, y = table
    whole, streamed = net(), net()
    h1 = train.fit(whole, X, y, epochs=3, seed=4, lr=0.05, scale="standard", engine="fused")
    h2 = train.fit(streamed, str(parquet_folder), "y", epochs=3, seed=4, lr=0.05,
                   scale="standard", engine="fused")
    assert same_weights(whole, streamed) and h1.loss == h2.loss
    np.testing.assert_array_equal(streamed.x_scaler.offset, whole.x_scaler.offset)


def test_fit_on_a_csv_equals_fit_in_memory_and_names_a_bad_cell(tmp_path, table):
    X, y = table
    lines = [f"{a!r},{b!r},{t!r}" for (a, b), t in zip(X.tolist(), y.tolist())]
    path = tmp_path / "t.csv"
    path.write_text("u,v,y\n" + "\n".join(lines) + "\n")
    whole, streamed = net(), net()
    h1 = train.fit(whole, X, y, epochs=2, seed=3, lr=0.05, scale="minmax", engine="graph")
    h2 = train.fit(streamed, path, epochs=2, seed=3, lr=0.05, scale="minmax", engine="graph")
    assert same_weights(whole, streamed) and h1.loss == h2.loss
    # a column that turns to text far down the file: its line (header = line 1) and column
    lines[200] = lines[200].split(",")[0] + ",n/a," + lines[200].split(",")[2]
    path.write_text("u,v,y\n" + "\n".join(lines) + "\n")
    from chainrule.errors import DataError
    from chainrule.stream import chunks

    with pytest.raises(DataError) as err:
        list(chunks(path, block_bytes=4096))
    assert str(err.value).startswith(f"{path}, line 202, column 'v': 'n/a' is not a number "
                                     "(the 200 rows before it are)")


def test_streamed_epochs_equal_fit_in_memory_row_for_row(table):
    # fewer buffered rows than the data: the stream is read block by block each epoch; in
    # the file's order (no shuffle) per-row SGD on the blocks is per-row SGD on the table
    X, y = table
    parts = [(X[a:a + 50], y[a:a + 50]) for a in range(0, 240, 50)]
    whole, streamed = net(), net()
    h1 = train.fit(whole, X, y, epochs=2, shuffle=False, lr=0.02, engine="fused")
    h2 = train.fit(streamed, parts, epochs=2, shuffle=False, lr=0.02, engine="fused",
                   shuffle_buffer=40)
    assert same_weights(whole, streamed)
    np.testing.assert_allclose(h2.loss, h1.loss, rtol=1e-12)


def test_streamed_shuffle_and_validation_are_deterministic_and_learn(table):
    X, y = table
    parts = [(X[a:a + 30], y[a:a + 30]) for a in range(0, 240, 30)]
    runs = []
    for _ in range(2):
        model = net()
        history = train.fit(model, iter(parts), epochs=8, seed=9, lr=0.05, scale="standard",
                            shuffle_buffer=64, validation_split=0.25, engine="graph")
        runs.append((model, history))
    (m1, h1), (m2, h2) = runs
    assert same_weights(m1, m2) and h1.val_loss == h2.val_loss
    # scaled targets start with mean loss ≈ ½·var = ½ (mse's ½ convention or not, < 1);
    # learning brings the loss well under its first epoch's
    assert len(h1.val_loss) == 8 and h1.val_loss[-1] < 0.75 * h1.val_loss[0]
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    frame = dd.from_pandas(pd.DataFrame({"a": [1.0, 2.0], "y": [0.0, 1.0]}), npartitions=1)
    with pytest.raises(ConfigError, match="a Dask collection can't be given to fit yet"):
        train.fit(net(), frame)
    with pytest.raises(ConfigError, match="sample_weight can't be used with data streamed"):
        train.fit(net(), parts, epochs=1, sample_weight=np.ones(240))


def test_streamed_classification_finds_every_class():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(90, 2))
    labels = np.where(X[:, 0] > 0.5, "hi", np.where(X[:, 0] < -0.5, "lo", "mid"))
    order = np.argsort(X[:, 0])[::-1]  # the first chunk holds only "hi" and "mid"
    X, labels = X[order], labels[order]
    parts = [(X[a:a + 30], labels[a:a + 30]) for a in range(0, 90, 30)]
    assert "lo" not in parts[0][1]
    model = chainrule.mlp([2, 3], seed=0)
    train.fit(model, parts, loss="cross_entropy", epochs=2, shuffle_buffer=20, lr=0.1,
              engine="graph")
    assert list(model.classes_) == ["hi", "lo", "mid"]
    assert model.predict(X).shape == (90,)


# ------------------------------------------------------------------------------------
# Dask: a LocalCluster of two one-thread worker processes on 127.0.0.1.


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("distributed")
    from chainrule.cluster import connect

    c = connect("local:2")
    yield c
    cluster = c.cluster
    c.close()
    cluster.close()


def test_one_worker_syncing_every_row_is_fit_exactly(client, table):
    X, y = table[0][:60], table[1][:60]
    whole, spread = net(), net()
    h1 = train.fit(whole, X, y, epochs=2, seed=5, lr=0.05, scale="standard", engine="graph")
    h2 = train.fit(spread, X, y, epochs=2, seed=5, lr=0.05, scale="standard", engine="graph",
                   cluster=client, workers=1, sync_every=1)
    assert same_weights(whole, spread)
    np.testing.assert_allclose(h2.loss, h1.loss, rtol=1e-12)


def test_two_workers_average_deterministically(client, table):
    X, y = table
    runs = []
    for _ in range(2):
        model = net()
        history = train.fit(model, X, y, epochs=4, seed=5, lr=0.05, scale="standard",
                            engine="graph", cluster=client, sync_every=30)
        runs.append((model, history))
    assert same_weights(runs[0][0], runs[1][0]) and runs[0][1].loss == runs[1][1].loss
    # averaging by hand: one round with 2 workers from the same start is the mean of two
    # single-worker runs on each worker's rows
    from chainrule.cluster import _local_steps

    Xs, Ys = train.prepare(net(), X, y, "mse", scale="standard")
    start = net()
    w0 = [p.data.copy() for p in start.parameters()]
    order = np.random.default_rng(5).permutation(240)
    a = _local_steps(net(), w0, Xs, Ys, order[:120], "mse", 0.05, 1, "graph")[0]
    b = _local_steps(net(), w0, Xs, Ys, order[120:], "mse", 0.05, 1, "graph")[0]
    one_round = net()
    train.fit(one_round, X, y, epochs=1, seed=5, lr=0.05, scale="standard", engine="graph",
              cluster=client, sync_every=120)
    for p, wa, wb in zip(one_round.parameters(), a, b):
        np.testing.assert_array_equal(p.data, (wa + wb) / 2)
    # and it learns: two workers, 4 epochs, explain over half the variance (a sum in place
    # of the mean, or weights not taken back, would not; one process reaches R² 0.83)
    assert train.evaluate(runs[0][0], X, y, metrics=["r2"])["r2"] > 0.5
    assert runs[0][1].loss[-1] < runs[0][1].loss[0]


def test_cluster_refusals_are_one_line(client, table):
    X, y = table
    from chainrule.cluster import connect

    with pytest.raises(ConfigError, match="averages plain SGD; optimizer 'adam'"):
        train.fit(net(), X, y, optimizer="adam", cluster=client)
    with pytest.raises(ConfigError, match="sync_every must be a whole number"):
        train.fit(net(), X, y, cluster=client, sync_every=0)
    with pytest.raises(ConfigError, match="no Dask scheduler answers at tcp://127.0.0.1:9") as err:
        connect("tcp://127.0.0.1:9", timeout=2)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="local:N"):
        connect("udp://x")


@pytest.mark.slow
def test_grid_search_on_joblib_dask_backend_matches_local(client):
    """The estimators travel to Dask workers (pickled by joblib/Dask) and score as in this
    process: the same cross-validation scores to the last bit, the same best parameters."""
    joblib = pytest.importorskip("joblib")
    pytest.importorskip("sklearn")
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV

    from chainrule.sklearn import MLPRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 2))
    y = X[:, 0] - 2 * X[:, 1] ** 2
    grid = {"alpha": [1e-4, 10.0]}
    scores = {}
    for backend in ("sequential", "dask"):
        search = GridSearchCV(MLPRegressor((8,), max_iter=30, learning_rate_init=0.02, random_state=0,
                                           solver="sgd", batch_size=15, engine="graph"), grid, cv=2, n_jobs=2)
        with warnings.catch_warnings(), joblib.parallel_backend(backend):
            warnings.simplefilter("ignore", ConvergenceWarning)
            search.fit(X, y)
        scores[backend] = (list(search.cv_results_["mean_test_score"]), search.best_params_)
    assert scores["dask"] == scores["sequential"]
    # a huge penalty (alpha 10) can't fit a curve: the best has the small one
    assert scores["dask"][1] == {"alpha": 1e-4}


# ------------------------------------------------------------------------------------
# The command line.


def cli(*args: str, cwd) -> "subprocess.CompletedProcess":
    import os
    import subprocess
    import sys

    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, timeout=120, env=env, cwd=cwd)


def test_cli_dask_local_one_worker_equals_a_plain_run(tmp_path, table):
    pytest.importorskip("distributed")
    X, y = table[0][:40], table[1][:40]
    rows = "\n".join(f"{a!r},{b!r},{t!r}" for (a, b), t in zip(X.tolist(), y.tolist()))
    (tmp_path / "t.csv").write_text("u,v,y\n" + rows + "\n")
    common = ["train", "t.csv", "--epochs", "2", "--engine", "graph", "--quiet"]
    plain = cli(*common, "--save", "plain.safetensors", cwd=tmp_path)
    spread = cli(*common, "--save", "dask.safetensors", "--dask", "local:1", "--sync-every", "1",
                 cwd=tmp_path)
    assert plain.returncode == 0 and spread.returncode == 0, plain.stderr + spread.stderr
    a, b = chainrule.load(tmp_path / "plain.safetensors"), chainrule.load(tmp_path / "dask.safetensors")
    assert same_weights(a, b)
    bad = cli(*common, "--dask", "udp://nowhere", cwd=tmp_path)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "--dask takes tcp://HOST:PORT" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    lone = cli(*common, "--sync-every", "4", cwd=tmp_path)
    assert lone.returncode != 0 and "--sync-every is for --dask" in lone.stderr
    traced = cli(*common, "--dask", "local:1", "--trace", "1", "--early-stopping", "2",
                 "--validation-split", "0.25", cwd=tmp_path)  # refused before any cluster starts
    assert traced.returncode == 1 and len(traced.stderr.strip().splitlines()) == 1
    assert ("--trace, --validation-split, --early-stopping can't be used with --dask yet"
            in traced.stderr)
