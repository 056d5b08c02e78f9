"""explain: every gradient as the chain rule, in the seed's notation, with the numbers.

``explain(model, x, y, loss, param="w^2_11")`` returns an ``Explanation`` that renders
as terminal text, Markdown, LaTeX or JSON (``Explanation.render(fmt)``); see
``derive`` for the mathematics and ``render`` for the formats.
"""

from .derive import (JSON_VERSION, Check, Equation, Explanation, Factor, ParamExplanation,
                     RowGradient, explain)
from .render import FORMATS, render

__all__ = ["Check", "Equation", "Explanation", "FORMATS", "Factor", "JSON_VERSION",
           "ParamExplanation", "RowGradient", "explain", "render"]
