"""``chainrule search``: its ranked table against scikit-learn's GridSearchCV run directly,
the best model file, and one-line refusals of bad grids."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule
from cli_run import run_cli

pytest.importorskip("sklearn")
from sklearn.compose import TransformedTargetRegressor  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from chainrule.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


def write_csv(path, header, rows) -> None:
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 2)) * [2.0, 5.0] + [1.0, 40.0]
    y = np.sin(X[:, 0]) + 0.05 * X[:, 1]
    return X, y


def ranking(stdout: str, columns: int) -> list[list[str]]:
    """The table's rows (rank first) as printed."""
    rows = []
    for line in stdout.splitlines():
        cells = line.split()
        if len(cells) == columns and cells[0].isdigit():
            rows.append(cells)
    return rows


def direct_search(estimator, grid, X, y, cv):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GridSearchCV(estimator, grid, cv=cv).fit(X, y)


def test_ranked_table_and_best_model_match_grid_search_cv(tmp_path, regression):
    X, y = regression
    write_csv(tmp_path / "r.csv", ["u", "v", "y"],
              [(repr(a), repr(b), repr(t)) for (a, b), t in zip(X.tolist(), y.tolist())])
    code, out, err = run_cli("search", str(tmp_path / "r.csv"), "--grid", "hidden=3,6-2",
                             "lr=0.01,0.1", "epochs=15", "--cv", "3", "--seed", "4",
                             "--save", str(tmp_path / "best.safetensors"))
    assert code == 0, err
    # the same search written directly with scikit-learn: standardised inputs and targets
    # around chainrule's MLPRegressor, shuffled 3-fold KFold seeded 4
    reference = direct_search(
        TransformedTargetRegressor(
            regressor=Pipeline([("s", StandardScaler()), ("m", MLPRegressor(random_state=4))]),
            transformer=StandardScaler()),
        {"regressor__m__hidden_layer_sizes": [(3,), (6, 2)],
         "regressor__m__learning_rate_init": [0.01, 0.1], "regressor__m__max_iter": [15]},
        X, y, KFold(3, shuffle=True, random_state=4))
    res = reference.cv_results_
    order = sorted(range(4), key=lambda i: (res["rank_test_score"][i], -res["mean_test_score"][i]))
    want = [[str(res["rank_test_score"][i]), f"{res['mean_test_score'][i]:.4f}",
             f"{res['std_test_score'][i]:.4f}",
             "-".join(map(str, res["params"][i]["regressor__m__hidden_layer_sizes"])),
             f"{res['params'][i]['regressor__m__learning_rate_init']:g}", "15"] for i in order]
    got = [row[:3] + row[4:] for row in ranking(out, 7)]  # (fit seconds left out)
    assert got == want
    assert "candidates by mean R² on the held-out folds" in out
    # the saved model is the refitted best, predicting raw rows in the targets' own units
    model = chainrule.load(tmp_path / "best.safetensors")
    np.testing.assert_allclose(model.predict(X).ravel(), reference.best_estimator_.predict(X),
                               rtol=1e-12, atol=1e-12)
    best = reference.best_params_
    assert model.sizes == [2, *best["regressor__m__hidden_layer_sizes"], 1]
    assert model.metadata["training"]["search"]["best"]["lr"] == \
        f"{best['regressor__m__learning_rate_init']:g}"


