"""``chainrule train`` on tables bigger than ``--memory`` (issue 18), in subprocesses: the
one line that says it streams, the bar over bytes, the peak memory measured, a SIGKILL
mid-file and ``--resume`` ending bit-identical, and bad input named in one line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cli_run import run_cli

HEADER = "hours,sleep,score\n"


def s1_rows(rows: int, seed: int = 0) -> str:
    """S1-like rows (two inputs, one target) as CSV text without the header."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 2)) * [15.0, 1.5] + [70.0, 3.0]
    y = 0.5 * X[:, 0] - 2.0 * X[:, 1] + rng.normal(size=rows)
    return "\n".join(f"{a:.6f},{b:.6f},{t:.6f}" for a, b, t in zip(X[:, 0], X[:, 1], y)) + "\n"


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """About 3 MB of CSV: streamed under --memory 1MB."""
    path = tmp_path_factory.mktemp("stream") / "s1.csv"
    path.write_text(HEADER + s1_rows(90_000))
    return path


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, env=dict(os.environ), **kw)


def saved_weights(path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(path))


def test_a_table_bigger_than_memory_streams_and_says_so(table, tmp_path):
    code, out, err = run_cli("train", str(table), "--memory", "1MB", "--epochs", "2",
                             "--engine", "fused", "--save", str(tmp_path / "m.safetensors"))
    assert code == 0, err
    streaming = [line for line in out.splitlines() if line.startswith("streaming ")]
    assert len(streaming) == 1
    assert re.search(r"\d\.\d MB is more than the memory budget of 1\.0 MB \(--memory\); read in "
                     r"blocks of 66 KB, rows shuffled through a buffer of 5,208 rows", streaming[0])
    # (an eighth of 1 MB in rows of 3 × 8 bytes: 125,000 // 24 = 5,208)
    # the bytes read, a line at each quarter of each pass (piped: no live bar), with a time left
    for phase in ("scan", "epoch 1", "epoch 2"):
        assert re.search(rf"  {phase}: 25% of \d\.\d MB read, about \d:\d\d:\d\d left", out)
        assert re.search(rf"  {phase}: 100% of \d\.\d MB read in \d:\d\d:\d\d", out)
    epoch = re.findall(r"epoch +2 +loss ([0-9.e-]+) +r2 ([0-9.e-]+)", out)
    assert epoch and float(epoch[0][1]) > 0.95  # score = 0.5·hours − 2·sleep + noise(1): R² ≈ 0.98
    # a small table is read whole, as before: no streaming line
    small = tmp_path / "small.csv"
    small.write_text(HEADER + s1_rows(50))
    code, out, _ = run_cli("train", str(small), "--memory", "1MB", "--epochs", "1")
    assert code == 0 and "streaming" not in out and "50 rows" in out


def test_parquet_streams_beyond_the_budget_and_is_read_whole_within_it(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60_000, 2))
    y = X @ [1.5, -2.0] + 0.1 * rng.normal(size=60_000)
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1], "y": y}), path)
    # its numbers: 60,000 rows × 3 columns × 8 bytes = 1.44 MB
    code, out, err = run_cli("train", str(path), "--memory", "1MB", "--epochs", "1",
                             "--engine", "fused")
    assert code == 0, err
    assert f"streaming {path}: 1.4 MB is more than the memory budget of 1.0 MB" in out
    r2 = float(re.search(r"epoch +1 +loss \S+ +r2 (\S+)", out).group(1))
    assert r2 > 0.99  # y = 1.5a − 2b + noise of sd 0.1: R² ≈ 1 − 0.01/6.25
    code, out, err = run_cli("train", str(path), "--memory", "1MB", "--shuffle-buffer",
                             "30000")  # 30,000 rows × 24 bytes = 720 KB > 500 KB
    assert code != 0 and err.strip().splitlines() == [
        "error: a shuffle buffer of 30,000 rows holds 720 KB, more than half the memory budget "
        "of 1.0 MB; give at most 20,833 rows, or more memory"]
    code, out, err = run_cli("train", str(path), "--memory", "2MB", "--epochs", "1",
                             "--engine", "fused")
    assert code == 0 and f"reading {path}: 1.4 MB, within the memory budget of 2.0 MB; " \
        "read whole" in out


def test_a_terminal_shows_a_bar_over_bytes_with_the_time_left(table):
    from rich.console import Console

    from chainrule.cli.streamed import ByteProgress

    console = Console(force_terminal=True, width=100, record=True)
    bar = ByteProgress(console)
    for done in (0, 1_500_000):
        bar(done, 3_000_000, "epoch 1")
    bar.bar.refresh()
    text = console.export_text()
    bar.close()
    # the phase, the bytes read of all, and the time left (rich's column: h:mm:ss)
    assert re.search(r"epoch 1 ━+╺━+ 1\.5/3\.0 MB .* (-:--:--|\d:\d\d:\d\d)", text)


