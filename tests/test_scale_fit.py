"""``fit`` on streams (files, chunks) and on a Dask cluster, against ``fit`` on arrays."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule import train
from chainrule.errors import ConfigError

from scale_fixtures import net, same_weights, table  # noqa: F401 (fixtures)


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


# fit on a Dask cluster: tests/test_cluster.py
