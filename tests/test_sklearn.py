"""The scikit-learn estimators: scikit-learn's own estimator checks, the same weights as
scikit-learn's MLP from the same start, and use inside Pipeline and GridSearchCV."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn import neural_network as sk  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.sklearn import MLPClassifier, MLPRegressor, Objective  # noqa: E402
from chainrule.tensor import Tensor  # noqa: E402

# No check is skipped or expected to fail.  (The checks that need pandas run when it is
# installed, as in the test extra; check_array_api_input runs only with SCIPY_ARRAY_API=1.)
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


@parametrize_with_checks([MLPRegressor(), MLPClassifier()],
                         expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# ------------------------------------------------------------------------------------
# The same numbers as scikit-learn's MLP: an independent implementation of the objective
# (½ MSE or log-loss, plus α/(2B)‖W‖² per batch), the update rules and the loss curve.

RNG = np.random.default_rng(0)
X = RNG.normal(size=(10, 3))
TARGETS = {
    "regression": X @ [1.0, -2.0, 0.5] + 0.3 * RNG.normal(size=10),
    "binary": (X[:, 0] > 0).astype(int),
    "three classes": np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 2]),
}
SOLVERS = {
    "sgd": dict(solver="sgd", momentum=0.0),
    "momentum": dict(solver="sgd", momentum=0.9, nesterovs_momentum=False),
    "nesterov": dict(solver="sgd", momentum=0.9, nesterovs_momentum=True),
}


def _pair(task: str, engine: str | None = None, **params):
    """scikit-learn's estimator and ours, both set up from scikit-learn's initial weights."""
    params = {**dict(hidden_layer_sizes=(4,), activation="tanh", alpha=0.3, batch_size=4,
                     shuffle=False, learning_rate_init=0.05, max_iter=15, tol=0.0,
                     n_iter_no_change=1000, random_state=0), **params}
    y = TARGETS[task]
    theirs, ours = ((sk.MLPRegressor, MLPRegressor) if task == "regression"
                    else (sk.MLPClassifier, MLPClassifier))
    theirs, ours = theirs(**params), ours(**params, engine=engine)
    extra = {} if task == "regression" else {"classes": np.unique(y)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.partial_fit(X, y, **extra)
        ours.partial_fit(X, y, **extra)
    for k in range(2):
        ours.coefs_[k][...] = theirs.coefs_[k]  # coefs_ are the chainrule model's own arrays
        ours.intercepts_[k][...] = theirs.intercepts_[k]
    return theirs, ours, y


@pytest.mark.parametrize("task", TARGETS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_fit_gives_scikit_learns_weights_and_loss_curve(task, solver):
    """10 rows in batches of 4, 4, 2 (so α/B changes for the last batch), 15 epochs."""
    theirs, ours = _fit_alike(*_pair(task, warm_start=True, **SOLVERS[solver]))
    assert ours.n_iter_ == theirs.n_iter_ == 15 and ours.t_ == theirs.t_ == 160


def _fit_alike(theirs, ours, y):
    """Both fitted on X, y; then the same weights (1e-13) and loss curve (the first epoch
    is the set-up's partial_fit, from different initial weights)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y)
        ours.fit(X, y)
    for a, b in zip(theirs.coefs_ + theirs.intercepts_, ours.coefs_ + ours.intercepts_):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-13)
    np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=1e-13)
    return theirs, ours


@pytest.mark.parametrize("task", ["regression", "binary"])
def test_one_row_a_batch_on_the_fused_path_gives_scikit_learns_weights(task):
    """Batch size 1 (the all-locals form, α/2‖W‖² and αW each step): scikit-learn's MLP
    from the same weights is the reference, as in the test above."""
    _fit_alike(*_pair(task, warm_start=True, engine="fused", batch_size=1, **SOLVERS["sgd"]))


@pytest.mark.parametrize("task", ["regression", "three classes"])
def test_partial_fit_keeps_the_optimisers_momentum(task):
    """fit (a new optimiser, from the same weights), then partial_fit continues its momentum."""
    theirs, ours, y = _pair(task, warm_start=True, **SOLVERS["nesterov"])
    for est in (theirs, ours):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.set_params(max_iter=2).fit(X, y)
    for _ in range(3):
        theirs.partial_fit(X, y)
        ours.partial_fit(X, y)
    for a, b in zip(theirs.coefs_, ours.coefs_):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-13)


