"""Fusion methods: the :class:`Method` contract, classic methods, trained networks, and the one
namespace of names ``--model`` accepts."""

from est_stfm.methods.base import Method, PairwiseMethod, blend_pairs, pair_weights
from est_stfm.methods.model import ModelMethod
from est_stfm.methods.registry import MethodName, method_names, resolve_method

__all__ = [
    "Method",
    "MethodName",
    "ModelMethod",
    "PairwiseMethod",
    "blend_pairs",
    "method_names",
    "pair_weights",
    "resolve_method",
]
