"""wsolevaluation's own evaluator (`evaluation.py` of ../shared/reference/wsolevaluation or
$WSOLEVALUATION_DIR), imported for one test at a time: its modules (`evaluation`, `config`,
`data_loaders`, `util`) have generic names, so they are put on sys.path only inside `wsol_evaluation()`
and removed afterwards, with whatever modules of those names were there before restored."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

WSOL_MODULES = ("evaluation", "config", "data_loaders", "util")
METADATA_FILES = ("image_ids.txt", "class_labels.txt", "image_sizes.txt", "localization.txt")


@contextmanager
def wsol_evaluation(source: Path) -> Iterator[types.ModuleType]:
    """wsolevaluation's `evaluation` module (munch stubbed where it is not installed: config.py and
    data_loaders.py import it only for an attribute dict)."""
    saved = {name: sys.modules.pop(name) for name in WSOL_MODULES if name in sys.modules}
    sys.path.insert(0, str(source))
    try:
        if importlib.util.find_spec("munch") is None:
            stub = types.ModuleType("munch")
            stub.Munch = type("Munch", (dict,), {"__getattr__": dict.__getitem__, "__setattr__": dict.__setitem__})
            sys.modules["munch"] = stub
        yield importlib.import_module("evaluation")
    finally:
        sys.path.remove(str(source))
        for name in WSOL_MODULES:
            sys.modules.pop(name, None)
        sys.modules.update(saved)
        if isinstance(sys.modules.get("munch"), types.ModuleType) and not hasattr(sys.modules["munch"], "__file__"):
            sys.modules.pop("munch")


def subset_metadata(source: Path, folder: Path, count: int, files: tuple[str, ...] = METADATA_FILES,
                    step: int = 1) -> list[str]:
    """`count` images of a metadata folder (every `step`-th from the first), written to `folder` in the same
    format."""
    folder.mkdir(parents=True)
    ids = source.joinpath("image_ids.txt").read_text().splitlines()[::step][:count]
    chosen = set(ids)
    for name in files:
        rows = [row for row in source.joinpath(name).read_text().splitlines() if row.split(",")[0] in chosen]
        folder.joinpath(name).write_text("\n".join(rows) + "\n")
    return ids


def write_scoremaps(folder: Path, ids: list[str], maps: np.ndarray) -> None:
    """One float64 .npy per image at <folder>/<image id>.npy: its `CamDataset._load_cam` joins
    image_id + '.npy', and its `check_scoremap_validity` asks for float64."""
    for image_id, m in zip(ids, maps):
        path = folder / f"{image_id}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.asarray(m, dtype=np.float64))


def box_evaluator_scores(source: Path, metadata: Path, scoremaps: Path, ids: list[str], multi_contour: bool,
                         dataset_name: str = "ILSVRC", iou_thresholds: tuple[int, ...] = (30, 50, 70),
                         cam_curve_interval: float = 0.01) -> list[float]:
    """wsolevaluation's BoxEvaluator over its own CamDataset loader: MaxBoxAcc (%) at each IoU threshold."""
    with wsol_evaluation(source) as evaluation:
        evaluator = evaluation.BoxEvaluator(
            metadata=evaluation.configure_metadata(str(metadata)), dataset_name=dataset_name, split="test",
            cam_threshold_list=list(np.arange(0, 1, cam_curve_interval)), iou_threshold_list=list(iou_thresholds),
            mask_root=None, multi_contour_eval=multi_contour)
        cams = evaluation.CamDataset(str(scoremaps), ids)
        for index in range(len(cams)):
            cam, image_id = cams[index]
            evaluator.accumulate(cam, image_id)
        return [float(v) for v in evaluator.compute()]


def simulated_box_maps(folder: Path, ids: list[str]) -> np.ndarray:
    """(N, 224, 224) float32 maps on the grid k / 256 (so wsolevaluation's float64 s * 255 and the float32
    level sweep quantize alike), each attaining 0 and 1: half a bump over the image's first GT box plus a
    smooth random field, half the random field alone."""
    rng = np.random.default_rng(0)
    sizes = {row.split(",")[0]: tuple(map(int, row.split(",")[1:])) for row in
             folder.joinpath("image_sizes.txt").read_text().splitlines()}
    first_box = {}
    for row in folder.joinpath("localization.txt").read_text().splitlines():
        first_box.setdefault(row.split(",")[0], tuple(map(float, row.split(",")[1:])))
    field = torch.nn.functional.interpolate(torch.from_numpy(rng.random((len(ids), 1, 7, 7)) ** 3), size=(224, 224),
                                            mode="bilinear", align_corners=False)[:, 0].numpy()
    grid = np.arange(224) + 0.5
    maps = np.empty((len(ids), 224, 224), dtype=np.float32)
    for i, image_id in enumerate(ids):
        m = field[i].copy()
        if i % 2 == 0:
            (w, h), (x0, y0, x1, y1) = sizes[image_id], first_box[image_id]
            cx, cy = (x0 + x1) / 2 * 224 / w, (y0 + y1) / 2 * 224 / h
            sx, sy = max((x1 - x0) * 224 / w / 3, 2), max((y1 - y0) * 224 / h / 3, 2)
            m += 2 * np.exp(-((grid[None] - cx) / sx) ** 2 - ((grid[:, None] - cy) / sy) ** 2)
        m = (m - m.min()) / (m.max() - m.min())
        maps[i] = np.round(m * 256) / 256
    return maps


def mask_evaluator(source: Path, metadata: Path, mask_root: Path, scoremaps: Path, ids: list[str],
                   cam_curve_interval: float = 0.01) -> tuple[float, np.ndarray, np.ndarray]:
    """wsolevaluation's MaskEvaluator over its own CamDataset loader: PxAP (%) and its two score histograms
    (inside and outside the foreground, ignored pixels in neither)."""
    with wsol_evaluation(source) as evaluation:
        evaluator = evaluation.MaskEvaluator(
            metadata=evaluation.configure_metadata(str(metadata)), dataset_name="OpenImages", split="test",
            cam_threshold_list=list(np.arange(0, 1, cam_curve_interval)), iou_threshold_list=[30, 50, 70],
            mask_root=str(mask_root), multi_contour_eval=False)
        cams = evaluation.CamDataset(str(scoremaps), ids)
        for index in range(len(cams)):
            cam, image_id = cams[index]
            evaluator.accumulate(cam, image_id)
        return float(evaluator.compute()), evaluator.gt_true_score_hist, evaluator.gt_false_score_hist
