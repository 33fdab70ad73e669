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
# # Sales exploration
#
# A first pass over a year of sales: what is in the file, what to clean, where the revenue comes from.

# %%
# %load_ext nbrepro
# %matplotlib inline

# %%
import pandas as pd
import numpy as np
import matplotlib.pyplot as plt

# %% tags=["parameters"]
region = "north"  # the region the last section looks at
min_units = 2
top_n: int = 5

# %%
df = pd.read_csv("data/sales.csv", parse_dates=["date"])
df.head()

# %%
df.shape

# %%
df.dtypes

# %%
df.describe().round(2)

# %%
df["region"].value_counts()

# %%
df.isna().sum()

# %%
df["date"].min(), df["date"].max()

# %% [markdown]
# ## Cleaning
#
# Rows with fewer than `min_units` units are test orders.

# %%
df = df[df["units"] >= min_units].copy()
df["revenue"] = (df["units"] * df["price"]).round(2)
len(df)

# %%
df["revenue"].sum().round(2)

# %%
round(df["revenue"].mean(), 2)

# %%
df.sort_values(["revenue", "date"], ascending=[False, True]).head(top_n)

# %% [markdown]
# ## By region

# %%
by_region = df.groupby("region")["revenue"].sum().round(2)
by_region

# %%
by_region.idxmax()

# %%
df[df["region"] == region]["units"].describe().round(3)

# %%
display(by_region.sort_values())
by_region.sort_values().index.tolist()

# %% [markdown]
# ## Monthly revenue

# %%
monthly = df.set_index("date").resample("MS")["revenue"].sum().round(2)
monthly.tail(3)

# %%
fig, ax = plt.subplots(figsize=(6, 3))
monthly.plot(ax=ax)
ax.set_title("Revenue per month")
plt.show()

# %%
# %timeit df.groupby("product")["units"].sum()

# %%
# !ls data

# %%
# files = !ls data
files

# %%
df["product"].nunique()

# %%
pivot = df.pivot_table(index="region", columns="product", values="units", aggfunc="sum", fill_value=0)
pivot

# %%
pivot.sum(axis=1).sort_values(ascending=False).head(2)

# %% [markdown]
# ## Dead ends kept in the notebook

# %%
df["discount"]

# %%
int(df["product"].iloc[0])

# %%
df.loc[df["units"] > 1000, "units"].max()

# %% [markdown]
# ## Summary

# %%
summary = {
    "rows": len(df),
    "revenue": round(float(df["revenue"].sum()), 2),
    "best_region": by_region.idxmax(),
}
summary

# %%
print(f"{region}: {summary}")
print("months:", len(monthly))
