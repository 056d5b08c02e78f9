"""Model parts: Module, Dense, Sequential, activations and the seed's notation."""

from .activations import ACTIVATIONS, Activation, get_activation
from .layers import Dense, Sequential, mlp, seed_network
from .module import Module
from .notation import ParamRef, parameter_refs, parse_param

__all__ = [
    "ACTIVATIONS", "Activation", "Dense", "Module", "ParamRef", "Sequential",
    "get_activation", "mlp", "parameter_refs", "parse_param", "seed_network",
]
