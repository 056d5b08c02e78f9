"""The compiled epoch of the fused training loop (imports numba; ``fastpath`` loads it).

Nothing here is a second copy of a rule.  The activation functions and their
derivatives (``ops``), the losses' values and derivatives (``losses``) and the update
rules (``optim``) are compiled as they are, by numba; this module only strings them
together with the chain rule for a stack of dense layers, batch by batch:

    forward    Z_k = A_{k−1} W_k + b_k,   A_k = f_k(Z_k),   A_0 = the batch's rows
    loss       L = Σ_n s_n r_n,  r_n = ℓ_n (cross-entropy: one per row) or the mean of
               row n's K terms ℓ_nk;  s_n = 1/B, or w_n / Σ_m w_m with sample weights
    backward   D_L = ∂L/∂A_L = s_n ∂ℓ/∂ŷ (÷ K per element);  Δ_k = D_k ⊙ f_k'(A_k)
               (gelu: f_k'(Z_k));  ∂L/∂W_k = A_{k−1}ᵀ Δ_k,  ∂L/∂b_k = Σ_n Δ_k[n],
               D_{k−1} = Δ_k W_kᵀ
    update     the optimiser's rule, once over all parameters laid end to end

The elementwise functions run on one number at a time inside the loops, one dispatch on
the activation or loss per layer (not per neuron), and nothing is allocated per step
except by cross-entropy, which couples a row's outputs: it runs the shared array
functions on each row's views.  The matrix products are plain loops: this path is for
the many small steps where a framework's per-step overhead, not arithmetic, is the cost.
For layers of ``WIDE`` or more neurons they index with unsigned numbers, so numba skips
its negative-index test and LLVM vectorises them; narrower layers keep the plain scalar
loops, where a vector loop's set-up costs more than it saves.

numba lacks four NumPy forms that ``ops`` uses, so ``ops`` names them (``_select``,
``_cast``, ``_last_axis_max``, ``_last_axis_sum``) and this module gives numba an
implementation of each; they are NumPy operations, not rules.

numba caches the compiled epoch on disk (``cache=True``).  Its cache key includes a
fingerprint of every shared function's code, so editing ``ops``, ``losses`` or
``optim`` recompiles instead of running stale code.
"""

from __future__ import annotations

import hashlib
import inspect
import marshal

import numba
import numpy as np
from numba import types
from numba.extending import overload, register_jitable

from . import losses, ops, optim
from .fastpath import ACTIVATION_NAMES, LOSS_NAMES, RULE_NAMES, plain
from .nn.activations import ACTIVATIONS

ACTIVATION_CODES = {name: i for i, name in enumerate(ACTIVATION_NAMES)}
LOSS_CODES = {name: i for i, name in enumerate(LOSS_NAMES)}
OPTIMIZER_CODES = {name: i for i, name in enumerate(RULE_NAMES)}
LINEAR, SIGMOID, TANH, RELU, LEAKY_RELU, ELU, SOFTPLUS, GELU = range(len(ACTIVATION_NAMES))
MSE, MAE, HUBER, BCE, CROSS_ENTROPY = range(len(LOSS_NAMES))
SGD, SGD_MOMENTUM, ADAM, RMSPROP, ADAGRAD = range(len(RULE_NAMES))

# The shared functions: each exactly the object the graph engine uses.
_ACT = {name: (plain(ACTIVATIONS[name].fn), plain(ACTIVATIONS[name].grad))
        for name in ACTIVATION_NAMES}
_LOSS = {name: (plain(losses.LOSSES[name].value), plain(losses.LOSSES[name].grad))
         for name in LOSS_NAMES}
_RULES = (optim.sgd_step, optim.sgd_momentum_step, optim.adam_step, optim.rmsprop_step,
          optim.adagrad_step, optim.adam_scales, optim.adagrad_rate)
_IN_PLACE = (optim.sgd_, optim.sgd_momentum_, optim.adam_, optim.rmsprop_, optim.adagrad_)
_NUMPY_FORMS = (ops._select, ops._cast, ops._last_axis_max, ops._last_axis_sum)


