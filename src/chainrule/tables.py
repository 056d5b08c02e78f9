"""Real-world tables: cells to numbers, text columns to one-hot inputs, missing values.

- A column is **numbers** when every non-blank cell is a plain decimal number (see
  ``csvfile``), or a number with thousands separators (``"90,581"``, ``1,234.5``: groups
  of three digits; said in a note).  It is **text** when most cells are not numbers.
  A column with a few words among its numbers is an error naming the first word.
- A text input column becomes one input per category (**one-hot**: 1 for the row's
  category, 0 for the others), the categories sorted; ``Encoding`` keeps them in the
  model so it predicts on raw rows.  A category it never saw gets all zeros (and a
  warning from the caller).
- **Missing** cells (blank, or ``nan``) are an error by default; ``drop`` leaves those
  rows out, ``mean`` fills a number column's blanks with the mean of the others (a
  blank category is all zeros).  A row without its target is always left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import DataError

MISSING = ("error", "drop", "mean")
MAX_CATEGORIES = 1000  # per text column: more is an id or free text, not a category
_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_SPECIAL = r"^[+-]?([iI][nN][fF]([iI][nN][iI][tT][yY])?|[nN][aA][nN])$"
_THOUSANDS = r"^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$"
_DECIMAL_COMMA = r"^[+-]?[0-9]*,[0-9]+$"  # 1,5: a number written with a decimal comma


@dataclass
class Column:
    """One column of a table: ``numbers`` (float64, NaN where missing) or ``text``
    (trimmed cells as str), its ``missing`` mask, and for a column of numbers with some
    words in it, the first word (``bad``: row, cell)."""

    name: str
    numbers: np.ndarray | None = None
    text: np.ndarray | None = None
    missing: np.ndarray | None = None
    note: str | None = None
    bad: tuple[int, str] | None = None
    raw: np.ndarray | None = None  # the cells as written (kept for number labels only)

    @property
    def is_text(self) -> bool:
        return self.text is not None


def column(name: str, arr: Any) -> Column:
    """A ``Column`` from a pyarrow array: float64 (null = blank) or text cells."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_floating(arr.type) or pa.types.is_integer(arr.type):
        if arr.type != pa.float64():
            arr = arr.cast(pa.float64())
        numbers = arr.to_numpy(zero_copy_only=False)  # a null (blank cell) becomes NaN
        return Column(name, numbers=numbers, missing=np.isnan(numbers))
    cells = pc.utf8_trim_whitespace(arr.cast(pa.string()))
    blank = pc.equal(cells, "")
    special = pc.match_substring_regex(cells, _SPECIAL)
    number = pc.match_substring_regex(cells, _NUMBER)
    grouped = pc.match_substring_regex(cells, _THOUSANDS)
    is_num = pc.or_(pc.or_(number, grouped), special)
    filled = pc.invert(blank)
    n_filled = pc.sum(filled).as_py() or 0
    n_num = pc.sum(pc.and_(is_num, filled)).as_py() or 0
    words = pc.and_(pc.invert(is_num), filled)
    if n_filled == 0:  # every cell blank: a column of numbers, all missing
        numbers = np.full(len(arr), np.nan)
        return Column(name, numbers=numbers, missing=np.ones(len(arr), dtype=bool))
    if n_num == n_filled and n_filled:  # numbers (maybe grouped in thousands)
        plain = pc.replace_substring(pc.if_else(blank, "nan", cells), ",", "")
        numbers = pc.cast(plain, pa.float64()).to_numpy(zero_copy_only=False)
        note = None
        n_grouped = pc.sum(grouped).as_py() or 0
        if n_grouped:
            note = (f"column {name!r}: {n_grouped} number(s) written with thousands separators "
                    f"(e.g. {cells.filter(grouped)[0].as_py()}) read as numbers")
        return Column(name, numbers=numbers, missing=np.isnan(numbers), note=note)
    nan_words = pc.and_(special, pc.match_substring_regex(cells, "(?i)nan"))
    missing = pc.or_(blank, nan_words).to_numpy(zero_copy_only=False)
    text = np.asarray(cells.to_numpy(zero_copy_only=False), dtype=object)
    comma = pc.and_(words, pc.match_substring_regex(cells, _DECIMAL_COMMA))
    if pc.any(comma).as_py():  # never a category: a number chainrule won't guess at
        row = int(np.flatnonzero(comma.to_numpy(zero_copy_only=False))[0])
        return Column(name, text=text, missing=missing, bad=(row, str(text[row])))
    if n_num and 2 * (n_filled - n_num) <= n_filled:  # mostly numbers: a word is a mistake
        row = int(np.flatnonzero(words.to_numpy(zero_copy_only=False))[0])
        return Column(name, text=text, missing=missing, bad=(row, str(text[row])))
    return Column(name, text=text, missing=missing)


