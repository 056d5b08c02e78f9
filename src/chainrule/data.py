"""Data in: NumPy arrays, pandas DataFrames or CSV files, checked before training.

Everything arrives as two float arrays, ``X`` of shape (rows, features) and ``y`` of
shape (rows, outputs).  Anything that would make training meaningless (no rows,
mismatched lengths, text in a number column, NaN or infinite values) raises a
``DataError`` that says where the problem is and what to do.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Sequence

import numpy as np

from . import tables
from .csvfile import CsvFile
from .errors import DataError


@dataclass
class Dataset:
    """A table split into inputs ``X`` (rows, features) and targets ``y`` (rows, outputs)."""

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    target_names: list[str]
    source: str = "arrays"
    notes: list[str] = field(default_factory=list)
    task: str = "regression"  # or "classification": then y holds one label per row
    columns: list[str] = field(default_factory=list)  # a CSV's header, in its order (read_csv)
    encoding: "tables.Encoding | None" = None  # text columns → one-hot inputs (read_csv)

    def __len__(self) -> int:
        return len(self.X)


def _names_of(obj: Any, default_prefix: str, count: int) -> list[str]:
    columns = getattr(obj, "columns", None)
    if columns is not None:
        return [str(c) for c in columns]
    name = getattr(obj, "name", None)
    if name is not None and count == 1:
        return [str(name)]
    return [f"{default_prefix}{i + 1}" for i in range(count)]


def _as_2d(values: Any, what: str, dtype: Any) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} must be numbers: {exc}; convert text columns first") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(f"{what} must be a table (rows × columns), got an array of shape {arr.shape}")
    return arr


def all_finite(arr: np.ndarray) -> bool:
    """Whether every number in ``arr`` is finite.  A big contiguous float32 array is first
    asked whether Σ a² is (NaN or ±∞ anywhere makes it NaN or ∞): one BLAS pass and no
    array of flags, ~2× faster from 100,000 numbers on (slower below ~30,000); only a sum
    that overflows needs the exact look.  Not for float64: OpenBLAS splits a float64 dot
    product over its threads, and on a busy machine waiting for them took 3–12 ms for
    200,000 numbers that the exact look checks in 0.06 ms (measured; its float32 one does
    not wait)."""
    if arr.size >= 32768 and type(arr) is np.ndarray and arr.dtype == np.float32 \
            and arr.flags.c_contiguous:
        flat = arr.reshape(-1)
        with np.errstate(all="ignore"):  # an overflow (then the exact look) or underflow
            if np.isfinite(flat @ flat):
                return True
    return bool(np.isfinite(arr).all())


def _check_finite(arr: np.ndarray, what: str, names: Callable[[], Sequence[str]]) -> None:
    """A ``DataError`` naming the first NaN or ∞ and its column (``names()``, built only then)."""
    if all_finite(arr):
        return
    names = names()
    bad = ~np.isfinite(arr)
    row, col = map(int, np.argwhere(bad)[0])
    kind = "NaN (missing)" if np.isnan(arr[row, col]) else "infinite"
    raise DataError(
        f"{what} has {int(bad.sum())} {kind} value(s), the first in row {row + 1}, column "
        f"{names[col]!r}; fill or remove the rows with missing values before training"
    )


def as_arrays(X: Any, y: Any = None, dtype: Any = np.float64) -> Dataset:
    """Check and convert inputs (and targets) to 2-D float arrays with finite values."""
    Xa = as_inputs(X, dtype)
    fnames = _names_of(X, "x", Xa.shape[1])
    if y is None:
        return Dataset(Xa, np.empty((len(Xa), 0), dtype=Xa.dtype), fnames, [])
    ya = as_targets(y, dtype)
    same_rows(Xa, ya)
    return Dataset(Xa, ya, fnames, _names_of(y, "y", ya.shape[1]))


def as_inputs(X: Any, dtype: Any = np.float64) -> np.ndarray:
    """Inputs as a 2-D float array (rows × features) of at least one row, all finite."""
    Xa = _as_2d(X, "the inputs X", dtype)
    if len(Xa) == 0:
        raise DataError("the inputs X have no rows; training needs at least one row")
    _check_finite(Xa, "the inputs X", lambda: _names_of(X, "x", Xa.shape[1]))
    return Xa


def as_targets(y: Any, dtype: Any = np.float64) -> np.ndarray:
    """Numeric targets as a 2-D float array (rows × outputs) with finite values."""
    ya = _as_2d(y, "the targets y", dtype)
    _check_finite(ya, "the targets y", lambda: _names_of(y, "y", ya.shape[1]))
    return ya


def same_rows(X: np.ndarray, y: np.ndarray) -> None:
    """A ``DataError`` unless inputs and targets have as many rows."""
    if len(y) != len(X):
        raise DataError(f"X has {len(X)} rows but y has {len(y)}; give one target per row")


def _split_names(spec: str | Sequence[str] | None, index: dict[str, int]) -> list[str] | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec in index:
            return [spec]
        return [s.strip() for s in spec.split(",") if s.strip()]
    return list(spec)


TASKS = ("regression", "classification", "auto")


def read_csv(path: str | os.PathLike, target: str | Sequence[str] | None = None,
             features: str | Sequence[str] | None = None, dtype: Any = np.float64,
             task: str = "regression", missing: str = "error", delimiter: str | None = None,
             progress: Callable[[str], None] | None = None,
             encoding: tables.Encoding | None = None) -> Dataset:
    """Read a CSV with a header line into a ``Dataset`` (pyarrow's parser, see ``csvfile``).

    ``target`` names the column(s) to predict (default: the last column); ``features``
    the input columns (default: every other column, except id-like ones: named ``id``, or
    text that differs on every row).  A text input column becomes one-hot inputs (see
    ``tables``; ``Dataset.encoding`` keeps its categories).  ``task`` is ``regression``
    (the target must be numbers), ``classification`` (labels: text or numbers) or
    ``auto`` (classification when the target holds text, or a few whole numbers that
    repeat).  ``missing`` is ``error``, ``drop`` or ``mean`` (see ``tables``);
    ``delimiter`` forces one (default: sniffed).  ``encoding`` (a saved model's) turns the
    text columns into its own one-hot inputs instead of finding the categories here (one
    it never saw: all zeros, with a note).  Every decision is added to ``notes``.
    """
    if task not in TASKS:
        raise DataError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    if missing not in tables.MISSING:
        raise DataError(f"unknown way to handle missing values {missing!r}; choose one of: "
                        f"{', '.join(tables.MISSING)}")
    source = CsvFile(path, delimiter, progress)
    path, header = source.path, source.header
    index = {name: k for k, name in enumerate(header)}
    notes = [note for note in [source.note()] if note]
    targets = _split_names(target, index) or [header[-1]]
    if target is None:
        notes.append(f"no target given: predicting the last column, {header[-1]!r}")
    chosen = set(targets)
    feats = _split_names(features, index) or [c for c in header if c not in chosen]
    for name in targets + feats:
        if name not in index:
            shown = ", ".join(header[:50]) + (f", … ({len(header)} in all)" if len(header) > 50 else "")
            raise DataError(f"{path} has no column named {name!r}; its columns are: {shown}")
    if set(feats) & chosen:
        raise DataError(f"column(s) {sorted(set(feats) & chosen)} can't be both input and target")
    arrays = source.read()
    blank = np.ones(len(arrays[0]), dtype=bool)
    cols: dict[str, tables.Column] = {}
    for name in dict.fromkeys(targets + feats):
        cols[name] = tables.column(name, arrays[index[name]])
    for k, arr in enumerate(arrays):  # a row of blank cells is a blank line
        if not blank.any():
            break  # (at once, in the usual table: its first column has no blank cell)
        blank &= (cols[header[k]] if header[k] in cols else tables.column(header[k], arr)).missing
    if blank.any():
        keep = ~blank
        cols = {n: _rows(c, keep) for n, c in cols.items()}
    rows = int((~blank).sum())
    if rows == 0:
        raise DataError(f"{path} has a header but no rows of data")
    if features is None:  # ids are left out unless named
        for name in list(feats):
            why = tables.id_like(cols[name], rows)
            if why:
                feats.remove(name)
                notes.append(f"left out {name!r}, an id ({why}); name it in --features to use it")
    if not feats:
        raise DataError(f"{path} has no columns left to use as inputs besides the target "
                        f"(its header, split at {_delimiter_name(source.delimiter)}s: "
                        f"{', '.join(header[:10])}); --delimiter sets the separator")
    for name in targets + feats:
        col = cols[name]
        if col.note:
            notes.append(col.note)
        if col.bad is not None:
            row, cell = col.bad
            raise DataError(f"{path}, line {source.line_of(row)}, column {name!r}: "
                            f"{cell!r} is not a number; use numbers only, or leave the column out "
                            "with --features")
        if col.numbers is not None and np.isinf(col.numbers).any():
            row = int(np.flatnonzero(np.isinf(col.numbers))[0])
            raise DataError(f"{path}, line {source.line_of(row)}, column {name!r} is "
                            f"{_cell(source, row, index[name])!r}, too large to use; fix the "
                            "value or remove the row")
    if task == "auto":
        task, reason = _guess_task([cols[t] for t in targets], targets)
        notes.append(reason)
    if task == "classification" and len(targets) != 1:
        raise DataError("classification takes one target column; name one with --target")
    for name in targets if task == "regression" else []:
        col = cols[name]
        if col.is_text:
            row = int(np.flatnonzero(~col.missing)[0])
            raise DataError(f"{path}, line {source.line_of(row)}, column {name!r}: "
                            f"{col.text[row]!r} is not a number; a regression target must be "
                            "numbers (or use --task classification)")
    label = cols[targets[0]]
    if task == "classification" and label.numbers is not None:  # keep the labels as written
        raw = np.asarray(source.text_column(index[targets[0]]).to_numpy(zero_copy_only=False),
                         dtype=object)
        cols[targets[0]] = dataclasses.replace(label, raw=raw[~blank] if blank.any() else raw)
    cols, more = _handle_missing(cols, targets, feats, missing, source)
    notes += more
    n = len(next(iter(cols.values())).missing)
    if task == "classification":
        y = _labels(cols[targets[0]])
    else:
        y = np.empty((n, len(targets)), dtype=dtype)
        for c, name in enumerate(targets):
            y[:, c] = cols[name].numbers
    if encoding is None:
        encoding = tables.fit_encoding([cols[f] for f in feats])
    if encoding is None:
        X = np.empty((n, len(feats)), dtype=dtype)
        for c, name in enumerate(feats):
            X[:, c] = cols[name].numbers
        names = list(feats)
    else:
        X, unseen = encoding.transform(cols, dtype)
        names = encoding.names()
        for name, cats in encoding.categories.items():
            notes.append(f"text column {name!r} → {len(cats)} one-hot inputs ({_few(cats)})")
        for name, values in unseen.items():
            notes.append(f"column {name!r} holds categories the model never saw ({_few(values)}): "
                         "their one-hot inputs are all 0")
    return Dataset(X, y, names, targets, source=path, notes=notes, task=task, columns=header,
                   encoding=encoding)


def _few(values: Sequence[str], k: int = 4) -> str:
    return ", ".join(values[:k]) + (f", … ({len(values)} in all)" if len(values) > k else "")


def _delimiter_name(delimiter: str) -> str:
    return {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(delimiter, repr(delimiter))


def _rows(col: tables.Column, keep: np.ndarray) -> tables.Column:
    """The column's rows where ``keep`` is True (the other fields follow)."""
    bad = None
    if col.bad is not None:
        kept = np.flatnonzero(keep)
        place = int(np.searchsorted(kept, col.bad[0]))
        bad = (place, col.bad[1]) if place < len(kept) and kept[place] == col.bad[0] else None
    return tables.Column(col.name, None if col.numbers is None else col.numbers[keep],
                         None if col.text is None else col.text[keep], col.missing[keep],
                         col.note, bad, None if col.raw is None else col.raw[keep])


def _cell(source: CsvFile, row: int, col: int) -> str:
    for k, (_, cells) in enumerate(source._records()):
        if k == row:
            return cells[col].strip()
    return "?"


def _handle_missing(cols: dict[str, tables.Column], targets: list[str], feats: list[str],
                    how: str, source: CsvFile) -> tuple[dict[str, tables.Column], list[str]]:
    """Apply ``how`` (error, drop, mean) to the missing cells of the columns used."""
    used = targets + feats
    holes = np.zeros(len(cols[used[0]].missing), dtype=bool)
    for name in used:
        holes |= cols[name].missing
    count = int(holes.sum())
    if count == 0:
        return cols, []
    if how == "error":
        row = int(np.flatnonzero(holes)[0])
        name = next(n for n in used if cols[n].missing[row])
        cell = _cell(source, row, source.header.index(name))
        what = f"{cell!r}, NaN (missing)" if cell else "empty"
        raise DataError(f"{source.path}, line {source.line_of(row)}, column {name!r} is {what}; "
                        f"{count} row(s) have missing values: fill them in, or use --missing drop "
                        "(leave those rows out) or --missing mean (fill with the column's mean)")
    notes = []
    keep = ~holes
    if how == "mean":  # rows without a target go first; the means are over the rows kept
        keep = np.ones(len(holes), dtype=bool)
        for name in targets:
            keep &= ~cols[name].missing
        dropped = int((~keep).sum())
        if dropped:
            notes.append(f"left out {dropped} row(s) without a target")
            if dropped == len(keep):
                raise DataError(f"{source.path}: no row has a target; fill the target column in")
            cols = {n: _rows(c, keep) for n, c in cols.items()}
        filled = []
        for name in feats:
            col = cols[name]
            if col.missing.all():
                raise DataError(f"{source.path}: column {name!r} has no values at all; leave "
                                "it out with --features")
            if col.missing.any() and col.numbers is not None:
                mean = float(col.numbers[~col.missing].mean())
                numbers = np.where(col.missing, mean, col.numbers)
                cols[name] = tables.Column(name, numbers, None, np.zeros(len(numbers), bool),
                                           col.note, col.bad)
                filled.append(f"{name} ({int(col.missing.sum())} cells, mean {mean:.6g})")
            elif col.missing.any():  # a blank category: all zeros
                filled.append(f"{name} ({int(col.missing.sum())} cells, no category)")
        if filled:
            notes.append(f"filled missing values (--missing mean): {', '.join(filled)}")
        return cols, notes
    dropped = int((~keep).sum())
    if dropped:
        notes.append(f"left out {dropped} row(s) with missing values (--missing drop)")
        if dropped == len(keep):
            raise DataError(f"{source.path}: every row has a missing value; fill them in or "
                            "choose other columns")
        cols = {n: _rows(c, keep) for n, c in cols.items()}
    return cols, notes


def read_columns(path: str | os.PathLike, columns: Sequence[str], dtype: Any = np.float64,
                 encoding: tables.Encoding | None = None, delimiter: str | None = None
                 ) -> tuple[np.ndarray, list[list[str]], list[str], list[str]]:
    """The named columns of a CSV (for prediction), with every row's cells.

    Returns ``(X, rows, header, notes)``: the network's inputs (``columns`` as numbers,
    or through ``encoding`` when the model has one: then ``columns`` are its raw
    inputs), all cells of each row as written (to write them back out), the header, and
    notes (columns ignored, delimiter, categories the model never saw: all zeros).
    A missing column is a ``DataError`` naming it and the columns the file has.
    """
    source = CsvFile(path, delimiter)
    path, header = source.path, source.header
    index = {name: k for k, name in enumerate(header)}
    if encoding is not None:
        columns = encoding.inputs
    missing = [c for c in columns if c not in index]
    if missing:
        raise DataError(f"{path} has no column {', '.join(map(repr, missing))}, which the model "
                        f"needs; its columns are: {', '.join(header)}")
    wanted = set(columns)
    extra = [c for c in header if c not in wanted]
    notes = [note for note in [source.note()] if note]
    if extra:
        notes.append(f"ignoring column(s) the model does not use: {', '.join(extra)}")
    arrays = source.read(text=True)
    cells = [a.to_pylist() for a in arrays]
    keep = np.array([any(c[r].strip() for c in cells) for r in range(len(arrays[0]))], dtype=bool)
    rows = [list(row) for row, k in zip(zip(*cells), keep) if k]
    cols = {}
    for name in columns:
        col = tables.column(name, arrays[index[name]])
        col = _rows(col, keep) if not keep.all() else col
        categorical = encoding is not None and name in encoding.categories
        if col.bad is not None and not categorical:
            raise DataError(f"{path}, line {source.line_of(col.bad[0])}, column {name!r}: "
                            f"{col.bad[1]!r} is not a number; the model needs numbers there")
        if col.missing.any() and not categorical:
            row = int(np.flatnonzero(col.missing)[0])
            raise DataError(f"{path}, line {source.line_of(row)}, column {name!r} is empty or "
                            "NaN; fill it in or remove the row")
        if col.is_text and not categorical:
            raise DataError(f"{path}, line {source.line_of(0)}, column {name!r}: "
                            f"{col.text[0]!r} is not a number; the model needs numbers there")
        if col.numbers is not None and np.isinf(col.numbers).any():
            row = int(np.flatnonzero(np.isinf(col.numbers))[0])
            raise DataError(f"{path}, line {source.line_of(row)}, column {name!r} is too large "
                            "to use; fix the value or remove the row")
        if categorical and col.text is None:  # numbers used as categories: as they were written
            col = tables.Column(name, None, np.array([r[index[name]].strip() for r in rows],
                                                     dtype=object), col.missing)
        cols[name] = col
    if not rows:
        raise DataError(f"{path} has a header but no rows of data")
    if encoding is None:
        X = np.empty((len(rows), len(columns)), dtype=dtype)
        for c, name in enumerate(columns):
            X[:, c] = cols[name].numbers
        return X, rows, header, notes
    X, unseen = encoding.transform(cols, dtype)
    for name, values in unseen.items():
        count = int(np.isin(cols[name].text, values).sum())
        notes.append(f"warning: column {name!r} has {count} row(s) with a category the model "
                     f"never saw ({_few(values)}); their one-hot inputs are all 0")
    return X, rows, header, notes


def _guess_task(cols: list[tables.Column], targets: list[str]) -> tuple[str, str]:
    """Classification for text labels or a few repeating whole numbers; else regression."""
    override = "use --task regression to override"
    if len(targets) == 1 and cols[0].is_text:
        distinct = set(cols[0].text.tolist())
        return "classification", (f"the target {targets[0]!r} holds text ({len(distinct)} distinct "
                                   f"values): treating this as classification; {override}")
    if len(targets) == 1 and cols[0].numbers is not None:
        numbers = cols[0].numbers[~cols[0].missing]
        distinct = np.unique(numbers)
        if np.all(numbers == np.round(numbers)) and 2 <= len(distinct) <= 10 \
                and len(numbers) >= 3 * len(distinct):
            shown = ", ".join(f"{v:g}" for v in distinct)
            return "classification", (f"the target {targets[0]!r} holds {len(distinct)} whole "
                                      f"numbers ({shown}) that repeat: treating this as "
                                      f"classification; {override}")
    return "regression", (f"the target {', '.join(repr(t) for t in targets)} holds numbers: "
                          "treating this as regression; use --task classification to override")


def _labels(col: tables.Column) -> np.ndarray:
    """Class labels: whole numbers as int64, other numbers as floats, text as objects."""
    if col.numbers is not None:
        if col.raw is not None:  # labels float64 would merge ("2**53 + 1" and "2**53") stay text
            written = {str(v).strip().replace(",", "") for v in col.raw.tolist()}
            if len({float(v) for v in written}) != len({Decimal(v) for v in written}):
                return np.array([str(v).strip() for v in col.raw.tolist()], dtype=object)
        numbers = col.numbers  # int64 for whole numbers up to 2**53, where float64 is exact
        whole = np.all(numbers == np.round(numbers)) and np.abs(numbers).max() <= 2.0 ** 53
        return numbers.astype(np.int64) if whole else numbers
    return np.array(col.text.tolist(), dtype=object)


# ------------------------------------------------------------------------------------
# Scaling and labels: fitted on the training data, kept inside the model.


@dataclass
class Scaler:
    """``x' = (x − offset) / scale`` per column: ``standard`` (mean, std) or ``minmax`` (min, range)."""

    kind: str
    offset: np.ndarray
    scale: np.ndarray

    KINDS = ("standard", "minmax", "none")

    @classmethod
    def fit(cls, kind: str, X: np.ndarray) -> "Scaler | None":
        """A scaler fitted to the columns of ``X`` (None for ``none``).  Constant columns keep scale 1."""
        kind = str(kind).strip().lower()
        if kind not in cls.KINDS:
            raise DataError(f"unknown scaling {kind!r}; choose one of: {', '.join(cls.KINDS)}")
        if kind == "none":
            return None
        X = np.asarray(X, dtype=np.float64)
        if kind == "standard":
            offset, scale = X.mean(axis=0), X.std(axis=0)
        else:
            offset, scale = X.min(axis=0), X.max(axis=0) - X.min(axis=0)
        return cls(kind, offset, np.where(scale > 0, scale, 1.0))

    def transform(self, X: np.ndarray) -> np.ndarray:
        return _per_column(X, np.subtract, self.offset, np.divide, self.scale)

    def inverse(self, Z: np.ndarray) -> np.ndarray:
        return _per_column(Z, np.multiply, self.scale, np.add, self.offset)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "offset": self.offset.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Scaler":
        return cls(d["kind"], np.asarray(d["offset"], dtype=np.float64),
                   np.asarray(d["scale"], dtype=np.float64))


NARROW = 16  # tables of at most this many columns are scaled in tiles of rows
TILE = 32_768  # numbers in a tile: a few hundred KB, in the cache while both steps run


def _per_column(X: np.ndarray, first: Any, a: np.ndarray, then: Any, b: np.ndarray) -> np.ndarray:
    """``then(first(X, a), b)`` with a and b per column, in X's number type.  A narrow
    table (≤ ``NARROW`` columns, rows in order) goes in tiles of rows, each as one run of
    numbers against a and b repeated as often (the same numbers ~5× faster than
    broadcasting, which pays its loop's overhead every row of a few numbers, and ~2×
    faster than a column at a time, whose steps skip through memory)."""
    a, b = a.astype(X.dtype), b.astype(X.dtype)
    if X.ndim != 2 or X.shape[1] > NARROW or X.dtype.kind != "f" or not X.flags.c_contiguous \
            or X.shape[1] == 0:
        return then(first(X, a), b)
    out = np.empty(X.shape, dtype=X.dtype)
    flat, into = X.reshape(-1), out.reshape(-1)
    step = max(TILE // X.shape[1], 1) * X.shape[1]
    tiles = (np.tile(a, step // X.shape[1]), np.tile(b, step // X.shape[1]))
    for start in range(0, flat.size, step):
        end = min(start + step, flat.size)
        first(flat[start:end], tiles[0][:end - start], out=into[start:end])
        then(into[start:end], tiles[1][:end - start], out=into[start:end])
    return out


def _unique(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(labels, return_inverse=True)`` of a 1-D array: the sorted classes and
    each label's index among them.  Integer labels over a range no wider than there are
    labels (or 1,024) are counted: one pass, no sort, 2× faster for the digits' 1,797
    labels, 7× for a million."""
    if labels.dtype.kind in "iu" and len(labels):
        lo, hi = labels.min(), labels.max()
        if int(hi) - int(lo) <= max(len(labels), 1024):
            wide = labels if labels.dtype.itemsize == 8 else labels.astype(np.int64)
            shifted = (wide - lo).astype(np.intp, copy=False)  # no overflow: ≥ 0 and small
            present = np.bincount(shifted) > 0
            index = np.cumsum(present) - 1  # a present value's place among the classes
            found = (np.flatnonzero(present).astype(wide.dtype) + lo).astype(labels.dtype)
            return found, index[shifted]
    return np.unique(labels, return_inverse=True)


def _codes(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Each label's index in ``classes`` (in any order); a label not among them is a
    ``DataError``.  Sorted look-ups when labels and classes are numbers or text of one
    type and the classes are distinct (the usual case: ``fit`` found them with
    ``np.unique``), else a dict (Python's ==, as for mixed kinds of label)."""
    kind = classes.dtype.kind
    same = labels.dtype == classes.dtype or (kind in "US" and labels.dtype.kind == kind)
    if same and kind in "biufUS" and len(classes) and len(np.unique(classes)) == len(classes):
        sorter = np.argsort(classes, kind="stable")
        codes = sorter[np.searchsorted(classes, labels, sorter=sorter).clip(0, len(classes) - 1)]
        if np.all(classes[codes] == labels):
            return codes.astype(np.int64)
    index = {label: k for k, label in enumerate(classes.tolist())}
    try:
        return np.array([index[label] for label in labels.tolist()], dtype=np.int64)
    except KeyError as exc:
        raise DataError(f"label {exc.args[0]!r} is not one of the model's classes "
                        f"{classes.tolist()}") from None


def _missing(label: Any) -> bool:
    """None, NaN or ±∞ (a float), or pandas' NA / NaT: not a label."""
    return label is None or (isinstance(label, float) and not math.isfinite(label)) or \
        type(label).__name__ in ("NAType", "NaTType")


def encode_labels(y: Any, classes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, one-hot rows)`` from labels (numbers or text) or from one-hot rows.

    With ``classes`` given, labels must be among them (for validation data and prediction).
    """
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] > 1:  # already one-hot
        if not (np.isin(arr, (0, 1)).all() and np.all(arr.sum(axis=1) == 1)):
            raise DataError("a target with several columns must be one-hot: one 1 per row, the rest 0")
        found = np.arange(arr.shape[1]) if classes is None else classes
        return found, arr.astype(np.float64)
    if arr.ndim == 2:
        arr = arr[:, 0]
    if arr.ndim != 1 or len(arr) == 0:
        raise DataError(f"labels must be one per row, got an array of shape {np.shape(y)}")
    if arr.dtype.kind == "f" and not all_finite(arr):
        raise DataError("the labels contain NaN or infinite values; remove those rows")
    if arr.dtype.kind == "O" and any(map(_missing, arr.tolist())):
        raise DataError("the labels contain missing (None, NaN) or infinite values; remove "
                        "those rows")
    if classes is None:
        found, codes = _unique(arr)
        if len(found) < 2:
            raise DataError(
                f"the target has only one value ({found[0]!r}); classification needs at least "
                "two classes"
            )
    else:
        found = np.asarray(classes)
        codes = _codes(arr, found)
    check_classes(len(found), len(arr))
    onehot = np.zeros((len(arr), len(found)))
    onehot[np.arange(len(arr)), codes] = 1.0
    return found, onehot


MAX_CLASSES = 1_000  # output neurons of a classifier: more is surely the wrong column
MAX_ONEHOT = 100_000_000  # rows × classes of one-hot targets (800 MB of float64)


def check_classes(count: int, rows: int, onehot: bool = True) -> None:
    """A ``DataError`` before any one-hot array is allocated when ``count`` classes over
    ``rows`` rows are more than a classifier sensibly holds (``MAX_CLASSES``) or than
    memory does (``MAX_ONEHOT`` cells; ``onehot=False``: the rows are streamed, never
    one-hot at once, so only the count is checked)."""
    if count > MAX_CLASSES or (onehot and count * rows > MAX_ONEHOT):
        raise DataError(
            f"the target has {count:,} distinct labels in {rows:,} rows: too many classes to "
            f"train a classifier on (at most {MAX_CLASSES:,}, and {MAX_ONEHOT:,} rows × classes); "
            "is it the right --target column? A number to predict wants --task regression"
        )
