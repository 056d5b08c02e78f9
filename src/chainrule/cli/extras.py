"""Optional packages, checked when the command line is read, before any work starts.

``--plot``, ``--plot-boundary`` and ``draw`` need matplotlib (``chainrule[plot]``);
``serve`` needs Starlette and uvicorn (``chainrule[web]``); ``search`` needs
scikit-learn (``chainrule[sklearn]``).  A missing one is a
``ConfigError`` with the line that installs it, never a crash after training.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from ..errors import ConfigError

EXTRAS = {"plot": ("matplotlib",), "web": ("starlette", "uvicorn"), "sklearn": ("sklearn",)}


def require(extra: str, what: str) -> None:
    """A ``ConfigError`` naming the install line unless the ``extra``'s packages import."""
    for module in EXTRAS[extra]:
        try:
            importlib.import_module(module)
        except ImportError:
            raise ConfigError(f"{what} needs {module}, which is not installed; install it with: "
                              f"pip install 'chainrule[{extra}]'") from None


def needs(extra: str) -> Any:
    """A click callback: when the option is given, ``require`` its extra right away."""

    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None and not ctx.resilient_parsing:
            require(extra, "--" + str(param.name).replace("_", "-"))
        return value

    return check
