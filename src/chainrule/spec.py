"""Names with one number, as the command line writes them: ``leaky_relu:0.2``, ``huber:0.5``.

``parse_spec("leaky_relu:0.2")`` gives ``("leaky_relu", 0.2)``; a plain name gives
``(name, None)``; ``format_spec`` writes the pair back.
"""

from __future__ import annotations

from .errors import ConfigError


def parse_spec(spec: str, what: str) -> tuple[str, float | None]:
    """Split ``"name"`` or ``"name:number"`` into the lower-case name and the number."""
    name, sep, value = str(spec).strip().partition(":")
    key = name.strip().lower().replace("-", "_")
    if not sep:
        return key, None
    try:
        return key, float(value)
    except ValueError:
        raise ConfigError(
            f"cannot read the {what} {spec!r}: after ':' comes one number, e.g. {key}:0.1"
        ) from None


def format_spec(name: str, value: float | None) -> str:
    """``name`` or ``name:value`` (``repr`` of the number, so it reads back exactly)."""
    return name if value is None else f"{name}:{value!r}"
