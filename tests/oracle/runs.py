"""Each table's numbers recomputed from a run store (`<runs>/<id>/config.json`, `predictions*.npz`) and the
dataset folder named in the run's config.json, with the literal loops of tests/oracle/literal.py.

Shared by the oracle tests of the golden store and by the end-to-end CLI tests that train their own small
runs; imports nothing from gwapbench.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests.oracle import literal

REL = 1e-9  # a table's mean may be summed in another order than the oracle's


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def config(runs: Path, run_id: str) -> dict:
    return json.loads((runs / run_id / "config.json").read_text())


def predictions(runs: Path, run_id: str, name: str = "predictions.npz") -> dict[str, np.ndarray]:
    with np.load(runs / run_id / name, allow_pickle=False) as stored:
        return {key: stored[key] for key in stored.files}


def image_ids(stored: dict[str, np.ndarray]) -> list[str]:
    return [str(i) for i in stored["image_ids"]]


def _data(runs: Path, run_id: str) -> dict:
    return config(runs, run_id)["config"]["data"]


# ------------------------------------------------------------------------------------ Tables I-II


def table1(runs: Path, run_id: str) -> tuple[float, dict[str, float]]:
    """(mAP, {class: AP}) in percent: VOCevalcls per class over the run's test logits; mAP over the classes
    with positives."""
    data = _data(runs, run_id)
    classes = list(data["classes"])
    ids, labels = literal.read_voc_class_labels(Path(data["root"]), data["test_split"], classes)
    stored = predictions(runs, run_id)
    assert image_ids(stored) == ids, "predictions are not in the split's order"
    ap = np.array([literal.vocevalcls_ap(stored["logits"][:, c], labels[:, c]) for c in range(len(classes))])
    return 100 * float(np.nanmean(ap)), dict(zip(classes, (100 * ap).tolist()))


def mean_otsu_fmeasure(voc_root: Path, ids: list[str], map_at) -> float:
    """Mean over images of the F of map_at(i, annotation) (at image size) against the union of its boxes."""
    values = []
    for i, image in enumerate(ids):
        annotation = literal.read_annotation(voc_root / "Annotations" / f"{image}.xml")
        gt = literal.union_of_boxes_mask(annotation.boxes, annotation.height, annotation.width)
        values.append(literal.otsu_fmeasure(map_at(i, annotation), gt))
    return float(np.mean(values))


def table2(runs: Path, run_id: str, cam_map: str = "predicted") -> float:
    """Mean Otsu F of the run's alpha (GWAP heads) or its `cam_map` map (CAM heads), upsampled to each image."""
    stored = predictions(runs, run_id)
    names = [str(n) for n in stored["map_names"]]
    maps = stored["maps"][:, 0 if names == ["alpha"] else names.index(cam_map)]
    return mean_otsu_fmeasure(Path(_data(runs, run_id)["root"]), image_ids(stored),
                              lambda i, a: literal.upsample(maps[i], a.height, a.width))


def centre_prior(runs: Path, run_id: str) -> float:
    """Table II's baseline row over the test images of the run's dataset."""
    data = _data(runs, run_id)
    root = Path(data["root"])
    ids = (root / "ImageSets" / "Main" / f"{data['test_split']}.txt").read_text().split()
    return mean_otsu_fmeasure(root, ids, lambda i, a: literal.centre_prior(a.height, a.width))


# ----------------------------------------------------------------------------------- Tables III-IV


def ilsvrc_truth(runs: Path, run_id: str, ids: list[str]) -> tuple[dict[str, int], list[literal.Annotation]]:
    """The class index of each wnid (its sorted-wnid position) and each val image's annotation (an image's
    class is its first object's)."""
    root = Path(_data(runs, run_id)["root"])
    mapping = (root / "LOC_synset_mapping.txt").read_text().splitlines()
    wnids = sorted(line.split()[0] for line in mapping if line.strip())
    annotations = [literal.read_annotation(root / "ILSVRC" / "Annotations" / "CLS-LOC" / "val" / f"{image}.xml")
                   for image in ids]
    return {wnid: i for i, wnid in enumerate(wnids)}, annotations


def table3(runs: Path, run_id: str, k: int) -> float:
    """Top-k classification error (percent) of the run's val logits."""
    stored = predictions(runs, run_id)
    index, annotations = ilsvrc_truth(runs, run_id, image_ids(stored))
    return literal.topk_error(stored["logits"], [index[a.names[0]] for a in annotations], k)


