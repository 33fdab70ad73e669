# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A linear model, by hand
#
# Feature helpers live in `features.py` next to this notebook.

# %%
# %load_ext nbrepro
# %load_ext autoreload
# %autoreload 2

# %%
import numpy as np

import features
from features import Scaler, relative_improvement

# %% tags=["parameters"]
seed = 42
n_samples = 200
learning_rate = 0.1
epochs: int = 50

# %% [markdown]
# ## Data

# %%
rng = np.random.default_rng(seed)
X = rng.normal(size=(n_samples, 3))
y = X @ np.array([1.5, -2.0, 0.5]) + rng.normal(scale=0.1, size=n_samples)
X.shape

# %%
y[:5].round(3)

# %%
scaler = Scaler().fit(X)
Xs = scaler.transform(X)
features.describe(Xs)

# %% [markdown]
# ## Model

# %%
PENALTY = 0.01


def loss(w):
    """Mean squared error plus an L2 penalty; reads the notebook's globals."""
    return float(np.mean((Xs @ w - y) ** 2) + PENALTY * np.sum(w ** 2))


# %%
class LinearModel:
    def __init__(self, lr):
        self.lr = lr
        self.w = np.zeros(3)
        self.history = []

    def fit(self, X, y, epochs):
        for _ in range(epochs):
            grad = 2 * X.T @ (X @ self.w - y) / len(y) + 2 * PENALTY * self.w
            self.w = self.w - self.lr * grad
            self.history.append(loss(self.w))
        return self

    def predict(self, X):
        return X @ self.w

    def __repr__(self):
        return f"LinearModel(lr={self.lr}, w={np.round(self.w, 3).tolist()})"


# %%
# %%time
model = LinearModel(learning_rate).fit(Xs, y, epochs)

# %%
model

# %%
round(loss(model.w), 4)

# %%
[round(h, 3) for h in model.history[:3]]


# %%
# %who

# %% [markdown]
# ## Evaluation

# %%
def evaluate(m):
    residual = m.predict(Xs) - y
    return {"mse": round(float(np.mean(residual ** 2)), 4), "max_abs": round(float(np.abs(residual).max()), 3)}


evaluate(model)

# %%
round(relative_improvement(model.history), 4)

# %%
untrained = LinearModel(0.0)
relative_improvement(untrained.history)

# %%
# label = !echo trained
label

# %%
print("done:", model)
print("improvement", f"{relative_improvement(model.history):.2%}")
