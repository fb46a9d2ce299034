"""Classic fusion methods: no training, the same ``predict(c1, f1, c2)`` interface as models."""

from est_stfm.classic.naive import NAIVE_METHODS, AddCoarseChange, CopyReference

__all__ = ["NAIVE_METHODS", "AddCoarseChange", "CopyReference"]
