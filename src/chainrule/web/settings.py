"""What the page may ask a session for, checked before anything is built.

``parse_settings(body, defaults)`` reads a JSON object (every key optional; a missing
one takes the dataset's default) into ``Settings``, or raises ``SettingsError`` whose
message names the setting, what it got and what it accepts.  The limits keep the
network drawable and the server responsive: at most ``MAX_HIDDEN_LAYERS`` hidden
layers of at most ``MAX_NEURONS`` neurons each.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from ..errors import ConfigError
from ..init import get_initializer
from ..nn import ACTIVATIONS

MAX_NEURONS = 16
MAX_HIDDEN_LAYERS = 4
MAX_LR = 10.0
MAX_BATCH = 1024
MAX_SEED = 2**32 - 1
ACTIVATION_CHOICES = [name for name in ACTIVATIONS if name != "softmax"]
INIT_CHOICES = ["ones", "zeros", "uniform", "normal", "xavier", "xavier_normal", "he",
                "he_uniform", "lecun", "lecun_uniform"]


class SettingsError(ConfigError):
    """A setting the playground cannot use (the page shows the message)."""


@dataclass(frozen=True)
class Settings:
    """One session's choices: the data, the network and how it learns."""

    dataset: str = "seed"
    hidden: tuple[int, ...] = (2,)
    activation: str = "linear"
    init: str = "ones"
    lr: float = 1e-5
    batch_size: int = 1
    seed: int = 0
    shuffle: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d


FIELDS = list(Settings.__dataclass_fields__)


def _whole(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) <= 30:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        shown = repr(value) if len(str(value)) <= 40 else f"{str(value)[:20]}… ({len(str(value))} characters)"
        raise SettingsError(f"{name} must be a whole number from {low} to {high}, got {shown}")
    return value


def _hidden(value: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        text = value.strip().lower()
        parts = [] if text in ("", "none") else [p.strip() for p in text.split(",")]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        raise SettingsError(f"hidden must be a list of layer sizes like [4, 3] or '4,3', "
                            f"got {value!r}")
    if len(parts) > MAX_HIDDEN_LAYERS:
        raise SettingsError(f"hidden: at most {MAX_HIDDEN_LAYERS} hidden layers, got {len(parts)}")
    return tuple(_whole(p, "every hidden layer size", 1, MAX_NEURONS) for p in parts)


def _lr(value: Any) -> float:
    if isinstance(value, bool):
        value = "not a number"
    try:
        lr = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"lr (the learning rate η) must be a number, got {value!r}") from None
    if not math.isfinite(lr) or not 0 < lr <= MAX_LR:
        raise SettingsError(f"lr (the learning rate η) must be above 0 and at most {MAX_LR:g}, "
                            f"got {value!r}")
    return lr


def _choice(value: Any, name: str, choices: list[str]) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise SettingsError(f"{name} must be one of: {', '.join(choices)}; got {value!r}")
    return text


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() in ("true", "1", "yes", "on"):
        return True
    if str(value).strip().lower() in ("false", "0", "no", "off"):
        return False
    raise SettingsError(f"shuffle must be true or false, got {value!r}")


def parse_settings(body: Any, defaults: Mapping[str, Any], datasets: list[str]) -> Settings:
    """``Settings`` from a JSON object; missing keys take ``defaults`` (the dataset's)."""
    if not isinstance(body, Mapping):
        raise SettingsError("the settings must be a JSON object, e.g. {\"lr\": 0.01}")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise SettingsError(f"unknown setting(s) {', '.join(unknown)}; the settings are: "
                            f"{', '.join(FIELDS)}")
    merged = {**defaults, **body}
    init = _choice(merged["init"], "init (the initialiser)", INIT_CHOICES)
    get_initializer(init)
    return Settings(
        dataset=_choice(merged["dataset"], "dataset", datasets),
        hidden=_hidden(merged["hidden"]),
        activation=_choice(merged["activation"], "activation", ACTIVATION_CHOICES),
        init=init,
        lr=_lr(merged["lr"]),
        batch_size=_whole(merged["batch_size"], "batch_size", 1, MAX_BATCH),
        seed=_whole(merged["seed"], "seed", 0, MAX_SEED),
        shuffle=_bool(merged["shuffle"]),
    )


def limits() -> dict[str, Any]:
    """The choices and bounds, for the page's controls."""
    return {"activations": ACTIVATION_CHOICES, "initialisers": INIT_CHOICES,
            "max_neurons": MAX_NEURONS, "max_hidden_layers": MAX_HIDDEN_LAYERS,
            "max_lr": MAX_LR, "max_batch": MAX_BATCH, "max_seed": MAX_SEED}
