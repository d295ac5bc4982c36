"""The paper's reported numbers (Qiu 2018, Tables I-V), read from the packaged `paper_tables.csv`.

One row per reported number, keyed like gwapbench's table CSVs by (table, net, method, setting,
metric); `setting` is "" where the paper gives none ("cited [6]" marks numbers the paper quotes from
Zhou et al. 2016). `value` is in `unit` ("percent" or "fraction"); `higher_is_better` says which
way is an improvement. The rows are in the order the paper's tables list them.

`paper_reference` gives a row the paper has no number for (another net, another dataset) the paper's
number for the same method, labelled with the paper's net and dataset, so that the paper's ordering of
the methods stands beside the reproduced one.
"""

from __future__ import annotations

import functools
import math
from importlib import resources

import pandas as pd

PAPER_COLUMNS = ("table", "metric", "net", "method", "setting", "value", "unit", "higher_is_better")
PAPER_KEY = ("table", "net", "method", "setting", "metric")
# How the paper names its nets and the data of each table (Tables I-V's captions and Sec. IV-VI).
PAPER_NET_NAMES = {"caffenet": "CaffeNet", "googlenet": "GoogLeNet", "vgg16": "VGGnet", "alexnet": "AlexNet",
                   "alexnet_star": "AlexNet*", "nin": "NIN", "resnet50": "ResNet-50"}
PAPER_DATASETS = {"table1": "VOC2007", "table2": "VOC2007", "table3": "ILSVRC val", "table4": "ILSVRC val",
                  "table5": "VOC2007 test (trained on VOC07+12)"}
REFERENCE_NET = "googlenet"  # the paper's net in Tables I-IV; the first listed net where it reports no GoogLeNet


def paper_lookup() -> dict[tuple[str, ...], float]:
    """{(table, net, method, setting, metric): value} of every reported number."""
    return {tuple(row[k] for k in PAPER_KEY): row["value"] for row in paper_values().to_dict("records")}


def paper_text() -> pd.DataFrame:
    """paper_tables.csv with every cell as the text it holds (values keep the paper's decimals: "56.40")."""
    with resources.files("gwapbench.tables").joinpath("paper_tables.csv").open("r", encoding="utf-8") as f:
        return pd.read_csv(f, dtype=str, keep_default_na=False)


def paper_values() -> pd.DataFrame:
    """All reported numbers as a DataFrame with `PAPER_COLUMNS` (text keys, float `value`, bool `higher_is_better`)."""
    table = paper_text()
    table["value"] = table["value"].astype(float)
    table["higher_is_better"] = table["higher_is_better"].map({"true": True, "false": False}).astype(bool)
    return table[list(PAPER_COLUMNS)]


@functools.cache
def _records() -> tuple[dict[str, object], ...]:
    return tuple(paper_values().to_dict("records"))


def _setting_kind(setting: str) -> str:
    """What a setting says about how a number was measured: "multi-scale", "proportion=<p>" (Table V), else
    "single-scale" ("", "cited [6]", "single-scale 224", "cam map: gt": one map at one input size)."""
    if setting.startswith("multi-scale"):
        return "multi-scale"
    if setting.startswith("proportion="):
        return setting.split(",")[0]
    return "single-scale"


def _same_measure(metric: str, paper_metric: str) -> bool:
    """`metric` (prefixed by its dataset, e.g. "synthetic_cls_map") names the paper's `paper_metric`
    ("voc07_cls_map") on other data: the same name after the dataset prefix."""
    return metric == paper_metric or metric.endswith("_" + paper_metric.split("_", 1)[1])


def paper_reference(table: str, method: str, setting: str, metric: str) -> tuple[float, str]:
    """(value, source) of the paper's number for `method` in `table`, measured the same way (`_setting_kind`)
    on the paper's data and net: GoogLeNet where the paper reports it, else its first listed net. The source
    says where the value comes from, e.g. "paper: GoogLeNet on VOC2007". (NaN, "") when the paper has none."""
    kind = _setting_kind(setting)
    candidates = [r for r in _records() if r["table"] == table and r["method"] == method
                  and _same_measure(metric, str(r["metric"])) and _setting_kind(str(r["setting"])) == kind]
    if not candidates:
        return math.nan, ""
    chosen = next((r for r in candidates if r["net"] == REFERENCE_NET), candidates[0])
    net = PAPER_NET_NAMES.get(str(chosen["net"]), str(chosen["net"]))
    where = f", {chosen['setting']}" if chosen["setting"] else ""
    return float(chosen["value"]), f"paper: {net} on {PAPER_DATASETS[table]}{where}"  # type: ignore[arg-type]