def shared_functions() -> list:
    """Every function of ``ops``, ``losses`` and ``optim`` that the compiled epoch may run."""
    own = [f for module in (ops, losses) for f in vars(module).values()
           if inspect.isfunction(f) and f.__module__ == module.__name__]
    pairs = [f for pair in (*_ACT.values(), *_LOSS.values()) for f in pair]
    return [*own, *pairs, *_RULES, *_IN_PLACE]


def _fingerprint() -> str:
    """A hash of the shared functions' code (instructions, constants, names)."""
    h = hashlib.sha256()
    for fn in shared_functions():
        if hasattr(fn, "__code__"):  # np.tanh is a ufunc: nothing of ours to hash
            h.update(marshal.dumps(fn.__code__))
    return h.hexdigest()


# -- numba implementations of the four NumPy forms -------------------------------------

@overload(ops._select)
def _select_nb(cond, a, b):
    if isinstance(cond, types.Boolean):
        return lambda cond, a, b: a if cond else b
    return lambda cond, a, b: np.where(cond, a, b)


@overload(ops._cast)
def _cast_nb(x, like):
    if isinstance(like, types.Number):
        number = like
        return lambda x, like: number(x)
    return None


def _last_axis(reduce):
    """numba's form of a reduction over the last axis kept as size 1 (``reduce``: np.max, np.sum)."""
    def typer(z):
        if isinstance(z, types.Array) and z.ndim == 1:  # one row: a number, nothing allocated
            return lambda z: reduce(z)

        def impl(z):
            out = np.empty((z.shape[0], 1), dtype=z.dtype)
            for n in range(z.shape[0]):
                out[n, 0] = reduce(z[n])
            return out
        return impl
    return typer


overload(ops._last_axis_max)(_last_axis(np.max))
overload(ops._last_axis_sum)(_last_axis(np.sum))


for _fn in shared_functions():  # compiled code may call them by name (ops.sigmoid, …)
    if _fn not in _NUMPY_FORMS and inspect.isfunction(_fn) and _fn.__module__ == ops.__name__:
        register_jitable(_fn)
for _fn in _RULES:  # … and the in-place rules call the pure ones (optim.sgd_step, …)
    register_jitable(_fn)

_jit = numba.njit(inline="always", error_model="numpy")  # x/0 is ±inf or nan, as in NumPy


@_jit
def _u(i):
    """An index as unsigned: numba then skips its negative-index wraparound, which keeps
    LLVM from vectorising the loops (every index here is ≥ 0)."""
    return np.uint64(i)


sigmoid, sigmoid_grad = map(_jit, _ACT["sigmoid"])
tanh_grad = _jit(_ACT["tanh"][1])  # tanh itself is np.tanh, which numba knows
relu, relu_grad = map(_jit, _ACT["relu"])
leaky_relu, leaky_relu_grad = map(_jit, _ACT["leaky_relu"])
elu, elu_grad = map(_jit, _ACT["elu"])
softplus, softplus_grad = map(_jit, _ACT["softplus"])
gelu, gelu_grad = map(_jit, _ACT["gelu"])
mse_value, mse_grad = map(_jit, _LOSS["mse"])
mae_value, mae_grad = map(_jit, _LOSS["mae"])
huber_value, huber_grad = map(_jit, _LOSS["huber"])
bce_value, bce_grad = map(_jit, _LOSS["bce"])
ce_value, ce_grad = map(_jit, _LOSS["cross_entropy"])
sgd_step, sgd_momentum_step, adam_step, rmsprop_step, adagrad_step, adam_scales, \
    adagrad_rate = map(_jit, _RULES)


@_jit
def cross_entropy_terms(act, d, out, k, nb, Y, order, start, r):
    """Cross-entropy couples a row's outputs: r_n = ℓ_n and d = ∂ℓ/∂z, row by row (the
    shared array functions, on one row's views: ``_last_axis_*`` of a row is a number)."""
    for n in range(nb):
        lo = out + n * k
        pred, y = act[lo:lo + k], Y[order[_u(start + n)]]
        r[_u(n)] = ce_value(pred, y)
        g = ce_grad(pred, y)
        for j in range(k):
            d[_u(lo + j)] = g[_u(j)]