def test_adam_agrees_with_scikit_learn_up_to_where_epsilon_goes():
    """chainrule adds ε after Adam's bias correction (torch's form), scikit-learn before;
    with a tiny ε the two are the same algorithm."""
    theirs, ours, y = _pair("regression", warm_start=True, solver="adam", epsilon=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y)
        ours.fit(X, y)
    for a, b in zip(theirs.coefs_, ours.coefs_):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-10)


def test_the_objective_by_hand():
    """½·mean (y − ŷ)² + α/(2B)·Σ‖W‖² for a batch of B = 2 rows, weights of the seed network."""
    model = cr.seed_network()  # W¹ = 1 (2×2), W² = 1 (2×1): Σ‖W‖² = 6
    J = Objective.of("mse", model, alpha=0.4)
    assert J.name == "sklearn_mse" and J.params == {"alpha": 0.4}
    pred, y = Tensor(np.array([[3.0], [5.0]])), np.array([[1.0], [2.0]])
    # ½·(2² + 3²)/2 = 3.25 ; 0.4/(2·2)·6 = 0.6
    assert float(J(pred, y).data) == pytest.approx(3.25 + 0.6, abs=1e-15)
    # with sample weights 1 and 3: ½·(1·4 + 3·9)/4 = 3.875 ; 0.4/(2·4)·6 = 0.3
    assert float(J(pred, y, sample_weight=[1.0, 3.0]).data) == pytest.approx(4.175, abs=1e-15)


def test_the_objectives_are_table_losses_with_a_fused_form():
    """scikit-learn's objectives are entries of chainrule's tables (losses.SKLEARN_LOSSES),
    each with its fused form (the penalty included), so the fused path runs them."""
    from chainrule import fastpath
    from chainrule.losses import SKLEARN_LOSSES
    assert sorted(SKLEARN_LOSSES) == ["sklearn_bce", "sklearn_cross_entropy", "sklearn_mse"]
    assert all(e.fused is not None and e.fused.penalty for e in SKLEARN_LOSSES.values())
    model = cr.mlp([2, 3])
    opt = cr.SGD(model.parameters())
    for name in ("mse", "cross_entropy"):
        assert fastpath.reason(model, Objective.of(name, model, 0.1), opt) is None
    assert "another model" in fastpath.reason(model, Objective.of("mse", cr.mlp([2, 3]), 0.1),
                                              opt)
    z, y = np.array([[2.0, 0.0, -1.0]]), np.array([[0.0, 1.0, 0.0]])
    value, grad = Objective.of("cross_entropy", model, 0.0).value_and_grad(z, y)
    p = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(value, -np.log(p[0, 1]), rtol=1e-14)
    np.testing.assert_allclose(grad, p - y, rtol=1e-14)


@pytest.mark.parametrize("task, solver, batch", [
    ("regression", "nesterov", 4), ("binary", "sgd", 4), ("three classes", "momentum", 4),
    ("regression", "sgd", 1), ("binary", "momentum", 1)])
def test_the_fused_path_trains_the_estimators_to_the_graph_engines_weights(task, solver, batch):
    """The same estimator fitted on both engines from the same weights (sample weights
    too, and batches of 4, 4, 2, so α/Σs changes; or of one row, where 3-4-1's 16 weights
    take the all-locals form with the penalty in it): equal weights and loss curves."""
    from chainrule import fastcode, fastpath
    runs = []
    for engine in ("fused", "graph"):
        _, ours, y = _pair(task, warm_start=True, engine=engine, batch_size=batch,
                           **SOLVERS[solver])
        if batch == 1:  # the penalty runs in the all-locals form (its α/(2Σs)‖W‖² and αW/Σs)
            plan = fastpath.Plan(ours.model_, Objective.of(ours._loss(), ours.model_, 0.3),
                                 ours._optimizer)
            assert fastcode.scalar(plan.shape(1)) and fastcode.penalised(plan.shape(1))
        weights = np.linspace(0.5, 2.0, len(y))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ours.fit(X, y, sample_weight=weights)
        runs.append(ours)
    fused, graph = runs
    for a, b in zip(graph.coefs_ + graph.intercepts_, fused.coefs_ + fused.intercepts_):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(fused.loss_curve_, graph.loss_curve_, rtol=1e-12)


