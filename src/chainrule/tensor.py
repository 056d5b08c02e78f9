"""Tensor: a NumPy array that remembers how it was made, and ``backward``.

A tensor made by a primitive of ``ops`` keeps the primitive, its input tensors and
its parameters.  ``backward()`` walks that graph from the output back to the leaves,
in reverse topological order found without recursion, and applies each primitive's
vector-Jacobian rule.  Broadcasting is undone here, once: a rule's result is summed
back to its input's shape.  Gradients are added (never written in place into shared
arrays) and accumulate in ``leaf.grad`` across calls until ``zero_grad``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from . import ops
from .errors import ChainruleError, ShapeError

_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))
_grad_enabled = True


@contextmanager
def no_grad() -> Iterator[None]:
    """Within this block, operations record no graph (for prediction and updates)."""
    global _grad_enabled
    before, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = before


def is_grad_enabled() -> bool:
    return _grad_enabled


def _as_float_array(data: Any, dtype: Any = None, copy: bool = True) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if not copy and dtype is None and type(data) is np.ndarray and data.dtype.char in "fd" \
            and data.dtype.isnative:
        return data  # already float64 or float32: nothing to do (the common case)
    try:
        arr = np.array(data, copy=copy) if copy else np.asarray(data)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"cannot make a tensor from {type(data).__name__}: {exc}") from None
    if dtype is None:
        dtype = arr.dtype if arr.dtype in _FLOATS else np.float64
    if arr.dtype.kind not in "biuf":
        raise ShapeError(
            f"tensor data must be numbers (got dtype {arr.dtype}); convert the values to "
            "floats first"
        )
    return arr.astype(dtype, copy=False)


def _any_is(x: Any, items: list[Any]) -> bool:
    """Whether ``x`` is one of ``items`` (identity, not equality)."""
    for item in items:
        if x is item:
            return True
    return False


def _sum_to_shape(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Undo broadcasting: sum ``g`` over the axes that broadcasting added or stretched."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = np.add.reduce(g, axis=tuple(range(extra)) if extra > 1 else 0)
        if g.shape == shape:
            return g
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    if g.shape != shape:  # a rule may return something smaller that broadcasts up
        g = np.broadcast_to(g, shape)
    return g


class Tensor:
    """An array of numbers (float64 unless asked otherwise) that can carry gradients.

    ``data`` is the NumPy array; ``grad`` is ``∂L/∂data`` after ``L.backward()`` (None
    before); ``requires_grad`` says whether gradients flow to it.
    """

    __slots__ = ("data", "grad", "requires_grad", "name", "_prim", "_parents", "_params",
                 "_retain", "__weakref__")
    __array_ufunc__ = None  # make `ndarray + Tensor` call Tensor.__radd__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 name: str | None = None) -> None:
        self.data = _as_float_array(data, dtype)
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self._prim: ops.Primitive | None = None
        self._parents: tuple[Tensor, ...] = ()
        self._params: dict[str, Any] = {}
        self._retain = False

    @classmethod
    def _wrap(cls, data: np.ndarray) -> "Tensor":
        t = cls.__new__(cls)
        t.data, t.grad, t.requires_grad, t.name = data, None, False, None
        t._prim, t._parents, t._params, t._retain = None, (), {}, False
        return t

    # -- facts ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        return self._prim is None

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float:
        return float(self.data.item())

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self.data, precision=6, separator=", ")
        return f"Tensor({body}{grad})"

    # -- graph -----------------------------------------------------------------------
    def detach(self) -> "Tensor":
        """The same numbers, cut from the graph (shares memory)."""
        return Tensor._wrap(self.data)

    def retain_grad(self) -> "Tensor":
        """Keep ``grad`` on this intermediate tensor after backward (leaves always do)."""
        self._retain = True
        return self

    def zero_grad(self) -> None:
        self.grad = None

    def _accumulate(self, g: np.ndarray, own: bool = False) -> None:
        """Add ``g`` to ``grad``; ``own``: g is a fresh array nobody else holds, kept as is
        (else a copy, so that changing one tensor's grad never changes another's)."""
        g = np.asarray(g, dtype=self.data.dtype)
        if self.grad is not None:
            self.grad = self.grad + g
        else:
            self.grad = g if own and g.base is None and g.flags.writeable else np.array(g)

    def backward(self, grad: Any = None) -> None:
        """Compute ∂self/∂leaf for every leaf that requires grad, adding into ``leaf.grad``.

        ``grad`` is ∂L/∂self; it defaults to 1 for a tensor holding a single number.
        """
        if not self.requires_grad:
            raise ChainruleError(
                "backward() was called on a tensor that does not depend on any tensor with "
                "requires_grad=True; mark the parameters with requires_grad=True"
            )
        if grad is None:
            if self.data.size != 1:
                raise ShapeError(
                    f"backward() without a gradient needs a single number, but this tensor "
                    f"has shape {self.shape}; reduce it first (.sum() or .mean()) or pass "
                    "grad= of the same shape"
                )
            seed = np.ones_like(self.data)
        else:
            seed = _as_float_array(grad, self.data.dtype)
            if seed.shape != self.shape:
                raise ShapeError(f"backward(grad=...) got shape {seed.shape}, needs {self.shape}")

        grads: dict[int, np.ndarray] = {id(self): seed}
        shared: set[int] = set()  # arrays handed on as they came (a rule returned g itself)
        for node in reversed(_topological_order(self)):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            prim = node._prim
            if prim is None:  # a leaf keeps a fresh gradient without copying it
                node._accumulate(g, own=id(g) not in shared and g is not seed)
                continue
            if node._retain:
                node._accumulate(g)
                shared.add(id(g))
            out, params = node.data, node._params
            inputs = [p.data for p in node._parents]
            for rule, parent in zip(prim.rules, node._parents):
                if not parent.requires_grad:
                    continue
                gi = rule(g, out, *inputs, **params)
                shape = parent.data.shape
                if gi.shape != shape:
                    gi = _sum_to_shape(gi, shape)
                if gi is g or gi is out or gi.base is not None or _any_is(gi, inputs):
                    shared.add(id(gi))  # not a fresh array of its own
                key = id(parent)
                before = grads.get(key)
                grads[key] = gi if before is None else before + gi

    # -- operators (each one primitive, or composed of primitives) --------------------
    def __add__(self, other: Any) -> "Tensor":
        return apply(ops.ADD, self, other)

    def __radd__(self, other: Any) -> "Tensor":
        return apply(ops.ADD, other, self)

    def __neg__(self) -> "Tensor":
        return apply(ops.NEG, self)

    def __sub__(self, other: Any) -> "Tensor":
        return apply(ops.ADD, self, -_lift(other, self))

    def __rsub__(self, other: Any) -> "Tensor":
        return apply(ops.ADD, other, -self)

    def __mul__(self, other: Any) -> "Tensor":
        return apply(ops.MUL, self, other)

    def __rmul__(self, other: Any) -> "Tensor":
        return apply(ops.MUL, other, self)

    def __truediv__(self, other: Any) -> "Tensor":
        return apply(ops.DIV, self, other)

    def __rtruediv__(self, other: Any) -> "Tensor":
        return apply(ops.DIV, other, self)

    def __pow__(self, p: Any) -> "Tensor":
        if not isinstance(p, (int, float)) and (isinstance(p, Tensor) or np.ndim(p) != 0):
            raise ChainruleError("only a constant number can be an exponent: write t ** 2.0")
        return apply(ops.POW, self, p=float(p))

    def __matmul__(self, other: Any) -> "Tensor":
        return apply(ops.MATMUL, self, other)

    def __rmatmul__(self, other: Any) -> "Tensor":
        return apply(ops.MATMUL, other, self)

    def sum(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        return apply(ops.SUM, self, axis=_axis(axis), keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        return apply(ops.MEAN, self, axis=_axis(axis), keepdims=keepdims)

    def reshape(self, *shape: Any) -> "Tensor":
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = tuple(shape[0])
        return apply(ops.RESHAPE, self, shape=tuple(shape))

    def transpose(self, *axes: int) -> "Tensor":
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = tuple(axes[0])
        return apply(ops.TRANSPOSE, self, axes=tuple(axes) if axes else None)

    @property
    def T(self) -> "Tensor":
        return self.transpose()

    def exp(self) -> "Tensor":
        return apply(ops.EXP, self)

    def log(self) -> "Tensor":
        return apply(ops.LOG, self)

    def abs(self) -> "Tensor":
        return apply(ops.ABS, self)

    def tanh(self) -> "Tensor":
        return apply(ops.TANH, self)

    def sigmoid(self) -> "Tensor":
        return apply(ops.SIGMOID, self)

    def relu(self) -> "Tensor":
        return apply(ops.RELU, self)


def _axis(axis: Any) -> Any:
    if axis is None or isinstance(axis, int):
        return axis
    return tuple(int(a) for a in axis)


def _lift(x: Any, like: Tensor) -> Tensor:
    """A constant as a tensor; a Python number takes the dtype of ``like``."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (int, float, bool, np.number)):
        return Tensor._wrap(np.asarray(x, dtype=like.data.dtype))
    return Tensor._wrap(_as_float_array(x, copy=False))


