"""Training on a Dask cluster from files the workers read: CSV/Parquet paths or a Dask
DataFrame, never gathered on the client.

``fit(model, "data/*.parquet", "y", cluster=client)`` (or a ``dask.dataframe``) runs here.
The table is a Dask DataFrame (``dd.read_csv`` / ``dd.read_parquet`` of the files
``stream.files`` finds), held in the workers' memory (``persist``).  Then:

1. **One pass of statistics, on the workers.**  Each partition sends back only its row
   count, the moments of its number columns (``stream.Moments``), the count of each
   category of its text columns, and its labels (classification) or the moments of its
   targets.  The client merges them: the categories (sorted, as ``fit`` finds them) make
   the one-hot ``Encoding``; a one-hot input of a category seen c times in n rows has
   mean ``p = c/n``, standard deviation ``√(p(1−p))``, minimum 0 unless c = n and
   maximum 1 unless c = 0 — so the input scaler is the one ``Scaler.fit`` gives on the
   whole encoded table (to rounding, ~1e-16), without a second pass.
2. **Each worker prepares its own shard**: partition i goes to worker i mod W; the worker
   encodes, scales and one-hots its partitions with the model's encoding, scalers and
   classes (``train.prepare``, as ``fit`` does) and keeps the arrays.
3. **Rounds** as in ``cluster``: worker w steps through the next ``sync_every`` rows of
   its own shard in an order drawn from the seed, the epoch and w (on the worker, so the
   client holds no row numbers either), and the weights and optimiser state are averaged.
   An epoch ends when every shard is used up (shards of unequal size: the larger ones
   take the last rounds alone).

``survey`` runs the first pass for a caller that must build the network before training
(``chainrule train --dask`` on a table bigger than ``--memory``): the table held in the
workers' memory, its text inputs' categories, its classes and its first rows; ``fit`` is
then given the survey (its held table and its pass of statistics), so the files are read
once and the statistics found once.

What comes to the client: the statistics (numbers per column, categories, labels),
the weights and optimiser state each round, and the loss sums.  A lost worker's shard
is rebuilt from the files (its tasks are Dask's, not scattered data).

``validation_split`` holds out rows by a hash of their index in the table
(``stream.validation_rows``, as a streamed ``fit`` does): the partitions' lengths come
first, so each row's index is known where it is read; the statistics are of the training
rows; each worker keeps its held-out rows and reports their loss each epoch
(``val_loss``, which early stopping may watch).  The default metric (``r2`` or
``accuracy``, and ``val_…``) is measured on the workers too, from sums merged here.
Checkpoints are written at the end of an epoch (the statistics, the held-out share, the
rows' seed, the rows a round and the workers are its fingerprint); a resumed run
continues from there and ends with the same weights as one never stopped.  Sample
weights and other metrics are refused in one line, for now.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from . import checkpoint as ckpt
from . import train
from .cluster import Settings, Template, _mean, _round, _set_state, _state, _trainer, _workers
from .data import Scaler
from .errors import ConfigError, DataError
from .init import make_rng
from .losses import CLASSIFICATION_LOSSES, Loss, get_loss
from .nn.module import Module
from .optim import make_optimizer
from .stream import Moments, files, given_option, validation_rows
from .tables import Encoding, MAX_CATEGORIES


def is_table(X: Any) -> bool:
    """Whether ``X`` is something the workers read: a path, a Dask DataFrame, or the
    ``Survey`` of one (its table, held by the workers)."""
    return isinstance(X, (str, os.PathLike, Survey)) or \
        type(X).__module__.split(".")[0] == "dask"


def frame_of(X: Any, workers: int = 1) -> Any:
    """The Dask DataFrame of a path (CSV or Parquet: a file, a folder, a glob) or ``X``, in
    at least ``workers`` partitions, so that each worker gets a share.  CSV is cut in
    dd.read_csv's blocks (64 MB), smaller for files that would otherwise make fewer parts
    than ``workers`` (down to 256 KB); a table still in fewer parts (a small file, a
    Parquet file of one row group, a DataFrame given so) is split by rows, in order
    (``repartition``: where the partitions are, without gathering them)."""
    import dask.dataframe as dd

    if isinstance(X, Survey):
        return X.frame
    if not isinstance(X, (str, os.PathLike)):
        if not hasattr(X, "to_delayed") or not hasattr(X, "columns"):
            raise ConfigError("fit on a Dask cluster takes a Dask DataFrame (not an Array: its "
                              "columns need names); dd.from_dask_array(...) makes one")
        frame = X
    else:
        paths = files(X)
        if paths[0].lower().endswith((".parquet", ".pq")):
            frame = dd.read_parquet(paths)
        else:
            from dask.dataframe.io.csv import AUTO_BLOCKSIZE

            total = sum(os.path.getsize(p) for p in paths)
            block = min(AUTO_BLOCKSIZE, max(1 << 18, -(-total // workers)))  # ⌈total / W⌉
            frame = dd.read_csv(paths, blocksize=int(block))
    if frame.npartitions < workers:
        frame = frame.repartition(npartitions=workers)
    return frame


def _read_error(exc: ValueError) -> Exception:
    """Dask's many-line report of a column whose type changes after the rows it looked at
    (a text cell far down a column of numbers) as one line; other errors as they are."""
    text = str(exc)
    if "Mismatched dtypes" not in text:
        return exc
    columns = [m.group(1).strip() for m in re.finditer(r"^\| ([^|]+?)\s*\| ([^|]+?)\s*\| ([^|]+?)\s*\|$",
                                                        text, re.M) if m.group(1).strip() != "Column"]
    cells = re.findall(r"could not convert string to float: '([^']*)'", text)
    cell = f" (e.g. {cells[0]!r})" if cells else ""
    return DataError(f"column {', '.join(map(repr, columns)) or '?'} holds text{cell} in a later part "
                     "of the files, after rows of numbers; fix those cells or leave the column "
                     "out (features=...)")


@dataclass
class PartSummary:
    """What one partition tells the client: its rows, the moments of its number columns
    and targets, its categories' counts and its labels."""

    rows: int
    numbers: Moments
    counts: dict[str, dict[str, int]]
    targets: Moments | None
    labels: list[Any] = field(default_factory=list)


