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

# %% [markdown] papermill={"duration": 0.001464, "end_time": "2026-11-26T08:44:11.574888+00:00", "exception": false, "start_time": "2026-11-26T08:44:11.573424+00:00", "status": "completed"}
# # Rates report
#
# Run with papermill: `papermill rates_report.ipynb out.ipynb -p country DE -p year 2024`.

# %% papermill={"duration": 0.0457, "end_time": "2026-11-26T08:44:11.622069+00:00", "exception": false, "start_time": "2026-11-26T08:44:11.576369+00:00", "status": "completed"}
# %load_ext nbrepro

# %% papermill={"duration": 0.015673, "end_time": "2026-11-26T08:44:11.639345+00:00", "exception": false, "start_time": "2026-11-26T08:44:11.623672+00:00", "status": "completed"} tags=["parameters"]
country = "NL"
year = 2023
threshold = 0.5

# %% papermill={"duration": 0.014332, "end_time": "2026-11-26T08:44:11.655213+00:00", "exception": false, "start_time": "2026-11-26T08:44:11.640881+00:00", "status": "completed"} tags=["injected-parameters"]
# Parameters
country = "DE"
year = 2024


# %% papermill={"duration": 0.013924, "end_time": "2026-11-26T08:44:11.670909+00:00", "exception": false, "start_time": "2026-11-26T08:44:11.656985+00:00", "status": "completed"}
import json

from IPython.display import Markdown, display

# %% papermill={"duration": 0.013677, "end_time": "2026-11-26T08:44:11.686048+00:00", "exception": false, "start_time": "2026-11-26T08:44:11.672371+00:00", "status": "completed"}
with open("data/rates.json") as fh:
    rates = json.load(fh)
sorted(rates)

# %% papermill={"duration": 0.00927, "end_time": "2026-11-26T08:44:11.697100+00:00", "exception": false, "start_time": "2026-11-26T08:44:11.687830+00:00", "status": "completed"}
selected = {y: r for y, r in rates[country].items() if int(y) <= year}
len(selected)

# %% papermill={"duration": 0.011841, "end_time": "2026-11-26T08:44:11.710557+00:00", "exception": false, "start_time": "2026-11-26T08:44:11.698716+00:00", "status": "completed"}
display(Markdown(f"## Report for {country}, up to {year}"))
display(selected)

# %% papermill={"duration": 0.019726, "end_time": "2026-11-26T08:44:11.731929+00:00", "exception": false, "start_time": "2026-11-26T08:44:11.712203+00:00", "status": "completed"}
above = [y for y, r in selected.items() if r > threshold]
above

# %% papermill={"duration": 0.020431, "end_time": "2026-11-26T08:44:11.754529+00:00", "exception": false, "start_time": "2026-11-26T08:44:11.734098+00:00", "status": "completed"}
print(json.dumps({"country": country, "years": len(selected), "above": len(above)}))
