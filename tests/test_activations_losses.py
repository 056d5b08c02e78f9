"""Activations and losses: values and gradients against hand formulas, finite differences
and (where installed) torch; sample weights; numerical stability at logits ±1e4."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainrule import ConfigError, ShapeError, Tensor, mlp, ops
from chainrule.gradcheck import gradcheck
from chainrule.losses import BCE, CROSS_ENTROPY, LOSSES, MAE, MSE, get_loss, huber, penalty
from chainrule.nn import ACTIVATIONS, get_activation

SIG = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731 - the textbook σ, for reference values


# ----------------------------------------------------------------------------------
# Activations


# Hand-worked values for every entry of the table (a new activation needs its own here).
HAND_VALUES = {
    "linear": [("linear", [-2.5, 0.0, 3.0], [-2.5, 0.0, 3.0])],
    # σ(0) = ½, σ(ln 3) = 3/4, σ(−ln 3) = 1/4
    "sigmoid": [("sigmoid", [0.0, math.log(3), -math.log(3)], [0.5, 0.75, 0.25])],
    # tanh(ln 2) = (2 − ½)/(2 + ½) = 0.6
    "tanh": [("tanh", [0.0, math.log(2), -math.log(2)], [0.0, 0.6, -0.6])],
    "relu": [("relu", [-2.0, 0.0, 3.0], [0.0, 0.0, 3.0])],
    # leaky relu: z > 0 passes, z < 0 is scaled by the slope
    "leaky_relu": [("leaky_relu", [-2.0, 3.0], [-0.02, 3.0]),
                   ("leaky_relu:0.2", [-2.0, 3.0], [-0.4, 3.0])],
    # elu: α(e^z − 1) below 0: e^−1 − 1 = −0.6321205588285577
    "elu": [("elu", [-1.0, 2.0], [math.exp(-1) - 1, 2.0]),
            ("elu:0.5", [-1.0, 2.0], [0.5 * (math.exp(-1) - 1), 2.0])],
    # softplus: ln(1 + e^z); ln 2 at 0, ≈ z for large z, ≈ e^z for very negative z
    "softplus": [("softplus", [0.0, 50.0, -50.0], [math.log(2), 50.0, math.exp(-50)])],
    # gelu (tanh form) at 1: ½(1 + tanh(√(2/π)·1.044715)) = 0.8411919906082768
    "gelu": [("gelu", [0.0, 1.0], [0.0, 0.5 * (1 + math.tanh(math.sqrt(2 / math.pi) * 1.044715))])],
    # softmax of (1, 2, 3): e^k / (e + e² + e³)
    "softmax": [("softmax", [1.0, 2.0, 3.0],
                 np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum())],
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_values(name):
    assert name in HAND_VALUES, f"the activation {name!r} is in the table: add hand values"
    for spec, z, want in HAND_VALUES[name]:
        act = get_activation(spec)
        np.testing.assert_allclose(act.fn(np.array(z)), want, rtol=1e-14, atol=1e-300)
        np.testing.assert_allclose(act(Tensor(z)).data, want, rtol=1e-14, atol=1e-300)


# from the table: every elementwise activation, and those that take a number with another
ELEMENTWISE = [name for name, act in ACTIVATIONS.items() if act.elementwise] + \
    [f"{name}:{next(iter(act.params.values())) * 0.5 + 0.1:g}"
     for name, act in ACTIVATIONS.items() if act.params]


@pytest.mark.parametrize("spec", ELEMENTWISE)
def test_derivative_function_matches_finite_differences_and_the_engine(spec, rng):
    """``grad`` (from O, or from z for gelu) is f'(z): the fused loop relies on it."""
    act = get_activation(spec)
    z = rng.uniform(0.1, 3.0, 20) * rng.choice([-1.0, 1.0], 20)  # away from the kinks at 0
    eps = 1e-6
    numeric = (act.fn(z + eps) - act.fn(z - eps)) / (2 * eps)
    out = act.fn(z)
    fprime = act.grad(z if act.grad_from == "z" else out)
    np.testing.assert_allclose(fprime, numeric, rtol=1e-7, atol=1e-9)
    zt = Tensor(z, requires_grad=True)
    g = rng.standard_normal(20)
    act(zt).backward(g) if act.primitive else (zt * 1.0).backward(g)
    np.testing.assert_allclose(zt.grad, g * fprime, rtol=1e-15, atol=1e-300)


def test_derivatives_are_written_from_the_output_except_gelu():
    with_grad = {name: a.grad_from for name, a in ACTIVATIONS.items() if a.grad is not None}
    assert {name for name, src in with_grad.items() if src != "out"} == {"gelu"}
    assert with_grad["gelu"] == "z"
    softmax = get_activation("softmax")
    assert softmax.grad is None and not softmax.elementwise
    assert all(a.elementwise for n, a in ACTIVATIONS.items() if n != "softmax")