def scale_files(runs: Path, run_id: str, sizes: list[int]) -> list[str]:
    """The prediction files of a run at input `sizes`: predictions.npz at the training size, else -<size>."""
    training = config(runs, run_id)["schedule"]["image_size"]
    return ["predictions.npz" if size == training else f"predictions-{size}.npz" for size in sizes]


def localization(runs: Path, run_id: str, sizes: list[int], threshold: float = 0.2) -> dict[str, object]:
    """Everything Table IV and `localize-error` print for one run's maps at `sizes` (averaged when several), in
    percent: top-1 / top-5 classification and localization error, GT-known accuracy, and each image's top-1
    (class, box). Classes ranked by the training-scale logits; guess r's box from the CAM stored as
    "top<r+1>" (or GWAP's alpha for every guess), GT-known's from the "gt" CAM (or alpha), each through
    `literal.foreground` and the largest component; eval_clsloc."""
    ranking = predictions(runs, run_id)
    ids = image_ids(ranking)
    index, annotations = ilsvrc_truth(runs, run_id, ids)
    scales = [predictions(runs, run_id, name) for name in scale_files(runs, run_id, sizes)]
    assert all(image_ids(s) == ids for s in scales), "a scale's predictions list other images"
    names = [str(n) for n in scales[0]["map_names"]]
    kind = "alpha" if names == ["alpha"] else "cam"

    def box(i: int, name: str, a: literal.Annotation) -> tuple[int, int, int, int]:
        k = 0 if kind == "alpha" else names.index(name)
        maps = [s["maps"][i, k].astype(np.float32) for s in scales]
        return literal.largest_component_box(literal.foreground(maps, kind, a.height, a.width, threshold))

    counts = {"top1_cls": 0, "top5_cls": 0, "top1_loc": 0, "top5_loc": 0, "gt_known": 0}
    top1 = []
    for i, a in enumerate(annotations):
        label, gt_labels = index[a.names[0]], [index[name] for name in a.names]
        order = literal.ranked(ranking["logits"][i])[:5]
        guesses = [(c, box(i, f"top{r + 1}", a)) for r, c in enumerate(order)]
        top1.append(guesses[0])
        counts["top1_cls"] += order[0] != label
        counts["top5_cls"] += label not in order
        counts["top1_loc"] += not literal.eval_clsloc_correct(guesses[:1], a.boxes, gt_labels)
        counts["top5_loc"] += not literal.eval_clsloc_correct(guesses, a.boxes, gt_labels)
        counts["gt_known"] += literal.eval_clsloc_correct([(label, box(i, "gt", a))], a.boxes, gt_labels)
    n = len(ids)
    return {"top1_cls_error": 100 * counts["top1_cls"] / n, "top5_cls_error": 100 * counts["top5_cls"] / n,
            "top1_loc_error": 100 * counts["top1_loc"] / n, "top5_loc_error": 100 * counts["top5_loc"] / n,
            "gt_known_loc_accuracy": 100 * counts["gt_known"] / n, "test_images": n, "top1_boxes": top1,
            "whole_image_top1_boxes": sum(b == (0, 0, a.width - 1, a.height - 1) for (_, b), a in zip(top1, annotations))}


def assert_localize_error_output(out: Path, expected: dict[str, object]) -> None:
    """localize_error.json's numbers and boxes.csv's (class, box) rows equal `oracle.localization`'s."""
    printed = json.loads((out / "localize_error.json").read_text())
    for key in ("top1_cls_error", "top5_cls_error", "top1_loc_error", "top5_loc_error", "gt_known_loc_accuracy",
                "test_images"):
        assert printed[key] == pytest.approx(expected[key], rel=REL), key
    boxes = [(int(r["class"]), tuple(int(r[k]) for k in ("x1", "y1", "x2", "y2"))) for r in csv_rows(out / "boxes.csv")]
    assert boxes == expected["top1_boxes"]


def setting_sizes(setting: str) -> list[int]:
    """A Table IV setting's input sizes: "single-scale 64" -> [64]; "multi-scale 64+128" -> [64, 128]."""
    return [int(s) for s in setting.split()[-1].split("+")]


# ------------------------------------------------------------------------------------------ Table V


def table5(runs: Path, run_id: str, metric: str) -> float:
    """A table5.csv metric of a run: `<data>_det_map_py_faster_rcnn` with py-faster-rcnn's IoU > 0.5 and float
    thresholds, `<data>_det_map` with the devkit's IoU >= 0.5 and exact thresholds."""
    data = _data(runs, run_id)
    return literal.stored_detection_map(runs / run_id / "predictions.npz", Path(data["root"]), list(data["classes"]),
                                        strict=metric.endswith("_py_faster_rcnn"))
