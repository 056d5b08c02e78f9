"""Built-in data: the seed document's table of students."""

from __future__ import annotations

import numpy as np

from .data import Dataset


def students() -> Dataset:
    """The seed's three students: IQ and CGPA as inputs, Package (LPA) as the target.

    ======  ======  ===============
    IQ      CGPA    Package (LPA)
    ======  ======  ===============
    80      8       5
    60      5       3
    110     7       8
    ======  ======  ===============
    """
    X = np.array([[80.0, 8.0], [60.0, 5.0], [110.0, 7.0]])
    y = np.array([[5.0], [3.0], [8.0]])
    return Dataset(X, y, ["IQ", "CGPA"], ["Package"], source="the seed's table of students")