def test_fit_on_a_path_uses_the_same_rule(table):
    import chainrule
    from chainrule import train

    rows = np.loadtxt(table, delimiter=",", skiprows=1)
    phases = {"1GB": [], "1MB": []}
    models = {}
    for memory, seen in phases.items():
        models[memory] = chainrule.mlp([2, 2, 1], seed=0)
        train.fit(models[memory], str(table), epochs=1, seed=1, scale="standard",
                  engine="graph", memory=memory, batch_size=64,
                  progress=lambda done, total, phase, seen=seen: seen.append(phase))
    # within the budget the file is read whole: fit on the same arrays, bit for bit
    whole = chainrule.mlp([2, 2, 1], seed=0)
    train.fit(whole, rows[:, :2], rows[:, 2:], epochs=1, seed=1, scale="standard",
              engine="graph", batch_size=64)
    assert all(np.array_equal(p.data, q.data) for p, q in
               zip(whole.parameters(), models["1GB"].parameters()))
    assert phases["1GB"] == []  # (nothing streamed: no pass to report)
    # bigger than the budget it streams: the statistics pass, then the epoch, each read
    assert phases["1MB"][0] == "scan" and phases["1MB"][-1] == "epoch 1"
    assert not np.array_equal(whole.layers[0].weight.data, models["1MB"].layers[0].weight.data)


def test_sigkill_mid_file_and_resume_end_bit_identical(table, tmp_path):
    args = ["train", str(table), "--memory", "1MB", "--epochs", "4", "--seed", "3",
            "--validation-split", "0.1", "--engine", "fused", "-q"]  # (seconds after the kill)
    plain = tmp_path / "plain.safetensors"
    done = cli(*args, "--save", str(plain))
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "ck"
    mark = folder / "checkpoint.safetensors"
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", *args, "--checkpoint",
                             str(folder), "--checkpoint-rows", "20000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=dict(os.environ))
    deadline = time.time() + 120
    while not mark.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)  # no handler runs: only what was written survives
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    from chainrule.checkpoint import read

    state = read(folder).state
    assert state["place"]["first_epoch"] == 1 and state["stream"]["seen"] >= 20_000  # mid-file
    resumed = tmp_path / "resumed.safetensors"
    again = cli("train", "--resume", str(folder), "-q", "--save", str(resumed))
    assert again.returncode == 0, again.stderr
    a, b = saved_weights(plain), saved_weights(resumed)
    assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)
    assert again.stdout.splitlines()[0] == done.stdout.splitlines()[0]  # "final loss …"


def test_sigterm_mid_file_checkpoints_after_the_block_and_resumes(table, tmp_path):
    args = ["train", str(table), "--memory", "1MB", "--epochs", "1", "--seed", "4",
            "--engine", "fused"]
    plain = tmp_path / "plain.safetensors"
    assert cli(*args, "-q", "--save", str(plain)).returncode == 0
    folder = tmp_path / "ck"
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", *args, "--checkpoint",
                             str(folder)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ))
    for line in proc.stdout:  # the epoch is a quarter read: stop it there
        if line.startswith("  epoch 1: 25%"):
            proc.send_signal(signal.SIGTERM)
            break
    out = line + proc.stdout.read()
    assert proc.wait() == 130, proc.stderr.read()
    assert "stopped (Ctrl-C or SIGTERM)" in out and f"--resume {folder}" in out
    from chainrule.checkpoint import read

    stream = read(folder).state["stream"]
    assert 0 < stream["seen"] < 90_000  # inside the epoch, at the end of a block
    resumed = tmp_path / "resumed.safetensors"
    assert cli("train", "--resume", str(folder), "-q", "--save", str(resumed)).returncode == 0
    a, b = saved_weights(plain), saved_weights(resumed)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_bad_input_deep_in_a_streamed_file_is_one_line_and_writes_nothing(table, tmp_path):
    text = table.read_text().splitlines()
    text[80_001] = text[80_001].split(",")[0] + ",n/a," + text[80_001].split(",")[2]
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(text) + "\n")
    model = tmp_path / "m.safetensors"
    code, out, err = run_cli("train", str(bad), "--memory", "1MB", "--epochs", "1",
                             "--save", str(model))
    assert code != 0 and "Traceback" not in err
    message = err.strip().splitlines()
    assert message == [f"error: {bad}, line 80002, column 'sleep': 'n/a' is not a number "
                       "(the 80,000 rows before it are); use numbers only, or leave the column out"]
    assert not model.exists() and os.listdir(tmp_path) == ["bad.csv"]
    # a file of a glob that is gone by the time it is read: named, nothing written
    folder = tmp_path / "parts"
    folder.mkdir()
    for k in range(3):
        (folder / f"p{k}.csv").write_text(HEADER + s1_rows(20_000, seed=k))
    import chainrule
    from chainrule import train
    from chainrule.errors import DataError
    from chainrule.stream import TableStream

    stream = TableStream.open(str(folder / "p*.csv"))
    os.remove(folder / "p1.csv")
    with pytest.raises(DataError) as err_info:
        list(stream)
    assert str(err_info.value) == (f"{folder / 'p1.csv'} is gone (it was listed when training "
                                   "began); put it back or start again without it")
    code, out, err = run_cli("train", str(folder / "p9*.csv"), "--memory", "1MB")
    assert code != 0 and err.strip().splitlines() == [
        f"error: no files match {folder / 'p9*.csv'}; check the pattern and the current directory"]


