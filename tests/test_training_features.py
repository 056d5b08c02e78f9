"""The training toolkit around fit: validation, early stopping, classification, scaling,
metrics, and learning problems with known outcomes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import Scaler

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])


def test_xor_with_a_2_4_1_tanh_network():
    model = cr.mlp([2, 4, 1], activation="tanh", seed=0)
    history = cr.fit(model, XOR_X, XOR_Y, lr=0.1, epochs=2000, seed=0, metrics=[])
    assert history.loss[-1] < 0.01
    assert cr.evaluate(model, XOR_X, XOR_Y) < 0.01
    assert np.allclose(model.predict(XOR_X), XOR_Y, atol=0.1)


def test_digits_64_32_10_tanh_adam_reaches_95_percent():
    datasets = pytest.importorskip("sklearn.datasets")
    selection = pytest.importorskip("sklearn.model_selection")
    X, y = datasets.load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = selection.train_test_split(X, y, test_size=0.2, random_state=0)
    model = cr.mlp([64, 32, 10], activation="tanh", seed=0)
    cr.fit(model, Xtr, ytr, loss="cross_entropy", optimizer="adam", lr=1e-3, epochs=20,
           batch_size=32, seed=0, scale="standard")
    assert np.mean(model.predict(Xte) == yte) >= 0.95
    assert list(model.classes_) == list(range(10))


def test_diabetes_r2_at_least_sklearns_mlp():
    datasets = pytest.importorskip("sklearn.datasets")
    selection = pytest.importorskip("sklearn.model_selection")
    from sklearn.metrics import r2_score
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = datasets.load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = selection.train_test_split(X, y, test_size=0.2, random_state=0)
    epochs = 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns that 100 epochs did not converge
        peer = make_pipeline(StandardScaler(), MLPRegressor(
            hidden_layer_sizes=(32,), activation="relu", solver="adam", learning_rate_init=1e-3,
            batch_size=32, max_iter=epochs, alpha=0.0, n_iter_no_change=epochs + 1, tol=0,
            random_state=0)).fit(Xtr, ytr)
    model = cr.mlp([10, 32, 1], activation="relu", seed=0)
    cr.fit(model, Xtr, ytr, optimizer="adam", lr=1e-3, epochs=epochs, batch_size=32, seed=0,
           scale="standard")
    ours = r2_score(yte, model.predict(Xte).ravel())
    assert ours >= r2_score(yte, peer.predict(Xte))
    assert ours > 0.2


def test_labels_as_text_integers_or_one_hot_give_the_same_training():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    k = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)  # 3 classes
    text = np.array(["low", "mid", "high"])[k]
    onehot = np.eye(3)[k]
    weights = []
    for labels in (k, onehot):
        model = cr.mlp([2, 5, 3], activation="tanh", seed=1)
        cr.fit(model, X, labels, loss="cross_entropy", lr=0.05, epochs=5, seed=2)
        weights.append(model.layers[0].weight.data.copy())
    np.testing.assert_array_equal(weights[0], weights[1])
    model = cr.mlp([2, 5, 3], activation="tanh", seed=1)
    history = cr.fit(model, X, text, loss="cross_entropy", optimizer="adam", lr=0.05, epochs=60,
                     seed=2)
    assert list(model.classes_) == ["high", "low", "mid"]  # sorted
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    predicted = model.predict(X)
    assert set(predicted) <= {"low", "mid", "high"}
    # accuracy in the history is the share of rows whose most probable class is right
    assert history["accuracy"][-1] == pytest.approx(np.mean(predicted == text))
    assert history["accuracy"][-1] > 0.9


def test_binary_cross_entropy_keeps_two_classes():
    X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    labels = np.array(["no", "no", "yes", "yes"])
    model = cr.mlp([1, 1], seed=0)
    cr.fit(model, X, labels, loss="bce", optimizer="adam", lr=0.1, epochs=100, seed=0)
    assert list(model.predict(X)) == list(labels)
    p = model.predict_proba(X)
    z = model.forward_array(X)[:, 0]
    np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-z)), rtol=1e-12)


def test_scaling_lives_in_the_model_and_predictions_use_raw_inputs():
    d = cr.datasets.students()
    model = cr.mlp([2, 2, 1], activation="linear", seed=0)
    cr.fit(model, d.X, d.y, lr=0.05, epochs=30, seed=0, scale="standard")
    mean, std = d.X.mean(axis=0), d.X.std(axis=0)
    np.testing.assert_allclose(model.x_scaler.offset, mean)
    np.testing.assert_allclose(model.x_scaler.scale, std)
    z = (d.X - mean) / std
    W1, b1 = model.layers[0].weight.data, model.layers[0].bias.data
    W2, b2 = model.layers[1].weight.data, model.layers[1].bias.data
    by_hand = ((z @ W1 + b1) @ W2 + b2) * d.y.std() + d.y.mean()
    np.testing.assert_allclose(model.predict(d.X), by_hand, rtol=1e-12)


def test_minmax_scaler_and_constant_columns():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [2.0, 5.0]])
    s = Scaler.fit("minmax", X)
    np.testing.assert_allclose(s.transform(X), [[0, 0], [1, 0], [0.5, 0]])
    np.testing.assert_allclose(s.inverse(s.transform(X)), X)
    with pytest.raises(cr.DataError, match="standard, minmax, none"):
        Scaler.fit("robust", X)


def test_validation_split_and_metrics_per_epoch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1
    model = cr.mlp([3, 4, 1], activation="tanh", seed=0)
    h = cr.fit(model, X, y, lr=0.01, epochs=4, seed=3, validation_split=0.2, metrics=["mse", "mae", "r2"])
    assert set(h.logs) == {"loss", "mse", "mae", "r2", "val_loss", "val_mse", "val_mae", "val_r2"}
    assert all(len(v) == 4 for v in h.logs.values())
    # val_loss is the MSE on the held-out 10 rows, recomputed here independently.
    order = np.random.default_rng(3).permutation(50)
    val = np.sort(order[:10])
    pred = model.predict(X[val]).ravel()
    assert h.val_loss[-1] == pytest.approx(np.mean((y[val] - pred) ** 2), rel=1e-12)
    ss = np.sum((y[val] - pred) ** 2) / np.sum((y[val] - y[val].mean()) ** 2)
    assert h["val_r2"][-1] == pytest.approx(1 - ss, rel=1e-12)
    assert h["val_mae"][-1] == pytest.approx(np.mean(np.abs(y[val] - pred)), rel=1e-12)


def test_early_stopping_stops_and_restores_the_best_epoch():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 2))
    y = X[:, :1] * 3.0
    Xv, yv = rng.normal(size=(10, 2)), rng.normal(size=(10, 1)) * 5  # noise: val gets worse
    saved = {}

    class Snapshot(cr.Callback):
        def on_train_begin(self, model):
            self.model = model

        def on_epoch_end(self, epoch, history):
            saved[epoch] = self.model.state_dict()

    model = cr.mlp([2, 8, 1], activation="tanh", seed=0)
    stopper = cr.EarlyStopping(monitor="val_loss", patience=3)
    h = cr.fit(model, X, y, lr=0.05, epochs=200, seed=0, validation_data=(Xv, yv),
               callbacks=[Snapshot(), stopper])
    assert h.stopped_early and len(h) < 200
    best = int(np.argmin(h.val_loss)) + 1
    assert h.best_epoch == best == len(h) - 3  # 3 epochs without improvement after the best
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, saved[best][name])


def test_sample_weight_in_fit_equals_repeating_rows():
    """Weight 2 on a row is the same full-batch gradient as that row written twice."""
    d = cr.datasets.students()
    a, b = cr.seed_network(), cr.seed_network()
    cr.fit(a, d.X, d.y, lr=1e-5, epochs=3, batch_size="full", sample_weight=[2, 1, 1], metrics=[])
    X2, y2 = np.vstack([d.X, d.X[:1]]), np.vstack([d.y, d.y[:1]])
    cr.fit(b, X2, y2, lr=1e-5, epochs=3, batch_size="full", metrics=[])
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(pa.data, pb.data, rtol=1e-12)


def test_predict_proba_on_a_regressor_is_a_clear_error():
    with pytest.raises(cr.ConfigError, match="classifier"):
        cr.seed_network().predict_proba([[1.0, 2.0]])


def test_classes_come_from_all_labels_before_the_validation_split():
    X = np.arange(9.0)[:, None]
    labels = np.array(["a"] * 4 + ["b"] * 4 + ["rare"])  # "rare" may land in validation only
    for seed in range(4):
        model = cr.mlp([1, 3], seed=0)
        h = cr.fit(model, X, labels, loss="cross_entropy", epochs=2, seed=seed,
                   validation_split=0.34)
        assert list(model.classes_) == ["a", "b", "rare"] and len(h["val_accuracy"]) == 2


def test_callbacks_see_row_numbers_of_the_data_given():
    d = cr.datasets.students()
    seen = []

    class Rows(cr.Callback):
        def on_batch_begin(self, step, rows, X, y):
            seen.append((int(rows[0]), X[0].tolist()))

    cr.fit(cr.seed_network(), d.X, d.y, lr=1e-5, epochs=2, seed=1, validation_split=0.34,
           callbacks=[Rows()])
    assert all(d.X[r].tolist() == x for r, x in seen) and len(seen) == 4


def test_mismatched_lengths_are_caught_before_the_split():
    with pytest.raises(cr.DataError, match="X has 3 rows but y has 2"):
        cr.fit(cr.seed_network(), np.ones((3, 2)), np.ones(2), validation_split=0.34)
    with pytest.raises(cr.ConfigError, match="sample_weight needs 3 numbers"):
        cr.fit(cr.seed_network(), np.ones((3, 2)), np.ones(3), sample_weight=[1, 2],
               validation_split=0.34)


def test_a_misspelt_monitor_is_an_error():
    d = cr.datasets.students()
    with pytest.raises(cr.ConfigError, match="can't watch 'val_los'"):
        cr.fit(cr.seed_network(), d.X, d.y, lr=1e-5, epochs=2, validation_split=0.34,
               early_stopping=cr.EarlyStopping(monitor="val_los", patience=1))


def test_metrics_must_fit_the_task_and_r2_needs_two_rows():
    d = cr.datasets.students()
    with pytest.raises(cr.ConfigError, match="accuracy is for classification"):
        cr.fit(cr.seed_network(), d.X, d.y, lr=1e-5, epochs=1, metrics=["accuracy"])
    from chainrule import metrics

    assert np.isnan(metrics.r2(np.array([[1.0]]), np.array([[2.0]])))
    assert metrics.r2(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0])) == pytest.approx(1 - 1 / 2)
