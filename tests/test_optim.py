"""Optimisers: three steps on a small quadratic against the update formulas written out
here by hand, and against torch.optim where torch is installed."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import ConfigError, Tensor, optim
from chainrule.optim import OPTIMIZERS, make_optimizer
from chainrule.schedules import StepDecay

# f(w) = ½ Σ a_i (w_i − c_i)², so ∂f/∂w = a (w − c); a has a wide range of curvatures
A = np.array([[1.0, 3.0], [0.5, 10.0]])
C = np.array([[0.5, 1.0], [-1.0, 2.0]])
W0 = np.array([[1.0, -2.0], [0.5, 0.0]])
B0 = np.array([0.3, -0.7])  # a second parameter, with its own state: f also has ½ Σ b²


def grad(w):
    return A * (w - C)


def quadratic_loss(w: Tensor, b: Tensor) -> Tensor:
    return (0.5 * A * (w - C) ** 2.0).sum() + (0.5 * b ** 2.0).sum()


def run_chainrule(name, steps=3, **options):
    w, b = Tensor(W0, requires_grad=True), Tensor(B0, requires_grad=True)
    opt = make_optimizer(name, [w, b], **options)
    for _ in range(steps):
        opt.zero_grad()
        quadratic_loss(w, b).backward()
        opt.step()
    return w.data, b.data


# ----------------------------------------------------------------------------------
# The update formulas written out by hand (torch.optim's documented algorithms), for one
# array; `state` is a dict the formula keeps between steps.


def hand_sgd(w, g, t, state, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    d = g + weight_decay * w
    if momentum:
        b = d if t == 1 else momentum * state["b"] + d
        state["b"] = b
        d = d + momentum * b if nesterov else b
    return w - lr * d


def hand_adam(w, g, t, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
              decoupled=False):
    b1, b2 = betas
    if decoupled:
        w = w * (1 - lr * weight_decay)
        d = g
    else:
        d = g + weight_decay * w
    m = b1 * state.get("m", 0.0) + (1 - b1) * d
    v = b2 * state.get("v", 0.0) + (1 - b2) * d ** 2
    state.update(m=m, v=v)
    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps)


def hand_rmsprop(w, g, t, state, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
    d = g + weight_decay * w
    s = alpha * state.get("s", 0.0) + (1 - alpha) * d ** 2
    state["s"] = s
    if centered:
        gbar = alpha * state.get("gbar", 0.0) + (1 - alpha) * d
        state["gbar"] = gbar
        r = np.sqrt(s - gbar ** 2) + eps
    else:
        r = np.sqrt(s) + eps
    if momentum:
        state["b"] = momentum * state.get("b", 0.0) + d / r
        return w - lr * state["b"]
    return w - lr * d / r


def hand_adagrad(w, g, t, state, lr, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10):
    d = g + weight_decay * w
    s = state.get("s", initial_accumulator_value) + d ** 2
    state["s"] = s
    return w - lr / (1 + (t - 1) * lr_decay) * d / (np.sqrt(s) + eps)


def run_hand(formula, steps=3, **options):
    w, b, sw, sb = W0.copy(), B0.copy(), {}, {}
    for t in range(1, steps + 1):
        w, b = formula(w, grad(w), t, sw, **options), formula(b, b.copy(), t, sb, **options)
    return w, b


CASES = [  # (optimiser, options, the hand formula, the torch.optim class and its options)
    ("sgd", {"lr": 0.1}, hand_sgd, "SGD", {}),
    ("sgd", {"lr": 0.1, "weight_decay": 0.05}, hand_sgd, "SGD", {}),
    ("sgd", {"lr": 0.05, "momentum": 0.9}, hand_sgd, "SGD", {}),
    ("sgd", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01}, hand_sgd,
     "SGD", {}),
    ("adam", {"lr": 0.1}, hand_adam, "Adam", {}),
    ("adam", {"lr": 0.1, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}, hand_adam,
     "Adam", {}),
    ("adamw", {"lr": 0.1}, hand_adam, "AdamW", {"decoupled": True, "weight_decay": 1e-2}),
    ("adamw", {"lr": 0.1, "weight_decay": 0.3}, hand_adam, "AdamW", {"decoupled": True}),
    ("rmsprop", {"lr": 0.01}, hand_rmsprop, "RMSprop", {}),
    ("rmsprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True,
                 "weight_decay": 0.1}, hand_rmsprop, "RMSprop", {}),
    ("adagrad", {"lr": 0.1}, hand_adagrad, "Adagrad", {}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.5, "weight_decay": 0.1,
                 "initial_accumulator_value": 0.2, "eps": 1e-6}, hand_adagrad, "Adagrad", {}),
]
IDS = [f"{c[0]}-{'-'.join(k for k in c[1] if k != 'lr') or 'defaults'}" for c in CASES]


@pytest.mark.parametrize("name, options, formula, torch_name, hand_extra", CASES, ids=IDS)
def test_three_steps_match_the_hand_formula(name, options, formula, torch_name, hand_extra):
    got = run_chainrule(name, **options)
    want = run_hand(formula, **{**options, **hand_extra})
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    assert not np.allclose(got[0], W0)  # it moved


@pytest.mark.parametrize("name, options, formula, torch_name, hand_extra", CASES, ids=IDS)
def test_three_steps_match_torch(name, options, formula, torch_name, hand_extra):
    torch = pytest.importorskip("torch")
    got = run_chainrule(name, **options)
    tw = torch.tensor(W0, requires_grad=True)
    tb = torch.tensor(B0, requires_grad=True)
    opt = getattr(torch.optim, torch_name)([tw, tb], **options)
    for _ in range(3):
        opt.zero_grad()
        loss = (0.5 * torch.tensor(A) * (tw - torch.tensor(C)) ** 2).sum() + (0.5 * tb ** 2).sum()
        loss.backward()
        opt.step()
    for a, b in zip(got, (tw.detach().numpy(), tb.detach().numpy())):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_defaults_are_torchs():
    """torch.optim's defaults, except SGD's lr: chainrule keeps the seed's 0.01."""
    w = [Tensor(W0, requires_grad=True)]
    assert make_optimizer("adam", w).lr == 1e-3 and make_optimizer("adamw", w).weight_decay == 1e-2
    adam = make_optimizer("adam", w)
    assert (adam.beta1, adam.beta2, adam.eps, adam.weight_decay) == (0.9, 0.999, 1e-8, 0.0)
    rms = make_optimizer("rmsprop", w)
    assert (rms.lr, rms.alpha, rms.eps, rms.momentum, rms.centered) == (1e-2, 0.99, 1e-8, 0.0, False)
    ada = make_optimizer("adagrad", w)
    assert (ada.lr, ada.eps, ada.lr_decay) == (1e-2, 1e-10, 0.0)
    assert make_optimizer("sgd", w).lr == 0.01


