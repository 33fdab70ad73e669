import os

import numpy as np

from . import _runtime
from .local import features
from .local.features import Scaler, relative_improvement


def loss(w):
    """Mean squared error plus an L2 penalty; reads the notebook's globals."""
    return float(np.mean((Xs @ w - y) ** 2) + PENALTY * np.sum(w ** 2))


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
        return f'LinearModel(lr={self.lr}, w={np.round(self.w, 3).tolist()})'


def evaluate(m):
    residual = m.predict(Xs) - y
    return {'mse': round(float(np.mean(residual ** 2)), 4), 'max_abs': round(float(np.abs(residual).max()), 3)}


# The notebook's folder, relative to this package's folder: run() works there
# unless given workdir. None: run in the current folder.
NOTEBOOK_DIR: str | None = None

# What the notebook read, relative to its folder: a run given outdir works there,
# with these linked from workdir, so what the code writes lands under outdir.
INPUTS: tuple[str, ...] = ()

# The notebook's parameters (its cell tagged 'parameters') and their defaults.
PARAMETERS: dict[str, object] = {
    'seed': 42,
    'n_samples': 200,
    'learning_rate': 0.1,
    'epochs': 50,
}


def step_01_data(seed, n_samples):
    """Data"""
    # nbrepro fallback: module globals, for evaluate(), loss()
    global y, Xs
    # cell 5
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + rng.normal(scale=0.1, size=n_samples)
    # cell 7
    scaler = Scaler().fit(X)
    Xs = scaler.transform(X)
    return X, rng, scaler


def step_02_model(learning_rate, epochs):
    """Model"""
    # nbrepro fallback: module globals, for LinearModel(), loss()
    global PENALTY
    # cell 9
    PENALTY = 0.01
    # cell 11
    model = LinearModel(learning_rate).fit(Xs, y, epochs)
    # cell 15
    # nbrepro: magic not exported: %who
    return model


def step_03_evaluation(model):
    """Evaluation"""
    # cell 19: raised IndexError in the notebook
    with _runtime.expected_error('IndexError'):
        untrained = LinearModel(0.0)
        _runtime.result(relative_improvement(untrained.history))
    # cell 20
    label = _runtime.shell('echo trained', echo=False)
    # cell 21
    print('done:', model)
    print('improvement', f'{relative_improvement(model.history):.2%}')
    return label


# What each cell showed in the notebook, as functions of the names it read: its last
# expression (SHOWN) and the objects it passed to display() (DISPLAYED). run() evaluates
# them where the cell ended; _runtime.last_results() has them as cell_<n>.
SHOWN = {
    5: lambda X: X.shape,
    6: lambda: y[:5].round(3),
    7: lambda: features.describe(Xs),
    12: lambda model: model,
    13: lambda model: round(loss(model.w), 4),
    14: lambda model: [round(h, 3) for h in model.history[:3]],
    17: lambda model: evaluate(model),
    18: lambda model: round(relative_improvement(model.history), 4),
    20: lambda label: label,
}
DISPLAYED = {}


def run(
    *,
    seed: int = 42,
    n_samples: int = 200,
    learning_rate: float = 0.1,
    epochs: int = 50,
    workdir: str | os.PathLike[str] | None = None,
    outdir: str | os.PathLike[str] | None = None,
) -> dict[str, object]:
    """Run the notebook's steps in order; return its variables as they left them.

    The code runs in ``workdir`` (default: NOTEBOOK_DIR), or, given ``outdir``, in
    ``outdir`` with INPUTS linked from ``workdir``; figures are saved under ``outdir``.
    ``_runtime.last_results()`` has what each cell printed and showed.
    """
    _runtime.check_type('seed', seed, int)
    _runtime.check_type('n_samples', n_samples, int)
    _runtime.check_type('learning_rate', learning_rate, float, int)
    _runtime.check_type('epochs', epochs, int)
    with _runtime.Notebook(
        SHOWN, DISPLAYED, {'seed': seed, 'n_samples': n_samples, 'learning_rate': learning_rate, 'epochs': epochs},
        workdir=workdir, default=NOTEBOOK_DIR, outdir=outdir, inputs=INPUTS,
    ):
        X, rng, scaler = step_01_data(seed, n_samples)
        model = step_02_model(learning_rate, epochs)
        label = step_03_evaluation(model)
    return {
        'X': X,
        'label': label,
        'model': model,
        'rng': rng,
        'scaler': scaler,
    }
