"""scikit-learn estimators trained by chainrule: ``MLPRegressor`` and ``MLPClassifier``.

They take scikit-learn's MLP parameters with the same names and meanings
(``hidden_layer_sizes``, ``activation``, ``solver``, ``alpha``, ``batch_size``,
``learning_rate_init``, ``max_iter``, ``shuffle``, ``random_state``, ``tol``, ``verbose``,
``warm_start``, ``momentum``, ``nesterovs_momentum``, ``early_stopping``,
``validation_fraction``, ``beta_1``, ``beta_2``, ``epsilon``, ``n_iter_no_change``) and
chainrule's own: ``activation`` may name one activation per hidden layer and any of
chainrule's (``"leaky_relu:0.2"``, ``"gelu"``, …); ``solver`` may also be ``adamw``,
``rmsprop`` or ``adagrad``; ``init`` picks the weight initialiser (biases start at 0);
``engine`` is handed to ``chainrule.fit``.  There is no ``lbfgs``, ``learning_rate``
schedule or ``power_t``: chainrule trains by back-propagation with a constant rate.

Training minimises scikit-learn's objective, batch by batch.  For a batch of rows with
weights ``s_n`` (all 1 without ``sample_weight``, so ``Σ s`` is the batch size B)::

    regression       J = ½ Σ_n s_n mean_k (y_nk − ŷ_nk)² / Σ s  +  α/(2 Σ s) Σ_layers ‖W‖²
    classification   J = Σ_n s_n ℓ_n / Σ s  +  α/(2 Σ s) Σ_layers ‖W‖²

with ``ℓ_n`` the cross-entropy of softmax outputs (three or more classes) or of the
sigmoid of one output (two classes); biases are not penalised.  So ``alpha`` means what
it means in scikit-learn, an L2 penalty ``α/2 ‖W‖²`` shared over the rows of each batch,
and ``loss_curve_`` holds the same numbers scikit-learn reports: each epoch's mean of J
over its batches, weighted by their rows.  (For several regression outputs scikit-learn
steps along K times the gradient of the loss it reports; chainrule keeps the loss and
its gradient together.)  Stopping follows scikit-learn too: training stops once the
training loss (or, with ``early_stopping``, the validation score: R² or accuracy) has
not improved by ``tol`` for more than ``n_iter_no_change`` epochs, and early stopping
ends with the weights of the best validation score.

``model_`` is the chainrule ``Sequential`` behind the estimator, so ``chainrule.save``,
``explain`` and ``plot.draw_network`` work on it.  Inputs are used as given (no scaling):
put a ``StandardScaler`` before the estimator in a ``Pipeline``, as with scikit-learn's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields
from numbers import Integral
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import (_check_partial_fit_first_call,
                                          check_classification_targets, type_of_target,
                                          unique_labels)
    from sklearn.utils.validation import (_check_sample_weight, check_is_fitted, column_or_1d,
                                          validate_data)
except ImportError:  # pragma: no cover - depends on the installation
    raise ImportError("chainrule.sklearn needs scikit-learn: pip install 'chainrule[sklearn]'") \
        from None

from .data import encode_labels
from .losses import SKLEARN_LOSSES, Loss, penalty
from .nn import Sequential, mlp
from .optim import Optimizer, make_optimizer
from .tensor import Tensor
from .train import Callback, History, fit

__all__ = ["MLPClassifier", "MLPRegressor"]

SOLVERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")


@dataclass(frozen=True)
class Objective(Loss):
    """scikit-learn's MLP objective for one batch: its data loss ``L`` plus ``α/(2 Σ s) Σ ‖W‖²``.

    One of chainrule's table entries (``losses.SKLEARN_LOSSES``: ``sklearn_mse``,
    ``sklearn_bce``, ``sklearn_cross_entropy``) given the model whose weights it
    penalises and α.  ``Σ s`` is the batch's total sample weight (its row count without
    weights); the penalty's gradient ``α W / Σ s`` is the one scikit-learn adds to each
    weight matrix.  The per-element functions (``terms``, ``grad``) are the data loss's;
    the penalty is added when the loss is called, and by the fused loop, which runs the
    entry's fused form (``FusedLoss.penalty``) with α as its number.
    """

    model: Sequential | None = None
    alpha: float = 0.0

    @classmethod
    def of(cls, name: str, model: Sequential, alpha: float) -> "Objective":
        """The table's objective ``name`` (``"mse"``, ``"bce"``, ``"cross_entropy"``)."""
        base = SKLEARN_LOSSES[f"sklearn_{name}"]
        own = {f.name: getattr(base, f.name) for f in fields(Loss)}
        own["params"] = {"alpha": float(alpha)}
        return cls(**own, model=model, alpha=float(alpha))

    def __call__(self, pred: Tensor, target: Any, sample_weight: Any = None) -> Tensor:
        J = super().__call__(pred, target, sample_weight)
        rows = pred.shape[0] if sample_weight is None else float(np.sum(sample_weight))
        if self.alpha and rows > 0:
            J = J + penalty(self.model, l2=self.alpha / rows)
        return J


