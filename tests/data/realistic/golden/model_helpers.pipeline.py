import numpy as np
import model_helpers.local.features as features
from model_helpers.local.features import Scaler, relative_improvement
import os
from . import _runtime


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

# The notebook's parameters (its cell tagged 'parameters') and their defaults.
PARAMETERS: dict[str, object] = {
    'seed': 42,
    'n_samples': 200,
    'learning_rate': 0.1,
    'epochs': 50,
}


def step_01_a_linear_model_by_hand(results: _runtime.Results) -> None:
    """A linear model, by hand"""


def step_02_data(results: _runtime.Results) -> None:
    """Data"""
    global X, Xs, rng, scaler, y
    with results.cell(5):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(n_samples, 3))
        y = X @ np.array([1.5, -2.0, 0.5]) + rng.normal(scale=0.1, size=n_samples)
        results.value(5, X.shape)
    with results.cell(6):
        results.value(6, y[:5].round(3))
    with results.cell(7):
        scaler = Scaler().fit(X)
        Xs = scaler.transform(X)
        results.value(7, features.describe(Xs))


def step_03_model(results: _runtime.Results) -> None:
    """Model"""
    global PENALTY, model
    with results.cell(9):
        PENALTY = 0.01
    with results.cell(11):
        model = LinearModel(learning_rate).fit(Xs, y, epochs)
    with results.cell(12):
        results.value(12, model)
    with results.cell(13):
        results.value(13, round(loss(model.w), 4))
    with results.cell(14):
        results.value(14, [round(h, 3) for h in model.history[:3]])
    with results.cell(15):
        # nbrepro: magic not exported: %who
        pass


def step_04_evaluation(results: _runtime.Results) -> None:
    """Evaluation"""
    global label, untrained
    with results.cell(17):
        results.value(17, evaluate(model))
    with results.cell(18):
        results.value(18, round(relative_improvement(model.history), 4))
    with results.cell(19, expect_error='IndexError'):
        untrained = LinearModel(0.0)
        results.value(19, relative_improvement(untrained.history))
    with results.cell(20):
        label = _runtime.shell('echo trained', echo=False)
        results.value(20, label)
    with results.cell(21):
        print('done:', model)
        print('improvement', f'{relative_improvement(model.history):.2%}')


def run(
    *,
    seed: int = 42,
    n_samples: int = 200,
    learning_rate: float = 0.1,
    epochs: int = 50,
    workdir: str | os.PathLike[str] | None = None,
    outdir: str | os.PathLike[str] | None = None,
) -> dict[str, object]:
    """Run the notebook's code in order; return its results by key.

    Parameters become module globals, as papermill injects them. The code runs in
    ``workdir`` (default: NOTEBOOK_DIR) and saves figures under ``outdir`` (default:
    not saved). ``_runtime.last_results()`` has each cell's captured output.
    """
    _runtime.check_type('seed', seed, int)
    _runtime.check_type('n_samples', n_samples, int)
    _runtime.check_type('learning_rate', learning_rate, float, int)
    _runtime.check_type('epochs', epochs, int)
    _runtime.set_parameters(globals(), seed=seed, n_samples=n_samples, learning_rate=learning_rate, epochs=epochs)
    _runtime.set_outdir(outdir)
    results = _runtime.Results()
    with _runtime.workdir(workdir, default=NOTEBOOK_DIR):
        step_01_a_linear_model_by_hand(results)
        step_02_data(results)
        step_03_model(results)
        step_04_evaluation(results)
    return results.values