def test_momentum_velocity_form_equals_torch_form_only_for_a_constant_rate():
    """The old rule v ← μv − ηg, w ← w + v is torch's b ← μb + g, w ← w − ηb with v = −ηb
    while η is constant; when η changes, torch's form (ours) scales the whole step."""
    rates = [0.1, 0.1, 0.1, 0.01, 0.01]
    w_torch, buf = W0.copy(), np.zeros_like(W0)
    w_velocity, v = W0.copy(), np.zeros_like(W0)
    for step, lr in enumerate(rates):
        optim.sgd_momentum_(w_torch, grad(w_torch), buf, lr, 0.9)
        v = 0.9 * v - lr * grad(w_velocity)
        w_velocity = w_velocity + v
        if step == 2:  # constant rate so far: the same weights, up to rounding
            np.testing.assert_allclose(w_torch, w_velocity, rtol=1e-14, atol=1e-15)
    assert np.abs(w_torch - w_velocity).max() > 1e-3


def test_momentum_with_a_step_schedule_matches_torch():
    torch = pytest.importorskip("torch")
    w = Tensor(W0, requires_grad=True)
    opt = optim.SGD([w], lr=StepDecay(0.1, step_size=2, gamma=0.1), momentum=0.9)
    tw = torch.tensor(W0, requires_grad=True)
    topt = torch.optim.SGD([tw], lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(topt, step_size=2, gamma=0.1)
    for epoch in range(5):
        opt.start_epoch(epoch)
        assert opt.lr == pytest.approx(topt.param_groups[0]["lr"], rel=1e-15)
        for _ in range(2):  # two steps per epoch
            opt.zero_grad()
            (0.5 * A * (w - C) ** 2.0).sum().backward()
            opt.step()
            topt.zero_grad()
            (0.5 * torch.tensor(A) * (tw - torch.tensor(C)) ** 2).sum().backward()
            topt.step()
        sched.step()
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-13, atol=1e-15)


