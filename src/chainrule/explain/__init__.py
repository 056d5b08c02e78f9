"""explain: every gradient as the chain rule, in the seed's notation, with the numbers.

``explain(model, x, y, loss, param="w^2_11")`` returns an ``Explanation`` that renders
as terminal text, Markdown, LaTeX or JSON (``Explanation.render(fmt)``).  ``derive``
holds the mathematics, ``losswords`` how each loss is written, ``pieces`` the
structure, ``render`` and ``latex`` the formats, ``example`` worked examples read from
TOML files, ``quiz`` the practice mode.
"""

from .derive import explain, explain_steps
from .example import Example, init_from, load_example, parse_example
from .pieces import (JSON_VERSION, Check, Equation, Explanation, Factor, ParamExplanation,
                     RowGradient)
from .render import FORMATS, render, render_steps

__all__ = ["Check", "Equation", "Example", "Explanation", "FORMATS", "Factor", "JSON_VERSION",
           "ParamExplanation", "RowGradient", "explain", "explain_steps", "init_from",
           "load_example", "parse_example", "render", "render_steps"]
