"""Hyper-parameter search: scikit-learn's ``GridSearchCV`` over chainrule's estimators.

``chainrule search data.csv --grid hidden=4,8,16 lr=0.01,0.1 --cv 5`` runs here.  The
candidate is the estimator a ``chainrule train`` user would expect: inputs standardised
(``StandardScaler``, fitted inside each fold), then ``chainrule.sklearn.MLPRegressor`` —
with its targets standardised too (``TransformedTargetRegressor``) — or ``MLPClassifier``.
Each grid point is scored by k-fold cross-validation (``KFold``, or ``StratifiedKFold``
for classes, rows shuffled by the seed) with the estimator's own score: R² or accuracy,
the mean over the k held-out folds.  The best point is refitted on every row and turned
into a plain chainrule model (``best_model``): the network with the two scalers, the
classes and the one-hot encoding of text columns inside, so ``chainrule predict`` and
``chainrule.load`` use it as any trained model.

With a Dask client the folds × grid points run on the cluster through joblib's Dask
backend (``joblib.parallel_backend("dask")``); the scores are the same as here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .data import Scaler
from .errors import ConfigError, DivergenceError
from .nn import Sequential


def _sizes(text: str) -> tuple[int, ...]:
    """``8`` → (8,); ``16-8`` → two hidden layers of 16 and 8 neurons."""
    sizes = tuple(int(part) for part in text.split("-"))
    if not sizes or min(sizes) < 1:
        raise ValueError(text)
    return sizes


def _positive(text: str) -> float:
    value = float(text)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(text)
    return value


def _at_least_zero(text: str) -> float:
    value = float(text)
    if not np.isfinite(value) or value < 0:
        raise ValueError(text)
    return value


def _whole(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _batch(text: str) -> int | str:
    return "auto" if text == "auto" else _whole(text)


def _momentum(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise ValueError(text)
    return value


def _activation(text: str) -> str:
    from .nn import get_activation

    try:
        if get_activation(text).elementwise:
            return text
    except ConfigError:
        pass
    raise ValueError(text)


def _word(choices: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(text)
        return text
    return parse


#: The settings a grid may vary: name → (the estimators' parameter, its parser, what it takes).
SETTINGS: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "hidden": ("hidden_layer_sizes", _sizes, "layer sizes such as 8 or 16-8"),
    "lr": ("learning_rate_init", _positive, "a number > 0"),
    "alpha": ("alpha", _at_least_zero, "a number ≥ 0"),
    "epochs": ("max_iter", _whole, "a whole number ≥ 1"),
    "batch": ("batch_size", _batch, "a whole number ≥ 1 or auto"),
    "optimizer": ("solver", _word(("sgd", "adam", "adamw", "rmsprop", "adagrad")),
                  "sgd, adam, adamw, rmsprop or adagrad"),
    "activation": ("activation", _activation, "a hidden activation (relu, tanh, sigmoid, …)"),
    "momentum": ("momentum", _momentum, "a number in [0, 1)"),
}


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["hidden=4,8", "lr=0.01,0.1"]`` → ``{"hidden": [(4,), (8,)], "lr": [0.01, 0.1]}``;
    a ``ConfigError`` of one line for anything else."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        name, eq, values = (part.strip() for part in item.partition("="))
        if not eq or not name or not values:
            raise ConfigError(f"--grid takes NAME=V1,V2,… (e.g. hidden=4,8,16 lr=0.01,0.1), "
                              f"got {item!r}")
        if name not in SETTINGS:
            raise ConfigError(f"--grid {name}: unknown setting; choose from "
                              f"{', '.join(SETTINGS)}")
        if name in grid:
            raise ConfigError(f"--grid {name} is given twice; list all its values once "
                              f"({name}=A,B,C)")
        parse, what = SETTINGS[name][1], SETTINGS[name][2]
        parsed = []
        for value in (v.strip() for v in values.split(",")):
            try:
                parsed.append(parse(value))
            except ValueError:
                raise ConfigError(f"--grid {name}: {value!r} is not {what}") from None
        if len(set(parsed)) != len(parsed):
            raise ConfigError(f"--grid {name} lists a value twice: {values}")
        grid[name] = parsed
    if not grid:
        raise ConfigError("--grid needs at least one NAME=V1,V2,… (e.g. --grid hidden=4,8,16)")
    return grid


def candidate(task: str, seed: int) -> Any:
    """The estimator searched (see the module docstring), and the prefix of its MLP's
    parameters: standardised inputs (and regression targets) into chainrule's MLP."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from .sklearn import MLPClassifier, MLPRegressor

    if task == "classification":
        return Pipeline([("scale", StandardScaler()),
                         ("mlp", MLPClassifier(random_state=seed))]), "mlp__"
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", MLPRegressor(random_state=seed))])
    return TransformedTargetRegressor(regressor=pipe, transformer=StandardScaler()), \
        "regressor__mlp__"


