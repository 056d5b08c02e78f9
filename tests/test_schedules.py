"""Learning-rate schedules: the rate at given epochs equals the formula; reduce-on-plateau
waits `patience` epochs; fit asks for the rate each epoch and reports each epoch's loss."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainrule import Callback, ConfigError, Tensor, fit, optim, seed_network
from chainrule.schedules import (
    CosineDecay, ExponentialDecay, InverseScaling, ReduceOnPlateau, Schedule, StepDecay,
    make_schedule,
)


@pytest.mark.parametrize("schedule, want", [
    # η₀ γ^⌊e/3⌋ with γ = ½: three epochs at each rate
    (StepDecay(0.1, step_size=3, gamma=0.5), {0: 0.1, 2: 0.1, 3: 0.05, 5: 0.05, 6: 0.025}),
    # η₀ γ^e
    (ExponentialDecay(0.1, gamma=0.9), {0: 0.1, 1: 0.09, 2: 0.081, 10: 0.1 * 0.9 ** 10}),
    # η₀ / (e + 1)^power: 0.1/√4 = 0.05 at e = 3
    (InverseScaling(0.1, power=0.5), {0: 0.1, 3: 0.05, 99: 0.01}),
    (InverseScaling(0.2, power=1.0), {1: 0.1, 4: 0.04}),
    # η_min + (η₀ − η_min)(1 + cos(πe/T))/2, T = 4; η_min after T
    (CosineDecay(0.1, epochs=4), {0: 0.1, 1: 0.05 * (1 + math.cos(math.pi / 4)), 2: 0.05,
                                  4: 0.0, 7: 0.0}),
    (CosineDecay(0.1, epochs=2, min_lr=0.02), {0: 0.1, 1: 0.06, 2: 0.02, 3: 0.02}),
])
def test_rate_at_given_epochs_equals_the_formula(schedule, want):
    for epoch, rate in want.items():
        assert schedule(epoch) == pytest.approx(rate, rel=1e-15, abs=1e-18), epoch


def test_reduce_on_plateau_waits_patience_epochs():
    """patience 2: two epochs without improvement are tolerated, the third drops the rate."""
    s = ReduceOnPlateau(1.0, factor=0.5, patience=2)
    rates = []
    for epoch, loss in enumerate([5.0, 4.0, 4.0, 4.1, 4.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]):
        rates.append(s(epoch))
        s.observe(epoch, loss)
    # epochs 2, 3, 4 do not improve on 4.0: the rate halves after epoch 4 (used from 5);
    # epochs 6, 7, 8 do not improve on 3.0: it halves again after epoch 8
    assert rates == [1.0] * 5 + [0.5] * 4 + [0.25] * 2


def test_reduce_on_plateau_threshold_cooldown_and_floor():
    s = ReduceOnPlateau(1.0, factor=0.1, patience=0, threshold=0.1, cooldown=1, min_lr=0.05)
    rates = []
    # 0.95 is not 10% below 1.0, so epoch 1 does not count as an improvement
    for epoch, loss in enumerate([1.0, 0.95, 0.95, 0.95, 0.95]):
        rates.append(s(epoch))
        s.observe(epoch, loss)
    rates.append(s(5))
    # drop after epoch 1; epoch 2 is cooldown; drop after epoch 3, floored at 0.05; epoch 4
    # is cooldown again
    assert rates == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.05, 0.05], rel=1e-15)


def test_reduce_on_plateau_matches_torch():
    torch = pytest.importorskip("torch")
    losses = [3.0, 2.0, 2.0, 1.9999, 2.5, 2.0, 1.0, 1.0, 1.0, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6]
    s = ReduceOnPlateau(0.1, factor=0.3, patience=1, cooldown=1, min_lr=0.002)
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, factor=0.3, patience=1, cooldown=1,
                                                    min_lr=0.002)
    for epoch, loss in enumerate(losses):
        assert s(epoch) == pytest.approx(topt.param_groups[0]["lr"], rel=1e-15), epoch
        s.observe(epoch, loss)
        ts.step(loss)


@pytest.mark.parametrize("ours, theirs", [
    (lambda: StepDecay(0.1, 3, 0.5), lambda o: ("StepLR", {"step_size": 3, "gamma": 0.5})),
    (lambda: ExponentialDecay(0.1, 0.8), lambda o: ("ExponentialLR", {"gamma": 0.8})),
    (lambda: CosineDecay(0.1, 6, 0.01), lambda o: ("CosineAnnealingLR", {"T_max": 6, "eta_min": 0.01})),
])
def test_epoch_schedules_match_torch(ours, theirs):
    torch = pytest.importorskip("torch")
    s = ours()
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    name, options = theirs(s)
    ts = getattr(torch.optim.lr_scheduler, name)(topt, **options)
    for epoch in range(7):  # torch's scheduler.step() after each epoch
        assert s(epoch) == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12), epoch
        topt.step()
        ts.step()


def test_optimizer_takes_a_schedule_or_any_function_of_the_epoch():
    w = [Tensor(np.ones(2), requires_grad=True)]
    opt = optim.SGD(w, lr=lambda epoch: 0.5 / (epoch + 1))
    assert opt.lr == 0.5  # the first epoch's rate from the start
    opt.start_epoch(4)
    assert opt.lr == 0.1
    opt.end_epoch(4, 1.0)  # a plain function does not listen; nothing happens
    with pytest.raises(ConfigError):
        optim.SGD(w, lr=lambda epoch: -1.0)


class Recorder(Schedule):
    """A schedule that remembers what fit asked and told it."""

    def __init__(self) -> None:
        self.lr, self.asked, self.told = 1e-5, [], []

    def __call__(self, epoch: int) -> float:
        self.asked.append(epoch)
        return self.lr / (epoch + 1)

    def observe(self, epoch: int, loss: float) -> None:
        self.told.append((epoch, loss))


def test_fit_sets_the_rate_each_epoch_and_reports_the_epoch_loss(students):
    model = seed_network()
    schedule = Recorder()
    opt = optim.SGD(model.parameters(), lr=schedule)
    seen = []

    class Spy(Callback):  # the rate the steps of each epoch use
        def on_epoch_begin(self, epoch: int) -> None:
            seen.append(opt.lr)

    history = fit(model, students.X, students.y, optimizer=opt, epochs=4, seed=0,
                  callbacks=[Spy()])
    assert schedule.asked == [0, 0, 1, 2, 3]  # once when the optimiser is made, then per epoch
    assert seen == pytest.approx([1e-5, 1e-5 / 2, 1e-5 / 3, 1e-5 / 4], rel=1e-15)
    assert schedule.told == list(zip([0, 1, 2, 3], history.loss))


def test_fit_with_reduce_on_plateau_lowers_the_rate(students):
    """A rate far too small to move the loss by 1% makes every epoch a plateau."""
    model = seed_network()
    opt = optim.SGD(model.parameters(),
                    lr=ReduceOnPlateau(1e-12, factor=0.5, patience=1, threshold=0.01))
    fit(model, students.X, students.y, optimizer=opt, epochs=6, seed=0)
    # epoch 0 sets the best loss; epochs 1-2 don't improve → drop; 3-4 → drop again; 5
    assert opt.lr == pytest.approx(0.25e-12, rel=1e-15)


def test_make_schedule_by_name():
    assert make_schedule("step", 0.1, step_size=2)(2) == pytest.approx(0.01)
    assert isinstance(make_schedule("Plateau", 0.1, patience=3), ReduceOnPlateau)
    for name, options in [("warmup", {}), ("step", {"gamma": 2.0}), ("step", {"step_size": 0}),
                          ("cosine", {"epochs": 0}), ("exponential", {"speed": 1}),
                          ("plateau", {"factor": 1.0}), ("cosine", {"epochs": 3, "min_lr": 1})]:
        with pytest.raises(ConfigError):
            make_schedule(name, 0.1, **options)
