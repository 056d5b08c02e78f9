"""chainrule quiz: questions from a step, answers checked within 0.5 %, the first factor
that differs named, a score; non-interactive with --answers."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

import chainrule as cr
from chainrule.cli import cli
from chainrule.explain import explain, load_example
from chainrule.explain.quiz import check, first_difference, questions


def invoke(*args, stdin=None):
    res = CliRunner().invoke(cli, list(args), input=stdin)
    if isinstance(res.exception, cr.ChainruleError):
        return 1, res.output + f"error: {res.exception}\n"
    return res.exit_code, res.output


# The seed's step, all 18 questions in back-propagation's order (gradient, then update):
# w^2_11, w^2_21, b_21, w^1_11, w^1_12, w^1_21, w^1_22, b_11, b_12.
SEED_ANSWERS = [
    "30096", "0.69904",          # right
    "-30096", "1.30096",         # the sign of −2(y − ŷ); the update's sign
    "342*1", "-0.00342",         # right (a product, then a number)
    "342*1*8", "0.99658",        # x_2 typed for x_1; an update that left x_1 out
    "27300", "0.7264",           # 27300 is within 0.5 % of 27360: right
    "2736", "0.97264", "2736", "0.97264", "342", "-0.00342",
    "684", "-0.00342",           # twice ∂L/∂ŷ
]


def test_the_seed_quiz_with_right_and_wrong_answers():
    code, out = invoke("quiz", "--questions", "18", "--answers", ",".join(SEED_ANSWERS))
    assert code == 0, out
    assert out.startswith("chainrule quiz: network 2-2-1 (linear)")  # headed by its own name
    assert out.count("\nright: ") == 13 and out.count("not quite: ") == 5
    assert out.rstrip().endswith("score: 13 of 18 right (72 %)")
    assert "forward pass, row 1: x_1 = 80, x_2 = 8; target y = 5" in out
    assert ("not quite: you wrote −30096; ∂L/∂w^2_21 = 30096\nthe first factor that differs: "
            "∂L/∂ŷ = −2(y − ŷ) = 342 (your answer has the opposite sign, as if it were −342)") in out
    assert "the sign of the step; the update subtracts η · ∂L/∂θ" in out
    assert ("the first factor that differs: ∂O_11/∂w^1_11 = x_1 = 80 (you wrote 8)") in out
    assert ("your answer means ∂L/∂w^1_11 = 342, but it is 27360\nthe first factor that differs: "
            "∂O_11/∂w^1_11 = x_1 = 80 (your answer is the product without it)") in out
    assert "∂L/∂ŷ = −2(y − ŷ) = 342 (your answer is what twice this factor gives)" in out
    # a wrong answer is followed by the full derivation
    assert "the derivation:\n  ∂L/∂w^2_21 = ∂L/∂ŷ · ∂ŷ/∂w^2_21\n" in out


def test_answers_alone_set_how_many_questions():
    """Without --questions, one question per answer given (18 here: the whole step)."""
    code, out = invoke("quiz", "--answers", ",".join(SEED_ANSWERS))
    assert code == 0, out
    assert out.rstrip().endswith("score: 13 of 18 right (72 %)")


def test_a_delta_form_quiz_names_the_forgotten_input():
    ex_file = load_example("sigmoid-2-2-2")
    ex = explain(ex_file.model, ex_file.X, ex_file.Y, ex_file.loss, lr=ex_file.lr)
    q = next(q for q in questions(ex, 24) if q.prompt == "∂L/∂w^1_11")
    delta = ex.rows[0].deltas[2].value  # δ^1_1 = 0.00877135
    verdict = check(q, repr(delta), ex)  # δ^1_1 alone: x_1 forgotten
    assert not verdict.right
    assert verdict.lines[1] == ("the first factor that differs: ∂z_11/∂w^1_11 = x_1 = 0.05 (your "
                                "answer is the product without it)")
    assert any(line.startswith("  δ^1_1 = ∂L/∂z_11") for line in verdict.lines)  # the δ it rests on
    assert check(q, "0.05*0.00877135", ex).right  # 0.000438568, within 0.5 %
    assert check(q, "0.000437", ex).right and not check(q, "0.000436", ex).right  # 0.36 %, 0.59 %


def test_first_difference_when_nothing_single_explains_it():
    ex = explain(cr.seed_network(), [[80.0, 8.0]], [[5.0]], lr=1e-5)
    q = questions(ex, 18)[0]
    assert first_difference(q.factors, 12345.0) is None
    assert first_difference(q.factors, 0.0, typed=[342.0, 0.0]) == (1, "you wrote 0")


def test_the_same_seed_asks_the_same_questions():
    ex = explain(cr.mlp([3, 4, 3, 2], activation="tanh", seed=1), [[0.1, 0.2, 0.3]], [[1.0, 0.0]])
    first = [q.prompt for q in questions(ex, 5, seed=3)]
    assert first == [q.prompt for q in questions(ex, 5, seed=3)]
    assert first != [q.prompt for q in questions(ex, 5, seed=4)]
    assert len(set(first)) == 5


def test_interactive_answers_are_asked_again_until_a_number():
    code, out = invoke("quiz", "--questions", "1", stdin="three hundred\n342\n", )
    assert code == 0, out
    assert "is not a number (or a product such as 342*80); try again" in out
    assert "score: " in out


def test_quiz_errors_are_one_line():
    res = subprocess.run([sys.executable, "-m", "chainrule", "quiz", "--questions", "2",
                          "--answers", "1"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and res.stderr == ("error: --answers has 1 answer(s) for 2 "
                                                  "question(s); give one per question, comma-separated\n")
    code, out = invoke("quiz", "--questions", "1", "--answers", "lots")
    assert code == 1 and "'lots' is not a number" in out
    code, out = invoke("quiz", "--row", "9")
    assert code == 1 and "has 3 rows" in out
