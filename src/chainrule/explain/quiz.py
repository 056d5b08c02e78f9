"""Practice mode: a step's forward pass, then one gradient or update at a time to work out.

The questions come from an ``Explanation``: for a parameter θ, ``∂L/∂θ`` (a product of
the chain's factors) or θ after the update ``θ − η · ∂L/∂θ``.  An answer within 0.5 %
of the value is right.  A wrong one is told the first factor that differs: the learner
may type the product itself (``342*1*80``), compared factor by factor, or one number,
which is searched for the usual slips (a factor left out, the sign, twice or half a
factor, the update's sign or a missing η).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .derive import deltas_for
from .pieces import Equation, Explanation, Factor, ParamExplanation, num

TOLERANCE = 0.005  # within 0.5 % is right


@dataclass
class Question:
    """One question: ``prompt = ?`` whose answer is ``value``."""

    kind: str  # "gradient" or "update"
    param: ParamExplanation
    prompt: str
    value: float
    factors: list[Factor]  # ∂L/∂θ is their product


@dataclass
class Verdict:
    right: bool
    lines: list[str]  # what to tell the learner


def questions(ex: Explanation, count: int, seed: int = 0) -> list[Question]:
    """``count`` questions drawn (by ``seed``) from the gradients and updates of ``ex``,
    asked in back-propagation's order."""
    if len(ex.rows) != 1:
        raise ConfigError("the quiz asks about one row's step; give a single --row")
    pool = []
    for p in ex.params:
        factors = p.rows[0].factors or [Factor(p.rows[0].chain.lhs, p.rows[0].chain.forms[0],
                                               num(p.gradient), p.gradient)]
        pool.append(Question("gradient", p, f"∂L/∂{p.symbol}", p.gradient, factors))
        pool.append(Question("update", p, f"{p.symbol} after the update {p.symbol} ← {p.symbol} − η · "
                             f"∂L/∂{p.symbol} (η = {ex.lr:g})", p.new, factors))
    picked = np.random.default_rng(seed).choice(len(pool), size=min(count, len(pool)), replace=False)
    return [pool[i] for i in sorted(picked)]


def parse_answer(text: str) -> list[float]:
    """An answer: one number, or a product of numbers (``342*1*80``, ``342 · 80``)."""
    clean = text.strip().replace("−", "-").replace("×", "*").replace("·", "*")
    try:
        factors = [float(part) for part in re.split(r"\s*\*\s*", clean)]
    except ValueError:
        raise ConfigError(f"{text.strip()!r} is not a number (or a product such as 342*80)") from None
    if not factors or not all(math.isfinite(f) for f in factors):
        raise ConfigError(f"{text.strip()!r} is not a finite number")
    return factors


def close(a: float, b: float) -> bool:
    """Within 0.5 % of ``b`` (exactly 0 when ``b`` is 0)."""
    return abs(a - b) <= TOLERANCE * abs(b) if b != 0 else abs(a) <= 1e-12


def check(q: Question, text: str, ex: Explanation) -> Verdict:
    """Whether ``text`` answers ``q`` (a question on ``ex``), and what to say about it."""
    typed = parse_answer(text)
    answer = math.prod(typed)
    if close(answer, q.value):
        return Verdict(True, [f"right: {q.prompt.split(' after')[0]} = {num(q.value)}"
                              + (" after the update" if q.kind == "update" else "")])
    lines = [f"not quite: you wrote {num(answer)}; {_name(q)} = {num(q.value)}"]
    if q.kind == "update":
        lines += _update_slip(q, answer, ex.lr)
    else:
        lines += _gradient_slip(q.factors, answer, typed if len(typed) > 1 else None)
    lines.append("the derivation:")
    lines += _derivation(ex, q.param)
    return Verdict(False, lines)


def _name(q: Question) -> str:
    return q.prompt if q.kind == "gradient" else f"{q.param.symbol} after the update"


def _factor(f: Factor) -> str:
    return " = ".join(dict.fromkeys([f.symbol, f.formula, num(f.value)]))


def first_difference(factors: list[Factor], answer: float,
                     typed: list[float] | None = None) -> tuple[int, str] | None:
    """(index, why) of the first factor that differs, or None when no single factor explains
    the answer.  ``typed``: the factors the learner wrote, compared one by one."""
    if typed is not None and len(typed) == len(factors):
        for i, (mine, f) in enumerate(zip(typed, factors)):
            if not close(mine, f.value):
                return i, f"you wrote {num(mine)}"
        return None
    value = math.prod(f.value for f in factors)
    for i, f in enumerate(factors):
        rest = math.prod(g.value for n, g in enumerate(factors) if n != i)
        slips = [(1.0, "your answer is the product without it"),
                 (-f.value, "your answer has the opposite sign, as if it were " + num(-f.value)),
                 (2 * f.value, "your answer is what twice this factor gives"),
                 (f.value / 2, "your answer is what half this factor gives")]
        for replaced, why in slips:
            if not close(value, rest * replaced) and close(answer, rest * replaced):
                return i, why
    return None


def _gradient_slip(factors: list[Factor], answer: float, typed: list[float] | None) -> list[str]:
    found = first_difference(factors, answer, typed)
    if found is None:
        return ["no single factor's slip explains that number; compare with each factor below"]
    i, why = found
    return [f"the first factor that differs: {_factor(factors[i])} ({why})"]


def _update_slip(q: Question, answer: float, lr: float) -> list[str]:
    p = q.param
    if close(answer, p.old + lr * p.gradient):
        return ["the first thing that differs: the sign of the step; the update subtracts "
                "η · ∂L/∂θ (it moves against the gradient)"]
    if close(answer, p.old - p.gradient):
        return [f"the first thing that differs: η; the step is η · ∂L/∂{p.symbol} = {lr:g} · "
                f"{num(p.gradient)}, not ∂L/∂{p.symbol} alone"]
    implied = (p.old - answer) / lr  # the gradient the answer used, the rest being right
    lines = [f"your answer means ∂L/∂{p.symbol} = {num(implied)}, but it is {num(p.gradient)}"]
    return lines + _gradient_slip(q.factors, implied, None)


def _derivation(ex: Explanation, p: ParamExplanation) -> list[str]:
    """The parameter's chain (after the δs it rests on, in the δ form) and its update."""
    steps = p.rows[0].steps or deltas_for(ex.rows[0].deltas, p.ref)
    eqs: list[Equation] = [*steps, p.rows[0].chain, p.update]
    lines = []
    for eq in eqs:
        head = f"  {eq.lhs} = "
        lines.append(head + eq.forms[0])
        lines += [" " * (len(head) - 2) + "= " + form for form in eq.forms[1:]]
    return lines
