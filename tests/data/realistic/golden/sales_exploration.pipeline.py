import pandas as pd
import numpy as np
import matplotlib.pyplot as plt
import os
from . import _runtime


# The notebook's folder, relative to this package's folder: run() works there
# unless given workdir. None: run in the current folder.
NOTEBOOK_DIR: str | None = None

# The notebook's parameters (its cell tagged 'parameters') and their defaults.
PARAMETERS: dict[str, object] = {
    'region': 'north',
    'min_units': 2,
    'top_n': 5,
}


def step_01_sales_exploration(results: _runtime.Results) -> None:
    """Sales exploration"""
    global df
    with results.cell(4):
        df = pd.read_csv('data/sales.csv', parse_dates=['date'])
        results.value(4, df.head())
    with results.cell(5):
        results.value(5, df.shape)
    with results.cell(6):
        results.value(6, df.dtypes)
    with results.cell(7):
        results.value(7, df.describe().round(2))
    with results.cell(8):
        results.value(8, df['region'].value_counts())
    with results.cell(9):
        results.value(9, df.isna().sum())
    with results.cell(10):
        results.value(10, (df['date'].min(), df['date'].max()))


def step_02_cleaning(results: _runtime.Results) -> None:
    """Cleaning"""
    global df
    with results.cell(12):
        df = df[df['units'] >= min_units].copy()
        df['revenue'] = (df['units'] * df['price']).round(2)
        results.value(12, len(df))
    with results.cell(13):
        results.value(13, df['revenue'].sum().round(2))
    with results.cell(14):
        results.value(14, round(df['revenue'].mean(), 2))
    with results.cell(15):
        results.value(15, df.sort_values(['revenue', 'date'], ascending=[False, True]).head(top_n))


def step_03_by_region(results: _runtime.Results) -> None:
    """By region"""
    global by_region
    with results.cell(17):
        by_region = df.groupby('region')['revenue'].sum().round(2)
        results.value(17, by_region)
    with results.cell(18):
        results.value(18, by_region.idxmax())
    with results.cell(19):
        results.value(19, df[df['region'] == region]['units'].describe().round(3))
    with results.cell(20):
        results.display(20, by_region.sort_values())
        results.value(20, by_region.sort_values().index.tolist())


def step_04_monthly_revenue(results: _runtime.Results) -> None:
    """Monthly revenue"""
    global ax, fig, files, monthly, pivot
    with results.cell(22):
        monthly = df.set_index('date').resample('MS')['revenue'].sum().round(2)
        results.value(22, monthly.tail(3))
    with results.cell(23):
        fig, ax = plt.subplots(figsize=(6, 3))
        monthly.plot(ax=ax)
        ax.set_title('Revenue per month')
        _runtime.save_figures(23)
    with results.cell(24):
        results.value(24, df.groupby('product')['units'].sum())
    with results.cell(25):
        _runtime.shell('ls data')
    with results.cell(26):
        files = _runtime.shell('ls data', echo=False)
        results.value(26, files)
    with results.cell(27):
        results.value(27, df['product'].nunique())
    with results.cell(28):
        pivot = df.pivot_table(index='region', columns='product', values='units', aggfunc='sum', fill_value=0)
        results.value(28, pivot)
    with results.cell(29):
        results.value(29, pivot.sum(axis=1).sort_values(ascending=False).head(2))


def step_05_dead_ends_kept_in_the_notebook(results: _runtime.Results) -> None:
    """Dead ends kept in the notebook"""
    with results.cell(31, expect_error='KeyError'):
        results.value(31, df['discount'])
    with results.cell(32, expect_error='ValueError'):
        results.value(32, int(df['product'].iloc[0]))
    with results.cell(33):
        results.value(33, df.loc[df['units'] > 1000, 'units'].max())


def step_06_summary(results: _runtime.Results) -> None:
    """Summary"""
    global summary
    with results.cell(35):
        summary = {'rows': len(df), 'revenue': round(float(df['revenue'].sum()), 2), 'best_region': by_region.idxmax()}
        results.value(35, summary)
    with results.cell(36):
        print(f'{region}: {summary}')
        print('months:', len(monthly))


def run(
    *,
    region: str = 'north',
    min_units: int = 2,
    top_n: int = 5,
    workdir: str | os.PathLike[str] | None = None,
    outdir: str | os.PathLike[str] | None = None,
) -> dict[str, object]:
    """Run the notebook's code in order; return its results by key.

    Parameters become module globals, as papermill injects them. The code runs in
    ``workdir`` (default: NOTEBOOK_DIR) and saves figures under ``outdir`` (default:
    not saved). ``_runtime.last_results()`` has each cell's captured output.
    """
    _runtime.check_type('region', region, str)
    _runtime.check_type('min_units', min_units, int)
    _runtime.check_type('top_n', top_n, int)
    _runtime.set_parameters(globals(), region=region, min_units=min_units, top_n=top_n)
    _runtime.set_outdir(outdir)
    results = _runtime.Results()
    with _runtime.workdir(workdir, default=NOTEBOOK_DIR):
        step_01_sales_exploration(results)
        step_02_cleaning(results)
        step_03_by_region(results)
        step_04_monthly_revenue(results)
        step_05_dead_ends_kept_in_the_notebook(results)
        step_06_summary(results)
    return results.values
