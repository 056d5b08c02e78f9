"""Streamed training (issue 18): the shuffle buffer against a row-by-row reference, the
metrics of streamed epochs against ``fit`` in memory, the memory budget, and a
checkpoint inside an epoch that resumes bit-identically."""

from __future__ import annotations

import os

import numpy as np
import pytest

import chainrule
from chainrule import metrics, train
from chainrule.errors import ConfigError, DataError
from chainrule.stream import ShuffleBuffer, parse_memory, validation_rows
from chainrule.streamfit import buffer_rows

from scale_fixtures import net, table  # noqa: F401 (fixtures)


def weights(model) -> list[np.ndarray]:
    return [p.data.copy() for p in model.parameters()]


def test_shuffle_buffer_is_tf_data_rule_row_by_row():
    # the reference: rows fill the 7 places, then each row takes a uniformly drawn slot
    # and the row there leaves, one row at a time
    cuts = [0, 9, 20, 23, 40, 60]
    data = np.arange(60.0)
    for seed in range(10):
        pool, got = ShuffleBuffer(7, np.random.default_rng(seed)), []
        for a, b in zip(cuts[:-1], cuts[1:]):
            block = pool.push(data[a:b, None], data[a:b])
            if block is not None:
                np.testing.assert_array_equal(block[0][:, 0], block[1])  # rows stay whole
                got.append(block[1])
        got.append(pool.drain()[1])
        rng = np.random.default_rng(seed)
        want, held = [], list(data[:7])
        for a, b in zip([7] + cuts[1:-1], cuts[1:]):  # (the first chunk's last 2 rows overflow)
            slots, out = rng.integers(0, 7, size=b - a), []
            for i, row in enumerate(data[a:b]):
                out.append(held[slots[i]])
                held[slots[i]] = row
            want.append(np.array(out))
        want.append(np.array(held)[rng.permutation(7)])
        np.testing.assert_array_equal(np.concatenate(got), np.concatenate(want))


def test_memory_budget_words_and_buffer_size():
    assert parse_memory("1GB") == 10 ** 9 and parse_memory("64MiB") == 64 * 2 ** 20
    assert parse_memory(" 1.5 gb ") == 1_500_000_000 and parse_memory(2 ** 21) == 2 ** 21
    for bad in ("lots", "12 parsecs", "10KB"):
        with pytest.raises(ConfigError, match="memory"):
            parse_memory(bad)
    # the default: a quarter of MemTotal (kB in /proc/meminfo), or of pages × page size
    from chainrule.stream import default_memory

    if os.path.exists("/proc/meminfo"):
        kb = next(int(line.split()[1]) for line in open("/proc/meminfo")
                  if line.startswith("MemTotal:"))
        assert default_memory() == kb * 1024 // 4
    else:
        assert default_memory() == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    # an eighth of 64 MB, in rows of three float64 numbers (24 bytes)
    assert buffer_rows(64_000_000, 3) == 8_000_000 // 24


@pytest.mark.parametrize("engine", ["graph", "fused"])
@pytest.mark.parametrize("names", [["r2", "mse", "mae"], ["mae"], ["mse"]])
def test_streamed_metrics_equal_fit_in_memory(table, engine, names):
    # in the file's order, per-row SGD on the blocks is fit's own run (the weights are
    # equal), so the end-of-epoch scores must equal fit's: R² from streamed sums (the
    # outputs from the compiled loop's forward when the run is in it, as fit's are)
    X, y = table
    parts = [(X[a:a + 50], y[a:a + 50]) for a in range(0, 240, 50)]
    whole, streamed = net(), net()
    h1 = train.fit(whole, X, y, epochs=3, shuffle=False, lr=0.02,
                   engine=engine, metrics=names)
    h2 = train.fit(streamed, parts, epochs=3, shuffle=False, lr=0.02,
                   engine=engine, shuffle_buffer=40, metrics=names)
    assert all(np.array_equal(a, b) for a, b in zip(weights(whole), weights(streamed)))
    assert set(h2.logs) == set(h1.logs) == {"loss", *names}
    for key in names:
        np.testing.assert_allclose(h2[key], h1[key], rtol=1e-12)


