"""Table II: mean Otsu F-measure (beta^2 = 0.3) of the class-agnostic maps of Table I's runs, against
the union of each test image's boxes, plus the centre-prior baseline (a Gaussian at the image centre)."""

from __future__ import annotations

from gwapbench.engine.evaluate import centre_prior_fmeasure
from gwapbench.tables.spec import Baseline, TableSpec
from gwapbench.tables.table1 import TABLE1_METHODS


def scored_map_name(map_names, cam_map: str) -> str:
    """The map a run contributes to Table II (and Fig. 7): its weight map alpha, else the CAM of `cam_map`."""
    return "alpha" if "alpha" in [str(n) for n in map_names] else cam_map


def _fmeasure(metrics: dict, options) -> float:
    maps = metrics["otsu_fmeasure"]
    return maps[scored_map_name(maps, options.cam_map)]


TABLE2 = TableSpec(
    name="table2",
    title="Table II: mean Otsu F-measure of the localization maps, a fraction in [0, 1] as in the paper "
          "(gwapbench evaluate prints percent)",
    methods=TABLE1_METHODS,
    metric="otsu_fmeasure",
    read=_fmeasure,
    baselines=(Baseline("centre_prior", centre_prior_fmeasure),),
)
