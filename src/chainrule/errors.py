"""Errors a user can cause.

Every message says what is wrong and what to do about it; the command-line tool
prints the message alone (no traceback) and exits non-zero.
"""

from __future__ import annotations


class ChainruleError(Exception):
    """Base class of every error chainrule raises on purpose."""


class ShapeError(ChainruleError, ValueError):
    """Arrays whose shapes do not fit together."""


class DataError(ChainruleError, ValueError):
    """Input data that cannot be used: missing files, bad cells, NaN, wrong columns."""


class ConfigError(ChainruleError, ValueError):
    """An option or argument with a value chainrule cannot use."""


class DivergenceError(ChainruleError, FloatingPointError):
    """Training produced an infinite or NaN loss or gradient."""