def _held(part: Any, offset: int, fraction: float, seed: int) -> np.ndarray:
    """Which rows of a partition (its first row is row ``offset`` of the table) are held out
    for validation: ``stream.validation_rows``'s hash of each row's index in the table."""
    if not fraction:
        return np.zeros(len(part), dtype=bool)
    return validation_rows(offset, len(part), fraction, seed)


def _summarise(part: Any, offset: int, fraction: float, seed: int, features: list[str],
               text: list[str], targets: list[str], classify: bool) -> PartSummary:
    numbers = [name for name in features + targets if name not in text
               and not (classify and name in targets)]
    blank = part[numbers].isna().to_numpy()
    if blank.any():
        row, col = np.argwhere(blank)[0]
        raise DataError(f"row {offset + row + 1} of the table (in the files' order), column "
                        f"{numbers[col]!r}: a missing value (blank or NaN); fill it in or drop "
                        "those rows first")
    part = part[~_held(part, offset, fraction, seed)]
    numeric = [name for name in features if name not in text]
    X = part[numeric].to_numpy(dtype=np.float64) if numeric else np.zeros((len(part), 0))
    counts = {}
    for name in text:
        values = part[name]
        if values.isna().any():
            raise DataError(f"column {name!r} has missing values; fill them in or drop those "
                            "rows first")
        counts[name] = {str(k): int(v) for k, v in values.astype(str).value_counts().items()}
    if classify:
        labels = np.unique(part[targets[0]].to_numpy()).tolist()
        return PartSummary(len(part), Moments.of(X), counts, None, labels)
    return PartSummary(len(part), Moments.of(X), counts,
                       Moments.of(part[targets].to_numpy(dtype=np.float64)))