def from_values(name: str, values: Any) -> Column:
    """A ``Column`` from a pandas Series or a sequence: numbers, or text (object/str/category)."""
    import pyarrow as pa

    arr = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)
    if arr.dtype.kind in "biuf":
        numbers = arr.astype(np.float64)
        if np.isinf(numbers).any():
            raise DataError(f"column {name!r} holds an infinite value; fix it or remove the row")
        return Column(name, numbers=numbers, missing=np.isnan(numbers))
    cells = ["" if v is None or (isinstance(v, float) and v != v) or type(v).__name__ == "NAType"
             else str(v) for v in arr.tolist()]
    return column(name, pa.array(cells, type=pa.string()))


@dataclass
class Encoding:
    """How raw input columns become the network's inputs: ``inputs`` (the raw columns, in
    order) and ``categories`` (each text column's categories: one input per category,
    1 for the row's category, 0 otherwise; the other columns are one number each)."""

    inputs: list[str]
    categories: dict[str, list[str]]

    def names(self) -> list[str]:
        """The network's input names: ``col`` or ``col=category``."""
        out: list[str] = []
        for name in self.inputs:
            out += [f"{name}={c}" for c in self.categories[name]] if name in self.categories \
                else [name]
        return out

    @property
    def width(self) -> int:
        return sum(len(self.categories.get(name, (0,))) for name in self.inputs)

    def transform(self, columns: Mapping[str, Column], dtype: Any = np.float64
                  ) -> tuple[np.ndarray, dict[str, list[str]]]:
        """The network's inputs for raw ``columns`` (by name), and per text column the
        categories it never saw (their rows get all zeros)."""
        rows = len(next(iter(columns.values())).missing) if columns else 0
        X = np.zeros((rows, self.width), dtype=dtype)
        unseen: dict[str, list[str]] = {}
        at = 0
        for name in self.inputs:
            col = columns[name]
            if name not in self.categories:
                if col.numbers is None:
                    raise DataError(f"column {name!r} holds text but the model reads numbers there")
                X[:, at] = col.numbers
                at += 1
                continue
            cats = self.categories[name]
            cells = col.text if col.text is not None else np.array([f"{v:g}" for v in col.numbers],
                                                                    dtype=object)
            index = {c: k for k, c in enumerate(cats)}
            codes = np.fromiter((index.get(c, -1) for c in cells.tolist()), np.int64, len(cells))
            known = codes >= 0
            X[np.flatnonzero(known), at + codes[known]] = 1.0
            missing = col.missing if col.missing is not None else np.zeros(len(cells), bool)
            new = sorted(set(cells[~known & ~missing].tolist()))
            if new:
                unseen[name] = new
            at += len(cats)
        return X, unseen

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": list(self.inputs),
                "categories": {k: list(v) for k, v in self.categories.items()}}


def check_encoding(spec: Any, width: int, where: str) -> Encoding:
    """The model file's ``encoding`` entry, checked: ``inputs`` a list of distinct, non-empty
    column names; ``categories`` an object from some of those names to lists of distinct
    strings (at least one, at most ``MAX_CATEGORIES``); the inputs they make must number
    ``width`` (the network's first layer).  A ``DataError`` naming the field and ``where``."""

    def bad(field: str, what: str) -> DataError:
        return DataError(f"{where} is not a usable model file: its encoding.{field} {what}; "
                         "the file is damaged or was edited")

    if not isinstance(spec, dict) or set(spec) != {"inputs", "categories"}:
        raise DataError(f"{where} is not a usable model file: its encoding must be an object with "
                        "exactly inputs and categories; the file is damaged or was edited")
    inputs, categories = spec["inputs"], spec["categories"]
    if not isinstance(inputs, list) or not inputs or \
            not all(isinstance(n, str) and n for n in inputs):
        raise bad("inputs", "must be a non-empty list of column names")
    if len(set(inputs)) != len(inputs):
        raise bad("inputs", "names a column more than once")
    if not isinstance(categories, dict):
        raise bad("categories", "must be an object from column names to lists of categories")
    known = set(inputs)
    for name, cats in categories.items():
        if name not in known:
            raise bad(f"categories[{name!r}]", "is for a column that is not among the inputs")
        if not isinstance(cats, list) or not cats or not all(isinstance(c, str) for c in cats):
            raise bad(f"categories[{name!r}]", "must be a non-empty list of strings")
        if len(cats) > MAX_CATEGORIES or len(set(cats)) != len(cats):
            raise bad(f"categories[{name!r}]",
                      f"must hold distinct categories, at most {MAX_CATEGORIES}")
    encoding = Encoding(list(inputs), {k: list(v) for k, v in categories.items()})
    if encoding.width != width:
        raise bad("categories", f"make {encoding.width} inputs but the network takes {width}")
    return encoding


