"""Data in: NumPy arrays, pandas DataFrames or CSV files, checked before training.

Everything arrives as two float arrays, ``X`` of shape (rows, features) and ``y`` of
shape (rows, outputs).  Anything that would make training meaningless (no rows,
mismatched lengths, text in a number column, NaN or infinite values) raises a
``DataError`` that says where the problem is and what to do.
"""

from __future__ import annotations

import csv
import math
import os
import re
from decimal import Decimal
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from . import files
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
    """Whether every number in ``arr`` is finite.  A big contiguous float32/64 array is
    first asked whether Σ a² is (NaN or ±∞ anywhere makes it NaN or ∞): one BLAS pass and
    no array of flags, ~2× faster from 100,000 numbers on (slower below ~30,000); only a
    sum that overflows needs the exact look."""
    if arr.size >= 32768 and type(arr) is np.ndarray and arr.dtype in (np.float32, np.float64) \
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


def _split_names(spec: str | Sequence[str] | None, header: list[str]) -> list[str] | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec in header:
            return [spec]
        return [s.strip() for s in spec.split(",") if s.strip()]
    return list(spec)


def read_csv(path: str | os.PathLike, target: str | Sequence[str] | None = None,
             features: str | Sequence[str] | None = None, dtype: Any = np.float64,
             task: str = "regression") -> Dataset:
    """Read a CSV with a header line into a ``Dataset``.

    ``target`` names the column(s) to predict (default: the last column); ``features``
    the input columns (default: every other column).  ``task`` is ``regression`` (the
    target must be numbers), ``classification`` (the target holds labels: text or
    numbers) or ``auto`` (classification when the target holds text, or a few whole
    numbers that repeat; the decision is added to ``notes``).
    """
    path = os.fspath(path)
    files.regular(path, "file")  # a FIFO, a device or a folder: one line, no wait
    if task not in TASKS:
        raise DataError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    rows, header = _read_rows(path)
    targets = _split_names(target, header) or [header[-1]]
    notes = [] if target is not None else [f"no target given: predicting the last column, {header[-1]!r}"]
    feats = _split_names(features, header) or [c for c in header if c not in targets]
    for name in targets + feats:
        if name not in header:
            raise DataError(
                f"{path} has no column named {name!r}; its columns are: {', '.join(header)}"
            )
    if not feats:
        raise DataError(f"{path} has no columns left to use as inputs besides the target")
    if set(feats) & set(targets):
        raise DataError(f"column(s) {sorted(set(feats) & set(targets))} can't be both input and target")
    fcols = [header.index(c) for c in feats]
    X = np.empty((len(rows), len(fcols)), dtype=dtype)
    for r, (line, cells) in enumerate(rows):
        for c, col in enumerate(fcols):
            X[r, c] = _number(cells[col], path, line, header[col])
    tcols = [header.index(c) for c in targets]
    cells = [[cells[col].strip() for col in tcols] for _, cells in rows]
    if task == "auto":
        task, reason = _guess_task(cells, targets)
        notes.append(reason)
    if task == "classification":
        if len(targets) != 1:
            raise DataError("classification takes one target column; name one with --target")
        y = _labels([c[0] for c in cells], [line for line, _ in rows], path, targets[0])
    else:
        y = np.empty((len(rows), len(tcols)), dtype=dtype)
        for r, (line, _) in enumerate(rows):
            for c, col in enumerate(tcols):
                y[r, c] = _number(cells[r][c], path, line, header[col])
    return Dataset(X, y, feats, targets, source=path, notes=notes, task=task, columns=header)


def read_columns(path: str | os.PathLike, columns: Sequence[str],
                 dtype: Any = np.float64) -> tuple[np.ndarray, list[list[str]], list[str], list[str]]:
    """The named number columns of a CSV (for prediction), with every row's cells.

    Returns ``(X, rows, header, notes)``: the columns in the order asked, all cells of
    each row (to write them back out), the header, and a note about columns ignored.
    A missing column is a ``DataError`` naming it and the columns the file has.
    """
    path = os.fspath(path)
    files.regular(path, "file")
    rows, header = _read_rows(path)
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"{path} has no column {', '.join(map(repr, missing))}, which the model "
                        f"needs; its columns are: {', '.join(header)}")
    extra = [c for c in header if c not in columns]
    notes = [f"ignoring column(s) the model does not use: {', '.join(extra)}"] if extra else []
    idx = [header.index(c) for c in columns]
    X = np.empty((len(rows), len(idx)), dtype=dtype)
    for r, (line, cells) in enumerate(rows):
        for c, col in enumerate(idx):
            X[r, c] = _number(cells[col], path, line, header[col])
    return X, [cells for _, cells in rows], header, notes


TASKS = ("regression", "classification", "auto")


#: What a number cell may hold: ASCII digits, one point, an exponent, NaN or infinity
#: (refused later with their own message).  Python's float() also takes "1_000" and
#: digits of other scripts ("١٢", "１２"); a CSV cell with those is text, not a number.
NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                    r"|[+-]?(?:nan|inf|infinity)", re.IGNORECASE | re.ASCII)


def _is_number(text: str) -> bool:
    return NUMBER.fullmatch(text.strip()) is not None and math.isfinite(float(text))


