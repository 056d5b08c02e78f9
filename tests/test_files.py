"""Files chainrule reads and writes: only regular files are read (a FIFO, /dev/zero or a
folder is one line, at once), and saves never replace a special file, clean up after
themselves and after saves that were killed, and say clearly why they failed."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import checkpoint as ckpt
from chainrule import fastcode, files


def finishes(fn, seconds: float = 20.0):
    """``fn()``'s exception (or None), failing the test if it has not returned in time (a
    read of a FIFO would block forever: the thread is left behind, the test fails)."""
    box: list = []

    def run():
        try:
            fn()
            box.append(None)
        except Exception as exc:  # noqa: BLE001 - handed to the test
            box.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert box, f"still blocked after {seconds} s"
    return box[0]


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.safetensors"
    os.mkfifo(path)
    return path


SPECIAL = {
    "fifo": lambda tmp: _mkfifo(tmp / "pipe"),
    "dev-zero": lambda tmp: Path("/dev/zero"),
    "folder": lambda tmp: tmp,
}


def _mkfifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("kind", SPECIAL)
def test_readers_refuse_special_files_at_once(tmp_path, kind):
    path = SPECIAL[kind](tmp_path)
    expected = {"fifo": "is a FIFO", "dev-zero": "is a character device", "folder": "is a folder"}
    for read in (lambda: cr.load(path), lambda: cr.read_csv(path),
                 lambda: cr.data.read_columns(path, ["a"]), lambda: files.read(path, "file")):
        exc = finishes(read)
        assert isinstance(exc, cr.DataError), exc
        assert expected[kind] in str(exc) and "\n" not in str(exc)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder"])
def test_a_checkpoint_that_is_not_a_regular_file(tmp_path, kind):
    target = tmp_path / ckpt.FILENAME
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    else:
        target.symlink_to("/dev/zero")
    exc = finishes(lambda: ckpt.read(tmp_path))
    assert isinstance(exc, cr.DataError) and "not a checkpoint file" in str(exc), exc
    X, y = np.eye(3), np.arange(3.0)
    exc = finishes(lambda: cr.fit(cr.mlp([3, 1], seed=0), X, y, epochs=1, checkpoint=tmp_path))
    assert isinstance(exc, cr.DataError) and "cannot write" in str(exc), exc


def test_the_cli_answers_a_fifo_in_one_line(tmp_path, fifo):
    """A subprocess that blocked on the FIFO would hit the timeout and fail the test."""
    for args in (["info", str(fifo)], ["predict", str(fifo), str(fifo)], ["train", str(fifo)],
                 ["train", "--resume", str(tmp_path)]):
        if args[1] == "--resume":
            os.rename(fifo, tmp_path / ckpt.FILENAME)
        proc = subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 1, (args, proc.stderr)
        assert "is a FIFO" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


# -- saves -------------------------------------------------------------------------------

@pytest.fixture
def model():
    return cr.mlp([2, 3, 1], seed=0)


@pytest.mark.parametrize("kind", ["fifo", "dev-null", "link-to-fifo", "folder"])
def test_a_save_never_replaces_a_special_file(tmp_path, model, kind):
    if kind == "fifo":
        target = _mkfifo(tmp_path / "m.safetensors")
    elif kind == "dev-null":
        target = Path("/dev/null")
    elif kind == "folder":
        target = tmp_path
    else:
        _mkfifo(tmp_path / "pipe")
        target = tmp_path / "m.safetensors"
        target.symlink_to(tmp_path / "pipe")
    before = os.stat(target).st_mode
    with pytest.raises(cr.DataError, match=r"cannot write .*: it is (a FIFO|a character device|"
                                           r"a folder)"):
        cr.save(model, target)
    assert os.stat(target).st_mode == before  # still the FIFO / the device / the folder
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_save_through_a_symlink_writes_the_file_it_names(tmp_path, model):
    real = tmp_path / "real.safetensors"
    cr.save(cr.mlp([2, 3, 1], seed=1), real)
    link = tmp_path / "link.safetensors"
    link.symlink_to(real)
    cr.save(model, link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    np.testing.assert_array_equal(cr.load(real).layers[0].weight.data, model.layers[0].weight.data)


def test_a_long_name_saves_with_a_short_temporary(tmp_path, model):
    """A 250-character name is valid (the limit is 255) but ".<name>.<8 hex>.tmp" is 264."""
    path = tmp_path / ("m" * 238 + ".safetensors")
    cr.save(model, path)
    np.testing.assert_array_equal(cr.load(path).layers[1].bias.data, model.layers[1].bias.data)
    with pytest.raises(cr.DataError, match="cannot write .*(too long|File name)"):
        cr.save(model, tmp_path / ("m" * 250 + ".safetensors"))  # 262: too long itself


def test_a_read_only_folder_is_a_clear_error_even_when_cleanup_fails(tmp_path, model, monkeypatch):
    real_open = os.open

    def read_only(path, flags, *args):
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(cr.DataError, match=r"cannot write .*: Read-only file system$"):
        cr.save(model, tmp_path / "m.safetensors")
    monkeypatch.setattr(os, "open", real_open)

    def fsync_fails(fd):
        raise OSError(errno.EIO, "Input/output error")

    def unlink_fails(self, *args):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "fsync", fsync_fails)
    monkeypatch.setattr(Path, "unlink", unlink_fails)
    with pytest.raises(cr.DataError, match=r"cannot write .*: Input/output error$"):
        cr.save(model, tmp_path / "m.safetensors")  # the unlink's error does not hide it


def test_a_checkpoint_folder_that_cannot_be_made(tmp_path, monkeypatch):
    def refuse(self, *args, **kw):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(cr.DataError, match="cannot create the folder .*Read-only file system"):
        cr.fit(cr.mlp([3, 1], seed=0), np.eye(3), np.arange(3.0), epochs=1,
               checkpoint=tmp_path / "new")


def test_stale_temporaries_of_killed_saves_are_removed(tmp_path, model):
    target = tmp_path / "m.safetensors"
    stale = [tmp_path / f".m.safetensors.{h}.tmp" for h in ("0123abcd", "ffffffff")]
    for path in stale:
        path.write_bytes(b"half a model")
    other = tmp_path / ".other.safetensors.0123abcd.tmp"  # another target's: not ours to remove
    other.write_bytes(b"x")
    live = tmp_path / ".m.safetensors.5555aaaa.tmp"  # a save still writing holds its lock
    live.write_bytes(b"being written")
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        cr.save(model, target)
    finally:
        os.close(fd)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["m.safetensors", other.name, live.name])


def test_a_killed_save_leaves_a_temporary_the_next_save_removes(tmp_path):
    """A real kill: a child process stops (SIGKILL) in the middle of a save."""
    target = tmp_path / "m.safetensors"
    code = ("import os, signal, chainrule as cr\n"
            "from chainrule import files\n"
            "real = os.fsync\n"
            "os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)\n"
            f"cr.save(cr.mlp([2, 3, 1], seed=0), {str(target)!r})\n")
    proc = subprocess.run([sys.executable, "-c", code], timeout=120)
    assert proc.returncode == -9
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".m.safetensors.") and left[0].endswith(".tmp")
    cr.save(cr.mlp([2, 3, 1], seed=0), target)
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_empty_names_are_refused(tmp_path):
    with pytest.raises(cr.DataError, match="the file name is empty"):
        cr.save(cr.mlp([2, 1], seed=0), "")
    with pytest.raises(cr.DataError, match="the folder name is empty"):
        cr.fit(cr.mlp([3, 1], seed=0), np.eye(3), np.arange(3.0), epochs=1, checkpoint="")
    for option in ("--save", "--checkpoint", "--plot"):
        proc = subprocess.run([sys.executable, "-m", "chainrule", "train", "--epochs", "1",
                               option, ""], capture_output=True, text=True, timeout=120,
                              cwd=tmp_path)
        assert proc.returncode == 1 and f"error: {option} needs a name" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_predict_out_onto_a_device_is_refused(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("a,b,y\n1,2,3\n2,1,0\n3,3,1\n")
    saved = tmp_path / "m.safetensors"
    subprocess.run([sys.executable, "-m", "chainrule", "train", str(csv), "--epochs", "1",
                    "--quiet", "--save", str(saved)], check=True, timeout=120)
    proc = subprocess.run([sys.executable, "-m", "chainrule", "predict", str(saved), str(csv),
                           "--out", "/dev/null"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "cannot write /dev/null: it is a character device" in proc.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


# -- the kernel cache's folder ------------------------------------------------------------

@pytest.mark.parametrize("env", [{"HOME": ""}, {"HOME": "relative"},
                                 {"XDG_CACHE_HOME": "relative/cache"}, {"XDG_CACHE_HOME": ""}])
def test_the_cache_folder_follows_the_xdg_rule(monkeypatch, env):
    """XDG: "If … set to a relative path, it is considered invalid and should be ignored";
    a HOME that is empty or relative is not where a home is: the user database says."""
    import pwd

    monkeypatch.delenv("CHAINRULE_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", "/home/somebody")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    home = env.get("HOME", "/home/somebody")
    if not os.path.isabs(home):
        home = pwd.getpwuid(os.getuid()).pw_dir
    assert fastcode.cache_dir() == Path(home) / ".cache" / "chainrule" / "kernels"
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/me")
    assert fastcode.cache_dir() == Path("/var/cache/me/chainrule/kernels")
