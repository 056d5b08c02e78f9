"""explain: every gradient as the chain rule, in the seed's notation, with the numbers.

``explain(model, x, y, loss, param="w^2_11")`` returns an ``Explanation`` that renders
as terminal text, Markdown, LaTeX or JSON (``Explanation.render(fmt)``).  ``derive``
holds the mathematics, ``losswords`` how each loss is written, ``pieces`` the
structure, ``render`` and ``latex`` the formats.
"""

from .derive import explain
from .pieces import (JSON_VERSION, Check, Equation, Explanation, Factor, ParamExplanation,
                     RowGradient)
from .render import FORMATS, render

__all__ = ["Check", "Equation", "Explanation", "FORMATS", "Factor", "JSON_VERSION",
           "ParamExplanation", "RowGradient", "explain", "render"]