def folds(task: str, k: int, seed: int) -> Any:
    """k folds of shuffled rows (stratified by class for a classifier)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    kind = StratifiedKFold if task == "classification" else KFold
    return kind(n_splits=k, shuffle=True, random_state=seed)


def _score(estimator: Any, X: np.ndarray, y: np.ndarray) -> float:
    """The estimator's own score (R² or accuracy) on a held-out fold, or NaN where its
    fit diverged: outputs (class probabilities for a classifier) not all finite."""
    inner = getattr(estimator, "regressor_", estimator)  # before un-standardising targets
    out = inner.predict_proba(X) if hasattr(inner, "predict_proba") else inner.predict(X)
    if not np.all(np.isfinite(np.asarray(out, dtype=float))):
        return float("nan")
    return float(estimator.score(X, y))


def _all_diverged(grid: dict[str, list[Any]]) -> DivergenceError:
    shown_grid = " ".join(f"{k}={','.join(shown(v) for v in vs)}" for k, vs in grid.items())
    smaller = min(grid["lr"]) / 10 if "lr" in grid else 1e-4  # the default lr is 0.001
    return DivergenceError(f"every candidate of the grid ({shown_grid}) diverged on its folds; "
                           f"try a smaller lr (e.g. --grid lr={smaller:g})")


@dataclass
class Candidate:
    """One grid point's result: its rank, the mean and spread of its fold scores (NaN where
    a fold's training diverged: such a candidate is ranked last), fit time."""

    rank: int
    mean: float
    std: float
    seconds: float
    params: dict[str, Any]


@dataclass
class Result:
    ranked: list[Candidate]  # best first
    search: Any  # the fitted GridSearchCV
    score: str  # "R²" or "accuracy"


def run(X: np.ndarray, y: np.ndarray, task: str, grid: dict[str, list[Any]], cv: int = 5,
        seed: int = 0, client: Any = None, jobs: int = 1) -> Result:
    """Cross-validate every point of ``grid`` (``parse_grid``'s names) and refit the best on
    all rows; on ``client``'s Dask cluster when given (joblib's Dask backend)."""
    import joblib
    from sklearn.exceptions import ConvergenceWarning, FitFailedWarning
    from sklearn.model_selection import GridSearchCV

    if isinstance(cv, bool) or not isinstance(cv, int) or cv < 2:
        raise ConfigError(f"--cv needs at least 2 folds, got {cv!r}")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if task == "classification":
        _, counts = np.unique(y.astype(str), return_counts=True)
        if counts.min() < cv:
            raise ConfigError(f"--cv {cv} needs at least {cv} rows of every class; the rarest "
                              f"class has {counts.min()}; use fewer folds")
    elif len(y) < cv:
        raise ConfigError(f"--cv {cv} needs at least {cv} rows; the data has {len(y)}")
    estimator, prefix = candidate(task, seed)
    names = {prefix + SETTINGS[name][0]: name for name in grid}
    chosen: list[dict[str, Any]] = []

    def best(results: dict[str, Any]) -> int:
        """The best-ranked candidate to refit on every row; none where all diverged."""
        if np.all(np.isnan(results["mean_test_score"])):
            raise _all_diverged(grid)
        index = int(np.argmin(results["rank_test_score"]))
        chosen.append(results["params"][index])
        return index

    # A diverged fit or fold scores NaN (error_score, _score) and ranks last.
    search = GridSearchCV(estimator, {prefix + SETTINGS[k][0]: v for k, v in grid.items()},
                          scoring=_score, refit=best, cv=folds(task, cv, seed),
                          n_jobs=-1 if client is not None else jobs, error_score=np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FitFailedWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow in a diverging candidate
        warnings.filterwarnings("ignore", message=".*test scores are non-finite")
        try:
            if client is not None:
                with joblib.parallel_backend("dask"):
                    search.fit(X, y)
            else:
                search.fit(X, y)
        except ValueError as error:  # scikit-learn's "All the N fits failed"
            if "fits failed" in str(error) and "DivergenceError" in str(error):
                raise _all_diverged(grid) from None
            raise
        except DivergenceError as error:
            if not chosen:
                raise
            params = ", ".join(f"{names[k]}={shown(v)}" for k, v in chosen[0].items())
            raise DivergenceError(f"the best candidate ({params}) diverged when refitted on "
                                  f"all rows: {error}") from None
    results = search.cv_results_
    ranked = [Candidate(int(results["rank_test_score"][i]), float(results["mean_test_score"][i]),
                        float(results["std_test_score"][i]), float(results["mean_fit_time"][i]),
                        {names[key]: value for key, value in results["params"][i].items()})
              for i in range(len(results["params"]))]
    ranked.sort(key=lambda c: (c.rank, -c.mean if np.isfinite(c.mean) else np.inf))
    return Result(ranked, search, "accuracy" if task == "classification" else "R²")


def best_model(result: Result, encoding: Any = None) -> Sequential:
    """The refitted best estimator as a chainrule model that predicts on raw inputs: its
    network with the input scaler (and target scaler) and the text columns' encoding."""
    best = result.search.best_estimator_
    pipe = best.regressor_ if hasattr(best, "regressor_") else best
    x_scale, mlp = pipe.named_steps["scale"], pipe.named_steps["mlp"]
    model = mlp.model_
    model.x_scaler = Scaler("standard", x_scale.mean_.copy(), x_scale.scale_.copy())
    if hasattr(best, "transformer_"):
        model.y_scaler = Scaler("standard", best.transformer_.mean_.copy(),
                                best.transformer_.scale_.copy())
    model.encoding = encoding
    return model


def shown(value: Any) -> str:
    """A grid value as it was typed: (16, 8) → 16-8."""
    if isinstance(value, tuple):
        return "-".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)
