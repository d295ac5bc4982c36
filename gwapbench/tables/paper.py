"""The paper's reported numbers (Qiu 2018, Tables I-V), read from the packaged `paper_tables.csv`.

One row per reported number, keyed like gwapbench's table CSVs by (table, net, method, setting,
metric); `setting` is "" where the paper gives none ("cited [6]" marks numbers the paper quotes from
Zhou et al. 2016). `value` is in `unit` ("percent" or "fraction"); `higher_is_better` says which
way is an improvement.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

PAPER_COLUMNS = ("table", "metric", "net", "method", "setting", "value", "unit", "higher_is_better")
PAPER_KEY = ("table", "net", "method", "setting", "metric")


def paper_lookup() -> dict[tuple[str, ...], float]:
    """{(table, net, method, setting, metric): value} of every reported number."""
    return {tuple(row[k] for k in PAPER_KEY): row["value"] for row in paper_values().to_dict("records")}


def paper_values() -> pd.DataFrame:
    """All reported numbers as a DataFrame with `PAPER_COLUMNS` (text keys, float `value`, bool `higher_is_better`)."""
    with resources.files("gwapbench.tables").joinpath("paper_tables.csv").open("r", encoding="utf-8") as f:
        table = pd.read_csv(f, dtype=str, keep_default_na=False)
    table["value"] = table["value"].astype(float)
    table["higher_is_better"] = table["higher_is_better"].map({"true": True, "false": False}).astype(bool)
    return table[list(PAPER_COLUMNS)]