@pytest.mark.slow
def test_a_csv_ten_times_the_budget_trains_within_budget_plus_200mb(tmp_path):
    """640 MB of CSV under --memory 64MB: the peak RSS (VmHWM, read by the process itself
    as it exits) stays under 64 MB + 200 MB.  The baseline — Python, NumPy, pyarrow and
    numba with the compiled loop loaded — is ~200 MB of that (measured first, printed)."""
    block = s1_rows(100_000)  # ~3.6 MB of distinct rows, written 178 times
    path = tmp_path / "big.csv"
    with open(path, "w") as fh:
        fh.write(HEADER)
        while fh.tell() < 640_000_000:
            fh.write(block)
    assert os.path.getsize(path) >= 640_000_000
    peak = ("import atexit, re, sys\n"
            "def peak():\n"
            "    status = open('/proc/self/status').read()\n"
            "    print('VmHWM', re.search(r'VmHWM:\\s+(\\d+)', status).group(1), file=sys.stderr)\n"
            "atexit.register(peak)\n")
    warm = peak + ("import numpy as np, pyarrow.csv, pyarrow.compute, chainrule\n"
                   "chainrule.train.fit(chainrule.mlp([2, 2, 1]), np.ones((4, 2)), np.ones(4),"
                   " epochs=1, engine='fused')\n")
    base = subprocess.run([sys.executable, "-c", warm], capture_output=True, text=True,
                          env=dict(os.environ), check=True)
    baseline = int(re.search(r"VmHWM (\d+)", base.stderr).group(1)) * 1024
    run = peak + ("from chainrule.cli import main\n"
                  f"main(['train', {str(path)!r}, '--memory', '64MB', '--epochs', '1', '-q',"
                  " '--engine', 'fused'])\n")
    done = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True,
                          env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    used = int(re.search(r"VmHWM (\d+)", done.stderr).group(1)) * 1024
    print(f"baseline {baseline / 1e6:.0f} MB, streamed run {used / 1e6:.0f} MB")
    assert used < 64_000_000 + 200_000_000
    assert float(done.stdout.split()[-1]) < 0.1  # it trained: scaled loss ≈ 1 − R² ≈ 0.02


def test_batches_a_streamed_table_cannot_make_are_refused_in_one_line(table, tmp_path):
    # --memory 1MB: blocks of 65,536 bytes, 65,536 // (3 columns × 8 bytes) = 2,730 rows;
    # a batch never spans two blocks, so "full" and 5,000 rows would be silently capped
    code, out, err = run_cli("train", str(table), "--memory", "1MB", "--batch-size", "full")
    assert code == 1 and err.strip().splitlines() == [
        "error: a batch of all rows can't be made on a table streamed in blocks (a batch never "
        "spans two); give a number of rows, at most 2,730 with this memory budget, or raise "
        "--memory (memory=) to read it whole"]
    code, out, err = run_cli("train", str(table), "--memory", "1MB", "--batch-size", "5000")
    assert code == 1 and err.strip().splitlines() == [
        "error: a batch of 5,000 rows can't be made on a table streamed in blocks of about "
        "2,730 rows (a batch never spans two); give at most that, or raise --memory (memory=) "
        "for bigger blocks"]
    assert out == ""  # (refused before anything is read or said)
    # what is accepted is described as it happens: a batch ends where a block does
    code, out, err = run_cli("train", str(table), "--memory", "1MB", "--batch-size", "100",
                             "--epochs", "1", "--engine", "graph")
    assert code == 0, err
    assert "up to 100 rows per step (a batch ends where a block does)" in out
    steps = int(re.search(r"trained (\d+) steps", out).group(1))
    # 90,000 rows in 100-row batches are 900 steps when no block cut one; each block of
    # the ~40 (3 MB / 66 KB) cuts at most one batch short
    assert 900 <= steps <= 900 + 3_000_000 // 65_536 + 1


