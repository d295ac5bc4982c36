"""Every number of Tables I-IV, as the golden ci commands print it, equals the literal computation of
tests/oracle/literal.py from the stored predictions and the dataset's own annotation files.

The runs are the session's golden store (tests/conftest.py: `golden_store`), trained once for the golden
checks too; the oracle reads `runs/<id>/predictions*.npz`, the dataset folder named in the run's
config.json and the CSVs in `out/`, and imports nothing from gwapbench.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.golden.golden import golden_table
from tests.oracle import literal

REL = 1e-9  # the table's mean may be summed in another order than the oracle's


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _config(store: Path, run_id: str) -> dict:
    return json.loads((store / "runs" / run_id / "config.json").read_text())


def _predictions(store: Path, run_id: str, name: str = "predictions.npz") -> dict[str, np.ndarray]:
    with np.load(store / "runs" / run_id / name, allow_pickle=False) as stored:
        return {key: stored[key] for key in stored.files}


def _image_ids(predictions: dict[str, np.ndarray]) -> list[str]:
    return [str(i) for i in predictions["image_ids"]]


# ------------------------------------------------------------------------------------ Tables I-II


def _voc(store: Path, run_id: str) -> tuple[Path, list[str], str]:
    data = _config(store, run_id)["config"]["data"]
    return Path(data["root"]), list(data["classes"]), data["test_split"]


def test_table1_map_and_every_class_ap_equal_the_devkit_vocevalcls_loop(golden_store):
    rows = _rows(golden_store / "out" / "table1.csv")
    per_class = _rows(golden_store / "out" / "table1_per_class.csv")
    assert len(rows) == 5
    for row in rows:
        root, classes, split = _voc(golden_store, row["run_id"])
        ids, labels = literal.read_voc_class_labels(root, split, classes)
        predictions = _predictions(golden_store, row["run_id"])
        assert _image_ids(predictions) == ids
        ap = np.array([literal.vocevalcls_ap(predictions["logits"][:, c], labels[:, c]) for c in range(len(classes))])
        assert float(row["reproduced"]) == pytest.approx(100 * np.nanmean(ap), rel=REL), row["method"]
        printed = {r["class"]: float(r["reproduced"]) for r in per_class if r["run_id"] == row["run_id"]}
        assert printed == pytest.approx(dict(zip(classes, 100 * ap)), rel=REL, nan_ok=True), row["method"]
        assert 0 < np.nanmean(ap) < 1  # a degenerate mAP would need its own explanation


def _otsu_fmeasures(root: Path, ids: list[str], map_at: callable) -> list[float]:
    """Per image: F of map_at(i, annotation) (at image size) against the union of the image's boxes."""
    values = []
    for i, image in enumerate(ids):
        annotation = literal.read_annotation(root / "Annotations" / f"{image}.xml")
        gt = literal.union_of_boxes_mask(annotation.boxes, annotation.height, annotation.width)
        values.append(literal.otsu_fmeasure(map_at(i, annotation), gt))
    return values


def _table2_expected(store: Path, row: dict[str, str], cam_map: str) -> float:
    """The row's mean F: the run's alpha (GWAP heads) or its `cam_map` map (CAM heads), upsampled to each
    image; the centre prior (no run) from its definition."""
    if row["method"] == "centre_prior":
        first = next(r for r in _rows(store / "out" / "table1.csv"))
        root, _, split = _voc(store, first["run_id"])
        ids = (root / "ImageSets" / "Main" / f"{split}.txt").read_text().split()
        return float(np.mean(_otsu_fmeasures(root, ids, lambda i, a: literal.centre_prior(a.height, a.width))))
    root, _, _ = _voc(store, row["run_id"])
    predictions = _predictions(store, row["run_id"])
    names = [str(n) for n in predictions["map_names"]]
    k = names.index("alpha") if names == ["alpha"] else names.index(cam_map)
    maps = predictions["maps"][:, k]
    return float(np.mean(_otsu_fmeasures(root, _image_ids(predictions), lambda i, a: literal.upsample(
        maps[i], a.height, a.width))))


@pytest.fixture(scope="module")
def table2_by_cam_map(golden_store, tmp_path_factory) -> dict[str, Path]:
    """table2.csv for each --cam-map: the golden one (predicted, the default) and the table re-rendered from
    the same runs with --cam-map gt and top1 (evaluation only, nothing trained)."""
    tables = {"predicted": golden_store / "out" / "table2.csv"}
    for cam_map in ("gt", "top1"):
        out = tmp_path_factory.mktemp(f"table2-{cam_map}")
        from gwapbench.cli import cli

        args = golden_table("table2").table_args(golden_store / "runs", out, "--cam-map", cam_map)
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "finished in" not in result.output  # table1's runs, evaluated only
        tables[cam_map] = out / "table2.csv"
    return tables


@pytest.mark.parametrize("cam_map", ["predicted", "gt", "top1"])
def test_table2_fmeasures_and_centre_prior_equal_otsu_over_box_unions(golden_store, table2_by_cam_map, cam_map):
    rows = _rows(table2_by_cam_map[cam_map])
    assert [r["method"] for r in rows][-1] == "centre_prior" and len(rows) == 6
    for row in rows:
        expected = _table2_expected(golden_store, row, cam_map)
        assert float(row["reproduced"]) == pytest.approx(expected, rel=REL), (cam_map, row["method"])
        assert 0 < expected < 1
    gap = {name: float(next(r for r in _rows(path) if r["method"] == "gap")["reproduced"])
           for name, path in table2_by_cam_map.items()}
    assert len(set(gap.values())) == 3  # --cam-map changes the CAM row: the three maps differ


# ----------------------------------------------------------------------------------- Tables III-IV