def test_streamed_validation_scores_equal_evaluate_on_the_held_rows(table):
    X, y = table
    parts = [(X[a:a + 40], y[a:a + 40]) for a in range(0, 240, 40)]
    model = net()
    history = train.fit(model, parts, epochs=2, seed=5, lr=0.02, scale="standard",
                        engine="graph", shuffle_buffer=50, validation_split=0.25)
    assert set(history.logs) == {"loss", "r2", "val_loss", "val_r2"}
    # the held rows are those whose index hashes under 0.25, with the seed fit drew first
    held = validation_rows(0, 240, 0.25, int(np.random.default_rng(5).integers(2 ** 63)))
    val = train.evaluate(model, X[held], y[held], metrics=["r2"])
    tra = train.evaluate(model, X[~held], y[~held], metrics=["r2"])
    np.testing.assert_allclose(history["val_loss"][-1], val["loss"], rtol=1e-12)
    np.testing.assert_allclose(history["val_r2"][-1], val["r2"], rtol=1e-12)
    np.testing.assert_allclose(history["r2"][-1], tra["r2"], rtol=1e-12)


def test_streamed_accuracy_equals_evaluate():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 2))
    labels = np.where(X[:, 0] + X[:, 1] > 0, "up", "down")
    parts = [(X[a:a + 30], labels[a:a + 30]) for a in range(0, 120, 30)]
    model = chainrule.mlp([2, 2], seed=0)
    history = train.fit(model, parts, loss="cross_entropy", epochs=3, shuffle_buffer=20,
                        lr=0.1, engine="graph", seed=1)
    want = metrics.accuracy(*[np.eye(2)[np.searchsorted(["down", "up"], labels)],
                              model.predict_proba(X)])
    assert history["accuracy"][-1] == want and want > 0.8


class Killed(Exception):
    """Stands for SIGKILL in-process: raised from inside the run, nothing saved after it."""


def test_a_checkpoint_inside_a_streamed_epoch_resumes_bit_identically(tmp_path, table):
    X, y = table
    parts = [(X[a:a + 20], y[a:a + 20]) for a in range(0, 240, 20)]
    settings = dict(epochs=3, seed=7, lr=0.02, scale="standard", engine="graph",
                    shuffle_buffer=50, validation_split=0.2)
    plain = net()
    h1 = train.fit(plain, parts, **settings)

    folder = tmp_path / "ck"

    class Stop(train.Callback):
        """Kills the run in epoch 2, after the in-epoch checkpoints of 60 rows."""

        def on_epoch_begin(self, epoch):
            self.epoch = epoch

        def on_batch_end(self, step, loss):
            if self.epoch == 2 and step > 1.6 * 192 and (folder / "checkpoint.safetensors").exists():
                raise Killed

    with pytest.raises(Killed):
        train.fit(net(), parts, checkpoint=str(folder), checkpoint_rows=60,
                  callbacks=[Stop()], **settings)
    from chainrule.checkpoint import read

    state = read(folder).state
    assert state["place"]["first_epoch"] == 2 and 0 < state["stream"]["part"] < 12
    assert state["stream"]["seen"] > 0  # inside the epoch: the place, the buffer and Σ loss
    resumed = net(seed=99)  # (the weights come from the checkpoint)
    h2 = train.fit(resumed, parts, resume=str(folder), **settings)
    assert all(np.array_equal(a, b) for a, b in zip(weights(plain), weights(resumed)))
    assert h2.loss == h1.loss and h2["val_loss"] == h1["val_loss"]
    # on other data the checkpoint is refused, in one line
    other = [(X[a:a + 20] + 1.0, y[a:a + 20]) for a in range(0, 240, 20)]
    with pytest.raises(DataError, match="other training data"):
        train.fit(net(), other, resume=str(folder), **settings)


@pytest.mark.parametrize("kind", ["regression", "classes"])
def test_blocks_read_ahead_on_a_thread_train_as_one_after_another(tmp_path, table, monkeypatch,
                                                                   kind):
    # a run in the compiled loop with no checkpoint reads, shuffles and scales its next
    # blocks on a thread while it trains; the same blocks, the same draws of the generator:
    # the weights and the history of a run that does it all in turn (one core), and of a
    # run that keeps checkpoints (never read ahead), bit for bit
    from chainrule import stream, streamfit

    X, y = (np.tile(a, (20,) + (1,) * (a.ndim - 1)) for a in table)  # (4,800 rows: 4 blocks)
    labels = (y > np.median(y)).astype(int) if kind == "classes" else y
    path = tmp_path / "t.csv"
    path.write_text("u,v,y\n" + "".join(f"{a!r},{b!r},{t!r}\n" for (a, b), t in
                                        zip(X.tolist(), labels.tolist())))
    sizes, loss = ((2, 4, 2), "cross_entropy") if kind == "classes" else ((2, 4, 1), "mse")
    settings = dict(epochs=3, seed=4, lr=0.02, scale="standard", engine="fused", loss=loss,
                    memory="1MB", shuffle_buffer=60, validation_split=0.2)
    used = []
    real_ahead = stream.ahead
    monkeypatch.setattr(stream, "ahead", lambda items, depth=2: used.append(depth) or
                        real_ahead(items, depth))
    runs = []
    for how in ("ahead", "one core", "checkpoints"):
        used.clear()
        monkeypatch.setattr(streamfit.os, "cpu_count", (lambda: 1) if how == "one core"
                            else (lambda: 2))
        model = net(sizes=sizes)
        extra = {"checkpoint": str(tmp_path / "ck")} if how == "checkpoints" else {}
        history = train.fit(model, str(path), **extra, **settings)
        assert bool(used) == (how == "ahead")
        assert len(history.loss) == 3
        runs.append((weights(model), history.logs))
    for other in runs[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(runs[0][0], other[0]))
        assert other[1] == runs[0][1]


