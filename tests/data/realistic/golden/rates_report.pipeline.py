import json
from IPython.display import Markdown, display
import os
from . import _runtime


# The notebook's folder, relative to this package's folder: run() works there
# unless given workdir. None: run in the current folder.
NOTEBOOK_DIR: str | None = None

# The notebook's parameters (its cell tagged 'parameters') and their defaults.
PARAMETERS: dict[str, object] = {
    'country': 'DE',
    'year': 2024,
    'threshold': 0.5,
}


def step_01_rates_report(results: _runtime.Results) -> None:
    """Rates report"""
    global above, fh, rates, selected
    with results.cell(5):
        with open('data/rates.json') as fh:
            rates = json.load(fh)
        results.value(5, sorted(rates))
    with results.cell(6):
        selected = {y: r for y, r in rates[country].items() if int(y) <= year}
        results.value(6, len(selected))
    with results.cell(7):
        results.display(7, Markdown(f'## Report for {country}, up to {year}'))
        results.display(7, selected)
    with results.cell(8):
        above = [y for y, r in selected.items() if r > threshold]
        results.value(8, above)
    with results.cell(9):
        print(json.dumps({'country': country, 'years': len(selected), 'above': len(above)}))


def run(
    *,
    country: str = 'DE',
    year: int = 2024,
    threshold: float = 0.5,
    workdir: str | os.PathLike[str] | None = None,
    outdir: str | os.PathLike[str] | None = None,
) -> dict[str, object]:
    """Run the notebook's code in order; return its results by key.

    Parameters become module globals, as papermill injects them. The code runs in
    ``workdir`` (default: NOTEBOOK_DIR) and saves figures under ``outdir`` (default:
    not saved). ``_runtime.last_results()`` has each cell's captured output.
    """
    _runtime.check_type('country', country, str)
    _runtime.check_type('year', year, int)
    _runtime.check_type('threshold', threshold, float, int)
    _runtime.set_parameters(globals(), country=country, year=year, threshold=threshold)
    _runtime.set_outdir(outdir)
    results = _runtime.Results()
    with _runtime.workdir(workdir, default=NOTEBOOK_DIR):
        step_01_rates_report(results)
    return results.values
