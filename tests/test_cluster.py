"""``fit`` on a Dask cluster (``cluster.py``): a LocalCluster of two one-thread worker
processes on 127.0.0.1, against ``fit`` in this process and averages worked by hand."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import chainrule
from chainrule import train
from chainrule.errors import ConfigError
from chainrule.optim import Adam

from scale_fixtures import client, net, same_weights, table  # noqa: F401 (fixtures)

pytest.importorskip("distributed")


@pytest.mark.parametrize("optimizer, options, engine", [
    ("sgd", {}, "graph"),
    ("adam", {}, "graph"),
    ("sgd", {"momentum": 0.9, "nesterov": True}, "graph"),
    ("rmsprop", {"momentum": 0.5, "centered": True}, "graph"),
    ("sgd", {}, "fused"),
])
def test_one_worker_syncing_every_row_is_fit_exactly(client, table, optimizer, options, engine):
    # every round is one step of the optimiser from the state before it (state included)
    X, y = table[0][:60], table[1][:60]
    whole, spread = net(), net()
    common = dict(epochs=2, seed=5, scale="standard", engine=engine, optimizer=optimizer,
                  optimizer_options=options, lr=0.01, validation_split=0.25)
    h1 = train.fit(whole, X, y, **common)
    h2 = train.fit(spread, X, y, **common, cluster=client, workers=1, sync_every=1)
    assert same_weights(whole, spread)
    assert h2.logs.keys() == h1.logs.keys() == {"loss", "r2", "val_loss", "val_r2"}
    np.testing.assert_allclose(h2.loss, h1.loss, rtol=1e-12)
    # (a fused fit scores with the compiled loop's forward, the client with NumPy's)
    np.testing.assert_allclose(h2.val_loss, h1.val_loss, rtol=1e-12)
    assert h2.steps == h1.steps


def test_one_worker_with_a_round_longer_than_the_epoch_is_fit_exactly(client, table):
    # sync_every beyond the rows: one round an epoch, the whole epoch's per-row steps on the
    # worker, which must not close the epoch itself (it did, and the client, told 0 rows were
    # seen, sent the round again for ever)
    X, y = table[0][:40], table[1][:40]
    whole, spread = net(), net()
    common = dict(epochs=3, seed=4, scale="standard", engine="graph", lr=0.01)
    h1 = train.fit(whole, X, y, **common)
    h2 = train.fit(spread, X, y, **common, cluster=client, workers=1, sync_every=64)
    assert same_weights(whole, spread)
    np.testing.assert_allclose(h2.loss, h1.loss, rtol=1e-12)
    assert h2.steps == h1.steps == 120


def test_a_schedule_and_early_stopping_run_as_in_fit(client, table):
    X, y = table[0][:48], table[1][:48]
    from chainrule.schedules import make_schedule

    runs = []
    for cluster in (None, client):
        model = net()
        history = train.fit(model, X, y, epochs=12, seed=2, scale="standard", engine="graph",
                            lr=make_schedule("step", 0.3, step_size=2, gamma=0.5),
                            validation_split=0.25, early_stopping=2,
                            **({} if cluster is None else dict(cluster=cluster, workers=1)))
        runs.append((model, history))
    (a, ha), (b, hb) = runs
    assert same_weights(a, b) and ha.epoch == hb.epoch and ha.best_epoch == hb.best_epoch
    assert ha.restored_epoch == hb.restored_epoch


def test_two_workers_average_the_weights_and_adam_state(client, table):
    X, y = table
    # one round of 120 rows per worker from the same start: the weights are the mean of two
    # runs of fit, one on each worker's rows in the epoch's order; Adam's m and v likewise
    order = np.random.default_rng(5).permutation(240)
    model = net()
    opt = Adam(model.parameters(), lr=0.01)
    train.fit(model, X, y, epochs=1, seed=5, scale="standard", engine="graph", optimizer=opt,
              cluster=client, sync_every=120)
    Xs, Ys = train.prepare(net(), X, y, "mse", scale="standard")
    singles = []
    for rows in (order[:120], order[120:]):
        m = net()
        o = Adam(m.parameters(), lr=0.01)
        train.fit(m, Xs[rows], Ys[rows], epochs=1, shuffle=False, engine="graph", optimizer=o,
                  metrics=[])
        singles.append((m, o))
    (ma, oa), (mb, ob) = singles
    for p, a, b in zip(model.parameters(), ma.parameters(), mb.parameters()):
        np.testing.assert_array_equal(p.data, (a.data + b.data) / 2)
    for mine, a, b in zip(opt.m + opt.v, oa.m + oa.v, ob.m + ob.v):
        np.testing.assert_array_equal(mine, (a + b) / 2)
    assert opt.t == oa.t == [120] * 4  # each worker took 120 steps in the round


def test_two_workers_are_deterministic_and_learn(client, table):
    X, y = table
    runs = []
    for _ in range(2):
        model = net()
        history = train.fit(model, X, y, epochs=4, seed=5, lr=0.05, scale="standard",
                            engine="graph", cluster=client, sync_every=30)
        runs.append((model, history))
    assert same_weights(runs[0][0], runs[1][0]) and runs[0][1].loss == runs[1][1].loss
    # each worker built one Trainer a run and kept it for its 4 × 4 rounds (a new one a
    # round would be a new key each time)
    kept = client.run(lambda: {key: t.history.steps for key, t in
                               __import__("chainrule.cluster").cluster._RUNS.items()})
    steps: dict[str, int] = {}
    for runs_of in kept.values():
        for key, count in runs_of.items():
            steps[key] = steps.get(key, 0) + count
    # this test's two runs: 4 epochs × 240 rows, one step a row, over the workers' Trainers
    assert list(steps.values()).count(4 * 240) >= 2
    # two workers, 4 epochs, explain over half the variance (a sum in place of the mean, or
    # weights not taken back, would not; one process reaches R² 0.83)
    assert runs[0][1]["r2"][-1] > 0.5 and runs[0][1].loss[-1] < runs[0][1].loss[0]


def test_a_text_dataframe_is_one_hot_before_the_workers(client):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x": rng.normal(size=40),
                          "city": rng.choice(["oslo", "rome", "lima"], size=40)})
    target = frame["x"] * 2 + (frame["city"] == "rome") * 3.0
    whole, spread = net(sizes=(4, 3, 1)), net(sizes=(4, 3, 1))
    train.fit(whole, frame, target, epochs=2, seed=1, scale="standard", engine="graph")
    train.fit(spread, frame, target, epochs=2, seed=1, scale="standard", engine="graph",
              cluster=client, workers=1)
    assert same_weights(whole, spread)
    assert spread.encoding.categories == {"city": ["lima", "oslo", "rome"]}
    np.testing.assert_array_equal(spread.predict(frame.iloc[:5]), whole.predict(frame.iloc[:5]))


class _StopsAfterARound:
    """The client, which sends this process SIGINT after round ``at``: fit stops there."""

    def __init__(self, client, at: int) -> None:
        self.client, self.at, self.rounds = client, at, 0

    def __getattr__(self, name):
        return getattr(self.client, name)

    def gather(self, futures):
        self.rounds += 1
        if self.rounds == self.at:
            os.kill(os.getpid(), signal.SIGINT)
        return self.client.gather(futures)


def test_a_checkpoint_at_a_round_resumes_bit_identically(client, table, tmp_path):
    X, y = table[0][:80], table[1][:80]
    common = dict(seed=3, lr=0.05, scale="standard", engine="graph", optimizer="adam",
                  cluster=client, sync_every=10)
    straight = net()
    h1 = train.fit(straight, X, y, epochs=3, **common)
    stopped = net()
    h2 = train.fit(stopped, X, y, epochs=3, checkpoint=str(tmp_path),
                   **{**common, "cluster": _StopsAfterARound(client, 5)})
    assert h2.interrupted and h2.epoch == [1]  # 4 rounds of 2 × 10 rows an epoch, then one
    from chainrule.checkpoint import read

    place = read(tmp_path).state["place"]
    assert (place["first_epoch"], place["next_row"]) == (2, 20)  # 2 workers × 10 rows
    resumed = net()
    h3 = train.fit(resumed, X, y, epochs=3, resume=str(tmp_path), **common)
    assert same_weights(straight, resumed) and h3.loss == h1.loss


def test_cluster_refusals_are_one_line(client, table, tmp_path):
    X, y = table
    from chainrule.cluster import connect

    with pytest.raises(ConfigError, match="sync_every must be a whole number"):
        train.fit(net(), X, y, cluster=client, sync_every=0)
    with pytest.raises(ConfigError, match="workers must be between 1 and 2"):
        train.fit(net(), X, y, cluster=client, workers=3)
    with pytest.raises(ConfigError, match="sample_weight can't be used when training on a Dask"):
        train.fit(net(), X, y, cluster=client, sample_weight=np.ones(240))
    csv = "a,b,y\n" + "".join(f"{a},{b},{a - b}\n" for a, b in X[:20])
    path = tmp_path / "t.csv"
    path.write_text(csv)
    for option in ({"shuffle_buffer": 10}, {"checkpoint_rows": 10}):  # a stream's, not the workers'
        with pytest.raises(ConfigError, match=f"{next(iter(option))} can't be used when the Dask "
                                              "workers read the table"):
            train.fit(net(), str(path), "y", cluster=client, **option)
    # refused: said by the probe at once (its words), not by the client after 30 s
    with pytest.raises(ConfigError, match="no Dask scheduler answers at tcp://127.0.0.1:9 "
                                          r"\(nothing listens there\)") as err:
        connect("tcp://127.0.0.1:9", timeout=30)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="needs a host and a port number"):
        connect("tcp://127.0.0.1")
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
        search = GridSearchCV(MLPRegressor((8,), max_iter=30, learning_rate_init=0.02,
                                           random_state=0, solver="sgd", batch_size=15,
                                           engine="graph"), grid, cv=2, n_jobs=2)
        with warnings.catch_warnings(), joblib.parallel_backend(backend):
            warnings.simplefilter("ignore", ConvergenceWarning)
            search.fit(X, y)
        scores[backend] = (list(search.cv_results_["mean_test_score"]), search.best_params_)
    assert scores["dask"] == scores["sequential"]
    # a huge penalty (alpha 10) can't fit a curve: the best has the small one
    assert scores["dask"][1] == {"alpha": 1e-4}


# ------------------------------------------------------------------------------------
# The command line.


def cli(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, timeout=180, env=env, cwd=cwd)


def test_cli_dask_one_worker_equals_a_plain_run_with_validation_and_checkpoints(tmp_path, table):
    X, y = table[0][:40], table[1][:40]
    rows = "\n".join(f"{a!r},{b!r},{t!r}" for (a, b), t in zip(X.tolist(), y.tolist()))
    (tmp_path / "t.csv").write_text("u,v,y\n" + rows + "\n")
    common = ["train", "t.csv", "--epochs", "3", "--engine", "graph", "--quiet",
              "--optimizer", "adam", "--validation-split", "0.25", "--early-stopping", "2"]
    plain = cli(*common, "--save", "plain.safetensors", "--checkpoint", "ck1", cwd=tmp_path)
    spread = cli(*common, "--save", "dask.safetensors", "--checkpoint", "ck2", "--dask",
                 "local:1", "--sync-every", "1", cwd=tmp_path)
    assert plain.returncode == 0 and spread.returncode == 0, plain.stderr + spread.stderr
    a, b = chainrule.load(tmp_path / "plain.safetensors"), chainrule.load(tmp_path / "dask.safetensors")
    assert same_weights(a, b)
    assert a.metadata["training"]["history"] == b.metadata["training"]["history"]
    assert (tmp_path / "ck2" / "checkpoint.safetensors").is_file()
    bad = cli(*common, "--dask", "udp://nowhere", cwd=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "--dask takes tcp://HOST:PORT" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    gone = cli(*common, "--dask", "tcp://127.0.0.1:9", cwd=tmp_path)
    assert gone.returncode == 1 and len(gone.stderr.strip().splitlines()) == 1
    assert "no Dask scheduler answers at tcp://127.0.0.1:9" in gone.stderr
    lone = cli(*common, "--sync-every", "4", cwd=tmp_path)
    assert lone.returncode != 0 and "--sync-every is for --dask" in lone.stderr
    traced = cli(*common, "--dask", "local:1", "--trace", "1", cwd=tmp_path)  # before a cluster
    assert traced.returncode == 1 and len(traced.stderr.strip().splitlines()) == 1
    assert "--trace narrates steps taken in this process" in traced.stderr


# ------------------------------------------------------------------------------------
# Files and Dask DataFrames, read by the workers (``clusterread``).


def write_parts(folder, columns, parts) -> None:
    folder.mkdir(exist_ok=True)
    for k, rows in enumerate(parts):
        lines = [",".join(str(v) for v in row) for row in rows]
        (folder / f"part-{k}.csv").write_text(",".join(columns) + "\n" + "\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def cities():
    rng = np.random.default_rng(4)
    x = rng.normal(size=300) * 3 + 5
    city = rng.choice(["oslo", "rome", "lima"], size=300)
    y = 2 * x + (city == "rome") * 3.0
    return x, city, y


def test_files_with_a_text_column_read_by_the_workers_equal_fit_in_memory(client, cities,
                                                                           tmp_path):
    pd = pytest.importorskip("pandas")
    x, city, y = cities
    write_parts(tmp_path / "t", ["x", "city", "y"],
                [[(float(a), b, float(t)) for a, b, t in zip(x[s:s + 100], city[s:s + 100],
                                                               y[s:s + 100])]
                 for s in (0, 100, 200)])
    # one worker, syncing every row, in the files' order: per-row SGD over the table
    spread, whole = net(sizes=(4, 3, 1)), net(sizes=(4, 3, 1))
    h1 = train.fit(spread, tmp_path / "t", "y", cluster=client, workers=1, sync_every=1,
                   shuffle=False, epochs=2, lr=0.05, scale="standard", engine="graph")
    frame = pd.DataFrame({"x": x, "city": city})
    h2 = train.fit(whole, frame, y, shuffle=False, epochs=2, lr=0.05, scale="standard",
                   engine="graph")
    assert spread.encoding.categories == whole.encoding.categories == \
        {"city": ["lima", "oslo", "rome"]}
    # the scaler of the one-hot inputs, from the categories' counts: NumPy's on the encoded
    # table to rounding (mean c/n, std √(p(1 − p)))
    encoded = np.column_stack([x, city == "lima", city == "oslo", city == "rome"]).astype(float)
    np.testing.assert_allclose(spread.x_scaler.offset, encoded.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(spread.x_scaler.scale, encoded.std(axis=0), rtol=1e-12)
    np.testing.assert_allclose(spread.y_scaler.offset, [y.mean()], rtol=1e-12)
    for p, q in zip(spread.parameters(), whole.parameters()):  # (scalers equal to ~1e-16)
        np.testing.assert_allclose(p.data, q.data, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(h1.loss, h2.loss, rtol=1e-9)


class _Spy:
    """The client, recording the bytes of every array that comes back to this process."""

    def __init__(self, client) -> None:
        self.client, self.largest = client, 0

    def __getattr__(self, name):
        return getattr(self.client, name)

    def _measure(self, value) -> None:
        if isinstance(value, np.ndarray):
            self.largest = max(self.largest, value.nbytes)
        elif isinstance(value, (list, tuple)):
            for item in value:
                self._measure(item)
        elif isinstance(value, dict):
            for item in value.values():
                self._measure(item)
        elif hasattr(value, "__dict__"):
            self._measure(vars(value))

    def gather(self, futures):
        result = self.client.gather(futures)
        self._measure(result)
        return result


def test_the_client_never_holds_the_table(client, tmp_path, monkeypatch):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(8)
    n = 12_000
    X = rng.normal(size=(n, 3))
    y = X @ [1.0, -2.0, 0.5]
    write_parts(tmp_path / "big", ["a", "b", "c", "y"],
                [[tuple(map(float, r)) + (float(t),) for r, t in zip(X[s:s + 3000], y[s:s + 3000])]
                 for s in range(0, n, 3000)])
    # any DataFrame turned into an array in this process: the sample dd.read_csv looks at
    # for the columns' types is all it may be (at most a few hundred rows)
    converted = []
    original = pd.DataFrame.to_numpy

    def to_numpy(self, *args, **kwargs):
        converted.append(len(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_numpy", to_numpy)
    spy = _Spy(client)
    model = net(sizes=(3, 4, 1))
    history = train.fit(model, str(tmp_path / "big" / "*.csv"), "y", cluster=spy,
                        sync_every=500, epochs=3, lr=0.02, scale="standard", seed=1,
                        engine="graph")
    assert max(converted, default=0) < n // 4  # never the table, not even a file of it
    # what came back: statistics, weights, optimiser state — never the 12,000 × 3 inputs
    assert 0 < spy.largest < 1000, spy.largest
    assert history.loss[-1] < 0.25 * history.loss[0]  # a linear target, being learnt
    assert model.x_scaler.offset.shape == (3,)
    np.testing.assert_allclose(model.x_scaler.offset, X.mean(axis=0), rtol=1e-10)


def test_a_parquet_folder_on_two_workers_is_deterministic_and_classifies(client, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 2))
    label = np.where(X[:, 0] + X[:, 1] > 0, "up", "down")
    (tmp_path / "pq").mkdir()
    for k in range(4):
        s = slice(k * 100, (k + 1) * 100)
        pq.write_table(pa.table({"u": X[s, 0], "v": X[s, 1], "label": label[s]}),
                       tmp_path / "pq" / f"p{k}.parquet")
    runs = []
    for _ in range(2):
        model = net(sizes=(2, 4, 2))
        history = train.fit(model, tmp_path / "pq", "label", loss="cross_entropy",
                            cluster=client, sync_every=25, epochs=4, lr=0.1, seed=6,
                            scale="standard", optimizer="sgd",
                            optimizer_options={"momentum": 0.5}, engine="graph")
        runs.append((model, history))
    assert same_weights(runs[0][0], runs[1][0]) and runs[0][1].loss == runs[1][1].loss
    model = runs[0][0]
    assert list(model.classes_) == ["down", "up"]
    assert np.mean(model.predict(X) == label) > 0.9  # a straight boundary, learnt
    # accuracy, measured on the workers each epoch: that of the final weights on every row
    assert runs[0][1]["accuracy"][-1] == np.mean(model.predict(X) == label)
    with pytest.raises(ConfigError, match="with data read by the Dask workers, fit measures "
                                          "accuracy \\(the default\\) or nothing"):
        train.fit(net(sizes=(2, 4, 2)), tmp_path / "pq", "label", loss="cross_entropy",
                  cluster=client, metrics=["log_loss"])


def test_validation_rows_of_files_are_held_out_by_hash_on_the_workers(client, tmp_path, table):
    X, y = table
    write_parts(tmp_path / "v", ["u", "v", "y"],
                [[(float(a), float(b), float(t)) for (a, b), t in zip(X[s:s + 80], y[s:s + 80])]
                 for s in (0, 80, 160)])
    from chainrule.stream import validation_rows

    held = validation_rows(0, 240, 0.25, 7)  # the rows a seed of 7 holds out, by index
    spread, whole = net(), net()
    h1 = train.fit(spread, tmp_path / "v", "y", cluster=client, workers=1, sync_every=1,
                   shuffle=False, epochs=3, lr=0.05, scale="standard", seed=7,
                   validation_split=0.25, engine="graph")
    h2 = train.fit(whole, X[~held], y[~held], validation_data=(X[held], y[held]),
                   shuffle=False, epochs=3, lr=0.05, scale="standard", engine="graph")
    for p, q in zip(spread.parameters(), whole.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-9, atol=1e-12)
    assert h1.logs.keys() == h2.logs.keys() == {"loss", "r2", "val_loss", "val_r2"}
    for key in h1.logs:  # R² from the workers' sums: fit's on the rows, to rounding
        np.testing.assert_allclose(h1[key], h2[key], rtol=1e-9)
    # two workers, each holding its own held-out rows: val_loss is the mean over all of them
    model = net()
    h3 = train.fit(model, tmp_path / "v", "y", cluster=client, sync_every=20, epochs=3,
                   lr=0.05, scale="standard", seed=7, validation_split=0.25, engine="graph",
                   early_stopping=5)
    mine = train.evaluate(model, X[held], y[held])  # (the best epoch's weights, kept)
    assert h3.val_loss[h3.best_epoch - 1] == pytest.approx(mine, rel=1e-12)
    assert h3.val_loss[h3.best_epoch - 1] == min(h3.val_loss)


def test_a_dask_dataframe_is_trained_from_its_partitions(client, table):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, y = table[0][:90], table[1][:90]
    frame = pd.DataFrame({"u": X[:, 0], "v": X[:, 1], "y": y})
    spread, whole = net(), net()
    train.fit(spread, dd.from_pandas(frame, npartitions=3), "y", cluster=client, workers=1,
              sync_every=1, shuffle=False, epochs=2, lr=0.05, scale="minmax", engine="graph")
    train.fit(whole, X, y, shuffle=False, epochs=2, lr=0.05, scale="minmax", engine="graph")
    np.testing.assert_array_equal(spread.x_scaler.offset, X.min(axis=0))  # min/max: exact
    for p, q in zip(spread.parameters(), whole.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-12, atol=1e-14)
    with pytest.raises(ConfigError, match="takes a Dask DataFrame \\(not an Array"):
        train.fit(net(), dd.from_pandas(frame, npartitions=2).to_dask_array(lengths=True),
                  cluster=client)


def test_files_read_by_the_workers_resume_from_an_epochs_checkpoint(client, tmp_path, table):
    X, y = table
    write_parts(tmp_path / "r", ["u", "v", "y"],
                [[(float(a), float(b), float(t)) for (a, b), t in zip(X[s:s + 60], y[s:s + 60])]
                 for s in range(0, 240, 60)])
    common = dict(cluster=client, sync_every=15, lr=0.05, scale="standard", seed=4,
                  optimizer="adam", validation_split=0.2, engine="graph")
    straight = net()
    h1 = train.fit(straight, tmp_path / "r", "y", epochs=3, **common)
    first = net()
    train.fit(first, tmp_path / "r", "y", epochs=2, checkpoint=str(tmp_path / "ck"), **common)
    # stopped inside epoch 3 (after its 2nd round): the epoch-2 checkpoint stands
    stopped = net()
    h2 = train.fit(stopped, tmp_path / "r", "y", epochs=3, resume=str(tmp_path / "ck"),
                   checkpoint=str(tmp_path / "ck"),
                   **{**common, "cluster": _StopsAfterARound(client, 5)})
    assert h2.interrupted and h2.epoch == [1, 2]
    resumed = net()
    h3 = train.fit(resumed, tmp_path / "r", "y", epochs=3, resume=str(tmp_path / "ck"), **common)
    assert same_weights(straight, resumed)
    assert h3.loss == h1.loss and h3.val_loss == h1.val_loss
    with pytest.raises(chainrule.errors.DataError, match="was made on other training data .*"
                       "or by a Dask run with other workers or sync_every; resume with the same "
                       "data, settings, workers and sync_every"):
        train.fit(net(), tmp_path / "r", "y", epochs=3, resume=str(tmp_path / "ck"),
                  **{**common, "sync_every": 16})


def test_a_column_turning_to_text_in_a_later_file_is_one_line(client, tmp_path, table):
    X, y = table
    parts = [[(float(a), float(b), float(t)) for (a, b), t in zip(X[s:s + 60], y[s:s + 60])]
             for s in (0, 60)]
    parts[1][30] = (1.0, "abc", 2.0)  # row 91 of the table, in the second file
    write_parts(tmp_path / "bad", ["u", "v", "y"], parts)
    with pytest.raises(chainrule.errors.DataError) as err:
        train.fit(net(), tmp_path / "bad", "y", cluster=client, epochs=1)
    assert str(err.value) == ("column 'v' holds text (e.g. 'abc') in a later part of the files, "
                              "after rows of numbers; fix those cells or leave the column out "
                              "(features=...)")
    parts[1][30] = (1.0, "", 2.0)  # a blank cell: its row in the whole table
    write_parts(tmp_path / "blank", ["u", "v", "y"], parts)
    with pytest.raises(chainrule.errors.DataError) as err:
        train.fit(net(), tmp_path / "blank", "y", cluster=client, epochs=1)
    assert str(err.value) == ("row 91 of the table (in the files' order), column 'v': a missing "
                              "value (blank or NaN); fill it in or drop those rows first")


def test_cli_a_table_bigger_than_memory_is_read_by_the_dask_workers(tmp_path):
    # bigger than --memory: `chainrule train` hands the path to the workers (fit reads it
    # there) instead of loading it; one worker, syncing every row, in the file's order: the
    # in-memory run's weights (to the scalers' rounding)
    rng = np.random.default_rng(6)
    X = rng.normal(size=(40_000, 2))
    y = np.sin(X[:, 0]) + X[:, 1]
    rows = "\n".join(f"{a!r},{b!r},{t!r}" for (a, b), t in zip(X.tolist(), y.tolist()))
    (tmp_path / "t.csv").write_text("u,v,y\n" + rows + "\n")  # ~2 MB
    common = ["train", "t.csv", "--epochs", "2", "--no-shuffle", "--hidden", "3",
              "--activation", "tanh", "--quiet"]
    whole = cli(*common, "--save", "whole.safetensors", cwd=tmp_path)
    # (one worker: rounds of 10,000 rows in the file's order are per-row SGD over it)
    spread = cli(*common, "--memory", "1MB", "--dask", "local:1", "--sync-every", "10000",
                 "--save", "dask.safetensors", cwd=tmp_path)
    assert whole.returncode == 0 and spread.returncode == 0, whole.stderr + spread.stderr
    a, b = chainrule.load(tmp_path / "whole.safetensors"), chainrule.load(tmp_path / "dask.safetensors")
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.predict(X[:50]), a.predict(X[:50]), rtol=1e-9)


def test_cli_a_dask_checkpoint_resumes_only_with_its_workers_and_sync_every(tmp_path, table):
    X, y = table[0][:40], table[1][:40]
    rows = "\n".join(f"{a!r},{b!r},{t!r}" for (a, b), t in zip(X.tolist(), y.tolist()))
    (tmp_path / "t.csv").write_text("u,v,y\n" + rows + "\n")
    common = ["train", "t.csv", "--engine", "graph", "--quiet", "--dask", "local:2",
              "--sync-every", "5"]
    straight = cli(*common, "--epochs", "2", "--save", "straight.safetensors", cwd=tmp_path)
    first = cli(*common, "--epochs", "1", "--checkpoint", "ck", cwd=tmp_path)
    assert straight.returncode == 0 and first.returncode == 0, straight.stderr + first.stderr
    refusals = {
        (): "the checkpoint in ck is of a run on Dask (2 workers, --sync-every 5); resume it "
            "with --dask (e.g. --dask local:2) and --sync-every 5",
        ("--dask", "local:1", "--sync-every", "5"):
            "the checkpoint in ck is of a run on Dask with 2 workers, --sync-every 5, not 1 "
            "worker, --sync-every 5; resume it with as many workers (e.g. --dask local:2) and "
            "--sync-every 5",
        ("--dask", "local:2"):  # (the default, 64 rows)
            "the checkpoint in ck is of a run on Dask with 2 workers, --sync-every 5, not 2 "
            "workers, --sync-every 64; resume it with as many workers (e.g. --dask local:2) "
            "and --sync-every 5"}
    for extra, message in refusals.items():
        got = cli("train", "--resume", "ck", "--epochs", "2", "-q", *extra, cwd=tmp_path)
        assert got.returncode == 1 and got.stderr == f"error: {message}\n", (extra, got.stderr)
    resumed = cli("train", "--resume", "ck", "--epochs", "2", "-q", "--dask", "local:2",
                  "--sync-every", "5", "--save", "resumed.safetensors", cwd=tmp_path)
    assert resumed.returncode == 0 and resumed.stderr == "", resumed.stderr
    assert same_weights(chainrule.load(tmp_path / "straight.safetensors"),
                        chainrule.load(tmp_path / "resumed.safetensors"))
    # and a run without Dask resumes only without it
    plain = cli("train", "t.csv", "--epochs", "1", "-q", "--checkpoint", "ck0", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    got = cli("train", "--resume", "ck0", "--epochs", "2", "-q", "--dask", "local:1", cwd=tmp_path)
    assert got.returncode == 1 and got.stderr == ("error: the checkpoint in ck0 is of a run "
                                                  "without Dask; resume it without --dask and "
                                                  "--sync-every\n")


def test_cli_a_local_cluster_prints_nothing_of_dask_on_stderr(tmp_path, table):
    import socket

    X, y = table[0][:40], table[1][:40]
    rows = "\n".join(f"{a!r},{b!r},{t!r}" for (a, b), t in zip(X.tolist(), y.tolist()))
    (tmp_path / "t.csv").write_text("u,v,y\n" + rows + "\n")
    held = socket.socket()  # dask's default dashboard port taken: it warned, moving elsewhere
    try:
        held.bind(("127.0.0.1", 8787))
        held.listen()
    except OSError:
        pass  # taken already: as much the case tested
    try:
        ok = cli("train", "t.csv", "--epochs", "1", "-q", "--dask", "local:1", "--sync-every",
                 "5", cwd=tmp_path)
        # a bad cell read by the workers (a table bigger than --memory): one line, no logs
        rng = np.random.default_rng(2)
        lines = [f"{a!r},{b!r}" for a, b in rng.normal(size=(30_000, 2)).tolist()]
        lines[20_000] = "1.5,abc"
        (tmp_path / "bad.csv").write_text("u,y\n" + "\n".join(lines) + "\n")  # ~1.2 MB
        bad = cli("train", "bad.csv", "--epochs", "1", "-q", "--memory", "1MB", "--dask",
                  "local:2", cwd=tmp_path)
    finally:
        held.close()
    assert ok.returncode == 0 and ok.stderr == "" and ok.stdout.startswith("final loss ")
    assert bad.returncode == 1 and len(bad.stderr.splitlines()) == 1, bad.stderr
    assert bad.stderr.startswith("error: column 'u' holds text (e.g. '1.5')") or \
        bad.stderr.startswith("error: column 'y' holds text (e.g. 'abc')"), bad.stderr


# the command line, with the client patched so that chainrule's own readers (the streamed
# one and read_csv's) can't open a file: only the Dask workers may read the table
NO_LOCAL_READER = """
import sys
import chainrule.csvfile, chainrule.stream