def test_a_parameter_without_gradient_keeps_its_step_count():
    """As torch: Adam's bias correction counts the steps that parameter actually took."""
    w, b = Tensor(W0, requires_grad=True), Tensor(B0, requires_grad=True)
    opt = optim.Adam([w, b], lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        (0.5 * A * (w - C) ** 2.0).sum().backward()  # b gets no gradient
        opt.step()
    assert opt.t == [2, 0] and np.array_equal(b.data, B0)


@pytest.mark.parametrize("rule, args", [
    (optim.sgd_, lambda w, g: (0.1, 0.01)),
    (optim.sgd_momentum_, lambda w, g: (np.zeros_like(w), 0.1, 0.9, True, 0.01)),
    (optim.adam_, lambda w, g: (np.zeros_like(w), np.zeros_like(w), 1, 0.1, 0.9, 0.999, 1e-8,
                                0.01, True)),
    (optim.rmsprop_, lambda w, g: (np.zeros_like(w), np.zeros_like(w), np.zeros_like(w), 0.1,
                                   0.99, 1e-8, 0.01, 0.9, True)),
    (optim.adagrad_, lambda w, g: (np.zeros_like(w), 1, 0.1, 1e-10, 0.01, 0.1)),
], ids=lambda x: getattr(x, "__name__", ""))
def test_update_rules_work_in_place_and_keep_float32(rule, args):
    w = W0.astype(np.float32)
    g = grad(W0).astype(np.float32)
    before = w.copy()
    assert rule(w, g, *args(w, g)) is None
    assert w.dtype == np.float32 and not np.array_equal(w, before)


@pytest.mark.parametrize("rule, args", [
    (optim.sgd_, lambda w: (0.1, 0.01)),
    (optim.sgd_momentum_, lambda w: (np.zeros_like(w), 0.1, 0.9, True, 0.01)),
    (optim.adam_, lambda w: (np.zeros_like(w), np.zeros_like(w), 3, 0.1, 0.9, 0.999, 1e-8,
                             0.01, True)),
    (optim.rmsprop_, lambda w: (np.zeros_like(w), np.zeros_like(w), np.zeros_like(w), 0.1,
                                0.99, 1e-8, 0.01, 0.9, True)),
    (optim.rmsprop_, lambda w: (np.zeros_like(w), np.zeros(0), np.zeros(0), 0.1, 0.99, 1e-8,
                                0.0, 0.0, False)),
    (optim.adagrad_, lambda w: (np.zeros_like(w), 2, 0.1, 1e-10, 0.01, 0.1)),
], ids=lambda x: getattr(x, "__name__", ""))
def test_update_rules_compile_with_numba_to_the_same_numbers(rule, args):
    """The fused loop compiles these very functions (nopython mode)."""
    numba = pytest.importorskip("numba")
    pytest.importorskip("chainrule.fastkernel")  # registers the pure rules they call
    w1, w2 = W0.copy(), W0.copy()
    rule(w1, grad(W0), *args(w1))
    numba.njit(rule)(w2, grad(W0), *args(w2))
    np.testing.assert_allclose(w2, w1, rtol=1e-15, atol=0)


def test_make_optimizer_knows_every_name_and_its_options():
    w = [Tensor(W0, requires_grad=True)]
    assert set(OPTIMIZERS) == {"sgd", "adam", "adamw", "rmsprop", "adagrad"}
    for name, cls in OPTIMIZERS.items():
        opt = make_optimizer(name.upper(), w, lr=0.5)
        assert type(opt) is cls and opt.lr == 0.5
    opt = optim.SGD(w)
    assert make_optimizer(opt, w) is opt
    with pytest.raises(ConfigError, match="momentum"):
        make_optimizer("adam", w, momentum=0.9)
    with pytest.raises(ConfigError):
        make_optimizer("lbfgs", w)


@pytest.mark.parametrize("name, options", [
    ("sgd", {"momentum": 1.0}), ("sgd", {"nesterov": True}), ("sgd", {"weight_decay": -1}),
    ("adam", {"betas": (1.0, 0.999)}), ("adam", {"eps": -1e-8}), ("rmsprop", {"alpha": 1.5}),
    ("adagrad", {"lr_decay": -0.1}), ("adam", {"lr": 0.0}), ("sgd", {"lr": float("nan")}),
])
def test_bad_settings_raise_config_error(name, options):
    with pytest.raises(ConfigError):
        make_optimizer(name, [Tensor(W0, requires_grad=True)], **options)


def test_lr_is_the_current_rate_and_can_be_set():
    opt = optim.Adam([Tensor(W0, requires_grad=True)], lr=StepDecay(0.1, 1, 0.5))
    assert opt.lr == 0.1
    opt.start_epoch(2)
    assert opt.lr == 0.025
    opt.lr = 0.3  # a fixed rate from now on
    opt.start_epoch(5)
    assert opt.lr == 0.3 and opt.schedule is None