def test_auto_takes_the_fused_path_for_the_estimators(monkeypatch):
    """engine=None (fit's "auto") runs the fused plan when its loop is at hand."""
    from chainrule import fastpath
    calls = []
    real = fastpath.Plan.run
    monkeypatch.setattr(fastpath.Plan, "run",
                        lambda self, *a, **k: calls.append(self.loss.name) or real(self, *a, **k))
    monkeypatch.setattr(fastpath, "compiled", lambda plan, bs: True)  # as if cached
    _, ours, y = _pair("regression", warm_start=True, **SOLVERS["nesterov"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.set_params(max_iter=3).fit(X, y)
    assert calls.count("sklearn_mse") >= 3


# ------------------------------------------------------------------------------------
# Working with scikit-learn's tools, and with chainrule's.


def test_pipeline_and_grid_search_on_iris():
    """GridSearchCV (in two worker processes, so fitted estimators are pickled) picks the
    small penalty over a huge one; the best pipeline scales, then classifies text labels."""
    X_iris, y_iris = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y_iris]
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,),
                                                         learning_rate_init=0.01, random_state=0))
    search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 30.0]}, cv=3, n_jobs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X_iris, labels)
    small, huge = search.cv_results_["mean_test_score"]
    assert small > 0.95 and huge < small
    assert search.best_params_ == {"mlpclassifier__alpha": 1e-4}
    best = search.best_estimator_
    assert np.mean(best.predict(X_iris) == labels) > 0.95
    assert best.predict_proba(X_iris[:5]).shape == (5, 3)


def test_fitted_attributes():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(5, 4), activation=("tanh", "leaky_relu:0.2"),
                            max_iter=20, random_state=0).fit(frame, np.array(["x", "y"])[
                                TARGETS["binary"]])
    assert [c.shape for c in clf.coefs_] == [(3, 5), (5, 4), (4, 1)]
    assert [b.shape for b in clf.intercepts_] == [(5,), (4,), (1,)]
    assert clf.classes_.tolist() == ["x", "y"] and clf.out_activation_ == "logistic"
    assert clf.n_features_in_ == 3 and clf.feature_names_in_.tolist() == ["a", "b", "c"]
    assert len(clf.loss_curve_) == clf.n_iter_ == 20 and clf.n_layers_ == 4
    assert [layer.activation.spec for layer in clf.model_.layers] == [
        "tanh", "leaky_relu:0.2", "linear"]
    proba = clf.predict_proba(frame)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(frame)), proba)


def test_early_stopping_ends_with_the_best_validation_weights():
    X_iris, y_iris = load_iris(return_X_y=True)
    X_iris = StandardScaler().fit_transform(X_iris)
    clf = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, n_iter_no_change=5,
                        max_iter=500, random_state=0, learning_rate_init=0.01).fit(X_iris, y_iris)
    assert clf.n_iter_ < 500 and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    best = clf.validation_scores_.index(clf.best_validation_score_) + 1
    assert clf.n_iter_ - best > clf.n_iter_no_change  # stopped after n_iter_no_change + 1 misses
    state = clf.model_.state_dict()
    assert all(np.array_equal(state[k], clf._best_state[k]) for k in state)


def test_the_model_inside_saves_and_pickles(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = MLPRegressor(hidden_layer_sizes=(3,), max_iter=5, random_state=0).fit(
            X, TARGETS["regression"])
    loaded = cr.load(cr.save(reg.model_, tmp_path / "reg.safetensors"))
    assert loaded.predict(X)[:, 0].tobytes() == reg.predict(X).tobytes()
    again = pickle.loads(pickle.dumps(reg))
    assert again.predict(X).tobytes() == reg.predict(X).tobytes()
    again.partial_fit(X, TARGETS["regression"])  # the unpickled optimiser still drives the model
    assert not np.array_equal(again.coefs_[0], reg.coefs_[0])
    assert again.coefs_[0] is again.model_.layers[0].weight.data


def test_errors_say_what_to_do():
    y = TARGETS["three classes"]
    with pytest.raises(ValueError, match="lbfgs is not available"):
        MLPClassifier(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        MLPClassifier().partial_fit(X, y)
    with pytest.raises(ValueError, match=r"labels \[3\] that are not among the classes"):
        MLPClassifier(max_iter=1).partial_fit(X, y, classes=[0, 1, 2]).partial_fit(X, y + 1)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        MLPRegressor(hidden_layer_sizes=(0,)).fit(X, TARGETS["regression"])


def test_engine_is_kept_and_handed_to_fit():
    reg = MLPRegressor(engine="graph", max_iter=2)
    assert reg.get_params()["engine"] == "graph"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, TARGETS["regression"])
    assert reg.n_iter_ == 2
