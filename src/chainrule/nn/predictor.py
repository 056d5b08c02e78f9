"""Prediction on raw data: what a trained model keeps besides its weights.

``fit`` fits a scaler to the inputs (and to regression targets) and finds a
classifier's classes; the model that is trained keeps them, so it predicts on raw inputs
and answers in the targets' own units or labels.  ``Predictor`` is that part of a model
(``Sequential`` has it); a layer (``Module``) carries none of it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..data import Scaler
from ..errors import ConfigError, DataError


class Predictor:
    """The scalers and classes ``fit`` keeps in a model, and prediction on raw data (a mixin
    for a ``Module``: it uses ``forward_array`` and ``dtype``)."""

    x_scaler: Scaler | None = None  # applied to inputs before the first layer
    y_scaler: Scaler | None = None  # undone on regression outputs
    classes_: np.ndarray | None = None  # labels of a classifier's outputs
    head: str | None = None  # "softmax" or "sigmoid": how outputs become probabilities
    encoding: Any = None  # tables.Encoding: raw columns (text → one-hot) to the inputs

    def probabilities(self, out: np.ndarray) -> np.ndarray:
        """Class probabilities (rows × classes) from raw outputs: softmax, or σ for one output."""
        if self.head == "sigmoid":
            p = ops.sigmoid(out[..., 0])
            return np.stack([1.0 - p, p], axis=-1)
        return ops.softmax(out)

    def _raw(self, X: Any) -> np.ndarray:
        if self.encoding is not None and hasattr(X, "columns"):  # a DataFrame of raw columns
            from ..tables import encode_frame

            X = encode_frame(X, self.encoding, self.dtype)[0]
        try:
            arr = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X, dtype=self.dtype)
        except (TypeError, ValueError):
            raw = f"a DataFrame with the columns {', '.join(self.encoding.inputs)}" \
                if self.encoding is not None else "numbers"
            raise DataError(f"the inputs must be {raw} (text columns are one-hot encoded only "
                            "when given by name in a DataFrame)") from None
        if not np.all(np.isfinite(arr)):
            raise DataError("the inputs contain NaN or infinite values; fill or remove those rows")
        if self.x_scaler is not None:
            arr = self.x_scaler.transform(arr)
        return self.forward_array(arr)

    def predict(self, X: Any) -> np.ndarray:
        """The model's answer for raw inputs ``X``: labels for a classifier, else outputs
        in the targets' own units (the scalers ``fit`` kept are applied and undone)."""
        out = self._raw(X)
        if self.classes_ is not None:
            return self.classes_[np.argmax(self.probabilities(out), axis=-1)]
        return out if self.y_scaler is None else self.y_scaler.inverse(out)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (rows × classes, in the order of ``classes_``) for raw ``X``."""
        if self.classes_ is None:
            raise ConfigError("predict_proba needs a classifier: train with loss='cross_entropy' "
                              "or 'bce' on labels")
        return self.probabilities(self._raw(X))
