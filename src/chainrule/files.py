"""The files chainrule reads and writes: regular files only, reads bounded by their size,
writes atomic and never over a special file.

* ``regular(path, what)`` is the one check every reader makes first (model files,
  checkpoints, CSVs): the path must name a regular file (a symlink to one is fine).  A
  FIFO would block the reader until a writer came, ``/dev/zero`` never ends and a folder
  cannot be read: each is a one-line ``DataError`` instead.
* ``read(path, what)`` opens without blocking, checks the opened file itself (no race
  between the check and the open) and reads at most the size it had when opened.
* ``write_atomic(path, data)`` writes a temporary ``.<name>.<hex>.tmp`` beside the
  target, flushes it to disk and renames it over the target, so a reader sees the old
  file or the new one.  It refuses a target that is a FIFO, a device, a socket or a
  folder (or a symlink to one): renaming over ``/dev/null`` would replace the device
  entry with a regular file.  A symlink to a regular file is written through (the link
  stays).  Temporaries left by a save that was killed are removed by the next save to
  the same target; one still being written (its writer holds a lock on it) is left.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import time
from pathlib import Path

from .errors import DataError

try:  # POSIX: a save holds a lock on its temporary, so a later save can tell it from a stale one
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

NAME_MAX = 255  # the longest file name most file systems take
_TMP_TAIL = ".00000000.tmp"
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _a(what: str) -> str:
    """``what`` with its indefinite article: "a CSV file", "an example file"."""
    return f"{'an' if what[:1].lower() in 'aeio' else 'a'} {what}"


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def regular(path: str | os.PathLike, what: str = "file") -> int:
    """The size of the regular file at ``path``; a one-line ``DataError`` when it is
    missing, a folder, a FIFO, a device or a socket (``what`` names it: "CSV file")."""
    name = os.fspath(path)
    try:
        info = os.stat(name)
    except FileNotFoundError:
        raise DataError(f"no such {what}: {name}; check the path") from None
    except OSError as exc:
        raise DataError(f"cannot read {name}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise DataError(f"{name} is {_kind(info.st_mode)}, not {_a(what)}; give a regular file")
    return info.st_size


def read(path: str | os.PathLike, what: str = "file") -> bytes:
    """The bytes of the regular file at ``path``, at most as many as its size when opened."""
    name = os.fspath(path)
    regular(name, what)  # the clear message for a missing file or a folder
    try:  # O_NONBLOCK: should a FIFO appear here meanwhile, opening it must not wait
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise DataError(f"cannot read {name}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DataError(f"{name} is {_kind(info.st_mode)}, not {_a(what)}; give a regular file")
        try:
            return fh.read(info.st_size)
        except OSError as exc:
            raise DataError(f"cannot read {name}: {exc.strerror or exc}") from None


def writable_target(path: str | os.PathLike) -> Path:
    """The file a save to ``path`` replaces: ``path``, or the regular file a symlink there
    points to.  A ``DataError`` when the target is a folder or a special file, or its
    folder is missing."""
    if os.fspath(path) == "":
        raise DataError("the file name is empty; give a file name")
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise DataError(f"cannot write {path}: it is {_kind(info.st_mode)}; give a regular "
                        "file name")
    if path.is_symlink():
        path = Path(os.path.realpath(path))  # write through the link; the link stays
    if not path.parent.is_dir():
        raise DataError(f"cannot write {path}: the folder {path.parent} does not exist; create "
                        "it first")
    return path


def _temp_prefix(name: str) -> str:
    """``.<name>.``, the name cut short so that the temporary's name fits in NAME_MAX."""
    keep = NAME_MAX - len(_TMP_TAIL) - 1
    while len(os.fsencode(name[:keep])) > keep:  # non-ASCII names: count bytes
        keep -= 1
    return f".{name[:keep]}."


def _stale(folder: Path, prefix: str) -> list[Path]:
    """The temporaries of earlier saves to this target (``<prefix><8 hex>.tmp``)."""
    pattern = re.compile(re.escape(prefix) + r"[0-9a-f]{8}\.tmp")
    try:
        return [folder / n for n in os.listdir(folder) if pattern.fullmatch(n)]
    except OSError:
        return []


def _remove_if_abandoned(tmp: Path) -> None:
    """Remove a temporary unless a live save holds its lock (without fcntl: if a day old)."""
    try:
        fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # OSError: a save is writing it
        elif os.fstat(fd).st_mtime > time.time() - 86400:  # pragma: no cover
            return
        tmp.unlink()
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never
    half of either: a temporary file in the same folder, fsync, then ``os.replace``.
    Returns ``path``; a ``DataError`` saying why when it cannot."""
    shown = Path(path)
    target = writable_target(path)
    folder, prefix = target.parent, _temp_prefix(target.name)
    for old in _stale(folder, prefix):
        _remove_if_abandoned(old)
    tmp = folder / f"{prefix}{secrets.token_hex(4)}.tmp"
    created = False
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                     0o666)  # the umask applies
        created = True
        with os.fdopen(fd, "wb") as fh:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)  # a later save leaves it alone while we write
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            os.replace(tmp, target)
            created = False
    except BaseException as exc:
        if created:
            try:  # never let the cleanup hide the real error
                tmp.unlink()
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise DataError(f"cannot write {shown}: {exc.strerror or exc}") from None
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        try:
            dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
    return shown


def make_folder(folder: str | os.PathLike) -> Path:
    """``folder``, created with its parents if missing; a ``DataError`` saying why not."""
    if os.fspath(folder) == "":
        raise DataError("the folder name is empty; give a folder name")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder} is a file, not a folder; give a folder name")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the folder {folder}: {exc.strerror or exc}") from None
    return folder
