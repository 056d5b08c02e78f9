"""``chainrule quiz``: practise the chain rule on a step, one gradient or update at a time."""

from __future__ import annotations

from typing import Any

import click

from ..errors import ConfigError
from .app import cli
from .explain_cmd import step_data
from .setup import network_options


@cli.command("quiz")
@network_options
@click.option("--example", "example", default=None, metavar="FILE.toml",
              help="Quiz on a worked example file, or a shipped one: seed, sigmoid-2-2-2.")
@click.option("--model", "model_file", type=click.Path(dir_okay=False), default=None,
              help="Quiz on a step of a saved model (from train --save).")
@click.option("--data", "data_file", type=click.Path(dir_okay=False), default=None,
              help="With --model: the CSV whose row to use.")
@click.option("--row", "-r", type=click.IntRange(min=1), default=1, show_default=True,
              help="The row of the data whose step to practise, counted from 1.")
@click.option("--questions", "-n", "count", type=click.IntRange(min=1), default=None,
              help="How many questions (drawn by --seed from every gradient and update); "
              "default 5, or as many as --answers gives.")
@click.option("--answers", default=None,
              help="Answer without being asked: the answers in order, comma-separated (a number, "
              "or a product such as 342*80), for scripts and tests.")
@click.pass_context
def quiz(ctx: click.Context, example: str | None, model_file: str | None, data_file: str | None,
         row: int, count: int | None, answers: str | None, **network: Any) -> None:
    """Practise back-propagation: the forward pass of one step, then questions.

    Each question asks for one ∂L/∂θ or one θ after the update, in the seed's notation;
    type the number (or the product of the chain's factors, e.g. 342*1*80). Within 0.5 %
    counts as right; otherwise you see the first factor that differs and the full
    derivation. The same --seed asks the same questions. At the end: your score.
    """
    from ..explain import explain
    from ..explain.quiz import check, parse_answer, questions
    from ..explain.render import forward_text

    model, X, Y, loss, lr = step_data(ctx, example, model_file, data_file, network)
    if row > len(X):
        raise ConfigError(f"--row {row} is past the end of the data, which has {len(X)} rows")
    ex = explain(model, X[row - 1:row], Y[row - 1:row], loss, lr=lr, rows=[row - 1])
    if count is None:
        count = len(answers.split(",")) if answers is not None else 5
    asked = questions(ex, count, network["seed"])
    given = None
    if answers is not None:
        given = [part.strip() for part in answers.split(",")]
        if len(given) != len(asked):
            raise ConfigError(f"--answers has {len(given)} answer(s) for {len(asked)} question(s); "
                              "give one per question, comma-separated")
        for text in given:
            parse_answer(text)  # every answer readable before the first question
    for line in forward_text(ex, command="quiz"):
        click.echo(line)
    click.echo("Work out each quantity from the forward pass above (it helps to start from the "
               "loss's gradient and go back through the layers).")
    right = 0
    for n, q in enumerate(asked, start=1):
        prompt = f"question {n} of {len(asked)}: {q.prompt} = ?"
        if given is not None:
            text = given[n - 1]
            click.echo(f"\n{prompt} {text}")
        else:
            click.echo("")
            text = _ask(prompt)
        verdict = check(q, text, ex)
        right += verdict.right
        for line in verdict.lines:
            click.echo(line)
    click.echo(f"\nscore: {right} of {len(asked)} right ({100 * right / len(asked):.0f} %)")


def _ask(prompt: str) -> str:
    """Ask until the answer is a number (or a product of numbers)."""
    from ..explain.quiz import parse_answer

    while True:
        text = click.prompt(prompt, prompt_suffix=" ")
        try:
            parse_answer(text)
            return text
        except ConfigError as e:
            click.echo(f"{e}; try again")
