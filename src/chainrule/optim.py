"""Optimisers: how a gradient moves the parameters.

Each update rule is written once, as a pure function of numbers that returns the new
weight and state (``sgd_step``, ``sgd_momentum_step``, ``adam_step``, ``rmsprop_step``,
``adagrad_step``, with the per-step numbers from ``adam_scales`` and ``adagrad_rate``).
Only arithmetic and ``np.sqrt``, so it works elementwise on NumPy arrays as well as on
one number: an optimiser applies it to whole arrays, in place (``sgd_``, ``adam_``, …
write the results back into the parameter's and the state's own arrays), and the fused
loop (numba, nopython) calls it on one weight at a time, with no array allocated.  An
optimiser object keeps the per-parameter state in lists and applies the rule to each
parameter in ``step()``.

The formulas and defaults are torch.optim's (g is ∂L/∂w, λ the weight decay, t the
parameter's step number from 1), so the same gradients give the same weights:

* SGD:      d = g + λw ; b ← μb + d ; w ← w − η b  (Nesterov: w ← w − η(d + μb));
            without momentum w ← w − η d
* Adam:     d = g + λw ; m ← β₁m + (1 − β₁)d ; v ← β₂v + (1 − β₂)d² ;
            w ← w − η/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
* AdamW:    w ← w(1 − ηλ) first (decoupled decay), then Adam with d = g
* RMSprop:  d = g + λw ; s ← αs + (1 − α)d² ; r = √s + ε (centred: ḡ ← αḡ + (1 − α)d,
            r = √(s − ḡ²) + ε) ; w ← w − η d/r  (momentum μ: b ← μb + d/r ; w ← w − η b)
* Adagrad:  d = g + λw ; s ← s + d² ; w ← w − η/(1 + (t − 1)·decay) · d / (√s + ε)

The learning rate η is a number or a schedule (``chainrule.schedules``): ``opt.lr`` is
the current rate; ``start_epoch(e)`` sets it for epoch e (from 0) and
``end_epoch(e, loss)`` reports the epoch's training loss (``fit`` calls both).

**Fused forms.**  Each optimiser of the table (``OPTIMIZERS``) names its rule's fused form
(``fused_rule()``, a ``FusedRule`` of ``RULES``): the pure rule lifted over all
parameters laid end to end (``sgd_update``, …: a loop over weights that numba compiles),
the numbers it reads (``numbers(opt)``: λ first, then the rule's own) and its state
layout (``state(opt)``: the optimiser's state lists for s1, s2, s3).  Optimisers whose
rules differ only in numbers share one (Adam and AdamW; RMSprop centred or with
momentum; SGD with any momentum > 0, Nesterov or not), and so one compiled loop.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from .errors import ConfigError
from .schedules import Schedule
from .tensor import Tensor


Number = Any  # a float, or an array of them: the rules below work elementwise on both


def sgd_step(w: Number, g: Number, lr: float, weight_decay: float = 0.0) -> Number:
    """The new weight: w − η (g + λw)  (the seed's w − η g when λ = 0)."""
    d = g + weight_decay * w if weight_decay != 0.0 else g
    return w - lr * d


def sgd_momentum_step(w: Number, g: Number, b: Number, lr: float, mu: float,
                      nesterov: bool = False, weight_decay: float = 0.0) -> tuple:
    """(w', b'): d = g + λw ; b' = μb + d ; w' = w − η b'  (Nesterov: w' = w − η(d + μb')).

    b starts at 0.  For a constant η this is the same as the velocity form
    v ← μv − ηd, w ← w + v (v = −ηb); unlike it, a changing η scales the whole step.
    """
    d = g + weight_decay * w if weight_decay != 0.0 else g
    b = b * mu + d
    if nesterov:
        return w - lr * (d + mu * b), b
    return w - lr * b, b


def adam_scales(t: int, lr: float, beta1: float, beta2: float) -> tuple[float, float]:
    """Adam's bias corrections for step t ≥ 1: (η/(1 − β₁ᵗ), √(1 − β₂ᵗ))."""
    return lr / (1.0 - beta1 ** t), (1.0 - beta2 ** t) ** 0.5


def adam_step(w: Number, g: Number, m: Number, v: Number, step: float, root: float,
              lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
              weight_decay: float = 0.0, decoupled: bool = False) -> tuple:
    """(w', m', v') with (step, root) = ``adam_scales(t, η, β₁, β₂)`` (m, v start at 0):

    d = g + λw  (AdamW, ``decoupled``: w ← w(1 − ηλ) first and d = g)
    m' = β₁m + (1 − β₁)d ;  v' = β₂v + (1 − β₂)d²
    w' = w − η/(1 − β₁ᵗ) · m' / (√v' / √(1 − β₂ᵗ) + ε)
    """
    if decoupled:
        w = w * (1.0 - lr * weight_decay)
    d = g + weight_decay * w if weight_decay != 0.0 and not decoupled else g
    m = m + (1.0 - beta1) * (d - m)
    v = v * beta2 + (1.0 - beta2) * (d * d)
    return w - step * (m / (np.sqrt(v) / root + eps)), m, v


def rmsprop_step(w: Number, g: Number, s: Number, gavg: Number, b: Number, lr: float,
                 alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False) -> tuple:
    """(w', s', ḡ', b') (s, ḡ, b start at 0; ḡ changes only when centred, b only with momentum):

    d = g + λw ;  s' = αs + (1 − α)d²
    r = √s' + ε   (centred: ḡ' = ḡ + (1 − α)(d − ḡ) ; r = √(s' − ḡ'²) + ε)
    w' = w − η d/r   (momentum μ > 0: b' = μb + d/r ; w' = w − η b')
    """
    d = g + weight_decay * w if weight_decay != 0.0 else g
    s = s * alpha + (1.0 - alpha) * (d * d)
    if centered:
        gavg = gavg + (1.0 - alpha) * (d - gavg)
        r = np.sqrt(s - gavg * gavg) + eps
    else:
        r = np.sqrt(s) + eps
    if momentum > 0.0:
        b = b * momentum + d / r
        return w - lr * b, s, gavg, b
    return w - lr * (d / r), s, gavg, b


def adagrad_rate(t: int, lr: float, lr_decay: float = 0.0) -> float:
    """Adagrad's rate for step t ≥ 1: η/(1 + (t − 1)·lr_decay)."""
    return lr / (1.0 + (t - 1) * lr_decay)


def adagrad_step(w: Number, g: Number, s: Number, rate: float, eps: float = 1e-10,
                 weight_decay: float = 0.0) -> tuple:
    """(w', s') with rate = ``adagrad_rate(t, η, decay)`` (s starts at the initial value):

    d = g + λw ;  s' = s + d² ;  w' = w − rate · d / (√s' + ε)
    """
    d = g + weight_decay * w if weight_decay != 0.0 else g
    s = s + d * d
    return w - rate * (d / (np.sqrt(s) + eps)), s


# The same rules in place on one parameter's arrays (what ``Optimizer.step`` runs): each
# writes the rule's results back into the arrays it was given, keeping their identity.

def sgd_(w: np.ndarray, g: np.ndarray, lr: float, weight_decay: float = 0.0) -> None:
    """In place: ``sgd_step``."""
    w[...] = sgd_step(w, g, lr, weight_decay)


def sgd_momentum_(w: np.ndarray, g: np.ndarray, buf: np.ndarray, lr: float, mu: float,
                  nesterov: bool = False, weight_decay: float = 0.0) -> None:
    """In place: ``sgd_momentum_step`` (``buf`` is b)."""
    w_new, b_new = sgd_momentum_step(w, g, buf, lr, mu, nesterov, weight_decay)
    buf[...] = b_new
    w[...] = w_new


def adam_(w: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, t: int, lr: float,
          beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 0.0, decoupled: bool = False) -> None:
    """In place, step number t ≥ 1: ``adam_step`` with ``adam_scales(t, ...)``."""
    step, root = adam_scales(t, lr, beta1, beta2)
    w_new, m_new, v_new = adam_step(w, g, m, v, step, root, lr, beta1, beta2, eps,
                                    weight_decay, decoupled)
    m[...] = m_new
    v[...] = v_new
    w[...] = w_new


def rmsprop_(w: np.ndarray, g: np.ndarray, sq: np.ndarray, gavg: np.ndarray, buf: np.ndarray,
             lr: float, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
             momentum: float = 0.0, centered: bool = False) -> None:
    """In place: ``rmsprop_step`` (gavg and buf may be empty when unused)."""
    # unused state enters the rule as zeros of the weights' shape (one array type for numba)
    gavg_in = gavg.reshape(sq.shape) if centered else np.zeros_like(sq)
    buf_in = buf.reshape(sq.shape) if momentum > 0.0 else np.zeros_like(sq)
    w_new, s_new, gavg_new, b_new = rmsprop_step(w, g, sq, gavg_in, buf_in, lr, alpha, eps,
                                                 weight_decay, momentum, centered)
    sq[...] = s_new
    if centered:
        gavg[...] = gavg_new
    if momentum > 0.0:
        buf[...] = b_new
    w[...] = w_new


def adagrad_(w: np.ndarray, g: np.ndarray, s: np.ndarray, t: int, lr: float,
             eps: float = 1e-10, weight_decay: float = 0.0, lr_decay: float = 0.0) -> None:
    """In place, step number t ≥ 1: ``adagrad_step`` with ``adagrad_rate(t, ...)``."""
    w_new, s_new = adagrad_step(w, g, s, adagrad_rate(t, lr, lr_decay), eps, weight_decay)
    s[...] = s_new
    w[...] = w_new


# The rules lifted over all parameters laid end to end (flat arrays ``theta``, ``grad``
# and the state ``s1``..``s3``, empty where unused): what the fused loop calls once a step,
# compiled by numba (in plain Python they would be slow; ``Optimizer.step`` runs the
# in-place forms above).  ``hyper`` holds ``FusedRule.numbers``; t is the step number.

def sgd_update(hyper: Any, theta: Any, grad: Any, s1: Any, s2: Any, s3: Any, t: int,
               lr: float) -> None:
    """theta[i] ← ``sgd_step`` for every i (hyper = (λ,))."""
    wd = hyper[0]
    for i in range(theta.size):
        theta[i] = sgd_step(theta[i], grad[i], lr, wd)


def sgd_momentum_update(hyper: Any, theta: Any, grad: Any, s1: Any, s2: Any, s3: Any,
                        t: int, lr: float) -> None:
    """(theta[i], b[i]) ← ``sgd_momentum_step`` (hyper = (λ, μ, nesterov); s1 = b)."""
    wd, mu, nesterov = hyper[0], hyper[1], hyper[2] != 0.0
    for i in range(theta.size):
        theta[i], s1[i] = sgd_momentum_step(theta[i], grad[i], s1[i], lr, mu, nesterov, wd)


def adam_update(hyper: Any, theta: Any, grad: Any, s1: Any, s2: Any, s3: Any, t: int,
                lr: float) -> None:
    """``adam_step`` for every weight (hyper = (λ, β₁, β₂, ε, decoupled); s1 = m, s2 = v)."""
    wd, b1, b2, eps, decoupled = hyper[0], hyper[1], hyper[2], hyper[3], hyper[4] != 0.0
    step, root = adam_scales(t, lr, b1, b2)
    for i in range(theta.size):
        theta[i], s1[i], s2[i] = adam_step(theta[i], grad[i], s1[i], s2[i], step, root, lr,
                                           b1, b2, eps, wd, decoupled)


def rmsprop_update(hyper: Any, theta: Any, grad: Any, s1: Any, s2: Any, s3: Any, t: int,
                   lr: float) -> None:
    """``rmsprop_step`` for every weight (hyper = (λ, α, ε, μ, centred); s1 = s, s2 = ḡ,
    s3 = b: ḡ and b are empty when unused, and enter the rule as 0)."""
    wd, alpha, eps, mu, centered = hyper[0], hyper[1], hyper[2], hyper[3], hyper[4] != 0.0
    for i in range(theta.size):
        gavg = s2[i] if centered else 0.0
        buf = s3[i] if mu > 0.0 else 0.0
        theta[i], s1[i], gavg, buf = rmsprop_step(theta[i], grad[i], s1[i], gavg, buf, lr,
                                                  alpha, eps, wd, mu, centered)
        if centered:
            s2[i] = gavg
        if mu > 0.0:
            s3[i] = buf


def adagrad_update(hyper: Any, theta: Any, grad: Any, s1: Any, s2: Any, s3: Any, t: int,
                   lr: float) -> None:
    """``adagrad_step`` for every weight (hyper = (λ, lr_decay, ε); s1 = the sums)."""
    rate = adagrad_rate(t, lr, hyper[1])
    for i in range(theta.size):
        theta[i], s1[i] = adagrad_step(theta[i], grad[i], s1[i], rate, hyper[2], hyper[0])


@dataclass(frozen=True)
class FusedRule:
    """An update rule's fused form: ``update(hyper, theta, grad, s1, s2, s3, t, lr)`` moves
    every weight by the rule; ``numbers(opt)`` gives ``hyper`` (λ first) and ``state(opt)``
    the optimiser's state lists for s1, s2, s3 in that order.  ``each(w, g, lr, hyper)``,
    where given, is the rule for one weight of a rule with no state: the loop may then move
    each weight as its gradient forms."""

    name: str
    update: Callable[..., None]
    numbers: Callable[[Any], list[float]]
    state: Callable[[Any], list[list[np.ndarray]]]
    each: Callable[..., Any] | None = None


RULES: dict[str, FusedRule] = {rule.name: rule for rule in (
    FusedRule("sgd", sgd_update, lambda o: [o.weight_decay], lambda o: [],
              each=lambda w, g, lr, hyper: sgd_step(w, g, lr, hyper[0])),
    FusedRule("sgd_momentum", sgd_momentum_update,
              lambda o: [o.weight_decay, o.momentum, o.nesterov],
              lambda o: [o.momentum_buffer]),
    FusedRule("adam", adam_update,
              lambda o: [o.weight_decay, o.beta1, o.beta2, o.eps, o.decoupled],
              lambda o: [o.m, o.v]),
    FusedRule("rmsprop", rmsprop_update,
              lambda o: [o.weight_decay, o.alpha, o.eps, o.momentum, o.centered],
              lambda o: [o.square_avg, o.grad_avg, o.momentum_buffer]),
    FusedRule("adagrad", adagrad_update, lambda o: [o.weight_decay, o.lr_decay, o.eps],
              lambda o: [o.sum]),
)}


def _check_rate(lr: Any, allow_zero: bool = False) -> float:
    try:
        lr = float(lr)
    except (TypeError, ValueError):
        raise ConfigError(f"the learning rate must be a number, got {lr!r}") from None
    if not np.isfinite(lr) or lr < 0 or (lr == 0 and not allow_zero):
        raise ConfigError(f"the learning rate must be a positive number, got {lr!r}")
    return lr


def _check(value: Any, what: str, low: float = 0.0, high: float = np.inf,
           high_open: bool = False) -> float:
    """``value`` as a float in [low, high] (or [low, high) when ``high_open``)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number, got {value!r}") from None
    if not (low <= value <= high) or (high_open and value == high):
        bound = ")" if high_open else "]"
        raise ConfigError(f"{what} must be in [{low:g}, {high:g}{bound}, got {value!r}")
    return value


class Optimizer:
    """Holds the parameters and their state; ``step()`` applies the update rule to each.

    ``lr`` is a number, a ``Schedule`` or any function ``epoch -> rate``; ``self.lr``
    is always the current rate (a number).  Setting ``opt.lr = 0.05`` fixes the rate
    and drops the schedule.
    """

    def __init__(self, params: Iterable[Tensor], lr: float | Schedule | Callable[[int], float]) -> None:
        self.params = list(params)
        if not self.params:
            raise ConfigError("the optimiser got no parameters; pass model.parameters()")
        self.schedule: Schedule | Callable[[int], float] | None = None
        if callable(lr):
            self.schedule = lr
            self._lr = _check_rate(lr(0), allow_zero=True)
        else:
            self._lr = _check_rate(lr)
        self.steps = 0

    @property
    def lr(self) -> float:
        """The learning rate the next step uses."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self.schedule, self._lr = None, _check_rate(value)

    def start_epoch(self, epoch: int) -> None:
        """Set the rate for epoch ``epoch`` (0 for the first) from the schedule, if any."""
        if self.schedule is not None:
            self._lr = _check_rate(self.schedule(epoch), allow_zero=True)

    def end_epoch(self, epoch: int, loss: float) -> None:
        """Tell the schedule the mean training loss of epoch ``epoch`` (for ReduceOnPlateau)."""
        observe = getattr(self.schedule, "observe", None)
        if observe is not None:
            observe(epoch, loss)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        self.steps += 1
        for i, p in enumerate(self.params):
            if p.grad is not None:
                self._update(i, p.data, p.grad)

    def _update(self, i: int, w: np.ndarray, g: np.ndarray) -> None:  # pragma: no cover
        raise NotImplementedError

    def fused_rule(self) -> FusedRule | None:
        """The fused form of this optimiser's rule (``RULES``), None if it has none."""
        return None


class SGD(Optimizer):
    """Stochastic gradient descent: ``w ← w − η (∂L/∂w + λw)``, with optional momentum μ
    (and Nesterov) kept in ``momentum_buffer`` (see ``sgd_momentum_``)."""

    def __init__(self, params: Iterable[Tensor], lr: float | Schedule = 0.01,
                 momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.momentum = _check(momentum, "momentum", 0.0, 1.0, high_open=True)
        if nesterov and momentum == 0:
            raise ConfigError("Nesterov momentum needs momentum > 0")
        self.nesterov = bool(nesterov)
        self.weight_decay = _check(weight_decay, "weight_decay")
        self.momentum_buffer = [np.zeros_like(p.data) for p in self.params] if momentum else []

    def _update(self, i: int, w: np.ndarray, g: np.ndarray) -> None:
        if self.momentum:
            sgd_momentum_(w, g, self.momentum_buffer[i], self.lr, self.momentum, self.nesterov,
                          self.weight_decay)
        else:
            sgd_(w, g, self.lr, self.weight_decay)

    def fused_rule(self) -> FusedRule:
        """``sgd``, or ``sgd_momentum`` (which keeps a buffer) when μ > 0."""
        return RULES["sgd_momentum" if self.momentum else "sgd"]


class Adam(Optimizer):
    """Adam (Kingma & Ba): per-weight steps from running means of g and g² (see ``adam_``);
    ``weight_decay`` λ adds λw to the gradient (L2), as torch.optim.Adam."""

    decoupled = False

    def __init__(self, params: Iterable[Tensor], lr: float | Schedule = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.beta1 = _check(betas[0], "beta1", 0.0, 1.0, high_open=True)
        self.beta2 = _check(betas[1], "beta2", 0.0, 1.0, high_open=True)
        self.eps = _check(eps, "eps")
        self.weight_decay = _check(weight_decay, "weight_decay")
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]
        self.t = [0] * len(self.params)

    def _update(self, i: int, w: np.ndarray, g: np.ndarray) -> None:
        self.t[i] += 1
        adam_(w, g, self.m[i], self.v[i], self.t[i], self.lr, self.beta1, self.beta2,
              self.eps, self.weight_decay, self.decoupled)

    def fused_rule(self) -> FusedRule:
        """``adam`` (AdamW too: ``decoupled`` is one of its numbers)."""
        return RULES["adam"]


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``w ← w(1 − ηλ)`` before each
    Adam step, λ = 0.01 by default, as torch.optim.AdamW."""

    decoupled = True

    def __init__(self, params: Iterable[Tensor], lr: float | Schedule = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


class RMSprop(Optimizer):
    """RMSprop: divide the step by a running root mean square of g (see ``rmsprop_``)."""

    def __init__(self, params: Iterable[Tensor], lr: float | Schedule = 1e-2,
                 alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False) -> None:
        super().__init__(params, lr)
        self.alpha = _check(alpha, "alpha", 0.0, 1.0)
        self.eps = _check(eps, "eps")
        self.weight_decay = _check(weight_decay, "weight_decay")
        self.momentum = _check(momentum, "momentum", 0.0, 1.0, high_open=True)
        self.centered = bool(centered)
        self.square_avg = [np.zeros_like(p.data) for p in self.params]
        self.grad_avg = [self._state(p, self.centered) for p in self.params]
        self.momentum_buffer = [self._state(p, self.momentum > 0) for p in self.params]

    @staticmethod
    def _state(p: Tensor, used: bool) -> np.ndarray:
        return np.zeros_like(p.data) if used else np.zeros(0, dtype=p.dtype)

    def _update(self, i: int, w: np.ndarray, g: np.ndarray) -> None:
        rmsprop_(w, g, self.square_avg[i], self.grad_avg[i], self.momentum_buffer[i], self.lr,
                 self.alpha, self.eps, self.weight_decay, self.momentum, self.centered)

    def fused_rule(self) -> FusedRule:
        return RULES["rmsprop"]


class Adagrad(Optimizer):
    """Adagrad: divide the step by the root of the sum of all past g² (see ``adagrad_``)."""

    def __init__(self, params: Iterable[Tensor], lr: float | Schedule = 1e-2,
                 lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> None:
        super().__init__(params, lr)
        self.lr_decay = _check(lr_decay, "lr_decay")
        self.weight_decay = _check(weight_decay, "weight_decay")
        self.eps = _check(eps, "eps")
        start = _check(initial_accumulator_value, "initial_accumulator_value")
        self.sum = [np.full_like(p.data, start) for p in self.params]
        self.t = [0] * len(self.params)

    def _update(self, i: int, w: np.ndarray, g: np.ndarray) -> None:
        self.t[i] += 1
        adagrad_(w, g, self.sum[i], self.t[i], self.lr, self.eps, self.weight_decay,
                 self.lr_decay)

    def fused_rule(self) -> FusedRule:
        return RULES["adagrad"]


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad,
}


def make_optimizer(spec: str | Optimizer, params: Iterable[Tensor],
                   lr: float | Schedule | None = None, **options: Any) -> Optimizer:
    """An optimiser by name (``sgd``, ``adam``, ``adamw``, ``rmsprop``, ``adagrad``) over
    ``params``, or the optimiser itself.  ``lr`` None takes the optimiser's default;
    ``options`` are its keyword arguments (``momentum=0.9``, ``betas=(0.9, 0.99)``, ...)."""
    if isinstance(spec, Optimizer):
        return spec
    key = str(spec).strip().lower()
    if key not in OPTIMIZERS:
        raise ConfigError(f"unknown optimiser {spec!r}; choose one of: {', '.join(OPTIMIZERS)}")
    cls = OPTIMIZERS[key]
    known = [n for n in inspect.signature(cls).parameters if n not in ("params", "lr")] \
        if options else []
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(
            f"the optimiser {key!r} has no option {', '.join(unknown)}; its options are: "
            f"{', '.join(known)}"
        )
    if lr is not None:
        options["lr"] = lr
    return cls(params, **options)