def test_a_classifier_with_a_text_column_is_searched_and_saved(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.normal(size=120)
    colour = np.where(rng.random(120) < 0.5, "red", "blue")
    label = np.where(x + (colour == "red") * 1.5 > 0.7, "yes", "no")
    write_csv(tmp_path / "c.csv", ["x", "colour", "label"],
              [(repr(a), c, t) for a, c, t in zip(x.tolist(), colour, label)])
    code, out, err = run_cli("search", str(tmp_path / "c.csv"), "--grid", "alpha=0.0001,1",
                             "epochs=20", "--cv", "4", "--save", str(tmp_path / "m.safetensors"))
    assert code == 0, err
    # the text column is one-hot (blue, red: sorted categories), as chainrule train does
    X = np.column_stack([x, colour == "blue", colour == "red"]).astype(float)
    reference = direct_search(
        Pipeline([("s", StandardScaler()), ("m", MLPClassifier(random_state=0))]),
        {"m__alpha": [0.0001, 1.0], "m__max_iter": [20]}, X, label,
        StratifiedKFold(4, shuffle=True, random_state=0))
    res = reference.cv_results_
    got = {row[4]: row[1] for row in ranking(out, 6)}
    assert got == {f"{p['m__alpha']:g}": f"{s:.4f}"
                   for p, s in zip(res["params"], res["mean_test_score"])}
    model = chainrule.load(tmp_path / "m.safetensors")
    assert list(model.classes_) == ["no", "yes"]
    np.testing.assert_allclose(model.predict_proba(X)[:, 1],
                               reference.best_estimator_.predict_proba(X)[:, 1], rtol=1e-12)
    # and `chainrule predict` reads the raw CSV (text column included) with it
    code, out, err = run_cli("predict", str(tmp_path / "m.safetensors"), str(tmp_path / "c.csv"),
                             "--out", str(tmp_path / "p.csv"))
    assert code == 0, err
    lines = (tmp_path / "p.csv").read_text().splitlines()[1:]
    assert [line.split(",")[3] for line in lines] == list(reference.best_estimator_.predict(X))


@pytest.mark.parametrize("args, message", [
    (["--grid", "hidden"], "--grid takes NAME=V1,V2,… (e.g. hidden=4,8,16 lr=0.01,0.1), got 'hidden'"),
    (["--grid", "speed=1,2"], "--grid speed: unknown setting; choose from hidden, lr, alpha"),
    (["--grid", "lr=0.1,abc"], "--grid lr: 'abc' is not a number > 0"),
    (["--grid", "lr=-1"], "--grid lr: '-1' is not a number > 0"),
    (["--grid", "hidden=4,0"], "--grid hidden: '0' is not layer sizes such as 8 or 16-8"),
    (["--grid", "hidden=4", "hidden=8"], "--grid hidden is given twice"),
    (["--grid", "activation=softmax"], "--grid activation: 'softmax' is not a hidden activation"),
    (["--grid", "epochs=2", "--cv", "200"], "--cv 200 needs at least 200 rows; the data has 90"),
    ([], "--grid needs at least one NAME=V1,V2,…"),
])
def test_bad_grids_are_one_line(tmp_path, regression, args, message):
    X, y = regression
    write_csv(tmp_path / "r.csv", ["u", "v", "y"],
              [(repr(a), repr(b), repr(t)) for (a, b), t in zip(X.tolist(), y.tolist())])
    code, out, err = run_cli("search", str(tmp_path / "r.csv"), *args,
                             "--save", str(tmp_path / "b.safetensors"))
    assert code == 1 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not (tmp_path / "b.safetensors").exists()


def test_unreachable_scheduler_is_one_line(tmp_path, regression):
    pytest.importorskip("distributed")
    X, y = regression
    write_csv(tmp_path / "r.csv", ["u", "v", "y"], [(a, b, t) for (a, b), t in zip(X, y)])
    code, out, err = run_cli("search", str(tmp_path / "r.csv"), "--grid", "hidden=2",
                             "--dask", "tcp://127.0.0.1:9")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "no Dask scheduler answers at tcp://127.0.0.1:9" in err


@pytest.mark.slow
def test_search_on_a_local_dask_cluster_ranks_as_here(tmp_path, regression):
    pytest.importorskip("distributed")
    X, y = regression
    write_csv(tmp_path / "r.csv", ["u", "v", "y"],
              [(repr(a), repr(b), repr(t)) for (a, b), t in zip(X.tolist(), y.tolist())])
    common = ["search", str(tmp_path / "r.csv"), "--grid", "alpha=0.0001,3", "epochs=10",
              "--cv", "3"]
    here = run_cli(*common, "--save", str(tmp_path / "a.safetensors"))
    there = run_cli(*common, "--dask", "local:2", "--save", str(tmp_path / "b.safetensors"))
    assert here[0] == 0 and there[0] == 0, here[2] + there[2]
    strip = lambda rows: [r[:3] + r[4:] for r in rows]  # noqa: E731 (fit seconds differ)
    assert strip(ranking(there[1], 6)) == strip(ranking(here[1], 6)) and len(ranking(here[1], 6)) == 2
    a, b = chainrule.load(tmp_path / "a.safetensors"), chainrule.load(tmp_path / "b.safetensors")
    assert all(np.array_equal(p.data, q.data) for p, q in zip(a.parameters(), b.parameters()))


def test_a_diverged_candidate_is_ranked_last_and_the_rest_as_alone(tmp_path, regression):
    X, y = regression
    write_csv(tmp_path / "r.csv", ["u", "v", "y"],
              [(repr(a), repr(b), repr(t)) for (a, b), t in zip(X.tolist(), y.tolist())])
    code, out, err = run_cli("search", str(tmp_path / "r.csv"), "--grid", "lr=0.01,1e300",
                             "epochs=2", "--cv", "2", "--save", str(tmp_path / "b.safetensors"))
    assert code == 0, err
    assert "Traceback" not in err and "Scoring failed" not in err
    # lr=0.01 scores as scikit-learn's search of it alone; lr=1e300's weights overflow: last
    reference = direct_search(
        TransformedTargetRegressor(
            regressor=Pipeline([("s", StandardScaler()), ("m", MLPRegressor(random_state=0))]),
            transformer=StandardScaler()),
        {"regressor__m__learning_rate_init": [0.01], "regressor__m__max_iter": [2]},
        X, y, KFold(2, shuffle=True, random_state=0))
    mean, std = reference.cv_results_["mean_test_score"][0], reference.cv_results_["std_test_score"][0]
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["1"], ["2"])]
    assert [r[:3] + r[4:] for r in rows[:1]] == [["1", f"{mean:.4f}", f"{std:.4f}", "0.01", "2"]]
    assert [r[:2] + r[3:] for r in rows[1:]] == [["2", "diverged", "1e+300", "2"]]
    model = chainrule.load(tmp_path / "b.safetensors")
    np.testing.assert_allclose(model.predict(X).ravel(), reference.best_estimator_.predict(X),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("grid", [["lr=1e300", "epochs=1"], ["lr=1e300"]])  # NaN scores; failed fits
def test_every_candidate_diverged_is_one_line(tmp_path, regression, grid):
    X, y = regression
    write_csv(tmp_path / "r.csv", ["u", "v", "y"],
              [(repr(a), repr(b), repr(t)) for (a, b), t in zip(X.tolist(), y.tolist())])
    code, out, err = run_cli("search", str(tmp_path / "r.csv"), "--grid", *grid, "--cv", "2",
                             "--save", str(tmp_path / "b.safetensors"))
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert f"every candidate of the grid ({' '.join(grid).replace('1e300', '1e+300')}) " \
           "diverged on its folds; try a smaller lr (e.g. --grid lr=1e+299)" in err
    assert not (tmp_path / "b.safetensors").exists()
