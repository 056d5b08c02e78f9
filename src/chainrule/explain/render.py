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


def rule(math: Callable[[str], str] = lambda t: t) -> str:
    """The rule that makes back-propagation cheap, stated once (``math`` typesets a formula)."""
    return (f"{math('∂L/∂w^k_ij = O_(k−1)i · δ^k_j')} and {math('∂L/∂b_kj = δ^k_j')} "
            f"({math('O_0i = x_i')}), then {math('θ ← θ − η · ∂L/∂θ')}")


def _title(ex: "Explanation") -> str:
    acts = "/".join(dict.fromkeys(ex.activations))
    step = f"step {ex.step}, " if ex.step is not None else ""
    return (f"{step}network {'-'.join(map(str, ex.sizes))} ({acts}), loss {ex.loss_formula}, "
            f"learning rate η = {ex.lr:g}")


def _row_title(ex: "Explanation", n: int) -> str:
    row = ex.rows[n]
    xs = ", ".join(f"x_{i + 1} = {_n(v)}" for i, v in enumerate(row.x))
    if row.raw_x is not None:
        xs += (f" (inputs scaled ({ex.scaling}) from the data's "
               + ", ".join(_n(v) for v in row.raw_x) + ")")
    ys = ", ".join(_n(v) for v in row.y)
    if row.label is not None:
        ys += f" (class {row.label})" if len(row.y) == 1 else f" (one-hot: class {row.label})"
    elif row.raw_y is not None:
        ys += " (scaled from the data's " + ", ".join(_n(v) for v in row.raw_y) + ")"
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


def forward_text(ex: "Explanation", command: str = "explain") -> list[str]:
    """The title, each row's forward pass and loss, as ``explain`` prints them (and the quiz,
    whose heading names itself: ``command="quiz"``)."""
    out = [f"chainrule {command}: {_title(ex)}", ""]
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
    return out


def _text(ex: "Explanation") -> str:
    out = forward_text(ex)
    if ex.form == "delta":
        return "\n".join(out + _text_delta(ex)) + "\n"
    out.append("backward pass: the chain rule for each parameter θ, then the update θ ← θ − η · ∂L/∂θ")
    for p in ex.params:
        out.append("")
        out += _text_param(ex, p)
    return "\n".join(out) + "\n"


def _oneline(eq: "Equation") -> str:
    return " = ".join([eq.lhs, *eq.forms])


def _update_line(p: "ParamExplanation") -> str:
    return " = ".join([f"{p.symbol} ← {p.update.forms[0]}", *p.update.forms[1:]])


def _text_delta(ex: "Explanation") -> list[str]:
    out = []
    for row in ex.rows:
        where = f", row {row.index + 1}" if len(ex.rows) > 1 else ""
        out.append(f"backward pass{where}: δ^k_j = ∂L/∂z_kj for every neuron, from the output back")
        for eq in row.deltas:
            out += _text_eq(eq)
        out.append("")
    out += [f"  ! {note}" for note in ex.notes] + ([""] if ex.notes else [])
    out.append(f"each parameter from the δ table: {rule()}")
    lines = [_oneline(p.mean or p.rows[0].chain) for p in ex.params]
    width = max(map(len, lines), default=0)
    for p, line in zip(ex.params, lines):
        out.append(f"  {line.ljust(width)}    {_update_line(p)}")
        if p.check is not None:
            out.append(f"    check: central finite differences give {p.check.numeric:.10g} "
                       f"(relative error {p.check.rel_error:.2g})")
        out += [f"    ! {flag}" for flag in p.flags]
    return out


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
    if p.l2 is not None:
        out += _text_eq(p.l2)
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


class _Line:
    """An equation to typeset: ``lhs = forms[0] = …`` (the δ form's one-liners)."""

    def __init__(self, lhs: str, forms: list[str]) -> None:
        self.lhs, self.forms, self.note = lhs, forms, None


def _walk(ex: "Explanation", heading: Callable[[int, str], str], block: Callable[[list["Equation"]], str],
          para: Callable[[str], str]) -> str:
    title = "chainrule explain" + (f", step {ex.step}" if ex.step is not None else "")
    out = [heading(1, title), _math_title(ex, lambda t: f"${to_latex(t)}$")]
    for n, row in enumerate(ex.rows):
        out.append(heading(2, f"Forward pass, {_row_title(ex, n)}"))
        out.append(block([*row.forward, row.loss]))
    if len(ex.rows) > 1:
        out.append(heading(2, "Loss of the batch"))
        out.append(block([ex.loss]))
    if ex.form == "delta":
        for row in ex.rows:
            where = f", row {row.index + 1}" if len(ex.rows) > 1 else ""
            out.append(heading(2, f"Backward pass{where}: the δ table, from the output back"))
            out.append(block(row.deltas))
        out += [para("Note: " + note) for note in ex.notes]
        out.append(heading(2, "Each parameter from the δ table"))
        out.append(rule(lambda t: f"${to_latex(t)}$") + ".")
        eqs = []
        for p in ex.params:
            chain = p.mean or p.rows[0].chain
            eqs += [_Line(chain.lhs, [" = ".join(chain.forms)]),
                    _Line(p.symbol + " ← " + p.update.forms[0], p.update.forms[1:])]
        out.append(block(eqs))
        for p in ex.params:
            out += [para(f"Note ({p.symbol}): {flag}") for flag in p.flags]
            if p.check is not None:
                out.append(para(f"Check ({p.symbol}): central finite differences give "
                                f"{p.check.numeric:.10g} (relative error {p.check.rel_error:.2g})."))
        return "\n\n".join(out) + "\n"
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
        out.append(block([p.l2, p.update] if p.l2 is not None else [p.update]))
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

PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage{amsmath}
\setlength{\textwidth}{6.5in}
\setlength{\oddsidemargin}{0in}
\setlength{\parindent}{0pt}
\allowdisplaybreaks
\begin{document}
"""


def render(ex: "Explanation", fmt: str = "text", standalone: bool = False) -> str:
    """``ex`` as ``text``, ``markdown``, ``latex`` or ``json``; ``standalone`` LaTeX is a
    whole document (preamble, ``amsmath``) that ``pdflatex`` compiles as it is."""
    return render_steps([ex], fmt, standalone)


def render_steps(exs: list["Explanation"], fmt: str = "text", standalone: bool = False) -> str:
    """Several explanations (the steps of ``explain_steps``) as one text, document or JSON."""
    if fmt not in _RENDERERS:
        from ..errors import ConfigError

        raise ConfigError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if standalone and fmt != "latex":
        from ..errors import ConfigError

        raise ConfigError("--standalone makes a whole LaTeX document; use it with --format latex")
    if fmt == "json" and len(exs) > 1:
        return json.dumps({"steps": [ex.to_dict() for ex in exs]}, ensure_ascii=False, indent=2) + "\n"
    body = "\n".join(_RENDERERS[fmt](ex) for ex in exs)
    if standalone:
        body = PREAMBLE + "\n" + body + "\n\\end{document}\n"
    return body