def apply(prim: ops.Primitive, *inputs: Any, **params: Any) -> Tensor:
    """Run ``prim`` forward on tensors (or constants) and record it for backward."""
    ts = inputs
    for x in inputs:
        if not isinstance(x, Tensor):  # lift the constants (rare: most inputs are tensors)
            like = next((x for x in inputs if isinstance(x, Tensor)), None)
            if like is None:
                like = Tensor._wrap(np.zeros((), dtype=np.float64))
            ts = tuple(_lift(x, like) for x in inputs)
            break
    try:
        out = prim.forward(*[t.data for t in ts], **params)
    except ValueError as exc:
        shapes = " and ".join(str(t.shape) for t in ts)
        raise ShapeError(f"{prim.name} cannot combine shapes {shapes}: {exc}") from None
    result = Tensor._wrap(out if type(out) is np.ndarray else np.asarray(out))
    if _grad_enabled:
        for t in ts:
            if t.requires_grad:
                result.requires_grad = True
                result._prim, result._parents, result._params = prim, ts, params
                break
    return result


def _topological_order(root: Tensor) -> list[Tensor]:
    """Every tensor ``root`` depends on (that requires grad), inputs before outputs.

    Depth-first with an explicit stack of (tensor, its parents still to visit), so a
    chain of any length is fine.  Parents are visited last first: the order chainrule
    has always used.  ``backward`` adds up a tensor's gradients from its several uses in
    the order this gives, and floating-point sums depend on it.
    """
    order: list[Tensor] = []
    seen = {id(root)}
    stack = [(root, reversed(root._parents))]
    while stack:
        node, parents = stack[-1]
        for p in parents:
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                stack.append((p, reversed(p._parents)))
                break
        else:  # every parent is placed: the node goes after them
            stack.pop()
            order.append(node)
    return order


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a tensor (a copy of ``data``), float64 unless ``data`` is float32 or ``dtype`` says."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)