def _ilsvrc_truth(store: Path, run_id: str, ids: list[str]) -> tuple[dict[str, int], list[literal.Annotation]]:
    """The class index of each wnid (its sorted-wnid position) and each val image's annotation; an image's
    class is its first object's."""
    root = Path(_config(store, run_id)["config"]["data"]["root"])
    mapping = (root / "LOC_synset_mapping.txt").read_text().splitlines()
    wnids = sorted(line.split()[0] for line in mapping if line.strip())
    index = {wnid: i for i, wnid in enumerate(wnids)}
    annotations = [literal.read_annotation(root / "ILSVRC" / "Annotations" / "CLS-LOC" / "val" / f"{image}.xml")
                   for image in ids]
    return index, annotations


def test_table3_errors_equal_top_k_by_sorting(golden_store):
    rows = _rows(golden_store / "out" / "table3.csv")
    assert [(r["method"], r["metric"].split("_")[-3]) for r in rows] == [
        (m, k) for m in ("gap", "gmp", "gwap") for k in ("top1", "top5")]
    for row in rows:
        predictions = _predictions(golden_store, row["run_id"])
        index, annotations = _ilsvrc_truth(golden_store, row["run_id"], _image_ids(predictions))
        labels = [index[a.names[0]] for a in annotations]
        k = 1 if "_top1_" in row["metric"] else 5
        expected = literal.topk_error(predictions["logits"], labels, k)
        assert float(row["reproduced"]) == pytest.approx(expected, rel=REL), (row["method"], k)
        assert 0 < expected < 100


def _scale_files(store: Path, run_id: str, sizes: list[int]) -> list[str]:
    """The prediction files of a run at input `sizes`: predictions.npz at the training size, else -<size>."""
    training = _config(store, run_id)["schedule"]["image_size"]
    return ["predictions.npz" if size == training else f"predictions-{size}.npz" for size in sizes]


def localization_oracle(store: Path, run_id: str, sizes: list[int], threshold: float = 0.2) -> dict[str, object]:
    """Everything Table IV and `localize-error` print for one run's maps at `sizes` (averaged when several), in
    percent: top-1 / top-5 classification and localization error, GT-known accuracy, and each image's top-1
    (class, box). Classes ranked by the training-scale logits; guess r's box from the CAM stored as
    "top<r+1>" (or GWAP's alpha for every guess), GT-known's from the "gt" CAM (or alpha), each through
    `literal.foreground` and the largest component; eval_clsloc."""
    ranking = _predictions(store, run_id)
    ids = _image_ids(ranking)
    index, annotations = _ilsvrc_truth(store, run_id, ids)
    scales = [_predictions(store, run_id, name) for name in _scale_files(store, run_id, sizes)]
    assert all(_image_ids(s) == ids for s in scales)
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
            "gt_known_loc_accuracy": 100 * counts["gt_known"] / n, "test_images": n, "top1_boxes": top1}


def _sizes(setting: str) -> list[int]:
    """"single-scale 64" -> [64]; "multi-scale 64+128" -> [64, 128]."""
    return [int(s) for s in setting.split()[-1].split("+")]


@pytest.mark.parametrize("method", ["gap", "gmp", "gwap"])
def test_table4_errors_equal_the_papers_box_rule_and_eval_clsloc(golden_store, method):
    """GWAP's rows follow the paper's normalization of alpha to [0, 1] before the 20 % threshold."""
    rows = [r for r in _rows(golden_store / "out" / "table4.csv") if r["method"] == method]
    assert [r["setting"].split()[0] for r in rows] == ["single-scale", "multi-scale"]
    for row in rows:
        expected = localization_oracle(golden_store, row["run_id"], _sizes(row["setting"]))
        assert len({b for _, b in expected["top1_boxes"]}) > 1, row["setting"]  # not every box alike
        assert float(row["reproduced"]) == pytest.approx(expected["top1_loc_error"], rel=REL), row["setting"]


LOCALIZE_CASES = [pytest.param(method, sizes, threshold, id=f"{method}-{'+'.join(map(str, sizes))}-t{threshold}")
                  for method, sizes, threshold in [(m, s, 0.2) for m in ("gap", "gmp", "gwap") for s in ([64], [64, 128])]
                  + [("gap", [64], 0.5), ("gwap", [64], 0.5)]]


@pytest.mark.parametrize(("method", "sizes", "threshold"), LOCALIZE_CASES)
def test_localize_error_numbers_and_boxes_equal_the_oracle(golden_store, tmp_path, method, sizes, threshold):
    """`localize-error --run` on the golden ILSVRC runs: every number of localize_error.json and every top-1
    box of boxes.csv."""
    from gwapbench.cli import cli

    run_id = next(r["run_id"] for r in _rows(golden_store / "out" / "table4.csv") if r["method"] == method)
    result = CliRunner().invoke(cli, [
        "localize-error", "--run", run_id, "--runs-dir", str(golden_store / "runs"), "--scales",
        ",".join(map(str, sizes)), "--threshold", str(threshold), "--boxes-csv", "--out", str(tmp_path),
        "--device", "cpu", "--workers", "0"])
    assert result.exit_code == 0, result.output
    expected = localization_oracle(golden_store, run_id, sizes, threshold)
    printed = json.loads((tmp_path / "localize_error.json").read_text())
    for key in ("top1_cls_error", "top5_cls_error", "top1_loc_error", "top5_loc_error", "gt_known_loc_accuracy",
                "test_images"):
        assert printed[key] == pytest.approx(expected[key], rel=REL), key
    boxes = [(int(r["class"]), tuple(int(r[k]) for k in ("x1", "y1", "x2", "y2")))
             for r in _rows(tmp_path / "boxes.csv")]
    assert boxes == expected["top1_boxes"]