def _guess_task(cells: list[list[str]], targets: list[str]) -> tuple[str, str]:
    """Classification for text labels or a few repeating whole numbers; else regression."""
    values = [c[0] for c in cells]
    override = "use --task regression to override" 
    if len(targets) == 1 and not all(_is_number(v) for v in values if v):
        distinct = sorted(set(values))
        return "classification", (f"the target {targets[0]!r} holds text ({len(distinct)} distinct "
                                   f"values): treating this as classification; {override}")
    if len(targets) == 1 and all(_is_number(v) for v in values):
        numbers = np.array([float(v) for v in values])
        distinct = np.unique(numbers)
        if np.all(numbers == np.round(numbers)) and 2 <= len(distinct) <= 10 \
                and len(numbers) >= 3 * len(distinct):
            shown = ", ".join(f"{v:g}" for v in distinct)
            return "classification", (f"the target {targets[0]!r} holds {len(distinct)} whole "
                                      f"numbers ({shown}) that repeat: treating this as "
                                      f"classification; {override}")
    return "regression", (f"the target {', '.join(repr(t) for t in targets)} holds numbers: "
                          "treating this as regression; use --task classification to override")


def _labels(values: list[str], lines: list[int], path: str, column: str) -> np.ndarray:
    for value, line in zip(values, lines):
        if not value:
            raise DataError(f"{path}, line {line}, column {column!r} is empty; fill it in or remove the row")
    if all(_is_number(v) for v in values):
        numbers = _exact_numbers(values)
        if numbers is not None:
            return numbers
    return np.array(values, dtype=object)


def _exact_numbers(values: list[str]) -> np.ndarray | None:
    """Number labels as int64 (whole numbers up to 2**53, where float64 is exact) or
    float64, or None when float64 would merge labels that differ ("1e400000000000000001"
    and "…0": then they stay text)."""
    distinct = set(values)
    if len({float(v) for v in distinct}) != len({Decimal(v.strip()) for v in distinct}):
        return None
    numbers = np.array([float(v) for v in values])
    if np.all(numbers == np.round(numbers)) and np.abs(numbers).max() <= 2.0 ** 53:
        return numbers.astype(np.int64)
    return numbers


def _read_rows(path: str) -> tuple[list[tuple[int, list[str]]], list[str]]:
    if not os.path.exists(path):
        raise DataError(f"no such file: {path}; check the path and the current directory")
    if os.path.isdir(path):
        raise DataError(f"{path} is a folder, not a CSV file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, strict=True)
            header: list[str] | None = None
            rows: list[tuple[int, list[str]]] = []
            for cells in reader:
                if not any(cell.strip() for cell in cells):
                    continue  # blank line
                if header is None:
                    header = [cell.strip() for cell in cells]
                    continue
                if len(cells) != len(header):
                    raise DataError(
                        f"{path}, line {reader.line_num}: {len(cells)} value(s) but the header "
                        f"has {len(header)} columns; every row needs one value per column"
                    )
                rows.append((reader.line_num, cells))
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text; save it as a UTF-8 CSV file") from None
    except csv.Error as exc:
        raise DataError(f"{path} is not a readable CSV file: {exc}") from None
    if header is None:
        raise DataError(f"{path} is empty; a CSV needs a header line of column names and rows of numbers")
    if "" in header:
        raise DataError(f"{path}: column {header.index('') + 1} of the header has no name; name every column")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataError(f"{path}: the header names {dupes} more than once; give every column its own name")
    if not rows:
        raise DataError(f"{path} has a header but no rows of data")
    return rows, header


def _number(cell: str, path: str, line: int, column: str) -> float:
    text = cell.strip()
    if not text:
        raise DataError(f"{path}, line {line}, column {column!r} is empty; fill it in or remove the row")
    try:
        if not NUMBER.fullmatch(text):
            raise ValueError(text)
        value = float(text)
    except ValueError:
        raise DataError(
            f"{path}, line {line}, column {column!r}: {text!r} is not a number; "
            "use numbers only, or leave the column out with --features"
        ) from None
    if math.isnan(value):
        raise DataError(
            f"{path}, line {line}, column {column!r} is NaN (missing); fill it in or remove the row"
        )
    if math.isinf(value):
        raise DataError(
            f"{path}, line {line}, column {column!r} is {text!r}, too large to use; "
            "fix the value or remove the row"
        )
    return value


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
        return (X - self.offset.astype(X.dtype)) / self.scale.astype(X.dtype)

    def inverse(self, Z: np.ndarray) -> np.ndarray:
        return Z * self.scale.astype(Z.dtype) + self.offset.astype(Z.dtype)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "offset": self.offset.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Scaler":
        return cls(d["kind"], np.asarray(d["offset"], dtype=np.float64),
                   np.asarray(d["scale"], dtype=np.float64))


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


def check_classes(count: int, rows: int) -> None:
    """A ``DataError`` before any one-hot array is allocated when ``count`` classes over
    ``rows`` rows are more than a classifier sensibly holds (``MAX_CLASSES``) or than
    memory does (``MAX_ONEHOT`` cells)."""
    if count > MAX_CLASSES or count * rows > MAX_ONEHOT:
        raise DataError(
            f"the target has {count:,} distinct labels in {rows:,} rows: too many classes to "
            f"train a classifier on (at most {MAX_CLASSES:,}, and {MAX_ONEHOT:,} rows × classes); "
            "is it the right --target column? A number to predict wants --task regression"
        )
