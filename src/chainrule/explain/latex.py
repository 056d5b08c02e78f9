"""Plain-text math (as ``explain`` prints it) to LaTeX.

The text uses the seed's notation: ``w^1_11``, ``O_11``, ``b_21``, ``ŷ``, ``∂L/∂w^2_11``,
``−``, ``·``, ``σ(z)``, ``tanh²(z)``.  Each piece of text has one LaTeX reading, so the
derivations are written once, as text, and every rendering follows from it.
"""

from __future__ import annotations

import re

# A symbol: a letter (or ŷ, δ, p) with an optional ^superscript and _subscript.
_SUB = r"(?:\{[^}]*\}|[\d,]+[a-z]?|[a-z])"
_SYMBOL = rf"(?:ŷ|[A-Za-zδ])(?:\^(?:\{{[^}}]*\}}|\d+))?(?:_{_SUB})?"
_FRACTION = re.compile(rf"∂({_SYMBOL})/∂({_SYMBOL})")
_PARTS = re.compile(rf"^(ŷ|[A-Za-zδ])(?:\^(\{{[^}}]*\}}|\d+))?(?:_({_SUB}))?$")
_TOKEN = re.compile(rf"(?<![A-Za-z\\])({_SYMBOL})(?![A-Za-z(])")

_WORDS = {"tanh": r"\tanh", "ln": r"\ln", "exp": r"\exp", "max": r"\max", "sign": r"\mathrm{sign}",
          "softmax": r"\mathrm{softmax}", "softplus": r"\mathrm{softplus}",
          "if": r"\ \mathrm{if}\ ", "else": r"\ \mathrm{else}\ ", "where": r"\ \mathrm{where}\ "}
_CHARS = {"−": "-", "·": r"\cdot ", "←": r"\leftarrow ", "σ": r"\sigma ", "η": r"\eta ",
          "Σ": r"\sum ", "²": "^{2}", "³": "^{3}", "≈": r"\approx ", "…": r"\ldots ",
          "ᵀ": "^{T}", "|": "|", "∈": r"\in ", "≤": r"\leq ", "≥": r"\geq ", "φ": r"\phi ",
          "α": r"\alpha ", "λ": r"\lambda ", "Φ": r"\Phi ", "π": r"\pi "}


def symbol(text: str) -> str:
    """``w^1_11`` → ``w^{1}_{11}``, ``ŷ_2`` → ``\\hat{y}_{2}``, ``δ^2_1`` → ``\\delta^{2}_{1}``."""
    m = _PARTS.match(text)
    if not m:
        return text
    base, sup, sub = m.groups()
    base = {"ŷ": r"\hat{y}", "δ": r"\delta"}.get(base, base)
    out = base
    if sup:
        out += "^{" + sup.strip("{}") + "}"
    if sub:
        out += "_{" + sub.strip("{}") + "}"
    return out


def to_latex(text: str) -> str:
    """Translate one line of explain's text math into LaTeX math (no ``$``)."""
    out = _FRACTION.sub(lambda m: rf"\frac{{\partial {symbol(m[1])}}}{{\partial {symbol(m[2])}}}",
                        text)
    # symbols outside the fractions (the fractions' insides start with a backslash now)
    pieces = re.split(r"(\\frac\{[^}]*\}\{[^}]*\})", out)
    for n, piece in enumerate(pieces):
        if piece.startswith(r"\frac"):
            continue
        piece = re.sub(r"Σ_([a-z])", lambda m: "\x00Σ" + m[1] + "\x00", piece)
        piece = re.sub(r"(?<![A-Za-z])(" + "|".join(_WORDS) + r")(?![A-Za-z])",
                       lambda m: "\x00" + m[1] + "\x00", piece)
        parts = piece.split("\x00")
        for i, part in enumerate(parts):
            if i % 2 == 1:
                parts[i] = _WORDS.get(part) or rf"\sum_{{{part[1:]}}} "
            else:
                parts[i] = _TOKEN.sub(lambda m: symbol(m[1]), part)
        pieces[n] = "".join(parts)
    out = "".join(pieces)
    for char, tex in _CHARS.items():
        out = out.replace(char, tex)
    return re.sub(r" +", " ", out).strip()
