"""wsolevaluation's own box evaluation, loaded from a checkout of github.com/clovaai/wsolevaluation.

The checkout is given by `--wsolevaluation DIR` or $WSOLEVALUATION_DIR, else the evaluator source kept
beside the shared data (`../shared/reference/wsolevaluation`, next to $GWAPBENCH_SHARED_DATA when set;
see its PROVENANCE.md); nothing of it is copied here. `evaluation.py` imports its training stack (munch, data loaders), so only the functions the
box evaluation needs are taken from its source text (`compute_bboxes_from_scoremaps`,
`calculate_multiple_iou`, and `check_box_convention` from util.py) and run with OpenCV and numpy.
Its `check_scoremap_validity` compares with `np.float`, which numpy 2 removed; a check with the
same conditions (2-D float64 in [0, 1], no NaN) stands in for it.
"""

from __future__ import annotations

import ast
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

ENV = "WSOLEVALUATION_DIR"
_REPO = Path(__file__).resolve().parents[1]


def shared_source_dir() -> Path:
    """Where the shared copy of wsolevaluation's evaluator lives: reference/wsolevaluation beside the shared
    data folder ($GWAPBENCH_SHARED_DATA, else ../shared/data next to the repository)."""
    data = os.environ.get("GWAPBENCH_SHARED_DATA")
    return (Path(data) if data else _REPO.parent / "shared" / "data").parent / "reference" / "wsolevaluation"


def source_dir(argument: str | None = None) -> Path | None:
    """The wsolevaluation checkout: the argument, else $WSOLEVALUATION_DIR, else the shared copy
    (`shared_source_dir`) when it exists, else None."""
    folder = argument or os.environ.get(ENV)
    if not folder:
        shared = shared_source_dir()
        return shared if (shared / "evaluation.py").is_file() else None
    if not (Path(folder) / "evaluation.py").is_file():
        raise SystemExit(f"{folder}: no evaluation.py here (expected a clovaai/wsolevaluation checkout)")
    return Path(folder)


def _functions(path: Path, names: set[str]) -> str:
    """Source text of the named top-level functions of a Python file."""
    text = path.read_text()
    with warnings.catch_warnings():  # its docstrings hold escapes like "\s" that Python 3.12 warns about
        warnings.simplefilter("ignore")
        tree = ast.parse(text)
    return "\n\n".join(ast.get_source_segment(text, node) for node in tree.body
                       if isinstance(node, ast.FunctionDef) and node.name in names)


def _check_scoremap(scoremap: np.ndarray) -> None:
    if scoremap.dtype != np.float64 or scoremap.ndim != 2 or np.isnan(scoremap).any():
        raise ValueError("scoremap must be a 2-D float64 array without NaN")
    if (scoremap > 1).any() or (scoremap < 0).any():
        raise ValueError("scoremap must lie in [0, 1]")


def load(folder: Path) -> dict[str, Callable]:
    """{"compute_bboxes_from_scoremaps", "calculate_multiple_iou"} run from the checkout's source."""
    import cv2

    namespace = {"np": np, "cv2": cv2, "check_scoremap_validity": _check_scoremap,
                 "_CONTOUR_INDEX": 1 if cv2.__version__.split(".")[0] == "3" else 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(_functions(folder / "util.py", {"check_box_convention"}), namespace)  # noqa: S102
        exec(_functions(folder / "evaluation.py", {"compute_bboxes_from_scoremaps", "calculate_multiple_iou"}),
             namespace)  # noqa: S102
    return {name: namespace[name] for name in ("compute_bboxes_from_scoremaps", "calculate_multiple_iou")}


def best_ious(functions: dict[str, Callable], maps: np.ndarray, gt_boxes: list[np.ndarray],
              thresholds: np.ndarray, multi_contour: bool) -> np.ndarray:
    """(N, T) best IoU per map and threshold, as `BoxEvaluator.accumulate` computes it before
    comparing with each IoU threshold (maps as float64, GT boxes as given)."""
    out = np.zeros((len(maps), len(thresholds)))
    for i, (scoremap, gt) in enumerate(zip(maps, gt_boxes)):
        boxes, counts = functions["compute_bboxes_from_scoremaps"](scoremap.astype(np.float64), thresholds,
                                                                   multi_contour)
        iou = functions["calculate_multiple_iou"](np.concatenate(boxes, axis=0), np.asarray(gt)).max(axis=1)
        out[i] = [iou[start : start + n].max() for start, n in zip(np.cumsum(counts) - counts, counts)]
    return out