def _merge(parts: Sequence[PartSummary]) -> PartSummary:
    total = PartSummary(0, Moments(), {}, None if parts[0].targets is None else Moments())
    labels: set = set()
    for part in parts:
        if part.rows == 0:
            continue
        total.rows += part.rows
        total.numbers = total.numbers.merge(part.numbers)
        if part.targets is not None:
            total.targets = total.targets.merge(part.targets)
        for name, counts in part.counts.items():
            mine = total.counts.setdefault(name, {})
            for k, v in counts.items():
                mine[k] = mine.get(k, 0) + v
        labels.update(part.labels)
    total.labels = sorted(labels, key=lambda v: (str(type(v)), v))
    return total


def _columns(frame: Any, target: Any, features: Any) -> tuple[list[str], list[str]]:
    """The target and input columns asked for (default: the last column, and the others),
    each one the table has."""
    columns = [str(c) for c in frame.columns]
    targets = [target] if isinstance(target, str) else list(target or [columns[-1]])
    feats = [features] if isinstance(features, str) else list(
        features or [c for c in columns if c not in targets])
    for name in targets + feats:
        if name not in columns:
            raise DataError(f"the table has no column named {name!r}; its columns are: "
                            f"{', '.join(columns[:50])}")
    return targets, feats


def _text_columns(frame: Any, feats: list[str]) -> list[str]:
    return [name for name in feats if getattr(frame.dtypes[name], "kind", "O") not in "biuf"]


def _statistics(client: Any, frame: Any, feats: list[str], text: list[str], targets: list[str],
                classify: bool, fraction: float, base: int
                ) -> tuple[list[Any], list[int], list[PartSummary], int]:
    """The pass of statistics on the workers (the module docstring, 1.): the partitions,
    the table's row at which each begins, what each tells of its training rows, and the
    table's rows in all."""
    import dask

    parts = frame.to_delayed()
    try:
        lengths = client.gather(client.compute([dask.delayed(len)(p) for p in parts]))
    except ValueError as exc:
        raise _read_error(exc) from None
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int).tolist()
    try:
        summaries = client.gather(client.compute(
            [dask.delayed(_summarise)(p, offset, fraction, base, feats, text, targets,
                                      classify) for p, offset in zip(parts, offsets)]))
    except ValueError as exc:
        raise _read_error(exc) from None
    if sum(s.rows for s in summaries) == 0:
        raise DataError("the table has no training rows")
    return parts, offsets, summaries, int(sum(lengths))


def _encoding(summary: PartSummary, text: list[str], feats: list[str]) -> Encoding | None:
    """The one-hot encoding of the text inputs: their categories, sorted (as ``fit``'s)."""
    categories = {name: sorted(summary.counts.get(name, {})) for name in text}
    for name, cats in categories.items():
        if len(cats) > MAX_CATEGORIES:
            raise DataError(f"column {name!r} holds {len(cats):,} different texts, more than "
                            f"{MAX_CATEGORIES} categories; leave it out or turn it into numbers")
    return Encoding(feats, categories) if text else None


def input_scaler(kind: str, summary: PartSummary, encoding: Encoding | None,
                 features: list[str]) -> Scaler | None:
    """``Scaler.fit(kind, X)`` of the encoded inputs, from the merged statistics (the
    module docstring): number columns from their moments, one-hot ones from their counts."""
    kind = str(kind).strip().lower()
    if kind == "none" or summary.rows == 0:
        return None
    numbers = summary.numbers.scaler(kind) if summary.numbers.n else None
    n, offset, scale, at = summary.rows, [], [], 0
    for name in features:
        if encoding is not None and name in encoding.categories:
            for category in encoding.categories[name]:
                c = summary.counts[name].get(category, 0)
                p = c / n
                if kind == "standard":
                    offset.append(p)
                    scale.append(np.sqrt(p * (1 - p)))
                else:
                    low = 0.0 if c < n else 1.0
                    offset.append(low)
                    scale.append((1.0 if c > 0 else 0.0) - low)
            continue
        offset.append(numbers.offset[at])
        scale.append(numbers.scale[at])
        at += 1
    scale_arr = np.asarray(scale, dtype=np.float64)
    return Scaler(kind, np.asarray(offset, dtype=np.float64), np.where(scale_arr > 0, scale_arr, 1.0))


