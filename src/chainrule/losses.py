"""Losses: a number that says how wrong the predictions are, composed of primitives.

Each loss is a term ``ℓ`` per element (MSE, MAE, Huber, binary cross-entropy: one per
output of each row) or per row (cross-entropy and the textbook's ``sse_half``, summed
over the row's outputs), and

    L = mean of the terms                      (no sample_weight)
    L = Σ_n w_n ℓ_n / Σ_n w_n                  (sample_weight w_n ≥ 0, one per row)

where ``ℓ_n`` is row n's term, or the mean of its K terms.  So one row with one output
gives the seed's ``L = (y − ŷ)²`` exactly, a batch gives the mean, and equal weights
give the plain mean.  A batch whose weights are all 0 has loss 0.

``grad(ŷ, y)`` is ``∂ℓ/∂ŷ`` per element *before* averaging; ``∂L/∂ŷ`` is it times
``1/(N·K)`` (per-element losses), ``1/N`` (``per_row``) or ``w_n / (K Σ w)`` (weighted).

Both cross-entropies take logits ``z`` (the output layer's ``z``: give the output
layer a linear activation), never probabilities, which keeps them finite for any ``z``:
binary ``ℓ = softplus(z) − y z`` and categorical ``ℓ_n = −Σ_k y_nk log softmax(z_n)_k``
with one-hot targets.  ``penalty`` adds L2 and L1 terms on the weights.

**Fused forms.**  Each entry carries what the fast path's compiled loop calls
(``FusedLoss``): for a loss with one term per output, ``term(ŷ, y, p)`` = (ℓ, ∂ℓ/∂ŷ) on
one number and its target (p: the loss's number, Huber's δ; 0 when it takes none); for a
loss with one term per row (cross-entropy), ``row(ŷ_n, y_n)`` = (ℓ_n, ∂ℓ_n/∂ŷ_n) on one
row's arrays.  Both call the entry's own ``value`` and ``grad`` (numba compiles them as
written).  An entry whose ``fused`` is None is declined with its ``declined`` reason and
trained on the graph engine.  Adding a loss: its terms from primitives, its ``value`` and
``grad`` on arrays, its line in ``LOSSES`` with the fused form beside it; the parity tests
run over the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Iterable

import numpy as np

from . import ops
from .errors import ConfigError, ShapeError
from .spec import format_spec, parse_spec
from .tensor import Tensor, apply


@dataclass(frozen=True)
class FusedLoss:
    """A loss's fused form: ``term(ŷ, y, p)`` → (ℓ, ∂ℓ/∂ŷ) for one output and its target
    (losses with a term per element), or ``row(ŷ_n, y_n)`` → (ℓ_n, ∂ℓ_n/∂ŷ_n) on one row's
    arrays (``per_row`` losses); p is the loss's number (0 when it takes none)."""

    term: Callable[[float, float, float], tuple[float, float]] | None = None
    row: Callable[[np.ndarray, np.ndarray], tuple[Any, np.ndarray]] | None = None
    penalty: bool = False  # J = L + α/(2 Σ s) Σ‖W‖² over the weight matrices, α = p


