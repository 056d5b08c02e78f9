"""fit: the seed's algorithm and its batch variants, against a hand-formula reference."""

from __future__ import annotations


import numpy as np
import pytest

import chainrule
from chainrule import ConfigError, DataError, DivergenceError, fit, mlp, seed_network


def params_of(model):
    return [p.data.copy() for p in model.parameters()]


def test_training_on_the_seed_table_lowers_the_loss(students):
    model = seed_network()
    history = fit(model, students.X, students.y, lr=1e-5, epochs=50, seed=0)
    assert len(history) == 50 and history.epoch == list(range(1, 51))
    assert history.steps == 150  # one step per row
    assert history.loss[-1] < history.loss[0] / 1000
    pred = model.predict(students.X)
    assert np.abs(pred - students.y).max() < 2.0  # from 176, 130, 234 at the start


def test_per_row_sgd_matches_the_hand_formulas(seed_table, linear_sgd):
    X, y = seed_table
    model = seed_network()
    history = fit(model, X, y, lr=1e-5, epochs=5, batch_size=1, shuffle=False)
    (W1, b1, W2, b2), losses, diverged = linear_sgd(X, y, lr=1e-5, epochs=5, batch_size=1)
    assert diverged is None
    for got, want in zip(params_of(model), [W1, b1, W2, b2]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(history.loss, losses, rtol=1e-12)
    # epoch 1's first step is the seed's: L = 29241, so the mean is above 29241 / 3
    assert history.loss[0] > 29241 / 3


@pytest.mark.parametrize("batch_size, reference_batch, steps_per_epoch", [
    (2, 2, 2), (3, 3, 1), ("full", 3, 1), (None, 3, 1), (10, 3, 1),
])
def test_batches_match_the_hand_formulas(batch_size, reference_batch, steps_per_epoch,
                                         seed_table, linear_sgd):
    X, y = seed_table
    model = seed_network()
    history = fit(model, X, y, lr=1e-5, epochs=4, batch_size=batch_size, shuffle=False)
    (W1, b1, W2, b2), losses, _ = linear_sgd(X, y, lr=1e-5, epochs=4,
                                             batch_size=reference_batch)
    assert history.steps == 4 * steps_per_epoch
    for got, want in zip(params_of(model), [W1, b1, W2, b2]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(history.loss, losses, rtol=1e-12)


def test_a_mini_batch_step_is_the_mean_of_per_row_gradients(rng):
    model = mlp([3, 4, 2], activation="tanh", seed=3)
    X, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    start = params_of(model)
    per_row = []
    for r in range(4):
        model.zero_grad()
        # MSE averages over the outputs too: the per-row loss is mean over 2 outputs
        chainrule.MSE(model(X[r:r + 1]), y[r:r + 1]).backward()
        per_row.append([p.grad.copy() for p in model.parameters()])
    mean_grad = [np.mean([g[i] for g in per_row], axis=0) for i in range(len(start))]
    fit(model, X, y, lr=0.1, epochs=1, batch_size=4, shuffle=False)
    for got, w, g in zip(params_of(model), start, mean_grad):
        np.testing.assert_allclose(got, w - 0.1 * g, rtol=1e-12, atol=1e-15)


def test_same_seed_bit_identical_different_seed_different(students):
    def run(seed):
        model = mlp([2, 3, 1], activation="tanh", init="xavier", seed=seed)
        X = students.X / 100.0
        history = fit(model, X, students.y, lr=0.01, epochs=20, seed=seed)
        return params_of(model), history.loss

    (p1, l1), (p2, l2), (p3, _) = run(5), run(5), run(6)
    assert all(np.array_equal(a, b) for a, b in zip(p1, p2))
    assert l1 == l2
    assert not all(np.array_equal(a, b) for a, b in zip(p1, p3))


def test_seed_changes_only_the_row_order(students):
    """Same starting weights (the seed network): only the shuffling differs by seed."""
    a, b, c = seed_network(), seed_network(), seed_network()
    fit(a, students.X, students.y, lr=1e-5, epochs=10, seed=1)
    fit(b, students.X, students.y, lr=1e-5, epochs=10, seed=1)
    fit(c, students.X, students.y, lr=1e-5, epochs=10, seed=2)
    assert all(np.array_equal(p, q) for p, q in zip(params_of(a), params_of(b)))
    assert not all(np.array_equal(p, q) for p, q in zip(params_of(a), params_of(c)))


def test_divergence_names_the_epoch_and_keeps_finite_weights(seed_table, linear_sgd):
    X, y = seed_table
    model = seed_network()
    with pytest.raises(DivergenceError) as err:
        fit(model, X, y, lr=1e-3, epochs=50, shuffle=False)
    before, _, (epoch, step) = linear_sgd(X, y, lr=1e-3, epochs=50, batch_size=1)
    message = str(err.value)
    assert f"epoch {epoch}" in message and f"step {step}" in message
    assert "smaller" in message and "0.001" in message
    weights = params_of(model)
    assert all(np.isfinite(w).all() for w in weights)
    # "the weights are those before that step"
    for got, want in zip(weights, before):
        np.testing.assert_allclose(got, want, rtol=1e-9)


def test_divergence_with_shuffling(students):
    model = seed_network()
    with pytest.raises(DivergenceError, match=r"epoch \d+.*smaller") as err:
        fit(model, students.X, students.y, lr=1e-3, epochs=50, seed=0)
    assert isinstance(err.value, chainrule.ChainruleError)
    assert all(np.isfinite(p.data).all() for p in model.parameters())


@pytest.mark.parametrize("X, y, match", [
    (np.array([[1.0, np.nan], [2.0, 3.0]]), np.ones((2, 1)), r"NaN.*row 1"),
    (np.array([[1.0, 2.0], [np.inf, 3.0]]), np.ones((2, 1)), r"infinite.*row 2"),
    (np.ones((2, 2)), np.array([[1.0], [np.nan]]), "NaN"),
    (np.ones((3, 2)), np.ones((2, 1)), "3 rows but y has 2"),
    (np.ones((0, 2)), np.ones((0, 1)), "no rows"),
    (np.array([["a", "b"]]), np.ones((1, 1)), "numbers"),
])
def test_bad_data_raises_data_error(X, y, match):
    model = seed_network()
    before = params_of(model)
    with pytest.raises(DataError, match=match):
        fit(model, X, y, lr=1e-5, epochs=1)
    assert all(np.array_equal(a, b) for a, b in zip(before, params_of(model)))


@pytest.mark.parametrize("options", [
    {"batch_size": 0}, {"batch_size": -2}, {"batch_size": 1.5}, {"batch_size": "many"},
    {"epochs": -1}, {"epochs": 2.5}, {"epochs": "ten"}, {"lr": 0}, {"lr": -1.0},
    {"lr": float("nan")}, {"lr": "fast"}, {"loss": "hinge"}, {"optimizer": "adamax"},
])
def test_bad_settings_raise_config_error(options, students):
    model = seed_network()
    settings = {"lr": 1e-5, "epochs": 1, **options}
    with pytest.raises(ConfigError):
        fit(model, students.X, students.y, **settings)
    assert np.array_equal(model.layers[0].weight.data, np.ones((2, 2)))


def test_zero_epochs_changes_nothing(students):
    model = seed_network()
    history = fit(model, students.X, students.y, epochs=0)
    assert history.loss == [] and history.steps == 0
    assert np.array_equal(model.layers[0].weight.data, np.ones((2, 2)))


def test_evaluate_by_hand(students):
    # ŷ = 2 (IQ + CGPA) with weights 1: 176, 130, 234 against 5, 3, 8
    expected = (171 ** 2 + 127 ** 2 + 226 ** 2) / 3
    assert chainrule.evaluate(seed_network(), students.X, students.y) == expected


def test_callbacks_see_every_step_and_can_stop(students):
    seen = []

    class Stop(chainrule.Callback):
        def on_batch_end(self, step, loss):
            seen.append((step, loss))

        def on_epoch_end(self, epoch, history):
            return epoch == 2

    model = seed_network()
    history = fit(model, students.X, students.y, lr=1e-5, epochs=10, shuffle=False,
                  callbacks=[Stop()])
    assert history.stopped_early and len(history) == 2 and history.steps == 6
    assert seen[0] == (1, 29241.0)  # the seed's first step
    assert history.loss[0] == pytest.approx(np.mean([l for _, l in seen[:3]]), rel=1e-15)


@pytest.mark.parametrize("name", ["mse", "mae", "huber", "bce", "cross_entropy"])
@pytest.mark.parametrize("weighted", [False, True])
def test_the_per_epoch_loss_without_a_graph_is_the_graphs(name, weighted, rng):
    """The epoch's scores use the loss's ``value`` on arrays (no graph), reduced as the
    loss's own call reduces its terms: the same number."""
    from chainrule.losses import LOSSES
    from chainrule.tensor import Tensor
    from chainrule.train import _loss_value
    loss = LOSSES[name]
    out = rng.standard_normal((9, 3))
    Y = np.eye(3)[rng.integers(0, 3, 9)] if name in ("bce", "cross_entropy") \
        else rng.standard_normal((9, 3))
    W = rng.uniform(0, 2, 9) if weighted else None
    want = float(loss(Tensor(out), Y, sample_weight=W).data)
    assert _loss_value(loss, out, Y, W) == pytest.approx(want, rel=1e-15)