def _shard(model: Module, loss: Any, features: list[str], targets: list[str],
           fraction: float, seed: int, offsets: list[int], *parts: Any) -> tuple[np.ndarray, ...]:
    """A worker's rows, ready to train: its partitions (the first rows of which are rows
    ``offsets`` of the table), in order, encoded, scaled and one-hot as ``fit`` prepares
    them (``train.prepare`` with the model's statistics): (X, Y) of the training rows and
    (X, Y) of those held out for validation."""
    import pandas as pd

    held = [_held(part, offset, fraction, seed) for part, offset in zip(parts, offsets)]
    out: list[np.ndarray] = []
    for pick in (lambda h: ~h, lambda h: h):
        frame = pd.concat([part[pick(h)] for part, h in zip(parts, held)], ignore_index=True)
        y = frame[targets[0]] if len(targets) == 1 else frame[targets]
        if len(frame):
            out += train.prepare(model, frame[features], y, loss, fitting=False)
        else:
            out += [np.zeros((0, model.sizes[0])), np.zeros((0, model.sizes[-1]))]
    return tuple(out)


def _local_rows(spec: tuple[int, int, int, int, int, bool], n: int) -> np.ndarray:
    """Rows ``start:stop`` of shard w's order in an epoch: a permutation drawn from
    (seed, epoch, w) — the same on any worker — or the shard's own order."""
    seed, epoch, shard, start, stop, shuffle = spec
    if not shuffle:
        return np.arange(start, min(stop, n))
    return np.random.default_rng([seed, epoch, shard]).permutation(n)[start:stop]


def _round_on_shard(settings: Settings, template: Template, shard: tuple[np.ndarray, ...],
                    weights: list[np.ndarray], arrays: dict, numbers: dict, lr: float,
                    spec: tuple) -> Any:
    X, Y = shard[:2]
    return _round(settings, template, X, Y, weights, arrays, numbers, lr,
                  _local_rows(spec, len(X)))


@dataclass
class Scores:
    """A worker's sums for an epoch's scores: the held-out rows' loss × rows and count;
    per split (training, held out), the rows, Σ (y − ŷ)² per output in the targets' units
    and the targets' moments (R²), or the rows whose most probable class is right."""

    held_loss: float = 0.0
    held_rows: int = 0
    rows: tuple[int, int] = (0, 0)
    sse: tuple[Any, Any] = (0.0, 0.0)
    targets: tuple[Any, Any] = (None, None)
    right: tuple[int, int] = (0, 0)


def _shard_scores(settings: Settings, template: Template, shard: tuple[np.ndarray, ...],
                  weights: list[np.ndarray], metric: str | None) -> Scores:
    """The sums for ``val_loss`` and the metric (``r2`` or ``accuracy``) over a worker's
    training and held-out rows, with ``weights``."""
    X, Y, Xv, Yv = shard
    trainer = _trainer(settings, template, X, Y)
    model = trainer.model
    for p, w in zip(trainer.params, weights):
        p.data[...] = w
    scores = Scores()
    rows, sse, moments, right = [], [], [], []
    for k, (A, B) in enumerate(((X, Y), (Xv, Yv))):
        out = model.forward_array(A) if len(A) else np.zeros_like(B)
        if k == 1 and len(A):
            scores.held_loss = train._loss_value(trainer.loss_fn, out, B, None) * len(A)
            scores.held_rows = len(A)
        rows.append(len(A))
        if metric == "r2":  # in the targets' own units (the template keeps the scaler)
            scaler = template.model.y_scaler
            truth = B if scaler is None else scaler.inverse(B)
            guess = out if scaler is None else scaler.inverse(out)
            sse.append(np.sum((truth - guess) ** 2, axis=0))
            moments.append(Moments.of(truth))
        elif metric == "accuracy":
            guess = model.probabilities(out) if len(A) else out
            truth = B if B.shape[1] > 1 else np.column_stack([1 - B[:, 0], B[:, 0]])
            guess = guess if guess.shape[1] > 1 or not len(A) else \
                np.column_stack([1 - guess[:, 0], guess[:, 0]])
            right.append(int(np.sum(np.argmax(truth, axis=1) == np.argmax(guess, axis=1)))
                         if len(A) else 0)
    scores.rows = tuple(rows)
    if sse:
        scores.sse, scores.targets = tuple(sse), tuple(moments)
    if right:
        scores.right = tuple(right)
    return scores


