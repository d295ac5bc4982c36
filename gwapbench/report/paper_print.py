"""`gwapbench paper`: the paper's Tables I-V as the paper prints them (its rows, columns, names and decimals),
from the packaged paper_tables.csv."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from gwapbench.errors import InputError
from gwapbench.report.columns import format_columns
from gwapbench.report.names import PAPER_TABLES
from gwapbench.tables.paper import PAPER_NET_NAMES, paper_text

CAPTIONS = {  # the paper's captions
    "table1": "TABLE I: VOC 2007 test classification average precision (%) of the ablation experiments "
              "(C: CaffeNet, G: GoogLeNet, w/o: without, σ: sigmoid function, exp: exponentiate operation, "
              "-gt: using ground truth attention map)",
    "table2": "TABLE II: Attention effectiveness on the VOC 2007 test set (C: CaffeNet, G: GoogLeNet, w/o: without, "
              "σ: sigmoid function, exp: exponentiate operation)",
    "table3": "TABLE III: Classification error on the ILSVRC validation set (%)",
    "table4": "TABLE IV: Localization error on the ILSVRC validation set (%)",
    "table5": "TABLE V: Comparisons on PASCAL VOC 2007 test set with different proportions of images that have "
              "ground truth bounding boxes (mAP (%))",
}
METHOD_NAMES = {"gap": "GAP", "gwap_no_sigmoid": "GWAP w/o σ", "gwap_no_exp": "GWAP w/o exp", "gwap": "GWAP",
                "gwap_gt": "GWAP-gt", "gmp": "GMP", "rfcn": "R-FCN", "rfcn_gap": "R-FCN + GAP",
                "rfcn_gwap": "R-FCN + GWAP (ours)", "rfcn_gwap_gap": "R-FCN + GWAP + GAP (ours)"}
NET_LETTERS = {"caffenet": "C", "googlenet": "G"}  # Tables I-II's net column
CITED = "cited [6]"
FOOTNOTE = "[6]: numbers the paper quotes from Zhou et al. 2016 (CAM). Source: gwapbench's paper_tables.csv."


def _network(net: str, method: str, setting: str) -> str:
    """Tables III-IV's row name: "GoogLeNet-GAP [6]", "VGGnet [6]", "Backprop on AlexNet [6]",
    "GoogLeNet-GWAP (multi-scale)"."""
    name = PAPER_NET_NAMES[net]
    if method == "backprop":
        name = f"Backprop on {name}"
    elif method != "original":
        name = f"{name}-{METHOD_NAMES[method]}"
    if setting == CITED:
        name += " [6]"
    return name + (" (multi-scale)" if setting.startswith("multi-scale") else "")


def _rows_in_order(frame: pd.DataFrame, key: Sequence[str]) -> list[tuple[str, ...]]:
    return list(dict.fromkeys(tuple(r) for r in frame[list(key)].itertuples(index=False)))


def paper_table(name: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of paper table `name` as the paper prints it, values with the paper's decimals."""
    if name not in PAPER_TABLES:
        raise InputError(f"table {name!r}: the paper has {', '.join(PAPER_TABLES)}")
    frame = paper_text()
    frame = frame[frame["table"] == name]
    value = {(r.net, r.method, r.setting, r.metric): r.value for r in frame.itertuples(index=False)}
    if name in ("table1", "table2"):
        metric = frame["metric"].iloc[0]
        rows = [[METHOD_NAMES[m], NET_LETTERS[n], value[n, m, s, metric]]
                for n, m, s in _rows_in_order(frame, ("net", "method", "setting"))]
        return ["method", "net", "mAP" if name == "table1" else "F-measure"], rows
    if name in ("table3", "table4"):
        metrics = list(dict.fromkeys(frame["metric"]))
        header = {"ilsvrc_top1_cls_error": "top-1 val. error", "ilsvrc_top5_cls_error": "top-5 val.error",
                  "ilsvrc_top1_loc_error": "top-1 val. error"}
        rows = [[_network(n, m, s), *(value[n, m, s, metric] for metric in metrics)]
                for n, m, s in _rows_in_order(frame, ("net", "method", "setting"))]
        return ["Networks", *(header[m] for m in metrics)], rows
    proportions = list(dict.fromkeys(frame["setting"]))
    net, metric = frame["net"].iloc[0], frame["metric"].iloc[0]
    rows = [[METHOD_NAMES[m], *(value[net, m, p, metric] for p in proportions)]
            for (m,) in _rows_in_order(frame, ("method",))]
    return ["Method \\ Proportion", *(p.removeprefix("proportion=") for p in proportions)], rows


def paper_text_table(name: str) -> str:
    """The caption, the table in aligned columns, and the footnote where the table cites [6]."""
    header, rows = paper_table(name)
    cites = any("[6]" in cell for row in rows for cell in row)
    return f"{CAPTIONS[name]}\n\n{format_columns(header, rows)}" + (f"\n{FOOTNOTE}\n" if cites else "")