@dataclass(frozen=True)
class Loss:
    """``L(ŷ, y)`` with its formula and its derivative ``∂ℓ/∂ŷ`` for one element.

    ``terms(ŷ, y)`` gives the unreduced terms ℓ (per element, or per row when
    ``per_row``); calling the loss reduces them to the (weighted) mean.  ``value(ŷ, y)``
    is the same ℓ on plain NumPy arrays, for code without a graph (the fused loop of
    ``fastpath`` compiles it); ``value_and_grad`` gives both.  ``params`` holds the
    loss's number (Huber's δ), already bound into ``terms``, ``value`` and ``grad``.
    """

    name: str
    terms: Callable[[Tensor, Any], Tensor]
    formula: str
    derivative: str
    grad: Callable[[np.ndarray, np.ndarray], np.ndarray]  # ∂ℓ/∂ŷ per element (not averaged)
    per_row: bool = False  # ℓ is one number per row (summed over its outputs)
    params: dict[str, float] = field(default_factory=dict, hash=False)
    value: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = field(default=None,
                                                                          compare=False)
    both: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = field(
        default=None, compare=False)  # (value, grad) in one pass, where they share work
    fused: FusedLoss | None = field(default=None, compare=False)  # None: graph engine only
    declined: str = field(default="", compare=False)  # why it has no fused form

    def value_and_grad(self, pred: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(value(ŷ, y), grad(ŷ, y))`` on arrays (one pass for cross-entropy)."""
        if self.both is not None:
            return self.both(pred, y)
        return self.value(pred, y), self.grad(pred, y)

    def __call__(self, pred: Tensor, target: Any, sample_weight: Any = None) -> Tensor:
        """``L``: the mean of the terms, or ``Σ_n w_n ℓ_n / Σ_n w_n`` with ``sample_weight``."""
        target_shape = np.shape(target.data if isinstance(target, Tensor) else target)
        if tuple(target_shape) != pred.shape:
            raise ShapeError(
                f"{self.name}: the targets have shape {tuple(target_shape)} but the "
                f"predictions {pred.shape}; give one target column per output neuron"
            )
        terms = self.terms(pred, target)
        if sample_weight is None:
            return terms.mean()
        share = _weight_shares(sample_weight, pred, self.name)
        if terms.ndim > 1:  # ℓ_n = the mean of row n's terms
            terms = terms.mean(axis=tuple(range(1, terms.ndim)))
        return (terms * share).sum()

    @property
    def spec(self) -> str:
        """The name ``get_loss`` reads back, with the number: ``"huber:0.5"``."""
        return format_spec(self.name, next(iter(self.params.values()), None))


def _weight_shares(sample_weight: Any, pred: Tensor, name: str) -> np.ndarray:
    """``w_n / Σ w`` for each row (all 0 when every weight is 0), in the predictions' dtype."""
    n = pred.shape[0] if pred.ndim else 1
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: sample_weight must be numbers, one per row") from None
    if w.shape not in ((n,), (n, 1)):
        raise ShapeError(
            f"{name}: sample_weight has shape {w.shape}, but there are {n} rows; "
            "give one weight per row"
        )
    w = w.reshape(n)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ConfigError(f"{name}: sample_weight must be finite numbers ≥ 0")
    total = w.sum()
    return (w / total if total > 0 else w).astype(pred.dtype)


def _mse(pred: Tensor, target: Any) -> Tensor:
    return (target - pred) ** 2


def mse_value(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ℓ of MSE on arrays: (y − ŷ)²."""
    return (y - pred) ** 2


def mse_grad(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """∂ℓ/∂ŷ of MSE: −2(y − ŷ)."""
    return -2.0 * (y - pred)


MSE = Loss(
    "mse", _mse,
    formula="L = (y − ŷ)²",
    derivative="∂L/∂ŷ = −2(y − ŷ)",
    grad=mse_grad,
    value=mse_value,
    fused=FusedLoss(term=lambda pred, y, p: (mse_value(pred, y), mse_grad(pred, y))),
)


def mae_value(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ℓ of MAE on arrays: |ŷ − y|."""
    return np.abs(pred - y)


def mae_grad(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """∂ℓ/∂ŷ of MAE: sign(ŷ − y)."""
    return np.sign(pred - y)


MAE = Loss(
    "mae", lambda pred, target: (pred - target).abs(),
    formula="L = |y − ŷ|",
    derivative="∂L/∂ŷ = sign(ŷ − y)",
    grad=mae_grad,
    value=mae_value,
    fused=FusedLoss(term=lambda pred, y, p: (mae_value(pred, y), mae_grad(pred, y))),
)


def _sse_half(pred: Tensor, target: Any) -> Tensor:
    """The textbook's ``E = Σ_k ½ (y_k − ŷ_k)²``, one number per row (summed over its
    outputs), so ``∂E/∂ŷ_k = −(y_k − ŷ_k)`` with no ``2/K``; a batch takes the mean."""
    return (0.5 * (target - pred) ** 2).sum(axis=-1)


def sse_half_value(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """E_n = Σ_k ½(y_nk − ŷ_nk)² on arrays, one number per row."""
    return ops._last_axis_total(0.5 * (y - pred) ** 2)


def sse_half_grad(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """∂E_n/∂ŷ_nk = ŷ_nk − y_nk."""
    return pred - y


SSE_HALF = Loss(
    "sse_half", _sse_half,
    formula="L = Σ_k ½(y_k − ŷ_k)²",
    derivative="∂L/∂ŷ_k = −(y_k − ŷ_k)",
    grad=sse_half_grad,
    per_row=True,
    value=sse_half_value,
    fused=FusedLoss(row=lambda pred, y: (sse_half_value(pred, y), sse_half_grad(pred, y))),
)


def huber_loss_grad(pred: np.ndarray, y: np.ndarray, delta: float = 1.0) -> np.ndarray:
    """∂ℓ/∂ŷ of the Huber loss: clip(ŷ − y, −δ, δ)."""
    return ops.huber_grad(pred - y, delta)


def huber_loss_value(pred: np.ndarray, y: np.ndarray, delta: float = 1.0) -> np.ndarray:
    """ℓ of the Huber loss on arrays: huber(ŷ − y) (see ``ops.huber``)."""
    return ops.huber(pred - y, delta)


def huber(delta: float = 1.0) -> Loss:
    """Huber loss: ``ℓ = ½(ŷ − y)²`` where ``|ŷ − y| ≤ δ``, else ``δ(|ŷ − y| − ½δ)``."""
    delta = float(delta)
    if not np.isfinite(delta) or delta <= 0:
        raise ConfigError(f"Huber's δ must be a positive number, got {delta!r}")
    return Loss(
        "huber", lambda pred, target: apply(ops.HUBER, pred - target, delta=delta),
        formula="L = ½(y − ŷ)² if |y − ŷ| ≤ δ else δ(|y − ŷ| − ½δ)",
        derivative="∂L/∂ŷ = clip(ŷ − y, −δ, δ)",
        grad=partial(huber_loss_grad, delta=delta),
        params={"delta": delta},
        value=partial(huber_loss_value, delta=delta),
        fused=_HUBER_FUSED,
    )


_HUBER_FUSED = FusedLoss(term=lambda pred, y, p: (huber_loss_value(pred, y, p),
                                                  huber_loss_grad(pred, y, p)))


def _bce(pred: Tensor, target: Any) -> Tensor:
    return apply(ops.SOFTPLUS, pred) - target * pred


def bce_value(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ℓ of binary cross-entropy on logits: softplus(z) − y z."""
    return ops.softplus(pred) - y * pred


def bce_grad(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """∂ℓ/∂z of binary cross-entropy: σ(z) − y."""
    return ops.sigmoid(pred) - y


BCE = Loss(
    "bce", _bce,
    formula="L = −[y ln σ(z) + (1 − y) ln(1 − σ(z))] = softplus(z) − y·z",
    derivative="∂L/∂z = σ(z) − y",
    grad=bce_grad,
    value=bce_value,
    fused=FusedLoss(term=lambda pred, y, p: (bce_value(pred, y), bce_grad(pred, y))),
)


def _cross_entropy(pred: Tensor, target: Any) -> Tensor:
    if pred.ndim != 2 or pred.shape[1] < 2:
        raise ShapeError(
            f"cross_entropy needs logits of shape (rows, classes) with 2 or more classes, got "
            f"{pred.shape}; for one output use bce, and give targets one-hot"
        )
    return -(target * apply(ops.LOG_SOFTMAX, pred)).sum(axis=-1)


def cross_entropy_value_and_grad(pred: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ℓ_n = −Σ_k y_nk log softmax(z_n)_k (one number per row) and ∂ℓ_n/∂z_nk =
    p_nk Σ_j y_nj − y_nk (= p − y for one-hot targets), p = softmax(z), from one softmax.
    ``y`` has ``pred``'s shape and number type (as ``Loss.__call__`` and ``fit`` give it):
    the gradient is written in the place of e^(z − m).  numba compiles this for the fused
    loop, where it allocates two arrays a row, each costing about as much as ten exp."""
    m, e, total = ops.softmax_parts(pred)
    terms = pred - m - np.log(total)  # log softmax, as ops.log_softmax
    terms *= y
    grad = e
    grad /= total  # softmax, as ops.softmax
    grad *= ops._last_axis_sum(y)
    grad -= y
    return -ops._last_axis_total(terms), grad


def cross_entropy_grad(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """∂ℓ_n/∂z_nk (``cross_entropy_value_and_grad``)."""
    return cross_entropy_value_and_grad(pred, y)[1]


def cross_entropy_value(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ℓ_n on arrays, one number per row (``cross_entropy_value_and_grad``)."""
    return cross_entropy_value_and_grad(pred, y)[0]


CROSS_ENTROPY = Loss(
    "cross_entropy", _cross_entropy,
    formula="L = −Σ_k y_k ln p_k,  p = softmax(z)",
    derivative="∂L/∂z_k = p_k − y_k",
    grad=cross_entropy_grad,
    per_row=True,
    value=cross_entropy_value,
    both=cross_entropy_value_and_grad,
    fused=FusedLoss(row=cross_entropy_value_and_grad),  # one softmax for both
)

CLASSIFICATION_LOSSES = ("cross_entropy", "bce")  # on logits, trained on labels

LOSSES: dict[str, Loss] = {
    "mse": MSE, "mae": MAE, "huber": huber(), "bce": BCE, "cross_entropy": CROSS_ENTROPY,
    "sse_half": SSE_HALF,
}
_ALIASES = {
    "mean_squared_error": "mse", "squared_error": "mse", "l2": "mse",
    "mean_absolute_error": "mae", "absolute_error": "mae", "l1": "mae",
    "binary_cross_entropy": "bce", "binary_crossentropy": "bce",
    "ce": "cross_entropy", "cce": "cross_entropy", "categorical_cross_entropy": "cross_entropy",
    "categorical_crossentropy": "cross_entropy", "sse": "sse_half", "half_sse": "sse_half",
}


def half_mse_value(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ℓ of scikit-learn's squared error: ½(y − ŷ)²."""
    return 0.5 * (y - pred) ** 2


def half_mse_grad(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """∂ℓ/∂ŷ of ½(y − ŷ)²: ŷ − y."""
    return pred - y


def _sklearn(name: str, base: Loss, value: Callable, grad: Callable, half: bool) -> Loss:
    fused = FusedLoss(row=base.fused.row, penalty=True) if base.per_row else \
        FusedLoss(term=_TERMS[name], penalty=True)
    return Loss(
        f"sklearn_{name}",
        (lambda pred, target: base.terms(pred, target) * 0.5) if half else base.terms,
        formula=("½·" if half else "") + base.formula + " + α/(2B)·Σ‖W‖²",
        derivative=("½·" if half else "") + base.derivative + " (+ αW/B on each weight)",
        grad=grad, per_row=base.per_row, params={"alpha": 0.0}, value=value,
        both=None if half else base.both, fused=fused)


_TERMS = {  # the per-output terms of scikit-learn's objectives (the penalty: the loop's)
    "mse": lambda pred, y, p: (half_mse_value(pred, y), half_mse_grad(pred, y)),
    "bce": lambda pred, y, p: (bce_value(pred, y), bce_grad(pred, y)),
}

# scikit-learn's MLP objectives: its squared error (with the ½) and cross-entropies, plus
# the L2 penalty α/(2 Σ s) Σ‖W‖² of each batch (Σ s: the batch's rows, or total sample
# weight; biases not penalised).  ``chainrule.sklearn.Objective`` gives one its model and
# α; the fused loop adds the penalty and its gradient αW/Σs (``FusedLoss.penalty``).
SKLEARN_LOSSES: dict[str, Loss] = {
    "sklearn_mse": _sklearn("mse", MSE, half_mse_value, half_mse_grad, half=True),
    "sklearn_bce": _sklearn("bce", BCE, bce_value, bce_grad, half=False),
    "sklearn_cross_entropy": _sklearn("cross_entropy", CROSS_ENTROPY, cross_entropy_value,
                                      cross_entropy_grad, half=False),
}


def fused_entry(name: str) -> Loss | None:
    """The table entry the fused loop runs for the loss ``name`` (None if there is none):
    chainrule's losses and scikit-learn's objectives."""
    return LOSSES.get(name) or SKLEARN_LOSSES.get(name)


def get_loss(spec: str | Loss) -> Loss:
    """A loss by name (``mse``, ``mae``, ``huber``, ``bce``, ``cross_entropy``, ``sse_half``), or the loss
    itself; ``huber:0.5`` sets Huber's δ (default 1)."""
    if isinstance(spec, Loss):
        return spec
    key, value = parse_spec(spec, "loss")
    key = _ALIASES.get(key, key)
    if key not in LOSSES:
        raise ConfigError(f"unknown loss {spec!r}; choose one of: {', '.join(LOSSES)}")
    if value is None:
        return LOSSES[key]
    if key != "huber":
        raise ConfigError(f"the loss {key!r} takes no number; only huber does (e.g. huber:0.5)")
    return huber(value)


def penalty(params: Any, l2: float = 0.0, l1: float = 0.0) -> Tensor:
    """``(λ₂/2) Σ w² + λ₁ Σ |w|`` over the weight matrices, to add to the loss.

    ``params`` is a model or its parameters; only tensors with two or more axes (the
    weight matrices) are penalised, not the biases.  The ½ makes the gradient ``λ₂ w``,
    so ``l2`` equals SGD's ``weight_decay`` restricted to the weights (Keras's ``l2(λ)``
    is ``λ Σ w²``, twice this).  ``L = loss(ŷ, y) + penalty(model, l2=1e-4)``.
    """
    for what, lam in (("l2", l2), ("l1", l1)):
        if not np.isfinite(lam) or lam < 0:
            raise ConfigError(f"the {what} penalty must be a number ≥ 0, got {lam!r}")
    tensors: Iterable[Tensor] = params.parameters() if hasattr(params, "parameters") else params
    weights = [p for p in tensors if p.ndim >= 2]
    dtype = weights[0].dtype if weights else np.float64
    total = Tensor._wrap(np.zeros((), dtype=dtype))
    for w in weights:
        if l2:
            total = total + (0.5 * l2) * (w ** 2.0).sum()
        if l1:
            total = total + l1 * w.abs().sum()
    return total
