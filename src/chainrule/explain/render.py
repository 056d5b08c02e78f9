"""Renderings of an explanation: terminal text, Markdown, LaTeX and JSON.

Every rendering walks the same structure (rows → forward pass → loss → each
parameter's derivation → update); the math is written once as text and translated to
LaTeX by ``latex.to_latex``.  The JSON (``Explanation.to_dict``) is the stable form the
web playground reads; its ``version`` changes whenever a field does.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Callable

from .latex import to_latex

if TYPE_CHECKING:
    from .pieces import Equation, Explanation, ParamExplanation

FORMATS = ("text", "markdown", "latex", "json")


def _title(ex: "Explanation") -> str:
    acts = "/".join(dict.fromkeys(ex.activations))
    return (f"network {'-'.join(map(str, ex.sizes))} ({acts}), loss {ex.loss_formula}, "
            f"learning rate η = {ex.lr:g}")


def _row_title(ex: "Explanation", n: int) -> str:
    row = ex.rows[n]
    xs = ", ".join(f"x_{i + 1} = {_n(v)}" for i, v in enumerate(row.x))
    ys = ", ".join(_n(v) for v in row.y)
    return f"row {row.index + 1}: {xs}; target y = {ys}"


def _n(v: float) -> str:
    from .pieces import num

    return num(v)


# ------------------------------------------------------------------------------------
# text


def _text_eq(eq: "Equation", indent: str = "  ") -> list[str]:
    head = f"{indent}{eq.lhs} = "
    lines = [head + eq.forms[0]]
    pad = " " * (len(head) - 2)
    lines += [f"{pad}= {form}" for form in eq.forms[1:]]
    if eq.note:
        lines[0] += f"    ({eq.note})"
    return lines


def _text(ex: "Explanation") -> str:
    out = [f"chainrule explain: {_title(ex)}", ""]
    for n, row in enumerate(ex.rows):
        out.append(f"forward pass, {_row_title(ex, n)}")
        for eq in row.forward:
            out += _text_eq(eq)
        out += _text_eq(row.loss)
        out.append("")
    if len(ex.rows) > 1:
        out.append("loss of the batch (the mean over its rows)")
        out += _text_eq(ex.loss)
        out.append("")
    out.append("backward pass: the chain rule for each parameter θ, then the update θ ← θ − η · ∂L/∂θ")
    for p in ex.params:
        out.append("")
        out += _text_param(ex, p)
    return "\n".join(out) + "\n"


def _text_param(ex: "Explanation", p: "ParamExplanation") -> list[str]:
    out = [f"{p.symbol}  ({p.ref.name}[{', '.join(map(str, p.ref.index))}])"]
    for rg in p.rows:
        if len(p.rows) > 1:
            out.append(f"  row {rg.row + 1}:")
        for step in rg.steps:
            out += _text_eq(step, "    ")
        out += _text_eq(rg.chain)
    if p.mean is not None:
        out += _text_eq(p.mean)
    if p.check is not None:
        out.append(f"  check: central finite differences give {p.check.numeric:.10g} "
                   f"(relative error {p.check.rel_error:.2g})")
    for flag in p.flags:
        out.append(f"  ! {flag}")
    out += _text_eq(p.update)
    return out


# ------------------------------------------------------------------------------------
# Markdown and LaTeX share a walk; they differ in how a heading and an equation look.


def _aligned(eq: "Equation") -> str:
    lines = [f"{to_latex(eq.lhs)} &= {to_latex(eq.forms[0])}"]
    lines += [f"&= {to_latex(form)}" for form in eq.forms[1:]]
    return " \\\\\n".join(lines)


def _math_title(ex: "Explanation", math: Callable[[str], str]) -> str:
    acts = "/".join(dict.fromkeys(ex.activations))
    return (f"network {'-'.join(map(str, ex.sizes))} ({acts}), loss {math(ex.loss_formula)}, "
            f"learning rate {math(f'η = {ex.lr:g}')}")


def _walk(ex: "Explanation", heading: Callable[[int, str], str], block: Callable[[list["Equation"]], str],
          para: Callable[[str], str]) -> str:
    out = [heading(1, "chainrule explain"), _math_title(ex, lambda t: f"${to_latex(t)}$")]
    for n, row in enumerate(ex.rows):
        out.append(heading(2, f"Forward pass, {_row_title(ex, n)}"))
        out.append(block([*row.forward, row.loss]))
    if len(ex.rows) > 1:
        out.append(heading(2, "Loss of the batch"))
        out.append(block([ex.loss]))
    out.append(heading(2, "Backward pass"))
    for p in ex.params:
        out.append(heading(3, p.symbol))
        eqs: list[Equation] = []
        for rg in p.rows:
            eqs += [*rg.steps, rg.chain]
        if p.mean is not None:
            eqs.append(p.mean)
        out.append(block(eqs))
        out += [para(f"Note ({eq.lhs}): {eq.note}.") for eq in eqs if eq.note]
        for flag in p.flags:
            out.append(para("Note: " + flag))
        if p.check is not None:
            out.append(para(f"Check: central finite differences give {p.check.numeric:.10g} "
                            f"(relative error {p.check.rel_error:.2g})."))
        out.append(block([p.update]))
    return "\n\n".join(out) + "\n"


def _markdown(ex: "Explanation") -> str:
    return _walk(
        ex,
        heading=lambda level, text: "#" * level + " " + text,
        block=lambda eqs: "$$\n\\begin{aligned}\n" + " \\\\\n".join(_aligned(e) for e in eqs)
        + "\n\\end{aligned}\n$$",
        para=lambda text: text,
    )


def _latex_text(text: str) -> str:
    """Prose for LaTeX: words stay text, any word holding math becomes inline math."""
    words = []
    for word in text.split(" "):
        if any(ord(c) > 127 or c in "_^" for c in word):
            words.append(f"${to_latex(word)}$")
        else:
            words.append(word.replace("%", r"\%").replace("&", r"\&").replace("#", r"\#"))
    return " ".join(words)


def _latex(ex: "Explanation") -> str:
    return _walk(
        ex,
        heading=lambda level, text: ("\\section*{", "\\subsection*{", "\\subsubsection*{")[level - 1]
        + ("$" + to_latex(text) + "$" if level == 3 else _latex_text(text)) + "}",
        block=lambda eqs: "\\begin{align*}\n" + " \\\\\n".join(_aligned(e) for e in eqs)
        + "\n\\end{align*}",
        para=_latex_text,
    )


def _json(ex: "Explanation") -> str:
    return json.dumps(ex.to_dict(), ensure_ascii=False, indent=2) + "\n"


_RENDERERS = {"text": _text, "markdown": _markdown, "latex": _latex, "json": _json}


def render(ex: "Explanation", fmt: str = "text") -> str:
    """``ex`` as ``text``, ``markdown``, ``latex`` or ``json``."""
    try:
        return _RENDERERS[fmt](ex)
    except KeyError:
        from ..errors import ConfigError

        raise ConfigError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}") from None
