import json
import os

from IPython.display import Markdown

from . import _runtime

# The notebook's folder, relative to this package's folder: run() works there
# unless given workdir. None: run in the current folder.
NOTEBOOK_DIR: str | None = None

# What the notebook read, relative to its folder: a run given outdir works there,
# with these linked from workdir, so what the code writes lands under outdir.
INPUTS: tuple[str, ...] = ('data',)

# The notebook's parameters (its cell tagged 'parameters') and their defaults.
PARAMETERS: dict[str, object] = {
    'country': 'DE',
    'year': 2024,
    'threshold': 0.5,
}


def step_01_rates_report(country, year, threshold):
    """Rates report"""
    # cell 5
    with open('data/rates.json') as fh:
        rates = json.load(fh)
    # cell 6
    selected = {y: r for y, r in rates[country].items() if int(y) <= year}
    # cell 8
    above = [y for y, r in selected.items() if r > threshold]
    # cell 9
    print(json.dumps({'country': country, 'years': len(selected), 'above': len(above)}))
    return rates, selected, above


# What each cell showed in the notebook, as functions of the names it read: its last
# expression (SHOWN) and the objects it passed to display() (DISPLAYED). run() evaluates
# them where the cell ended; _runtime.last_results() has them as cell_<n>.
SHOWN = {
    5: lambda rates: sorted(rates),
    6: lambda selected: len(selected),
    8: lambda above: above,
}
DISPLAYED = {
    7: lambda country, selected, year: [Markdown(f'## Report for {country}, up to {year}'), selected],
}


def run(
    *,
    country: str = 'DE',
    year: int = 2024,
    threshold: float = 0.5,
    workdir: str | os.PathLike[str] | None = None,
    outdir: str | os.PathLike[str] | None = None,
) -> dict[str, object]:
    """Run the notebook's steps in order; return its variables as they left them.

    The code runs in ``workdir`` (default: NOTEBOOK_DIR), or, given ``outdir``, in
    ``outdir`` with INPUTS linked from ``workdir``; figures are saved under ``outdir``.
    ``_runtime.last_results()`` has what each cell printed and showed.
    """
    _runtime.check_type('country', country, str)
    _runtime.check_type('year', year, int)
    _runtime.check_type('threshold', threshold, float, int)
    with _runtime.Notebook(
        SHOWN, DISPLAYED, {'country': country, 'year': year, 'threshold': threshold},
        workdir=workdir, default=NOTEBOOK_DIR, outdir=outdir, inputs=INPUTS,
    ):
        rates, selected, above = step_01_rates_report(country, year, threshold)
    return {
        'above': above,
        'rates': rates,
        'selected': selected,
    }
