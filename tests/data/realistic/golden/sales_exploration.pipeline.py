import os

import matplotlib.pyplot as plt
import pandas as pd

from . import _runtime

# The notebook's folder, relative to this package's folder: run() works there
# unless given workdir. None: run in the current folder.
NOTEBOOK_DIR: str | None = None

# What the notebook read, relative to its folder: a run given outdir works there,
# with these linked from workdir, so what the code writes lands under outdir.
INPUTS: tuple[str, ...] = ('data',)

# The notebook's parameters (its cell tagged 'parameters') and their defaults.
PARAMETERS: dict[str, object] = {
    'region': 'north',
    'min_units': 2,
    'top_n': 5,
}


def step_01_sales_exploration():
    """Sales exploration"""
    # cell 4
    df = pd.read_csv('data/sales.csv', parse_dates=['date'])
    return df


def step_02_cleaning(min_units, df):
    """Cleaning"""
    # cell 12
    df = df[df['units'] >= min_units].copy()
    df['revenue'] = (df['units'] * df['price']).round(2)
    return df


def step_03_by_region(df):
    """By region"""
    # cell 17
    by_region = df.groupby('region')['revenue'].sum().round(2)
    return by_region


def step_04_monthly_revenue(df):
    """Monthly revenue"""
    # cell 22
    monthly = df.set_index('date').resample('MS')['revenue'].sum().round(2)
    # cell 23
    fig, ax = plt.subplots(figsize=(6, 3))
    monthly.plot(ax=ax)
    ax.set_title('Revenue per month')
    _runtime.save_figures()
    # cell 25
    _runtime.shell('ls data')
    # cell 26
    files = _runtime.shell('ls data', echo=False)
    # cell 28
    pivot = df.pivot_table(index='region', columns='product', values='units', aggfunc='sum', fill_value=0)
    return monthly, ax, fig, files, pivot


def step_05_summary(region, df, by_region, monthly):
    """Summary"""
    # cell 35
    summary = {'rows': len(df), 'revenue': round(float(df['revenue'].sum()), 2), 'best_region': by_region.idxmax()}
    # cell 36
    print(f'{region}: {summary}')
    print('months:', len(monthly))
    return summary


# What each cell showed in the notebook, as functions of the names it read: its last
# expression (SHOWN) and the objects it passed to display() (DISPLAYED). run() evaluates
# them where the cell ended; _runtime.last_results() has them as cell_<n>.
SHOWN = {
    4: lambda df: df.head(),
    5: lambda df: df.shape,
    6: lambda df: df.dtypes,
    7: lambda df: df.describe().round(2),
    8: lambda df: df['region'].value_counts(),
    9: lambda df: df.isna().sum(),
    10: lambda df: (df['date'].min(), df['date'].max()),
    12: lambda df: len(df),
    13: lambda df: df['revenue'].sum().round(2),
    14: lambda df: round(df['revenue'].mean(), 2),
    15: lambda df, top_n: df.sort_values(['revenue', 'date'], ascending=[False, True]).head(top_n),
    17: lambda by_region: by_region,
    18: lambda by_region: by_region.idxmax(),
    19: lambda df, region: df[df['region'] == region]['units'].describe().round(3),
    20: lambda by_region: by_region.sort_values().index.tolist(),
    22: lambda monthly: monthly.tail(3),
    24: lambda df: df.groupby('product')['units'].sum(),
    26: lambda files: files,
    27: lambda df: df['product'].nunique(),
    28: lambda pivot: pivot,
    29: lambda pivot: pivot.sum(axis=1).sort_values(ascending=False).head(2),
    31: lambda df: df['discount'],
    32: lambda df: int(df['product'].iloc[0]),
    33: lambda df: df.loc[df['units'] > 1000, 'units'].max(),
    35: lambda summary: summary,
}
DISPLAYED = {
    20: lambda by_region: [by_region.sort_values()],
}


def run(
    *,
    region: str = 'north',
    min_units: int = 2,
    top_n: int = 5,
    workdir: str | os.PathLike[str] | None = None,
    outdir: str | os.PathLike[str] | None = None,
) -> dict[str, object]:
    """Run the notebook's steps in order; return its variables as they left them.

    The code runs in ``workdir`` (default: NOTEBOOK_DIR), or, given ``outdir``, in
    ``outdir`` with INPUTS linked from ``workdir``; figures are saved under ``outdir``.
    ``_runtime.last_results()`` has what each cell printed and showed.
    """
    _runtime.check_type('region', region, str)
    _runtime.check_type('min_units', min_units, int)
    _runtime.check_type('top_n', top_n, int)
    with _runtime.Notebook(
        SHOWN, DISPLAYED, {'region': region, 'min_units': min_units, 'top_n': top_n},
        workdir=workdir, default=NOTEBOOK_DIR, outdir=outdir, inputs=INPUTS,
    ):
        df = step_01_sales_exploration()
        df = step_02_cleaning(min_units, df)
        by_region = step_03_by_region(df)
        monthly, ax, fig, files, pivot = step_04_monthly_revenue(df)
        summary = step_05_summary(region, df, by_region, monthly)
    return {
        'ax': ax,
        'by_region': by_region,
        'df': df,
        'fig': fig,
        'files': files,
        'monthly': monthly,
        'pivot': pivot,
        'summary': summary,
    }