def fit_encoding(columns: Sequence[Column]) -> Encoding | None:
    """One input per number column, one per category of a text column; None when every
    column is numbers (the inputs are the columns themselves)."""
    categories: dict[str, list[str]] = {}
    for col in columns:
        if col.is_text:
            cats = sorted(set(col.text[~col.missing].tolist()))
            if len(cats) > MAX_CATEGORIES:
                raise DataError(f"column {col.name!r} holds {len(cats):,} different texts, more "
                                f"than {MAX_CATEGORIES} categories; leave it out (--features) or "
                                "turn it into numbers")
            categories[col.name] = cats
    if not categories:
        return None
    return Encoding([c.name for c in columns], categories)


def id_like(col: Column, rows: int) -> str | None:
    """Why a column looks like an id (named ``id``, or text that differs on every row)."""
    if col.name.strip().lower() == "id":
        return "named id"
    if col.is_text and col.bad is None and rows > 2 and not col.missing.any() \
            and len(set(col.text.tolist())) == rows:
        return "a different text on every row"
    return None


def needs_encoding(X: Any) -> bool:
    """Whether ``X`` is a DataFrame with a column of text (object, string or category), or
    one named ``id``: then its columns need an ``Encoding`` (one-hot, ids left out)."""
    dtypes = getattr(X, "dtypes", None)
    return dtypes is not None and hasattr(X, "columns") and \
        (any(getattr(d, "kind", "O") not in "biuf" for d in dtypes)
         or any(str(name).strip().lower() == "id" for name in X.columns))


def encode_frame(X: Any, encoding: Encoding | None, dtype: Any = np.float64
                 ) -> tuple[np.ndarray, Encoding | None]:
    """A DataFrame's rows as the network's inputs: through ``encoding`` (raw columns by
    name; a category it never saw → all zeros and a ``UserWarning``), or through a new
    one fitted to ``X``'s text columns.  Missing text is a ``DataError``."""
    from .csvfile import require_pyarrow

    require_pyarrow()
    if encoding is None:
        cols = [from_values(str(name), X[name]) for name in X.columns]
        ids = {c.name: why for c in cols if (why := id_like(c, len(X)))}
        dropped = bool(ids) and len(ids) < len(cols)
        if dropped:  # ids are left out, as read_csv leaves them out
            import warnings

            warnings.warn("left out " + ", ".join(f"{name!r}, an id ({why})" for name, why
                                                  in ids.items())
                          + "; give the model only the columns it should learn from to keep one",
                          UserWarning, stacklevel=3)
            cols = [c for c in cols if c.name not in ids]
        encoding = fit_encoding(cols)
        if encoding is None:
            if not dropped:
                return np.asarray(X.to_numpy(), dtype=dtype), None
            encoding = Encoding([c.name for c in cols], {})  # the columns kept, by name
        named = {c.name: c for c in cols}
    else:
        have = {str(name): name for name in X.columns}
        absent = [name for name in encoding.inputs if name not in have]
        if absent:
            raise DataError(f"the inputs have no column {', '.join(map(repr, absent))}, which the "
                            f"model needs; they have: {', '.join(have)}")
        named = {name: from_values(name, X[have[name]]) for name in encoding.inputs}
    for col in named.values():
        if col.is_text and col.missing.any():
            raise DataError(f"column {col.name!r} has {int(col.missing.sum())} missing value(s); "
                            "fill them in or drop those rows (DataFrame.dropna) first")
        if col.bad is not None:
            raise DataError(f"column {col.name!r}, row {col.bad[0] + 1}: {col.bad[1]!r} is not a "
                            "number; use numbers only, or leave the column out")
    out, unseen = encoding.transform(named, dtype)
    if unseen:
        import warnings

        for name, values in unseen.items():
            warnings.warn(f"column {name!r} has categories the model never saw ({', '.join(values[:4])}"
                          f"{', …' if len(values) > 4 else ''}); their one-hot inputs are all 0",
                          UserWarning, stacklevel=3)
    return out, encoding
