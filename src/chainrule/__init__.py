"""chainrule: train neural networks by back-propagation, and see every gradient.

The floors of the house (imports run downward only):

1. engine — ``tensor`` (Tensor, backward, no_grad) and ``ops`` (the primitive table)
2. model parts — ``nn`` (Module, Dense, Sequential, activations), ``init``, ``losses``,
   ``optim``, ``data``, ``datasets``
3. uses of models — ``train`` (fit), ``gradcheck``, ``explain``, ``io`` (model files)
4. front doors — ``cli``, ``sklearn`` (estimators), ``plot`` (pictures); the last two are
   imported on request: ``import chainrule.sklearn``
"""

from . import datasets, init, losses, nn, ops, optim, schedules
from .data import Dataset, as_arrays, read_csv
from .errors import ChainruleError, ConfigError, DataError, DivergenceError, ShapeError
from .gradcheck import GradcheckResult, check_vjp, gradcheck
from .io import load, save
from .losses import MSE, Loss, get_loss, penalty
from .nn import Dense, Module, Sequential, mlp, seed_network
from .optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from .tensor import Tensor, no_grad, tensor
from .train import Callback, EarlyStopping, History, evaluate, fit

__version__ = "0.1.0"

__all__ = [
    "Adagrad", "Adam", "AdamW", "Callback", "EarlyStopping", "ChainruleError", "ConfigError", "DataError",
    "Dataset", "Dense",
    "DivergenceError", "GradcheckResult", "History", "Loss", "MSE", "Module", "Optimizer",
    "RMSprop", "SGD", "Sequential", "ShapeError", "Tensor", "__version__", "as_arrays", "check_vjp",
    "datasets", "evaluate", "fit", "get_loss", "gradcheck", "init", "load", "losses", "mlp", "nn",
    "no_grad", "ops", "optim", "penalty", "read_csv", "save", "schedules", "seed_network", "tensor",
]