def refuse(*args, **kwargs):
    raise AssertionError("the client opened the table with chainrule's own reader")

chainrule.csvfile.CsvFile.__init__ = refuse
chainrule.stream.TableStream.open = refuse
from chainrule.cli import main
main(sys.argv[1:])
"""


def test_cli_dask_workers_read_a_table_with_text_over_memory_and_the_client_never_does(tmp_path):
    from chainrule.clusterread import frame_of
    from chainrule.stream import shown_bytes

    rng = np.random.default_rng(9)
    n = 30_000
    x = rng.normal(size=n)
    city = rng.choice(["oslo", "rome", "lima"], size=n)
    y = 0.5 * x + (city == "rome") * 1.0 - (city == "lima") * 0.5
    path = tmp_path / "t.csv"
    path.write_text("x,city,y\n" + "".join(f"{a!r},{c},{t!r}\n" for a, c, t in
                                          zip(x.tolist(), city.tolist(), y.tolist())))
    size = path.stat().st_size
    assert size > 10 ** 6  # over --memory 1MB: the workers read it
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "400"}
    args = ["train", "t.csv", "--memory", "1MB", "--dask", "local:2", "--sync-every", "1000000",
            "--no-shuffle", "--epochs", "1", "--hidden", "none", "--scale", "none", "--lr",
            "0.001", "--engine", "graph"]
    got = subprocess.run([sys.executable, "-c", NO_LOCAL_READER, *args, "--save", "m.safetensors"],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    lines = got.stdout.splitlines()
    assert lines[0] == "data     t.csv: 30,000 rows, x, city → y"
    assert "         text column 'city' → 3 one-hot inputs (lima, oslo, rome)" in lines
    assert (f"t.csv: {shown_bytes(size)}, more than the memory budget of 1.0 MB (--memory): the 2 "
            "Dask workers read it (dd.read_csv, 2 partitions) and hold it in their own memory, "
            "each its share of the 30,000 rows, for every epoch; this process reads none of it"
            ) in lines
    # Expected by hand: one round per epoch (--sync-every above a shard), in the file's order:
    # each worker runs per-row SGD over its partition from the initial weights, and the
    # weights are the mean of the two; the one-hot inputs built here with NumPy, unscaled.
    lengths = frame_of(str(path), 2).map_partitions(len).compute().tolist()
    assert len(lengths) == 2 and sum(lengths) == n
    onehot = np.column_stack([x, city == "lima", city == "oslo", city == "rome"]).astype(float)
    ends = np.cumsum([0] + lengths)
    models, losses = [], []
    for a, b in zip(ends[:-1], ends[1:]):
        model = chainrule.mlp([4, 1], init="xavier", seed=0)
        h = train.fit(model, onehot[a:b], y[a:b], shuffle=False, epochs=1, lr=0.001,
                      scale="none", engine="graph")
        models.append(model)
        losses.append(h.loss[0] * (b - a))
    saved = chainrule.load(tmp_path / "m.safetensors")
    assert saved.encoding.categories == {"city": ["lima", "oslo", "rome"]}
    for p, q, r in zip(saved.parameters(), *[m.parameters() for m in models]):
        np.testing.assert_allclose(p.data, (q.data + r.data) / 2, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(saved.metadata["training"]["history"]["loss"],
                               [sum(losses) / n], rtol=1e-9)
    # bad input with --dask: one line each, nothing written, before any cluster starts
    for data, message in (("gone.csv", f"no such file: {tmp_path / 'gone.csv'}; check the path"),
                          ("none/*.csv", f"no files match {tmp_path / 'none/*.csv'}; check the "
                                         "pattern and the current directory")):
        bad = cli("train", data, "--memory", "1MB", "--dask", "local:2", "--save", "b.safetensors",
                  "--checkpoint", "ck", cwd=tmp_path)
        assert bad.returncode == 1 and bad.stderr == f"error: {message}\n", bad.stderr
        assert not (tmp_path / "b.safetensors").exists() and not (tmp_path / "ck").exists()


def test_survey_counts_categories_and_classes_of_the_training_rows_on_the_workers(client,
                                                                                    tmp_path):
    from chainrule.clusterread import survey
    from chainrule.errors import DataError
    from chainrule.stream import validation_rows

    rng = np.random.default_rng(3)
    n = 200
    x = rng.normal(size=n)
    city = rng.choice(["oslo", "rome"], size=n).astype(object)
    kind = np.where(x > 0, "up", "down").astype(object)
    held = validation_rows(0, n, 0.5, seed=7)
    lone = int(np.flatnonzero(held)[0])  # a category and a class only a held-out row has
    city[lone], kind[lone] = "lima", "flat"
    write_parts(tmp_path / "t", ["x", "city", "kind"],
                [[(float(a), b, c) for a, b, c in zip(x, city, kind)]])
    whole = survey(client, str(tmp_path / "t"))
    assert whole.task == "classification" and whole.reason.startswith(
        "the target 'kind' holds text (3 distinct values)")
    assert whole.encoding.categories == {"city": ["lima", "oslo", "rome"]}
    assert whole.labels == ["down", "flat", "up"] and whole.rows == n
    assert whole.head["x"].tolist() == x.tolist() and whole.features == ["x", "city"]
    split = survey(client, str(tmp_path / "t"), validation_split=0.5, seed=7)
    assert split.encoding.categories == {"city": ["oslo", "rome"]}  # (as fit will find them)
    assert split.labels == ["down", "up"] and split.rows == n
    with pytest.raises(DataError, match=r"column\(s\) \['x'\] can't be both input and target"):
        survey(client, str(tmp_path / "t"), "x", ["x", "city"])
    with pytest.raises(DataError, match="the target 'city' holds text, and regression predicts"):
        survey(client, str(tmp_path / "t"), "city", ["x"], task="regression")


def test_a_table_in_fewer_parts_than_workers_is_split_so_each_worker_trains(client, tmp_path):
    # a small Parquet file is one row group, which dd.read_parquet keeps as one partition:
    # it is split by rows, in order, so both workers train; with one round an epoch and the
    # rows in order, the weights are the mean of per-row SGD on each half (by hand)
    pd = pytest.importorskip("pandas")
    from chainrule.clusterread import frame_of

    rng = np.random.default_rng(8)
    x = rng.normal(size=(120, 2))
    y = x @ [1.5, -0.5] + 0.25
    path = tmp_path / "small.parquet"
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": y}).to_parquet(path)
    import dask.dataframe as dd

    assert dd.read_parquet(str(path)).npartitions == 1
    frame = frame_of(str(path), 2)
    lengths = frame.map_partitions(len).compute().tolist()
    assert len(lengths) == 2 and sum(lengths) == 120 and min(lengths) > 0
    np.testing.assert_array_equal(frame.compute()["a"].to_numpy(), x[:, 0])  # (in order)
    spread = chainrule.mlp([2, 1], seed=0)
    train.fit(spread, str(path), "y", cluster=client, sync_every=10 ** 6, shuffle=False,
              epochs=1, lr=0.05, engine="graph")
    halves = []
    for a, b in ((0, lengths[0]), (lengths[0], 120)):
        half = chainrule.mlp([2, 1], seed=0)
        train.fit(half, x[a:b], y[a:b], shuffle=False, epochs=1, lr=0.05, engine="graph")
        halves.append(half)
    for p, q, r in zip(spread.parameters(), *[h.parameters() for h in halves]):
        np.testing.assert_allclose(p.data, (q.data + r.data) / 2, rtol=1e-12, atol=1e-14)
    # a Dask DataFrame given in one partition is split too
    one = dd.from_pandas(pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": y}), npartitions=1)
    assert frame_of(one, 2).npartitions == 2 and frame_of(one, 1).npartitions == 1


def test_fit_given_a_survey_reuses_its_pass_of_statistics(client, tmp_path, monkeypatch):
    # the CLI's --dask route surveys the table (to build the network) and then trains on
    # it: fit given that survey makes no second pass of statistics on the workers when the
    # survey's were made for the same uses, and trains as it does from the files
    from chainrule import clusterread
    from chainrule.clusterread import survey

    rng = np.random.default_rng(5)
    n = 400
    x = rng.normal(size=(n, 2))
    y = x[:, 0] - 0.5 * x[:, 1]
    write_parts(tmp_path / "t", ["a", "b", "y"], [[(*row, t) for row, t in
                                                  zip(x.tolist(), y.tolist())]])
    passes = []
    real = clusterread._statistics
    monkeypatch.setattr(clusterread, "_statistics", lambda *a: passes.append(a[-1]) or real(*a))
    settings = dict(cluster=client, epochs=2, seed=3, lr=0.05, scale="standard",
                    validation_split=0.25, sync_every=50, engine="graph")
    found = survey(client, str(tmp_path / "t"), "y", validation_split=0.25, seed=3)
    assert passes == [3]
    models = [chainrule.mlp([2, 3, 1], seed=0) for _ in range(3)]
    h_found = train.fit(models[0], found, "y", **settings)
    assert passes == [3]  # (none more)
    h_path = train.fit(models[1], str(tmp_path / "t"), "y", **settings)
    assert passes == [3, 3]
    other = train.fit(models[2], found, "y", **{**settings, "seed": 4})  # other held-out rows
    assert passes == [3, 3, 4] and other.logs != h_found.logs
    assert same_weights(models[0], models[1]) and h_found.logs == h_path.logs


def test_local_workers_that_do_not_start_in_time_are_one_line(monkeypatch):
    """``local:N`` hands back its client only once its N workers have registered; workers
    that don't (here: the wait says so) are a ConfigError, and the cluster is closed."""
    from distributed import Client

    from chainrule.cluster import connect

    closed = []
    monkeypatch.setattr(Client, "wait_for_workers",
                        lambda self, n, timeout=None: (_ for _ in ()).throw(TimeoutError()))
    real_close = Client.close
    monkeypatch.setattr(Client, "close", lambda self, *a, **k: (closed.append(self),
                                                                real_close(self, *a, **k))[1])
    with pytest.raises(ConfigError, match="the 1 local Dask workers did not all start within"):
        connect("local:1")
    assert len(closed) == 1