def test_a_spooled_csv_trains_as_the_text_does_and_leaves_no_spool(tmp_path, table, monkeypatch):
    # the spool holds the parsed float64s: every later pass reads the same numbers in the
    # same blocks, so the run is the same, bit for bit, as one that parses on every pass
    X, y = table
    path = tmp_path / "t.csv"
    path.write_text("u,v,y\n" + "".join(f"{a!r},{b!r},{t!r}\n" for (a, b), t in
                                        zip(X.tolist(), y.tolist())))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "spools"))
    (tmp_path / "spools").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # (TMPDIR is read afresh)
    runs = []
    for spool in (True, False):
        model = net()
        history = train.fit(model, str(path), epochs=2, seed=2, lr=0.02, scale="standard",
                            engine="graph", memory="1MB", shuffle_buffer=60, spool=spool,
                            validation_split=0.2)
        runs.append((weights(model), history.logs))
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][0], runs[1][0]))
    assert runs[0][1] == runs[1][1]
    assert os.listdir(tmp_path / "spools") == []  # the spool folder is removed at the end


def test_streamed_batches_that_would_span_two_blocks_are_refused(table):
    X, y = table
    chunks = [(X[k:k + 40], y[k:k + 40]) for k in range(0, 240, 40)]  # blocks of 40 rows
    # 240 rows through a buffer of 100: streamed, each block the loop gets is 40 rows
    for batch, message in (("full", "a batch of all rows can't be made .* at most 40 with"),
                           (41, "a batch of 41 rows can't be made .* blocks of about 40 rows")):
        with pytest.raises(ConfigError, match=message):
            train.fit(net(), chunks, epochs=1, batch_size=batch, shuffle_buffer=100,
                      engine="graph")
    # 40 rows fit: the buffer fills with 100 rows (the third block's other 20 leave: 1
    # step), blocks 4-6 each let 40 out (3 steps), the drain lets out 100 (40 + 40 + 20: 3)
    history = train.fit(net(), chunks, epochs=1, batch_size=40, shuffle_buffer=100,
                        engine="graph")
    assert history.steps == 1 + 3 + 3


def test_a_streamed_classifier_counts_its_classes_over_all_rows(tmp_path):
    # 150,000 rows (1.2 MB, streamed under 1MB) with 1,500 labels: too many, said with
    # the whole file's row count, not the first block's
    path = tmp_path / "labels.csv"
    path.write_text("a,b,label\n" + "".join(f"{k % 7},{k % 5},{k % 1500}\n"
                                             for k in range(150_000)))
    assert path.stat().st_size > 10 ** 6
    with pytest.raises(DataError, match=r"^the target has 1,500 distinct labels in 150,000 rows: "):
        train.fit(net(sizes=(2, 3, 2)), str(path), loss="cross_entropy", epochs=1,
                  memory="1MB", engine="graph")


def test_the_stream_benchmark_leaves_no_csv_behind(monkeypatch, tmp_path):
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "bench_stream", os.path.join(os.path.dirname(__file__), "..", "benchmarks", "stream.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    made = []

    def failing_run(path, X, y, rows, *options):  # the CSV written, then a failure mid-benchmark
        made.append(path)
        open(path, "w").write("hours,sleep,score\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "_run", failing_run)
    monkeypatch.setattr(sys, "argv", ["stream.py", "10"])
    monkeypatch.setattr(bench.tempfile, "tempdir", str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        bench.main()
    assert len(made) == 1 and os.path.dirname(made[0]).startswith(str(tmp_path))
    assert os.listdir(tmp_path) == []
