"""Standardization, kept apart from features.py (which imports it)."""

from __future__ import annotations

import numpy as np


class Scaler:
    """Centre and scale columns with the statistics of the data it was fitted on."""

    def fit(self, X: np.ndarray) -> "Scaler":
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean_) / self.scale_