@_jit
def first_bad(grad, bounds):
    """(p, max |g|) for the first parameter p whose gradient is not finite, or (−1, 0)."""
    for p in range(bounds.size - 1):
        for i in range(bounds[p], bounds[p + 1]):
            if not np.isfinite(grad[i]):
                return p, np.max(np.abs(grad[bounds[p]:bounds[p + 1]]))
    return -1, 0.0


@_jit
def update(code, hyper, theta, grad, s1, s2, s3, t, lr):
    """One step of the optimiser's own rule, weight by weight (t: its step number).

    ``hyper`` = (λ, then the rule's numbers in the order of its arguments).  The rule is
    a pure function of numbers (``optim.*_step``): nothing is allocated."""
    wd = hyper[0]
    if code == SGD:
        for i in range(theta.size):
            theta[i] = sgd_step(theta[i], grad[i], lr, wd)
    elif code == SGD_MOMENTUM:
        mu, nesterov = hyper[1], hyper[2] != 0.0
        for i in range(theta.size):
            theta[i], s1[i] = sgd_momentum_step(theta[i], grad[i], s1[i], lr, mu, nesterov, wd)
    elif code == ADAM:
        b1, b2, eps, decoupled = hyper[1], hyper[2], hyper[3], hyper[4] != 0.0
        step, root = adam_scales(t, lr, b1, b2)
        for i in range(theta.size):
            theta[i], s1[i], s2[i] = adam_step(theta[i], grad[i], s1[i], s2[i], step, root, lr,
                                               b1, b2, eps, wd, decoupled)
    elif code == RMSPROP:
        alpha, eps, mu, centered = hyper[1], hyper[2], hyper[3], hyper[4] != 0.0
        for i in range(theta.size):  # ḡ and b are empty arrays when unused: pass a 0
            gavg = s2[i] if centered else 0.0
            buf = s3[i] if mu > 0.0 else 0.0
            theta[i], s1[i], gavg, buf = rmsprop_step(theta[i], grad[i], s1[i], gavg, buf, lr,
                                                      alpha, eps, wd, mu, centered)
            if centered:
                s2[i] = gavg
            if mu > 0.0:
                s3[i] = buf
    else:
        rate = adagrad_rate(t, lr, hyper[1])
        for i in range(theta.size):
            theta[i], s1[i] = adagrad_step(theta[i], grad[i], s1[i], rate, hyper[2], wd)


@_jit
def activate_rows(code, z, a, lo, hi, p):
    """a[i] = f(z[i]) for i in [lo, hi): one dispatch on ``code`` per call, not per number."""
    if code == SIGMOID:
        for i in range(lo, hi):
            a[i] = sigmoid(z[i])
    elif code == TANH:
        for i in range(lo, hi):
            a[i] = np.tanh(z[i])
    elif code == RELU:
        for i in range(lo, hi):
            a[i] = relu(z[i])
    elif code == LEAKY_RELU:
        for i in range(lo, hi):
            a[i] = leaky_relu(z[i], p)
    elif code == ELU:
        for i in range(lo, hi):
            a[i] = elu(z[i], p)
    elif code == SOFTPLUS:
        for i in range(lo, hi):
            a[i] = softplus(z[i])
    elif code == GELU:
        for i in range(lo, hi):
            a[i] = gelu(z[i])
    else:
        for i in range(lo, hi):
            a[i] = z[i]


@_jit
def derive_rows(code, d, a, z, lo, hi, p):
    """d[i] *= f'(z[i]) (from a[i]; gelu: from z[i]) for i in [lo, hi): one dispatch."""
    if code == SIGMOID:
        for i in range(lo, hi):
            d[i] *= sigmoid_grad(a[i])
    elif code == TANH:
        for i in range(lo, hi):
            d[i] *= tanh_grad(a[i])
    elif code == RELU:
        for i in range(lo, hi):
            d[i] *= relu_grad(a[i])
    elif code == LEAKY_RELU:
        for i in range(lo, hi):
            d[i] *= leaky_relu_grad(a[i], p)
    elif code == ELU:
        for i in range(lo, hi):
            d[i] *= elu_grad(a[i], p)
    elif code == SOFTPLUS:
        for i in range(lo, hi):
            d[i] *= softplus_grad(a[i])
    elif code == GELU:
        for i in range(lo, hi):
            d[i] *= gelu_grad(z[i])


