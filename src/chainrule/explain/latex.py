"""Plain-text math (as ``explain`` prints it) to LaTeX.

The text uses the seed's notation: ``w^1_11``, ``O_11``, ``b_21``, ``ŷ``, ``∂L/∂w^2_11``,
``−``, ``·``, ``σ(z)``, ``tanh²(z)``.  Each piece of text has one LaTeX reading, so the
derivations are written once, as text, and every rendering follows from it.
"""

from __future__ import annotations

import re

# A symbol: a letter (or ŷ, δ, p) with an optional ^superscript and _subscript.
_SUB = r"(?:\{[^}]*\}|[\d,]+[a-z]?|[a-z]{1,2}(?![A-Za-z]))"
_SUP = r"(?:\{[^}]*\}|\d+|[a-z](?![A-Za-z]))"
_SYMBOL = rf"(?:ŷ|[A-Za-zδ])(?:\^{_SUP})?(?:_{_SUB})?"
_FRACTION = re.compile(rf"∂({_SYMBOL})/∂({_SYMBOL})")
_PARTS = re.compile(rf"^(ŷ|[A-Za-zδ])(?:\^({_SUP}))?(?:_({_SUB}))?$")
# index expressions in parentheses: O_(k−1)i → O_{(k−1)i}, w^(k+1)_jm → w^{(k+1)}_jm
_PAREN_SUB = re.compile(r"_\(([^()]*)\)([a-z]?)")
_PAREN_SUP = re.compile(r"\^\(([^()]*)\)(?=_)")
# a number in e-notation, as Python writes it: 1e-05, −5.36e-06, 2.5e+20
_E_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)e([+-])(\d+)(?![\w.])")
_TOKEN = re.compile(rf"(?<![A-Za-z\\])({_SYMBOL})(?![A-Za-z(])")

_WORDS = {"tanh": r"\tanh", "ln": r"\ln", "exp": r"\exp", "max": r"\max", "sign": r"\mathrm{sign}",
          "softmax": r"\mathrm{softmax}", "softplus": r"\mathrm{softplus}",
          "if": r"\ \mathrm{if}\ ", "else": r"\ \mathrm{else}\ ", "where": r"\ \mathrm{where}\ "}
_CHARS = {"−": "-", "·": r"\cdot ", "←": r"\leftarrow ", "σ": r"\sigma ", "η": r"\eta ",
          "Σ": r"\sum ", "²": "^{2}", "³": "^{3}", "≈": r"\approx ", "…": r"\ldots ",
          "ᵀ": "^{T}", "|": "|", "∈": r"\in ", "≤": r"\leq ", "≥": r"\geq ", "φ": r"\phi ",
          "α": r"\alpha ", "λ": r"\lambda ", "Φ": r"\Phi ", "π": r"\pi ", "½": r"\frac{1}{2}",
          "δ": r"\delta ", "θ": r"\theta ", "μ": r"\mu ", "β": r"\beta ", "γ": r"\gamma ",
          "ε": r"\epsilon ", "√": r"\sqrt", "∂": r"\partial ", "→": r"\to ", "×": r"\times ",
          "′": "'"}


def number(match: re.Match) -> str:
    """``1e-05`` → ``1 \\times 10^{-5}`` (the mantissa 1 kept, as a person writes it)."""
    mantissa, sign, exponent = match.groups()
    return rf"{mantissa} \times 10^{{{'-' if sign == '-' else ''}{int(exponent)}}}"


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
    numbers: list[str] = []

    def hold(m: re.Match) -> str:  # numbers wait outside the symbol rules, restored at the end
        numbers.append(number(m))
        return f"\x01{len(numbers) - 1}\x01"

    text = _E_NUMBER.sub(hold, text)
    text = _PAREN_SUB.sub(lambda m: "_{(" + m[1] + ")" + m[2] + "}", text)
    text = _PAREN_SUP.sub(lambda m: "^{(" + m[1] + ")}", text)
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
    out = re.sub("\x01(\\d+)\x01", lambda m: numbers[int(m[1])], out)
    return re.sub(r" +", " ", out).strip()