def _merged_scores(parts: list[Scores], metric: str | None, fraction: float) -> dict[str, float]:
    """``val_loss`` and the metric (``r2``/``accuracy`` and ``val_…``) from the workers' sums:
    R² per output, 1 − Σ SSE / Σ (y − ȳ)² (the merged moments' m2), averaged."""
    out: dict[str, float] = {}
    if fraction:
        rows = sum(p.held_rows for p in parts)
        if rows == 0:
            raise ConfigError(f"validation_split {fraction} left no rows for validation; use "
                              "more data or another fraction")
        out["val_loss"] = sum(p.held_loss for p in parts) / rows
    for k, prefix in enumerate(("", "val_")):
        if k == 1 and not fraction:
            break
        n = sum(p.rows[k] for p in parts)
        if metric == "accuracy":
            out[prefix + "accuracy"] = sum(p.right[k] for p in parts) / n
        elif metric == "r2":
            sse = sum(p.sse[k] for p in parts if p.rows[k])
            total = Moments()
            for p in parts:
                if p.rows[k]:
                    total = total.merge(p.targets[k])
            with np.errstate(divide="ignore", invalid="ignore"):
                each = np.where(total.m2 > 0, 1.0 - sse / total.m2,
                                np.where(sse > 0, 0.0, 1.0))
            out[prefix + "r2"] = float(np.mean(each)) if n >= 2 else float("nan")
    return out


SAMPLE_ROWS = 1000


@dataclass
class Survey:
    """What the workers found in a table, for a caller that builds the network before it
    trains (``chainrule train --dask``): the table held in the workers' memory
    (``frame``, persisted: ``fit`` reads it from there, not from the files again), its
    columns, the task, the encoding of the text inputs and the class ``labels``, counted
    over the training rows as ``fit_on_tables`` counts them, the first rows (``head``, a
    pandas DataFrame) and the rows and partitions in all."""

    frame: Any
    features: list[str]
    targets: list[str]
    columns: list[str]
    task: str
    reason: str
    encoding: Encoding | None
    labels: list[Any]
    head: Any
    rows: int
    partitions: int
    # the pass of statistics (``_statistics``' partitions, offsets, summaries and rows) and
    # what it was run for (inputs, text inputs, targets, classification, held-out share,
    # seed): ``fit_on_tables`` given this survey for the same uses it, and reads no more
    statistics: Any = None
    key: tuple = ()


def _head(part: Any, n: int) -> Any:
    return part.head(n)