def test_each_non_linear_activation_is_one_primitive_of_the_table():
    for name, act in ACTIVATIONS.items():
        if name != "linear":
            assert act.primitive in ops.ALL and act.derivative == act.primitive.local[0]
    assert ops.SOFTMAX.kind == ops.LOG_SOFTMAX.kind == "last_axis"


def test_parameterised_activations_are_named_with_a_number():
    assert get_activation("leaky_relu").params == {"slope": 0.01}
    assert get_activation("Leaky-ReLU:0.2").params == {"slope": 0.2}
    assert get_activation("elu").params == {"alpha": 1.0}
    for spec in ("leaky_relu:0.2", "elu:0.5", "tanh", "gelu"):
        act = get_activation(spec)
        assert get_activation(act.spec) == act
    assert get_activation("leaky_relu:0.3").grad.keywords == {"slope": 0.3}  # for the fused loop
    model = mlp([2, 3, 1], activation="leaky_relu:0.3", seed=0)
    assert model.layers[0].activation.params == {"slope": 0.3}


@pytest.mark.parametrize("spec", ["tanh:0.3", "leaky_relu:fast", "leaky_relu:-1", "elu:nan",
                                  "swish"])
def test_bad_activation_names_raise_config_error(spec):
    with pytest.raises(ConfigError):
        get_activation(spec)