def test_a_streamed_text_target_says_raise_memory_and_the_class_count_is_the_files(tmp_path):
    rows = s1_rows(60_000).splitlines()
    rows[50_000] = ",".join(rows[50_000].split(",")[:2] + ["pass"])
    text = tmp_path / "text.csv"
    text.write_text(HEADER + "\n".join(rows) + "\n")
    code, out, err = run_cli("train", str(text), "--memory", "1MB", "--epochs", "1")
    assert code == 1 and err.strip().splitlines() == [
        f"error: {text}, line 50002, column 'score': 'pass' is not a number (the 50,000 rows "
        "before it are); a streamed target takes number labels: give numbers, or raise --memory "
        "to read the file whole (text labels are read then)"]
    # 150,000 rows (1.6 MB) with 2,000 labels (row k has label k mod 2,000): the rows
    # counted over the whole file, not the first block's
    labels = tmp_path / "labels.csv"
    labels.write_text("a,b,label\n" + "".join(f"{k % 7},{k % 5},{k % 2000}\n"
                                              for k in range(150_000)))
    code, out, err = run_cli("train", str(labels), "--memory", "1MB", "--task",
                             "classification", "-q")
    assert code == 1 and err.strip().splitlines() == [
        "error: the target has 2,000 distinct labels in 150,000 rows: too many classes to train "
        "a classifier on (at most 1,000, and 100,000,000 rows × classes); is it the right "
        "--target column? A number to predict wants --task regression"]


def test_shuffle_buffer_on_a_table_read_whole_is_refused_as_checkpoint_rows_is(tmp_path):
    small = tmp_path / "small.csv"
    small.write_text(HEADER + s1_rows(20))
    code, out, err = run_cli("train", str(small), "--shuffle-buffer", "10")
    assert code == 1 and err.strip().splitlines() == [
        "error: --shuffle-buffer sets the approximate shuffle of a streamed table (one bigger "
        "than --memory); this one is read whole and its rows shuffled exactly: drop it here"]
    assert out == ""


def test_no_spool_parses_every_pass_for_the_same_weights_and_a_resume_may_switch_it(table, tmp_path,
                                                                                   monkeypatch):
    # The spool holds the float64s the first pass parsed and gives them back in the same
    # blocks, so every later pass sees the same numbers in the same chunks: the same steps
    # in the same order, so the same weights bit for bit with or without it.
    import tempfile

    made = []
    mkdtemp = tempfile.mkdtemp

    def recorded(*args, **kwargs):
        folder = mkdtemp(*args, **kwargs)
        made.append(os.path.basename(folder))
        return folder

    monkeypatch.setattr(tempfile, "mkdtemp", recorded)
    common = ["train", str(table), "--memory", "1MB", "--epochs", "2", "--engine", "fused",
              "--validation-split", "0.1"]
    lines = {}
    for flag in ("--spool", "--no-spool"):
        made.clear()
        code, out, err = run_cli(*common, flag, "--save", str(tmp_path / f"{flag}.safetensors"))
        assert code == 0, err
        lines[flag] = next(line for line in out.splitlines() if line.startswith("streaming "))
        spools = [name for name in made if name.startswith("chainrule-spool-")]
        assert len(spools) == (1 if flag == "--spool" else 0), made
    assert lines["--spool"].endswith("; its numbers kept in a temporary file after the first pass "
                                     "(--no-spool: parse the text every pass)")
    assert lines["--no-spool"].endswith("; the text parsed every pass (--no-spool)")
    a, b = (saved_weights(tmp_path / f"{flag}.safetensors") for flag in ("--spool", "--no-spool"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    # a run checkpointed with the spool resumes without it (and ends as the straight run)
    code, _, err = run_cli(*common[:4], "--epochs", "1", *common[6:], "--checkpoint",
                           str(tmp_path / "ck"), "-q")
    assert code == 0, err
    code, _, err = run_cli("train", "--resume", str(tmp_path / "ck"), "--epochs", "2",
                           "--no-spool", "-q", "--save", str(tmp_path / "resumed.safetensors"))
    assert code == 0, err
    c = saved_weights(tmp_path / "resumed.safetensors")
    assert all(np.array_equal(a[k], c[k]) for k in a)
    # a table read whole, or by Dask workers, is never spooled: --no-spool there is refused
    small = tmp_path / "small.csv"
    small.write_text(HEADER + s1_rows(20))
    code, out, err = run_cli("train", str(small), "--no-spool")
    assert code == 1 and out == "" and err.strip().splitlines() == [
        "error: --no-spool is for a CSV streamed by this process (one bigger than --memory, "
        "without --dask); this one is read whole, never spooled: drop it here"]
    code, out, err = run_cli("train", str(table), "--memory", "1MB", "--dask", "local:2",
                             "--no-spool")  # (refused before any cluster starts)
    assert code == 1 and out == "" and err.strip().splitlines() == [
        "error: --no-spool is for a CSV streamed by this process (one bigger than --memory, "
        "without --dask); this one is read by the Dask workers, never spooled: drop it here"]