def survey(client: Any, source: Any, target: Any = None, features: Any = None,
           task: str = "auto", validation_split: float = 0.0, seed: int = 0) -> Survey:
    """Read ``source`` (files, or a Dask DataFrame) into the workers' memory and find, on
    the workers, what a network for it needs: the one-hot encoding of its text inputs
    and, for classification, its classes (over the rows ``validation_split`` and
    ``seed`` leave for training, as ``fit`` will); the task, when ``"auto"``, from the
    first rows (text labels, or a few repeating whole numbers: classification)."""
    import dask

    from .data import _guess_task
    from .tables import from_values

    frame = frame_of(source, len(_workers(client, None)))
    targets, feats = _columns(frame, target, features)
    if set(feats) & set(targets):
        raise DataError(f"column(s) {sorted(set(feats) & set(targets))} can't be both input "
                        "and target")
    text = _text_columns(frame, feats)
    fraction = float(validation_split or 0.0)
    if fraction:
        validation_rows(0, 0, fraction)  # (the range check)
    frame = frame.persist()  # read once, into the workers' memory
    parts = frame.to_delayed()
    heads: list[Any] = []  # (the first rows: from the next parts too when the first is short)
    try:
        for part in parts:
            heads.append(client.compute(dask.delayed(_head)(
                part, SAMPLE_ROWS - sum(map(len, heads)))).result())
            if sum(map(len, heads)) >= SAMPLE_ROWS:
                break
    except ValueError as exc:
        raise _read_error(exc) from None
    if len(heads) > 1:
        import pandas as pd

        heads = [pd.concat(heads)]
    head = heads[0]
    reason = ""
    if task == "auto":
        task, reason = _guess_task([from_values(name, head[name]) for name in targets], targets)
    classify = task == "classification"
    if classify and len(targets) != 1:
        raise DataError("classification takes one target column; name one with --target")
    if not classify:
        words = _text_columns(frame, targets)
        if words:
            raise DataError(f"the target {words[0]!r} holds text, and regression predicts "
                            "numbers; use --task classification (or another --target)")
    found = _statistics(client, frame, feats, text, targets, classify, fraction, int(seed))
    summary = _merge(found[2])
    return Survey(frame, feats, targets, [str(c) for c in frame.columns], task, reason,
                  _encoding(summary, text, feats), summary.labels if classify else [], head,
                  found[3], len(parts), found,
                  _key(feats, text, targets, classify, fraction, int(seed)))


def _key(*uses: Any) -> tuple:
    return tuple(tuple(u) if isinstance(u, list) else u for u in uses)


