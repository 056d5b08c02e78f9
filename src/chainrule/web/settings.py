"""What the page may ask a session for, checked before anything is built.

``parse_settings(body, defaults)`` reads a JSON object (every key optional; a missing
one takes the dataset's default) into ``Settings``, or raises ``SettingsError`` whose
message names the setting, what it got and what it accepts.  The limits keep the
network drawable and the server responsive: at most ``MAX_HIDDEN_LAYERS`` hidden
layers of at most ``MAX_NEURONS`` neurons each.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from ..errors import ConfigError
from ..init import get_initializer
from ..losses import LOSSES
from ..nn import ACTIVATIONS

MAX_NEURONS = 16
MAX_HIDDEN_LAYERS = 4
MAX_LR = 10.0
MAX_L2 = 10.0  # λ of the L2 penalty (λ/2)·Σθ²
MAX_BATCH = 1024
MAX_SEED = 2**32 - 1
ACTIVATION_CHOICES = [name for name in ACTIVATIONS if name != "softmax"]
MAX_NOISE = 50  # percent: extra Gaussian noise σ = noise/100 on a toy set's points
MAX_HOLDOUT = 90  # percent of the rows held out for validation
CROSS_CHOICES = ["x1^2", "x2^2", "x1x2", "sin(x1)", "sin(x2)"]  # extra inputs of a 2-D set
INIT_CHOICES = ["ones", "zeros", "uniform", "normal", "xavier", "xavier_normal", "he",
                "he_uniform", "lecun", "lecun_uniform"]
EXAMPLE_INIT = "example"  # a worked example's own weights (its datasets only)
LOSS_CHOICES = ["auto", *LOSSES]  # auto: the dataset's (mse; bce or cross_entropy for classes)


class SettingsError(ConfigError):
    """A setting the playground cannot use (the page shows the message)."""


@dataclass(frozen=True)
class Settings:
    """One session's choices: the data, the network and how it learns."""

    dataset: str = "seed"
    hidden: tuple[int, ...] = (2,)
    activation: str = "linear"  # of the hidden layers
    output_activation: str = "linear"
    loss: str = "auto"
    init: str = "ones"
    lr: float = 1e-5
    batch_size: int = 1
    seed: int = 0
    shuffle: bool = False
    noise: int = 0  # percent (toy sets)
    holdout: int = 0  # percent of the rows held out for validation (tables of 10 rows or more)
    crosses: tuple[str, ...] = ()  # feature crosses added as inputs (2-D sets)
    l2: float = 0.0  # λ: the L2 penalty (λ/2)·Σθ² on every weight and bias (weight decay)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d["crosses"] = list(self.crosses)
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


def _rate(value: Any, what: str, zero_ok: bool, top: float) -> float:
    """A rate from the page: a finite number above 0 (or from 0, ``zero_ok``) up to ``top``."""
    if isinstance(value, bool):
        value = "not a number"
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(rate) or not (0 <= rate if zero_ok else 0 < rate) or rate > top:
        span = "from 0 to" if zero_ok else "above 0 and at most"
        raise SettingsError(f"{what} must be {span} {top:g}, got {value!r}")
    return rate


def _lr(value: Any) -> float:
    return _rate(value, "lr (the learning rate η)", False, MAX_LR)


def _l2(value: Any) -> float:
    return _rate(value, "l2 (the regularisation rate λ)", True, MAX_L2)


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