class _EveryEpoch(Callback):
    """Hands each epoch's training loss to the estimator, which says whether to stop."""

    def __init__(self, estimator: "_MLP", rows: int, validation: tuple | None) -> None:
        self.estimator, self.rows, self.validation = estimator, rows, validation

    def on_epoch_end(self, epoch: int, history: History) -> bool:
        return self.estimator._end_epoch(history.loss[-1], self.rows, self.validation)


class _MLP(BaseEstimator):
    """What the regressor and the classifier share: parameters, the training loop, stopping."""

    def __init__(self, hidden_layer_sizes: Any = (100,), activation: Any = "relu", *,
                 solver: str = "adam", alpha: float = 0.0001, batch_size: Any = "auto",
                 learning_rate_init: float = 0.001, max_iter: int = 200, shuffle: bool = True,
                 random_state: Any = None, tol: float = 1e-4, verbose: bool = False,
                 warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: int = 10, init: Any = "xavier",
                 engine: str | None = None) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.init = init
        self.engine = engine

    # -- what the subclasses fill in ------------------------------------------------
    def _validate_targets(self, y: np.ndarray, first: bool, incremental: bool,
                          classes: Any) -> int:
        """Check ``y`` (and keep the classes); returns the number of output neurons."""
        raise NotImplementedError  # pragma: no cover

    def _targets(self, y: np.ndarray) -> np.ndarray:
        """``y`` as the float columns the loss compares the outputs with."""
        raise NotImplementedError  # pragma: no cover

    def _loss(self) -> str:
        """The name of scikit-learn's objective (``losses.SKLEARN_LOSSES``, less ``sklearn_``)."""
        raise NotImplementedError  # pragma: no cover

    def _finish_model(self, model: Sequential) -> None:
        """Give a fresh network what prediction needs (classes, head)."""

    # -- checks ------------------------------------------------------------------------
    def _hidden(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if not all(isinstance(n, Integral) and not isinstance(n, bool) and n > 0 for n in sizes):
            raise ValueError(f"hidden_layer_sizes must be whole numbers > 0, got {sizes}")
        return [int(n) for n in sizes]

    def _check_params(self) -> None:
        if self.solver not in SOLVERS:
            extra = ("; chainrule trains by back-propagation with a stochastic solver, so "
                     "lbfgs is not available") if self.solver == "lbfgs" else ""
            raise ValueError(f"solver must be one of {', '.join(SOLVERS)}, got "
                             f"{self.solver!r}{extra}")
        checks = [
            ("max_iter", self.max_iter, isinstance(self.max_iter, Integral) and self.max_iter >= 1),
            ("n_iter_no_change", self.n_iter_no_change,
             isinstance(self.n_iter_no_change, Integral) and self.n_iter_no_change >= 1),
            ("alpha", self.alpha, np.isfinite(self.alpha) and self.alpha >= 0),
            ("tol", self.tol, np.isfinite(self.tol) and self.tol >= 0),
            ("validation_fraction", self.validation_fraction, 0 < self.validation_fraction < 1),
            ("batch_size", self.batch_size, self.batch_size == "auto" or (
                isinstance(self.batch_size, Integral) and self.batch_size >= 1)),
        ]
        for name, value, ok in checks:
            if not ok:
                raise ValueError(f"{name} has an invalid value: {value!r}")

    def _optimizer_options(self) -> dict[str, Any]:
        if self.solver == "sgd":
            return {"momentum": self.momentum,
                    "nesterov": bool(self.nesterovs_momentum and self.momentum > 0)}
        if self.solver in ("adam", "adamw"):
            return {"betas": (self.beta_1, self.beta_2), "eps": self.epsilon}
        return {}

    def _batch(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                          "going to be clipped")
        return min(int(self.batch_size), n)

    # -- training ----------------------------------------------------------------------
    def _fit(self, X: Any, y: Any, sample_weight: Any, incremental: bool,
             classes: Any = None) -> "_MLP":
        self._check_params()
        hidden = self._hidden()
        fitted = hasattr(self, "model_")
        first = not fitted or (not self.warm_start and not incremental)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        X, y = validate_data(self, X, y, multi_output=True, dtype=(np.float64, np.float32),
                             y_numeric=not isinstance(self, ClassifierMixin), reset=first)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        outputs = self._validate_targets(y, first, incremental, classes)
        rng = np.random.default_rng(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        if first:
            self._start(X.shape[1], hidden, outputs, rng)
        if first or not incremental:  # scikit-learn: a new optimiser for each fit
            self._optimizer: Optimizer = make_optimizer(
                self.solver, self.model_.parameters(), lr=self.learning_rate_init,
                **self._optimizer_options())
        X_train, Y_train, sw_train, validation = self._split(X, y, sample_weight, rng)
        options: dict[str, Any] = {}
        if self.engine is not None:
            options["engine"] = self.engine
        self.n_iter_ = 0
        history = fit(self.model_, X_train, Y_train,
                      loss=Objective.of(self._loss(), self.model_, self.alpha),
                      optimizer=self._optimizer, epochs=1 if incremental else self.max_iter,
                      batch_size=self._batch(len(X_train)), shuffle=self.shuffle, seed=rng,
                      callbacks=[_EveryEpoch(self, len(X_train), validation)],
                      sample_weight=sw_train, metrics=[], **options)
        if self.early_stopping and getattr(self, "_best_state", None) is not None:
            self.model_.load_state_dict(self._best_state)
        if not incremental and not history.stopped_early and self.n_iter_ == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                          "and the optimization hasn't converged yet.", ConvergenceWarning)
        return self

    def _start(self, n_features: int, hidden: list[int], outputs: int,
               rng: np.random.Generator) -> None:
        """A fresh network, and fresh curves."""
        self.model_ = mlp([n_features, *hidden, outputs], activation=self.activation,
                          output_activation="linear", init=self.init, seed=rng)
        self._finish_model(self.model_)
        layers = self.model_.layers
        self.coefs_ = [layer.weight.data for layer in layers]  # the model's own arrays
        self.intercepts_ = [layer.bias.data for layer in layers]
        self.n_layers_ = len(layers) + 1
        self.n_outputs_ = outputs
        self.loss_curve_: list[float] = []
        self.t_ = 0
        self._no_improvement_count = 0
        self._best_state = None
        if self.early_stopping:
            self.validation_scores_: list[float] | None = []
            self.best_validation_score_: float | None = -np.inf
            self.best_loss_: float | None = None
        else:
            self.validation_scores_ = self.best_validation_score_ = None
            self.best_loss_ = np.inf

    def _split(self, X: np.ndarray, y: np.ndarray, sw: Any, rng: np.random.Generator) -> tuple:
        """(X, targets, weights) to train on and, with early stopping, (X, y, weights) to score."""
        if not self.early_stopping:
            return X, self._targets(y), sw, None
        stratify = y if isinstance(self, ClassifierMixin) else None
        parts = train_test_split(X, y, *([] if sw is None else [sw]),
                                 random_state=int(rng.integers(np.iinfo(np.int32).max)),
                                 test_size=self.validation_fraction, stratify=stratify)
        X_tr, X_val, y_tr, y_val = parts[:4]
        sw_tr, sw_val = parts[4:] if sw is not None else (None, None)
        if len(X_val) < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")
        return X_tr, self._targets(y_tr), sw_tr, (X_val, y_val, sw_val)

    def _end_epoch(self, loss: float, rows: int, validation: tuple | None) -> bool:
        """Record the epoch as scikit-learn does; True when it is time to stop."""
        self.n_iter_ += 1
        self.t_ += rows
        self.loss_ = loss
        self.loss_curve_.append(loss)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {loss:.8f}")
        if validation is not None:
            score = self.score(*validation)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            improved = score >= self.best_validation_score_ + self.tol
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_state = self.model_.state_dict()
        else:
            improved = loss <= self.best_loss_ - self.tol
            self.best_loss_ = min(self.best_loss_, loss)
        self._no_improvement_count = 0 if improved else self._no_improvement_count + 1
        if self._no_improvement_count > self.n_iter_no_change:
            if self.verbose:
                what = "Validation score" if validation is not None else "Training loss"
                print(f"{what} did not improve more than tol={self.tol:f} for "
                      f"{self.n_iter_no_change} consecutive epochs. Stopping.")
            return True
        return False

    # -- prediction ----------------------------------------------------------------------
    def _inputs(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, dtype=(np.float64, np.float32), reset=False)


class MLPRegressor(RegressorMixin, _MLP):
    """A multilayer perceptron regressor (scikit-learn's API) trained by chainrule.

    Minimises ``½ mean (y − ŷ)² + α/(2B) Σ‖W‖²`` per batch of B rows; the output layer is
    linear.  One output per target column; ``predict`` returns a 1-D array for one.
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "MLPRegressor":
        """Train for up to ``max_iter`` epochs (from the current weights with ``warm_start``)."""
        return self._fit(X, y, sample_weight, incremental=False)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> "MLPRegressor":
        """One epoch over ``X``, continuing the weights and the optimiser's state."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X: Any) -> np.ndarray:
        """ŷ for each row of ``X``: shape (rows,) for one target, else (rows, targets)."""
        X = self._inputs(X).astype(np.float64, copy=False)
        out = self.model_.forward_array(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def _validate_targets(self, y: np.ndarray, first: bool, incremental: bool,
                          classes: Any) -> int:
        outputs = 1 if y.ndim == 1 else y.shape[1]
        if not first and outputs != self.n_outputs_:
            raise ValueError(f"y has {outputs} target column(s) but the model was fitted "
                             f"with {self.n_outputs_}")
        return outputs

    def _targets(self, y: np.ndarray) -> np.ndarray:
        return y.reshape(len(y), -1).astype(np.float64)

    def _loss(self) -> str:
        return "mse"  # ½ (y − ŷ)², as scikit-learn's squared error

    def _finish_model(self, model: Sequential) -> None:
        self.out_activation_ = "identity"

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class MLPClassifier(ClassifierMixin, _MLP):
    """A multilayer perceptron classifier (scikit-learn's API) trained by chainrule.

    Two classes: one output, ``p = σ(z)``, binary cross-entropy.  Three or more: one
    output per class, ``p = softmax(z)``, cross-entropy.  Labels may be numbers or text.
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "MLPClassifier":
        """Train for up to ``max_iter`` epochs (from the current weights with ``warm_start``)."""
        return self._fit(X, y, sample_weight, incremental=False)

    def partial_fit(self, X: Any, y: Any, classes: Any = None,
                    sample_weight: Any = None) -> "MLPClassifier":
        """One epoch over ``X``; the first call needs every label in ``classes``."""
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, rows × classes, in the order of ``classes_``."""
        X = self._inputs(X).astype(np.float64, copy=False)
        return self.model_.probabilities(self.model_.forward_array(X))

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log predict_proba(X)``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def _validate_targets(self, y: np.ndarray, first: bool, incremental: bool,
                          classes: Any) -> int:
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"MLPClassifier takes one label per row; got {kind} targets")
        labels = unique_labels(y)
        if incremental:  # sets classes_ on the first call, checks `classes` on later ones
            _check_partial_fit_first_call(self, classes)
        elif first:
            self.classes_ = labels
        elif set(labels) != set(self.classes_):
            raise ValueError("warm_start can only be used where `y` has the same classes as "
                             f"in the previous call to fit: {self.classes_.tolist()}")
        if len(self.classes_) < 2:
            raise ValueError(f"the labels hold only one class ({self.classes_[0]!r}); a "
                             "classifier needs at least two classes")
        unknown = np.setdiff1d(labels, self.classes_)
        if len(unknown):
            raise ValueError(f"y holds labels {unknown.tolist()} that are not among the "
                             f"classes {self.classes_.tolist()} the model was fitted with")
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    def _targets(self, y: np.ndarray) -> np.ndarray:
        onehot = encode_labels(y, self.classes_)[1]
        return onehot[:, 1:] if len(self.classes_) == 2 else onehot

    def _loss(self) -> str:
        return "bce" if len(self.classes_) == 2 else "cross_entropy"

    def _finish_model(self, model: Sequential) -> None:
        model.classes_ = self.classes_
        model.head = "sigmoid" if len(self.classes_) == 2 else "softmax"
        self.out_activation_ = "logistic" if len(self.classes_) == 2 else "softmax"