def test_softmax_and_log_softmax_are_stable_at_huge_logits():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])
    np.testing.assert_array_equal(ops.softmax(z), [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(ops.log_softmax(z), [[0.0, -2e4, -1e4], [-math.log(3)] * 3],
                               rtol=1e-15)


def test_softmax_rule_is_the_jacobian_vector_product(rng):
    """∂L/∂z = Jᵀg with J_ij = p_i(δ_ij − p_j), built as a matrix row by row."""
    z, g = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    zt = Tensor(z, requires_grad=True)
    get_activation("softmax")(zt).backward(g)
    for n in range(2):
        p = ops.softmax(z[n])
        J = np.diag(p) - np.outer(p, p)
        np.testing.assert_allclose(zt.grad[n], J.T @ g[n], rtol=1e-13, atol=1e-15)


def _torch_activation(spec: str):
    """PyTorch's function for an activation of the table (its number, if any, as given)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    act = get_activation(spec)
    p = next(iter(act.params.values()), None)
    return {
        "linear": lambda t: t, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": F.relu,
        "leaky_relu": lambda t: F.leaky_relu(t, p), "elu": lambda t: F.elu(t, p),
        "softplus": F.softplus, "gelu": lambda t: F.gelu(t, approximate="tanh"),
        "softmax": lambda t: F.softmax(t, dim=-1),
    }.get(act.name)


# every activation of the table; those that take a number with another than the default
TORCH_SPECS = [f"{n}:{next(iter(a.params.values())) * 0.5 + 0.1:g}" if a.params else n
               for n, a in ACTIVATIONS.items()]


@pytest.mark.parametrize("spec", TORCH_SPECS)
def test_activations_match_torch(spec, rng):
    torch = pytest.importorskip("torch")
    call = _torch_activation(spec)
    assert call is not None, f"{spec} is in the table: name PyTorch's counterpart above"
    z, g = rng.standard_normal((3, 5)) * 3, rng.standard_normal((3, 5))
    zt = Tensor(z, requires_grad=True)
    out = get_activation(spec)(zt)
    out.backward(g)
    tz = torch.tensor(z, requires_grad=True)
    tout = call(tz)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(zt.grad, tz.grad.numpy(), rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------------
# Losses: value and gradient by hand

P = np.array([[0.5, -1.0], [2.0, 0.25], [-3.0, 1.5]])  # predictions (logits for the CEs)
Y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])      # targets (one-hot rows)


def hand_terms(name):
    """(ℓ per element or per row, ∂ℓ/∂ŷ per element) from the textbook formulas."""
    r = P - Y
    if name == "mse":
        return r ** 2, 2 * r
    if name == "mae":
        return np.abs(r), np.sign(r)
    if name == "huber":  # δ = 1: |r| ≤ 1 is quadratic
        quad = np.abs(r) <= 1.0
        return np.where(quad, 0.5 * r ** 2, np.abs(r) - 0.5), np.clip(r, -1, 1)
    if name == "bce":  # −[y ln σ + (1 − y) ln(1 − σ)]
        s = SIG(P)
        return -(Y * np.log(s) + (1 - Y) * np.log(1 - s)), s - Y
    if name == "sse_half":  # Σ_k ½(y_k − ŷ_k)², per row: ∂/∂ŷ_k = ŷ_k − y_k
        return 0.5 * (r ** 2).sum(axis=1), r
    if name == "cross_entropy":  # −Σ_k y_k ln p_k, per row
        p = np.exp(P) / np.exp(P).sum(axis=1, keepdims=True)
        return -(Y * np.log(p)).sum(axis=1), p - Y
    raise AssertionError(f"the loss {name!r} is in the table: add its textbook formula here")


LOSS_NAMES = list(LOSSES)  # the table: a new loss needs its textbook formula in hand_terms


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_loss_value_and_gradient_match_the_hand_formulas(name):
    loss = get_loss(name)
    terms, dterms = hand_terms(name)
    count = terms.size  # N·K terms, or N rows for cross-entropy
    pred = Tensor(P, requires_grad=True)
    L = loss(pred, Y)
    L.backward()
    np.testing.assert_allclose(L.item(), terms.mean(), rtol=1e-14)
    np.testing.assert_allclose(pred.grad, dterms / count, rtol=1e-13, atol=1e-16)
    # the per-element derivative the fused loop uses is the same number, before averaging
    np.testing.assert_allclose(loss.grad(P, Y), dterms, rtol=1e-13, atol=1e-16)
    assert loss.per_row == (terms.ndim == 1)  # one term a row, by the textbook formula
    value, grad = loss.value_and_grad(P, Y)  # both at once (cross-entropy: one softmax)
    np.testing.assert_allclose(value, terms, rtol=1e-14)
    np.testing.assert_allclose(grad, dterms, rtol=1e-13, atol=1e-16)


def test_softmax_and_log_softmax_are_built_from_the_same_parts(rng):
    z = rng.standard_normal((4, 5)) * 30
    m, e, total = ops.softmax_parts(z)
    np.testing.assert_array_equal(m[:, 0], z.max(axis=1))  # shifted: every e ≤ 1, no overflow
    np.testing.assert_array_equal(e.max(axis=1), 1.0)
    np.testing.assert_array_equal(total, e.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(ops.softmax(z), np.exp(z) / np.exp(z).sum(1, keepdims=True),
                               rtol=1e-14)
    np.testing.assert_allclose(ops.log_softmax(z), np.log(ops.softmax(z)), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ops.log_softmax(np.array([[1000.0, -1000.0]])), [[0.0, -2000.0]])


@pytest.mark.parametrize("name", LOSS_NAMES)
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_gradients_pass_gradcheck(name, weighted, rng):
    loss = get_loss(name)
    w = rng.uniform(0.1, 2.0, len(P)) if weighted else None
    result = gradcheck(lambda p: loss(p, Y, sample_weight=w), P + 0.01 * rng.standard_normal(P.shape))
    assert result.ok, result


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_sample_weight_is_the_weighted_mean_over_rows(name):
    loss = get_loss(name)
    terms, _ = hand_terms(name)
    per_row = terms if terms.ndim == 1 else terms.mean(axis=1)
    w = np.array([1.0, 3.0, 0.5])
    want = (w * per_row).sum() / w.sum()
    np.testing.assert_allclose(loss(Tensor(P), Y, sample_weight=w).item(), want, rtol=1e-14)
    np.testing.assert_allclose(loss(Tensor(P), Y, sample_weight=w[:, None]).item(), want,
                               rtol=1e-14)
    # equal weights give the plain mean
    np.testing.assert_allclose(loss(Tensor(P), Y, sample_weight=[2.0] * 3).item(),
                               loss(Tensor(P), Y).item(), rtol=1e-14)


def test_zero_weights_give_zero_loss_and_gradient():
    pred = Tensor(P, requires_grad=True)
    L = MSE(pred, Y, sample_weight=np.zeros(3))
    L.backward()
    assert L.item() == 0.0 and not pred.grad.any()


@pytest.mark.parametrize("w, error", [
    ([1.0, 2.0], ShapeError), (np.ones((3, 2)), ShapeError), ([1.0, -1.0, 1.0], ConfigError),
    ([1.0, np.nan, 1.0], ConfigError), (["a", "b", "c"], ConfigError),
])
def test_bad_sample_weights_raise(w, error):
    with pytest.raises(error):
        MSE(Tensor(P), Y, sample_weight=w)


def test_huber_takes_its_delta():
    loss = get_loss("huber:0.5")
    assert loss.params == {"delta": 0.5} and loss.spec == "huber:0.5"
    assert get_loss(loss.spec).params == loss.params
    r = np.array([[0.3], [-2.0]])  # 0.3 is inside δ, −2 outside
    want = np.mean([0.5 * 0.3 ** 2, 0.5 * (2.0 - 0.25)])
    np.testing.assert_allclose(loss(Tensor(r), np.zeros((2, 1))).item(), want, rtol=1e-15)
    np.testing.assert_allclose(loss.grad(r, 0.0), [[0.3], [-0.5]])
    assert huber().params == {"delta": 1.0}
    with pytest.raises(ConfigError):
        huber(0.0)


def test_losses_by_name():
    assert get_loss("L1") is MAE and get_loss("binary_crossentropy") is BCE
    assert get_loss("categorical_crossentropy") is CROSS_ENTROPY and get_loss("ce") is CROSS_ENTROPY
    for spec in ("hinge", "mse:2", "huber:x"):
        with pytest.raises(ConfigError):
            get_loss(spec)


# ----------------------------------------------------------------------------------
# Cross-entropies from logits: finite at ±1e4


def test_bce_from_logits_is_exact_at_huge_logits():
    """ℓ = softplus(z) − yz: −ln σ(z) for y = 1, −ln(1 − σ(z)) for y = 0, both ≈ |z| or 0."""
    z = np.array([[1e4], [-1e4], [1e4], [-1e4]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    pred = Tensor(z, requires_grad=True)
    L = BCE(pred, y)
    L.backward()
    assert L.item() == (1e4 + 1e4 + 0.0 + 0.0) / 4  # the wrong sure answers cost |z| each
    np.testing.assert_array_equal(pred.grad.ravel(), [0.25, -0.25, 0.0, 0.0])  # (σ(z) − y)/N


def test_cross_entropy_from_logits_is_exact_at_huge_logits():
    """ℓ = −ln p_k = ln Σ_j e^(z_j) − z_k, which is 2e4 when the true logit is −1e4 below."""
    z = np.array([[1e4, -1e4, 0.0], [1e4, -1e4, 0.0]])
    y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    pred = Tensor(z, requires_grad=True)
    L = CROSS_ENTROPY(pred, y)
    L.backward()
    assert L.item() == (2e4 + 0.0) / 2
    np.testing.assert_array_equal(pred.grad, [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]])  # (p − y)/N
    assert np.isfinite(CROSS_ENTROPY.grad(z, y)).all()


def test_cross_entropy_needs_rows_of_classes():
    with pytest.raises(ShapeError):
        CROSS_ENTROPY(Tensor(np.zeros((3, 1))), np.ones((3, 1)))
    with pytest.raises(ShapeError):
        CROSS_ENTROPY(Tensor(np.zeros(3)), np.ones(3))


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_losses_match_torch(name):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    module = {"mse": nn.MSELoss(), "mae": nn.L1Loss(), "huber": nn.HuberLoss(delta=1.0),
              "bce": nn.BCEWithLogitsLoss(), "cross_entropy": nn.CrossEntropyLoss(),
              # Σ_k ½(y_k − ŷ_k)² a row, the mean over rows: ½ · K · MSE
              "sse_half": lambda p, y: 0.5 * P.shape[1] * nn.MSELoss()(p, y)}.get(name)
    assert module is not None, f"the loss {name!r} is in the table: name PyTorch's form here"
    pred = Tensor(P, requires_grad=True)
    L = get_loss(name)(pred, Y)
    L.backward()
    tp = torch.tensor(P, requires_grad=True)
    tL = module(tp, torch.tensor(Y))
    tL.backward()
    np.testing.assert_allclose(L.item(), tL.item(), rtol=1e-14)
    np.testing.assert_allclose(pred.grad, tp.grad.numpy(), rtol=1e-13, atol=1e-16)


# ----------------------------------------------------------------------------------
# Penalties


def test_penalty_is_half_l2_plus_l1_on_the_weights_only():
    model = mlp([2, 3, 1], activation="tanh", seed=1)
    W1, b1, W2, b2 = model.parameters()
    for b in (b1, b2):
        b.data[...] = 5.0  # biases are not penalised, whatever they hold
    R = penalty(model, l2=0.1, l1=0.01)
    want = 0.05 * ((W1.data ** 2).sum() + (W2.data ** 2).sum()) \
        + 0.01 * (np.abs(W1.data).sum() + np.abs(W2.data).sum())
    np.testing.assert_allclose(R.item(), want, rtol=1e-14)
    R.backward()
    for W in (W1, W2):  # ∂/∂w = λ₂ w + λ₁ sign(w): λ₂ is SGD's weight decay on w
        np.testing.assert_allclose(W.grad, 0.1 * W.data + 0.01 * np.sign(W.data), rtol=1e-14)
    assert b1.grad is None and b2.grad is None
    np.testing.assert_allclose(penalty(model.parameters(), l2=0.1, l1=0.01).item(), want,
                               rtol=1e-14)
    assert penalty(model).item() == 0.0


def test_penalty_rejects_negative_strengths():
    with pytest.raises(ConfigError):
        penalty([], l2=-1.0)