@_jit
def loss_rows(code, delta, act, d, lo, k, Y, row):
    """Σ_j ℓ(act[lo + j], Y[row, j]) over one row's k outputs; d[lo + j] = ∂ℓ/∂ŷ."""
    r = 0.0
    if code == MSE:
        for j in range(k):
            p, y = act[lo + j], Y[row, j]
            r += mse_value(p, y)
            d[lo + j] = mse_grad(p, y)
    elif code == MAE:
        for j in range(k):
            p, y = act[lo + j], Y[row, j]
            r += mae_value(p, y)
            d[lo + j] = mae_grad(p, y)
    elif code == HUBER:
        for j in range(k):
            p, y = act[lo + j], Y[row, j]
            r += huber_value(p, y, delta)
            d[lo + j] = huber_grad(p, y, delta)
    else:
        for j in range(k):
            p, y = act[lo + j], Y[row, j]
            r += bce_value(p, y)
            d[lo + j] = bce_grad(p, y)
    return r


@_jit
def _s(i):
    """An index as it is (signed): numba tests it for wraparound, which keeps LLVM from
    vectorising the loop; cheaper than a vector loop's set-up for a few neurons."""
    return i


WIDE = 8  # layers with at least this many neurons get the vectorised loops (``_u``)


@_jit
def forward_rows(ix, z, act, theta, before, here, nb, ni, no, wo, bo):
    """Z = A_prev W + b for the batch's rows (bias after the product); ``ix`` casts indices."""
    for n in range(nb):
        zn = here + n * no
        for j in range(no):
            z[ix(zn + j)] = 0.0
        for i in range(ni):
            x = act[ix(before + n * ni + i)]
            wi = wo + i * no
            for j in range(no):
                z[ix(zn + j)] += x * theta[ix(wi + j)]
        for j in range(no):
            z[ix(zn + j)] += theta[ix(bo + j)]


@_jit
def backward_rows(ix, grad, d, act, theta, before, here, nb, ni, no, wo, bo, first):
    """∂L/∂W = A_prevᵀ Δ, ∂L/∂b = Σ_n Δ and (unless ``first``) D_prev = Δ Wᵀ; returns
    whether a gradient sum is not finite (a non-finite partial sum stays non-finite)."""
    bad = False
    for i in range(wo, wo + ni * no):
        grad[ix(i)] = 0.0
    for j in range(bo, bo + no):
        grad[ix(j)] = 0.0
    for n in range(nb):
        dn = here + n * no
        for i in range(ni):
            x = act[ix(before + n * ni + i)]
            wi = wo + i * no
            for j in range(no):
                g = grad[ix(wi + j)] + x * d[ix(dn + j)]
                grad[ix(wi + j)] = g
                bad |= (g - g) != 0.0
        for j in range(no):
            g = grad[ix(bo + j)] + d[ix(dn + j)]
            grad[ix(bo + j)] = g
            bad |= (g - g) != 0.0
        if not first:
            for i in range(ni):
                t = 0.0
                wi = wo + i * no
                for j in range(no):
                    t += theta[ix(wi + j)] * d[ix(dn + j)]
                d[ix(before + n * ni + i)] = t
    return bad


