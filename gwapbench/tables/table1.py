"""Table I: VOC2007 classification mAP of GAP, the GWAP ablations, GWAP and the oracle GWAP-gt."""

from __future__ import annotations

from gwapbench.tables.spec import TableSpec

TABLE1_METHODS = ("gap", "gwap_no_sigmoid", "gwap_no_exp", "gwap", "gwap_gt")

TABLE1 = TableSpec(
    name="table1",
    title="Table I: classification mAP (%), 11-point VOC07 AP",
    methods=TABLE1_METHODS,
    metric="cls_map",
    read=lambda metrics, options: metrics["cls_map"],
    per_class="per_class_ap",
)
