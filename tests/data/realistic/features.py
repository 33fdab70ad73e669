"""Feature helpers for model_helpers.ipynb: the kind of module a notebook grows beside it."""

from __future__ import annotations

import numpy as np

from scaling import Scaler

__all__ = ["Scaler", "describe", "relative_improvement"]


def describe(X: np.ndarray) -> dict[str, list[float]]:
    """Column means and standard deviations, rounded for display."""
    return {
        "mean": np.round(X.mean(axis=0), 3).tolist(),
        "std": np.round(X.std(axis=0), 3).tolist(),
    }


def relative_improvement(history: list[float]) -> float:
    """How much the loss fell from the first epoch to the last, as a fraction."""
    return (history[0] - history[-1]) / history[0]