def _crosses(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        text = value.strip().lower()
        value = [] if text in ("", "none") else [p.strip() for p in text.split(",")]
    if not isinstance(value, (list, tuple)):
        raise SettingsError(f"crosses must be a list of: {', '.join(CROSS_CHOICES)}; got {value!r}")
    chosen = [_choice(v, "every feature cross", CROSS_CHOICES) for v in value]
    return tuple(c for c in CROSS_CHOICES if c in chosen)  # in the table's order, once each


def parse_settings(body: Any, defaults: Mapping[str, Any], datasets: list[str]) -> Settings:
    """``Settings`` from a JSON object; missing keys take ``defaults`` (the dataset's)."""
    if not isinstance(body, Mapping):
        raise SettingsError("the settings must be a JSON object, e.g. {\"lr\": 0.01}")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise SettingsError(f"unknown setting(s) {', '.join(unknown)}; the settings are: "
                            f"{', '.join(FIELDS)}")
    merged = {**defaults, **body}
    init = _choice(merged["init"], "init (the initialiser)", [*INIT_CHOICES, EXAMPLE_INIT])
    if init != EXAMPLE_INIT:
        get_initializer(init)
    return Settings(
        dataset=_choice(merged["dataset"], "dataset", datasets),
        hidden=_hidden(merged["hidden"]),
        activation=_choice(merged["activation"], "activation", ACTIVATION_CHOICES),
        output_activation=_choice(merged.get("output_activation", "linear"),
                                  "output_activation", ACTIVATION_CHOICES),
        loss=_choice(merged.get("loss", "auto"), "loss", LOSS_CHOICES),
        init=init,
        lr=_lr(merged["lr"]),
        batch_size=_whole(merged["batch_size"], "batch_size", 1, MAX_BATCH),
        seed=_whole(merged["seed"], "seed", 0, MAX_SEED),
        shuffle=_bool(merged["shuffle"]),
        noise=_whole(merged["noise"], "noise (percent)", 0, MAX_NOISE),
        holdout=_whole(merged["holdout"], "holdout (percent held out for validation)", 0,
                       MAX_HOLDOUT),
        crosses=_crosses(merged["crosses"]),
        l2=_l2(merged.get("l2", 0.0)),
    )


MAX_EPOCHS = 100  # epochs one request may ask for


def parse_epochs(body: Any) -> int:
    """How many epochs one request asks for (``{"epochs": n}``, 1 to ``MAX_EPOCHS``; 1
    without the key)."""
    return _whole(body.get("epochs", 1) if isinstance(body, Mapping) else 1, "epochs", 1,
                  MAX_EPOCHS)


MAX_PARAM = 1e6  # a typed weight or bias: |value| ≤ this
_PARAM = re.compile(r"^(?:w\^(\d+)_(\d+),?(\d+)|b_(\d+),?(\d+))$")


def parse_param(symbol: Any, sizes: list[int]) -> tuple[str, tuple[int, ...]]:
    """``w^k_ij`` → ``("layers.{k-1}.weight", (i-1, j-1))``; ``b_kj`` → the bias's name and
    ``(j-1,)``; refused (naming the ones it has) when the network has no such parameter.
    Indices of 10 and more are written with a comma, ``w^1_12,3`` (as the page writes them).
    """
    m = _PARAM.match(str(symbol).strip())
    if m:
        if m.group(1):
            k, i, j = int(m.group(1)), int(m.group(2)), int(m.group(3))
            if 1 <= k < len(sizes) and 1 <= i <= sizes[k - 1] and 1 <= j <= sizes[k]:
                return f"layers.{k - 1}.weight", (i - 1, j - 1)
        else:
            k, j = int(m.group(4)), int(m.group(5))
            if 1 <= k < len(sizes) and 1 <= j <= sizes[k]:
                return f"layers.{k - 1}.bias", (j - 1,)
    K = len(sizes) - 1
    raise SettingsError(f"the network has no weight or bias {symbol!r}; it has w^1_11 … "
                        f"w^{K}_{sizes[K - 1]}{sizes[K]} and b_11 … b_{K}{sizes[K]}")


def parse_value(value: Any, symbol: str) -> float:
    """A number typed for a weight or bias: finite, at most ``MAX_PARAM`` in size."""
    if isinstance(value, str):
        value = value.strip().replace("−", "-")
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or abs(number) > MAX_PARAM:
        raise SettingsError(f"type a number from {-MAX_PARAM:g} to {MAX_PARAM:g} for {symbol}, "
                            f"not {value!r}")
    return number


def limits() -> dict[str, Any]:
    """The choices and bounds, for the page's controls."""
    return {"activations": ACTIVATION_CHOICES, "initialisers": INIT_CHOICES,
            "losses": LOSS_CHOICES,
            "max_neurons": MAX_NEURONS, "max_hidden_layers": MAX_HIDDEN_LAYERS,
            "max_lr": MAX_LR, "max_l2": MAX_L2, "max_batch": MAX_BATCH, "max_seed": MAX_SEED,
            "max_noise": MAX_NOISE, "max_epochs": MAX_EPOCHS, "max_holdout": MAX_HOLDOUT, "crosses": CROSS_CHOICES,
            "settings": FIELDS}