def fit_on_tables(model: Module, source: Any, target: Any, client: Any, *, loss: Any = "mse",
                  optimizer: Any = "sgd", epochs: int = 10, batch_size: Any = 1,
                  shuffle: bool = True, seed: Any = None, lr: Any = None,
                  scale: str | None = None, features: Any = None, sync_every: int = 1,
                  workers: int | None = None, engine: str = "auto",
                  callbacks: Sequence[train.Callback] = (),
                  optimizer_options: dict[str, Any] | None = None,
                  validation_split: float = 0.0, early_stopping: Any = None,
                  metrics: Sequence[str] | None = None,
                  checkpoint: str | None = None, checkpoint_every: int = 1,
                  resume: str | None = None, run_info: dict[str, Any] | None = None,
                  **unsupported: Any) -> train.History:
    """``fit`` on a Dask cluster from files or a Dask DataFrame (the module docstring)."""
    given = sorted(k for k, v in unsupported.items() if given_option(v))
    if given:
        raise ConfigError(f"{', '.join(given)} can't be used yet when the Dask workers read the "
                          "data; read it into memory (a DataFrame) for those")
    if isinstance(sync_every, bool) or not isinstance(sync_every, (int, np.integer)) \
            or sync_every < 1:
        raise ConfigError(f"sync_every must be a whole number of rows ≥ 1, got {sync_every!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ConfigError(f"epochs must be a whole number ≥ 0, got {epochs!r}")
    if isinstance(seed, np.random.Generator):
        raise ConfigError("fit on a Dask cluster from files takes a whole-number seed (each "
                          "worker draws its rows' order from it), not a Generator")
    import dask

    names = _workers(client, workers)
    frame = frame_of(source, len(names))
    targets, feats = _columns(frame, target, features)
    loss_fn = get_loss(loss)
    classify = loss_fn.name in CLASSIFICATION_LOSSES
    default = "accuracy" if classify else "r2"
    names_given = [default] if metrics is None else list(metrics)
    if any(name != default for name in names_given):
        raise ConfigError(f"with data read by the Dask workers, fit measures {default} (the "
                          f"default) or nothing (metrics=[]); got {names_given}")
    metric = default if names_given else None
    text = _text_columns(frame, feats)
    fraction = float(validation_split or 0.0)
    if fraction:
        validation_rows(0, 0, fraction)  # (the range check)
    base = int(make_rng(seed).integers(2**63)) if seed is None else int(seed)
    if resume is not None:  # the seed the checkpointed run drew its rows with
        base = int(ckpt.read(resume).state["run"].get("cluster_seed", base))
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) \
            or checkpoint_every < 1:
        raise ConfigError(f"checkpoint_every must be ≥ 1, got {checkpoint_every!r}")
    frame = frame.persist()  # read once, into the workers' memory (a no-op when it is)
    if isinstance(source, Survey) and source.key == _key(feats, text, targets, classify,
                                                         fraction, base):
        parts, offsets, summaries, _ = source.statistics  # (the survey's pass, not another)
    else:
        parts, offsets, summaries, _ = _statistics(client, frame, feats, text, targets,
                                                   classify, fraction, base)
    summary = _merge(summaries)
    encoding = _encoding(summary, text, feats)
    width = encoding.width if encoding is not None else len(feats)
    if getattr(model, "sizes", None) and model.sizes[0] != width:
        raise DataError(f"the inputs make {width} columns (text columns one per category), but "
                        f"the network takes {model.sizes[0]}; build it with {width} inputs")
    model.encoding = encoding
    kind = "none" if scale is None else scale
    model.x_scaler = input_scaler(kind, summary, encoding, feats)
    if classify:
        train._targets(model, np.asarray(summary.labels, dtype=object)
                       if any(isinstance(v, str) for v in summary.labels)
                       else np.asarray(summary.labels), loss_fn, fitting=True)
        model.y_scaler = None
    else:
        model.y_scaler = summary.targets.scaler(kind)
    # each worker's shard, built where its partitions are read
    shards, counts = [], []
    for w, name in enumerate(names):
        mine = parts[w::len(names)]
        counts.append(sum(s.rows for s in summaries[w::len(names)]))
        spec = loss_fn.spec if type(loss_fn) is Loss else loss_fn
        shards.append(client.compute(dask.delayed(_shard)(
            model, spec, feats, targets, fraction, base, offsets[w::len(names)], *mine),
            workers=[name], allow_other_workers=True) if mine else None)
    del frame, parts  # the raw partitions go once the shards hold the rows
    opt = make_optimizer(optimizer, model.parameters(), lr=lr, **(optimizer_options or {}))
    batch = train._batch_size(batch_size, max(counts))
    settings = Settings(uuid.uuid4().hex, loss_fn.spec if type(loss_fn) is Loss else loss_fn,
                        batch, engine, epochs)
    template = client.scatter(Template(model, opt), broadcast=True, hash=False)
    history = train.History()
    callbacks = list(callbacks)
    if early_stopping is not None:
        callbacks.append(early_stopping if isinstance(early_stopping, train.EarlyStopping)
                         else train.EarlyStopping(patience=early_stopping))
    for cb in callbacks:
        cb.on_train_begin(model)
    stopper = next((cb for cb in callbacks if isinstance(cb, train.EarlyStopping)), None)
    rng = np.random.default_rng(base)  # (kept in a checkpoint as fit keeps its generator)
    fingerprint = _fingerprint(summary, fraction, base, sync_every, len(names))
    first = 1
    if resume is not None:
        place = ckpt.restore_run(resume, model, opt, rng, history, stopper, 0, fingerprint, batch)
        first = place.first_epoch
        if epochs < first - 1:
            raise ConfigError(f"the checkpoint in {resume} has done {first - 1} epoch(s); "
                              f"epochs={epochs} would undo them: give at least {first - 1}")

    def save(epoch: int) -> None:
        if checkpoint is not None:
            ckpt.save_run(checkpoint, model, opt, rng, history, stopper, ckpt.Place(epoch + 1),
                          {**(run_info or {}), "cluster_seed": base}, fingerprint, batch)

    with train._ctrl_c_after_step() as stop:
        _epochs(client, names, settings, template, shards, counts, opt, history, callbacks,
                range(first, epochs + 1), sync_every, shuffle, base, fraction, metric, save,
                checkpoint_every, stop)
    for cb in callbacks:
        cb.on_train_end(history)
    return history