def _make_epoch(fingerprint: str):
    def epoch(X, Y, W, order, bs, theta, grad, layers, act_params, loss_code, loss_param,
              opt_code, hyper, s1, s2, s3, t0, lr, total):
        """Every batch of ``order``: forward, loss, backward, update.

        ``layers[k]`` = (fan_in, fan_out, weight offset, bias offset, activation code)
        into the flat ``theta`` and ``grad``.  Returns (total + Σ batch loss × rows,
        rows, batches done, failure, value): failure 0 (none), 1 (the loss) or 2 + p
        (the gradient of parameter p) with the value that was not finite; a failing
        batch changes nothing.
        """
        _ = fingerprint  # in numba's cache key (a closure variable): see the docstring
        nl = layers.shape[0]
        widths = np.empty(nl + 1, dtype=np.int64)  # neurons per layer, inputs first
        widths[0] = layers[0, 0]
        widths[1:] = layers[:, 1]
        starts = np.zeros(nl + 2, dtype=np.int64)  # where each layer's rows begin
        starts[1:] = np.cumsum(widths * bs)
        act = np.empty(starts[-1], dtype=theta.dtype)  # A_k, k = 0 … L
        z = np.empty_like(act)  # Z_k
        d = np.empty_like(act)  # D_k, then Δ_k
        bounds = np.zeros(2 * nl + 1, dtype=np.int64)  # each parameter's end in theta
        for k in range(nl):
            bounds[2 * k + 1] = layers[k, 2] + layers[k, 0] * layers[k, 1]
            bounds[2 * k + 2] = layers[k, 3] + layers[k, 1]
        r = np.empty(bs)
        n0 = widths[0]
        seen, batches = 0, 0
        # The products of wide layers take every index (all ≥ 0) as unsigned (``_u``): no
        # wraparound test per access, so LLVM vectorises them over the layer's neurons.
        for start in range(0, order.size, bs):
            nb = min(bs, order.size - start)
            # A_0: the batch's rows.  Row n, neuron j of layer k sits at starts[k] + n·w + j
            # (w = widths[k]) in act, z and d; W_k[i, j] at theta[wo + i·fan_out + j].
            for n in range(nb):
                row = order[start + n]
                for i in range(n0):
                    act[n * n0 + i] = X[row, i]
            for k in range(nl):  # forward: Z = A_prev W + b (bias after the product), A = f(Z)
                ni, no, wo, bo, code = layers[k, 0], layers[k, 1], layers[k, 2], \
                    layers[k, 3], layers[k, 4]
                before, here = starts[k], starts[k + 1]
                if no >= WIDE:
                    forward_rows(_u, z, act, theta, before, here, nb, ni, no, wo, bo)
                else:
                    forward_rows(_s, z, act, theta, before, here, nb, ni, no, wo, bo)
                activate_rows(code, z, act, here, here + nb * no, act_params[k])
            # the loss: row terms r_n and D_L = ∂ℓ/∂ŷ, then the shares s_n
            out, k_out = starts[nl], widths[nl]
            if loss_code == CROSS_ENTROPY:
                cross_entropy_terms(act, d, out, k_out, nb, Y, order, start, r)
                per_element = 1.0
            else:
                for n in range(nb):
                    r[n] = loss_rows(loss_code, loss_param, act, d, out + n * k_out, k_out,
                                         Y, order[start + n]) / k_out
                per_element = 1.0 / k_out
            weights = 0.0
            if W.size:
                for n in range(nb):
                    weights += W[order[start + n]]
            loss = 0.0
            for n in range(nb):
                if W.size:
                    share = W[order[start + n]] / weights if weights > 0 else 0.0
                else:
                    share = 1.0 / nb
                loss += share * r[n]
                scale = share * per_element
                for j in range(k_out):
                    d[out + n * k_out + j] *= scale
            if not np.isfinite(loss):
                return total, seen, batches, 1, loss
            bad = False
            for k in range(nl - 1, -1, -1):  # backward
                ni, no, wo, bo, code = layers[k, 0], layers[k, 1], layers[k, 2], \
                    layers[k, 3], layers[k, 4]
                before, here = starts[k], starts[k + 1]
                if code != LINEAR:  # Δ = D ⊙ f'
                    derive_rows(code, d, act, z, here, here + nb * no, act_params[k])
                if no >= WIDE:
                    bad |= backward_rows(_u, grad, d, act, theta, before, here, nb, ni, no, wo,
                                         bo, k == 0)
                else:
                    bad |= backward_rows(_s, grad, d, act, theta, before, here, nb, ni, no, wo,
                                         bo, k == 0)
            if bad:  # find the parameter and its largest |g| for the message
                failed, value = first_bad(grad, bounds)
                return total, seen, batches, 2 + failed, value
            if opt_code == SGD:  # the seed's rule, kept apart: the others' code slows it
                wd = hyper[0]
                for i in range(theta.size):
                    theta[i] = sgd_step(theta[i], grad[i], lr, wd)
            else:
                update(opt_code, hyper, theta, grad, s1, s2, s3, t0 + batches + 1, lr)
            total += loss * nb
            seen += nb
            batches += 1
        return total, seen, batches, 0, 0.0

    return epoch


run_epoch = numba.njit(cache=True, error_model="numpy")(_make_epoch(_fingerprint()))