def _fingerprint(summary: PartSummary, fraction: float, base: int, sync_every: int,
                 workers: int) -> str:
    """What a resumed run must share with the checkpointed one: the table's statistics,
    the held-out share, the rows' seed, the rows a round and the workers."""
    import hashlib

    digest = hashlib.sha256(repr((summary.rows, fraction, base, sync_every, workers,
                                  sorted((k, sorted(v.items())) for k, v in summary.counts.items()),
                                  [str(v) for v in summary.labels])).encode())
    for moments in (summary.numbers, summary.targets):
        if moments is not None and moments.n:
            for arr in (moments.mean, moments.m2, moments.low, moments.high):
                digest.update(np.ascontiguousarray(arr).tobytes())
    return digest.hexdigest()


def _epochs(client: Any, names: list[str], settings: Settings, template: Any, shards: list,
            counts: list[int], opt: Any, history: train.History, callbacks: list,
            epochs: range, sync_every: int, shuffle: bool, base: int, fraction: float,
            metric: str | None, save: Any, checkpoint_every: int, stop: Any) -> None:
    """The epochs: rounds over the workers' shards, averaged; val_loss; callbacks; a
    checkpoint every ``checkpoint_every`` epochs, at the end and at a stop (Ctrl-C,
    SIGTERM) — a stop inside an epoch keeps the last epoch's checkpoint, from which a
    resumed run repeats that epoch exactly."""
    params = opt.params
    for epoch in epochs:
        opt.start_epoch(epoch - 1)
        for cb in callbacks:
            cb.on_epoch_begin(epoch)
        total, seen = 0.0, 0
        for start in range(0, max(counts), sync_every):
            if stop.requested:
                history.interrupted = True
                return
            arrays, numbers = _state(opt)
            weights = [p.data.copy() for p in params]
            futures = [client.submit(_round_on_shard, settings, template, shards[w], weights,
                                     arrays, numbers, float(opt.lr),
                                     (base, epoch, w, start, start + sync_every, bool(shuffle)),
                                     workers=[name], allow_other_workers=True, pure=False)
                       for w, name in enumerate(names) if counts[w] > start]
            shares = client.gather(futures)
            bad = next((s for s in shares if s.failed), None)
            if bad is not None:
                raise train._diverged(epoch, history.steps + 1, bad.failed, bad.value, opt,
                                      "The weights are those before that round.")
            for p, *news in zip(params, *[s.weights for s in shares]):
                p.data[...] = _mean(news)
            _set_state(opt, {key: _mean([s.arrays[key] for s in shares])
                             for key in shares[0].arrays}, shares[0].numbers)
            total += sum(s.total for s in shares)
            seen += sum(s.seen for s in shares)
            history.steps += sum(s.steps for s in shares)
        mean = total / seen
        history.logs["loss"].append(mean)
        history.epoch.append(epoch)
        if fraction or metric:
            weights = [p.data.copy() for p in params]
            parts = client.gather([client.submit(_shard_scores, settings, template, shards[w],
                                                 weights, metric, workers=[name],
                                                 allow_other_workers=True, pure=False)
                                   for w, name in enumerate(names) if shards[w] is not None])
            for key, value in _merged_scores(parts, metric, fraction).items():
                history.logs.setdefault(key, []).append(value)
        train._check_growth(history, epoch, opt)
        opt.end_epoch(epoch - 1, mean)
        stopping = any([cb.on_epoch_end(epoch, history) for cb in callbacks])
        if stop.requested or stopping or epoch == epochs[-1] or epoch % checkpoint_every == 0:
            save(epoch)
        if stop.requested:
            history.interrupted = True
            return
        if stopping:
            history.stopped_early = True
            return
