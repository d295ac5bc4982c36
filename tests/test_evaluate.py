"""`gwapbench evaluate` and `gwapbench.evaluation`: stored maps of any method against real and hand-made GT.

Expected values are worked out by hand (maps equal to, shifted from or disjoint from the GT boxes)
or recomputed independently (scipy labeling and a literal +1-convention IoU); the metrics
functions called directly on the same arrays are only a secondary check.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import ndimage

from gwapbench.cli import cli
from gwapbench.data.roots import read_voc_root, read_wsol_root
from gwapbench.data.sample import Sample
from gwapbench.errors import InputError
from gwapbench.evaluation import ClassPredictions, evaluate_heatmaps, open_heatmaps, read_predictions
from gwapbench.metrics import max_box_acc, minmax_normalize, resize_heatmap

WSOL_IDS = [f"val/ILSVRC2012_val_{n:08d}.JPEG" for n in (6947, 10453, 15365, 27555, 48107)]
WSOL_WNIDS = ["n02102177", "n04259630", "n02777292", "n01824575", "n01592084"]  # classes 218, 808, 416, 91, 19


def _sample(image_id: str, width: int, height: int, box: tuple[int, ...], label: int = 0, classes: int = 10) -> Sample:
    labels = np.full(classes, -1, dtype=np.int8)
    labels[label] = 1
    return Sample(image_id, Path(f"{image_id}.jpg"), width, height, labels, np.array([box], dtype=np.float64),
                  np.array([label]), np.zeros(1, dtype=bool))


def _box_map(height: int, width: int, box: tuple[int, ...]) -> np.ndarray:
    """A float32 map that is 1 on the 0-based inclusive box, 0 elsewhere."""
    x1, y1, x2, y2 = box
    heatmap = np.zeros((height, width), dtype=np.float32)
    heatmap[y1 : y2 + 1, x1 : x2 + 1] = 1
    return heatmap


def _npz(path: Path, maps: dict[str, np.ndarray]) -> Path:
    np.savez(path, **maps)
    return path


# ---------------------------------------------------------------- hand-worked values


def test_hand_worked_224_images(tmp_path):
    """Two 224x224 images (the MaxBoxAcc frame is the image frame): A's map is its GT box, B's map is
    the 4x4 box (0, 0, 3, 3) against the GT (2, 0, 5, 3): intersection 2x4 = 8, union 24, IoU 1/3."""
    a = _sample("a", 224, 224, (10, 20, 60, 90), label=3)
    b = _sample("b", 224, 224, (2, 0, 5, 3), label=7)
    store = _npz(tmp_path / "maps.npz", {"a": _box_map(224, 224, (10, 20, 60, 90)),
                                         "b": _box_map(224, 224, (0, 0, 3, 3))})
    with open_heatmaps(store) as maps:
        result = evaluate_heatmaps(maps, [a, b])
    metrics = result["metrics"]
    assert metrics["gt_known_loc_accuracy"] == 0.5  # A: IoU 1; B: IoU 1/3 < 0.5
    # A: F = 1; B: P = R = 8/16, F = 1.3 * 0.25 / (0.3 * 0.5 + 0.5) = 0.5
    assert metrics["otsu_fmeasure"] == pytest.approx(0.75, abs=1e-12)
    assert metrics["max_box_acc"] == 0.5  # a binary map gives the same box at every CAM threshold
    assert metrics["max_box_acc_v2_iou30"] == 1.0 and metrics["max_box_acc_v2_iou50"] == 0.5
    assert metrics["max_box_acc_v2_iou70"] == 0.5
    assert metrics["max_box_acc_v2"] == pytest.approx(2 / 3, abs=1e-12)
    assert (result["images"], result["skipped_no_map"], result["unused_maps"]) == (2, 0, 0)


def test_small_map_is_resized_to_the_image():
    """A 2x2 map [[1, 0], [0, 0]] on a 4x4 image: bilinear, half-pixel centres, the row and column
    profile is (1, 0.75, 0.25, 0); pixels of the product above 0.2 are rows/cols 0..2 of the corner,
    so the box is (0, 0, 2, 2). Against the GT (0, 0, 2, 2) IoU = 1; against (1, 1, 3, 3): 4 / 14."""
    heatmap = np.array([[1, 0], [0, 0]], dtype=np.float32)

    class OneMap:  # the store protocol: keys and load
        path, keys = Path("mem"), frozenset({"x"})

        def load(self, key: str) -> np.ndarray:
            return heatmap

    hit = evaluate_heatmaps(OneMap(), [_sample("x", 4, 4, (0, 0, 2, 2))], metrics=["gt-known"])
    miss = evaluate_heatmaps(OneMap(), [_sample("x", 4, 4, (1, 1, 3, 3))], metrics=["gt-known"])
    assert hit["metrics"] == {"gt_known_loc_accuracy": 1.0}
    assert miss["metrics"] == {"gt_known_loc_accuracy": 0.0}


def test_pxap_with_caller_masks(tmp_path):
    """Map [[1, 0.5], [0, 0]], mask [[1, 0], [0, 1]]: in-mask scores 1 and 0, outside 0.5 and 0.
    Descending thresholds: >= 1: P 1, R 1/2; >= 0.5: P 1/2, R 1/2; >= 0: P 1/2, R 1. PxAP = 1/2 + 1/4."""
    store = _npz(tmp_path / "m.npz", {"x": np.array([[1, 0.5], [0, 0]], dtype=np.float32)})
    mask = np.array([[True, False], [False, True]])
    with open_heatmaps(store) as maps:
        result = evaluate_heatmaps(maps, [_sample("x", 2, 2, (0, 0, 0, 0))], masks=[mask], metrics=["pxap"])
        with pytest.raises(InputError, match="pxap needs pixel masks"):
            evaluate_heatmaps(maps, [_sample("x", 2, 2, (0, 0, 0, 0))], metrics=["pxap"])
    assert result["metrics"] == {"pxap": pytest.approx(0.75, abs=1e-12)}


def test_voc_origin_shifts_gt_by_one(tmp_path):
    """VOC boxes are 1-based: the GT (3, 2, 6, 5) is the 0-based box (2, 1, 5, 4)."""
    sample = _sample("000001", 12, 9, (3, 2, 6, 5))
    store = _npz(tmp_path / "m.npz", {"000001": _box_map(9, 12, (2, 1, 5, 4))})
    with open_heatmaps(store) as maps:
        voc = evaluate_heatmaps(maps, [sample], box_origin=1, metrics=["gt-known", "fmeasure"])["metrics"]
        as_ilsvrc = evaluate_heatmaps(maps, [sample], box_origin=0, metrics=["gt-known", "fmeasure"])["metrics"]
    assert voc == {"gt_known_loc_accuracy": 1.0, "otsu_fmeasure": 1.0}
    # read as 0-based the GT is (3, 2, 6, 5): intersection 3x3 = 9 of 16 + 16 - 9, IoU 9/23 < 0.5
    assert as_ilsvrc["gt_known_loc_accuracy"] == 0.0
    assert as_ilsvrc["otsu_fmeasure"] == pytest.approx(9 / 16, abs=1e-12)  # P = R = 9/16, so F = 9/16


def test_localization_and_classification_error_hand_worked(tmp_path):
    """Three images; A: right class top-1, right box; B: right class top-1, wrong box; C: right box,
    right class only at rank 3. Top-1 loc error 2/3, top-5 1/3; top-1 cls error 1/3, top-5 0."""
    a = _sample("a", 30, 30, (5, 5, 20, 20), label=3)
    b = _sample("b", 30, 30, (5, 5, 20, 20), label=7)
    c = _sample("c", 30, 30, (0, 0, 9, 9), label=1)
    store = _npz(tmp_path / "m.npz", {"a": _box_map(30, 30, (5, 5, 20, 20)), "b": _box_map(30, 30, (22, 22, 29, 29)),
                                      "c": _box_map(30, 30, (0, 0, 9, 9))})
    guesses = ClassPredictions(["a", "b", "c"], np.array([[3, 0, 1, 2, 4], [7, 0, 1, 2, 3], [0, 2, 1, 3, 4]]))
    with open_heatmaps(store) as maps:
        metrics = evaluate_heatmaps(maps, [a, b, c], guesses, metrics=["loc-error"])["metrics"]
    assert metrics == pytest.approx({"top1_loc_error": 2 / 3, "top5_loc_error": 1 / 3, "top1_cls_error": 1 / 3,
                                     "top5_cls_error": 0.0}, abs=1e-12)


def test_predictions_csv_forms(tmp_path):
    ranked = tmp_path / "ranked.csv"
    ranked.write_text("image_id,top1,top2\nx,n2,0\ny,1,n0\n")
    read = read_predictions(ranked, 3, ["n0", "n1", "n2"])
    assert read.image_ids == ["x", "y"] and read.guesses.tolist() == [[2, 0], [1, 0]]
    scores = tmp_path / "scores.csv"
    scores.write_text("image_id,c0,c1,c2\nx,0.5,0.9,0.5\ny,-1,-2,-3\n")  # x: the tie 0.5/0.5 ranks class 0 first
    assert read_predictions(scores, 3).guesses.tolist() == [[1, 0, 2], [0, 1, 2]]
    for text, message in (
        ("image_id,top1\nx,5\n", "line 2, column top1: '5' is neither a class index in 0..2"),
        ("image_id,top1\nx,n9\n", "'n9' is neither"),
        ("image_id,top1\nx,1\nx,2\n", "line 3: image x appears twice"),
        ("image_id,a,b\nx,1,2\n", "expected the header image_id,top1"),
        ("image_id,a,b,c\nx,1,nan,2\n", "line 2, score column 2: not a finite number"),
        ("image_id,a,b,c\nx,1,b,2\n", "a score is not a number"),
    ):
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(InputError, match=re.escape(message)):
            read_predictions(bad, 3, ["n0", "n1", "n2"])


# ---------------------------------------------------------------- real ground truth


def _wsol_folder(shared_data) -> Path:
    return shared_data("ilsvrc2012_val_mini") / "wsolevaluation_metadata" / "ILSVRC" / "test"


def _write_wsol_scoremaps(
    root: Path, samples: list[Sample], images_root: Path, broken: str, keep_extension: bool
) -> list[np.ndarray]:
    """wsolevaluation's layout: <root>/val/<id>.JPEG.npy (its code) or <root>/val/<id>.npy (its README).
    Each map is its image's GT box mask, except `broken`'s: rows 0..100, disjoint from its box."""
    written = []
    for sample in samples:
        relative = sample.image_path.relative_to(images_root).as_posix()
        name = relative if keep_extension else relative.rsplit(".", 1)[0]
        path = root / f"{name}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        box = (0, 0, sample.width - 1, 100) if sample.image_id == broken else tuple(sample.boxes[0].astype(int))
        written.append(_box_map(sample.height, sample.width, box))
        np.save(path, written[-1])
    return written


@pytest.mark.parametrize("keep_extension", [True, False])
def test_wsol_folder_on_real_val_gt(shared_data, tmp_path, keep_extension):
    """5 real val images; image 15365's box is rows 263..286, its map rows 0..100: IoU 0, F 0; the
    other four maps are their boxes: IoU 1, F 1. Predictions: 10453's class only at rank 2."""
    dataset = read_wsol_root(_wsol_folder(shared_data))
    assert [s.image_path.relative_to(dataset.images_root).as_posix() for s in dataset.samples] == WSOL_IDS
    broken = "ILSVRC2012_val_00015365"
    assert dataset.samples[2].image_id == broken and dataset.samples[2].boxes.tolist() == [[0, 263, 469, 286]]
    scoremaps = tmp_path / "scoremaps"
    written = _write_wsol_scoremaps(scoremaps, dataset.samples, dataset.images_root, broken, keep_extension)
    predictions = tmp_path / "top5.csv"
    rows = ["image_id,top1,top2,top3,top4,top5"] + [
        f"{image_id},{first},{second},1,2,3"
        for image_id, first, second in zip(WSOL_IDS, (218, 0, 416, 91, 19), (4, 808, 5, 6, 7))
    ]
    predictions.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    args = ["evaluate", "--heatmaps", str(scoremaps), "--wsol-metadata", str(_wsol_folder(shared_data)),
            "--predictions", str(predictions), "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("5 of 5 images evaluated\n")
    saved = json.loads((out / "metrics.json").read_text())
    metrics = saved["metrics"]
    assert metrics["gt_known_loc_accuracy"] == pytest.approx(0.8)
    assert metrics["otsu_fmeasure"] == pytest.approx(0.8, abs=1e-12)
    assert metrics["top1_loc_error"] == pytest.approx(0.4)  # 10453 (class at rank 2) and 15365 (box)
    assert metrics["top5_loc_error"] == pytest.approx(0.2)  # 15365
    assert metrics["top1_cls_error"] == pytest.approx(0.2) and metrics["top5_cls_error"] == 0.0
    csv_rows = dict(line.split(",") for line in (out / "metrics.csv").read_text().splitlines()[1:])
    assert float(csv_rows["top1_loc_error"]) == pytest.approx(0.4)
    # secondary check: MaxBoxAcc against the metrics function on the same 224x224 frame
    maps = np.stack([minmax_normalize(resize_heatmap(m, 224, 224)) for m in written])
    gt = [np.trunc(s.boxes * 224 / [s.width, s.height, s.width, s.height]) for s in dataset.samples]
    assert metrics["max_box_acc"] == pytest.approx(float(max_box_acc(maps, gt)[0][0]))
    assert metrics["max_box_acc"] <= 0.8  # 15365's box is disjoint from its GT at every threshold


def test_imagenet_root_layouts_give_the_same_result(shared_data, tmp_path):
    """The CLS-LOC layout (val XMLs, class names = wnids) with maps keyed by bare image id."""
    dataset = read_wsol_root(_wsol_folder(shared_data))
    maps = {s.image_id: _box_map(s.height, s.width, tuple(s.boxes[0].astype(int))) for s in dataset.samples}
    store = _npz(tmp_path / "maps.npz", maps)
    predictions = tmp_path / "top1.csv"
    predictions.write_text("image_id,top1\n" + "".join(
        f"{s.image_id},{wnid}\n" for s, wnid in zip(dataset.samples, WSOL_WNIDS)))
    result = CliRunner().invoke(cli, ["evaluate", "--heatmaps", str(store), "--imagenet-root",
                                      str(shared_data("ilsvrc2012_val_mini")), "--predictions", str(predictions),
                                      "--metrics", "gt-known,loc-error,fmeasure"])
    assert result.exit_code == 0, result.output
    values = {line.split()[0]: line.split()[1] for line in result.output.splitlines()[2:]}
    assert values == {"gt_known_loc_accuracy": "100.00%", "top1_loc_error": "0.00%", "top1_cls_error": "0.00%",
                      "otsu_fmeasure": "100.00%"}


def test_voc_mini_union_masks(shared_data, tmp_path):
    """13 real VOC07 test images, each map = the union of its boxes (0-based): F = 1 on every image;
    GT-known accuracy recomputed with scipy labeling and a literal +1-convention IoU loop."""
    root = shared_data("voc2007_mini") / "VOCdevkit" / "VOC2007"
    dataset = read_voc_root(root)
    maps, hits = {}, 0
    for s in dataset.samples:
        heatmap = np.zeros((s.height, s.width), dtype=np.float32)
        for x1, y1, x2, y2 in s.boxes.astype(int) - 1:
            heatmap[y1 : y2 + 1, x1 : x2 + 1] = 1
        maps[s.image_id] = heatmap
        labels, count = ndimage.label(heatmap > 0.2, structure=np.ones((3, 3)))
        sizes = np.bincount(labels.ravel())[1:]
        rows, cols = np.nonzero(labels == 1 + int(np.argmax(sizes)))
        box = (cols.min(), rows.min(), cols.max(), rows.max())
        hits += any(_iou(box, g) >= 0.5 for g in s.boxes - 1)
    store = _npz(tmp_path / "voc.npz", maps)
    result = CliRunner().invoke(cli, ["evaluate", "--heatmaps", str(store), "--voc-root", str(root),
                                      "--metrics", "fmeasure,gt-known", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())["metrics"]
    assert metrics["otsu_fmeasure"] == 1.0
    assert metrics["gt_known_loc_accuracy"] == pytest.approx(hits / 13)
    assert 0 < hits < 13  # overlapping boxes of different objects merge into one component on some images


def _iou(a: tuple, b: np.ndarray) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    area = lambda box: (box[2] - box[0] + 1) * (box[3] - box[1] + 1)  # noqa: E731
    return iw * ih / (area(a) + area(b) - iw * ih)


# ---------------------------------------------------------------- bad input


def _run(*args: str):
    return CliRunner().invoke(cli, ["evaluate", *args])


def _assert_one_line_error(result, text: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], result.output


def test_bad_inputs_exit_2_with_one_line(shared_data, tmp_path):
    wsol = str(_wsol_folder(shared_data))
    dataset = read_wsol_root(_wsol_folder(shared_data))
    good = {s.image_path.relative_to(dataset.images_root).as_posix(): np.ones((7, 7), np.float32)
            for s in dataset.samples}
    first = WSOL_IDS[0]
    missing = _npz(tmp_path / "missing.npz", {k: v for k, v in good.items() if k != first})
    nan = _npz(tmp_path / "nan.npz", {**good, first: np.full((7, 7), np.nan, np.float32)})
    cube = _npz(tmp_path / "cube.npz", {**good, first: np.ones((3, 7, 7), np.float32)})
    twice = _npz(tmp_path / "twice.npz", {**good, "ILSVRC2012_val_00006947": np.ones((7, 7))})
    store = _npz(tmp_path / "good.npz", good)
    voc = str(shared_data("voc2007_mini") / "VOCdevkit" / "VOC2007")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases = [
        (["--heatmaps", str(missing), "--wsol-metadata", wsol], "nothing for image ILSVRC2012_val_00006947"),
        (["--heatmaps", str(nan), "--wsol-metadata", wsol], f"heat map of image {first}: contains NaN"),
        (["--heatmaps", str(cube), "--wsol-metadata", wsol], f"heat map of image {first}: expected a 2-D array"),
        (["--heatmaps", str(twice), "--wsol-metadata", wsol], "two entries for image ILSVRC2012_val_00006947"),
        (["--wsol-metadata", wsol], "--heatmaps: required"),
        (["--heatmaps", str(tmp_path / "none.npz"), "--wsol-metadata", wsol], "not found"),
        (["--heatmaps", str(a_file), "--wsol-metadata", wsol], "expected a folder of .npy maps or an .npz"),
        (["--heatmaps", str(store)], "give exactly one of --voc-root, --imagenet-root and --wsol-metadata"),
        (["--heatmaps", str(store), "--wsol-metadata", wsol, "--voc-root", voc], "give exactly one of"),
        (["--heatmaps", str(store), "--wsol-metadata", wsol, "--metrics", "loc-error"], "needs class predictions"),
        (["--heatmaps", str(store), "--wsol-metadata", wsol, "--metrics", "iou"], "unknown metric 'iou'"),
        (["--heatmaps", str(store), "--wsol-metadata", wsol, "--out", str(a_file)], "exists and is not a folder"),
    ]
    for args, text in cases:
        _assert_one_line_error(_run(*args), text)


def test_predictions_must_cover_single_label_images(shared_data, tmp_path):
    voc = shared_data("voc2007_mini") / "VOCdevkit" / "VOC2007"
    dataset = read_voc_root(voc)
    store = _npz(tmp_path / "voc.npz", {s.image_id: np.ones((5, 5), np.float32) for s in dataset.samples})
    predictions = tmp_path / "p.csv"
    predictions.write_text("image_id,top1\n" + "".join(f"{s.image_id},person\n" for s in dataset.samples))
    result = _run("--heatmaps", str(store), "--voc-root", str(voc), "--predictions", str(predictions))
    _assert_one_line_error(result, "classes: the localization error needs exactly one class per image")
    wsol = str(_wsol_folder(shared_data))
    store = _npz(tmp_path / "ids.npz", {f"ILSVRC2012_val_{n:08d}": np.ones((5, 5)) for n in (6947, 10453, 15365,
                                                                                               27555, 48107)})
    predictions.write_text("image_id,top1\nILSVRC2012_val_00006947,0\n")
    result = _run("--heatmaps", str(store), "--wsol-metadata", wsol, "--predictions", str(predictions))
    _assert_one_line_error(result, f"--predictions {predictions}: nothing for image ILSVRC2012_val_00010453 "
                                   "(4 images lack one)")


def test_on_missing_skip_evaluates_the_rest(shared_data, tmp_path):
    """Two of the five maps removed: the other three are their GT boxes, so every metric is perfect on them."""
    dataset = read_wsol_root(_wsol_folder(shared_data))
    maps = {s.image_path.relative_to(dataset.images_root).as_posix():
            _box_map(s.height, s.width, tuple(s.boxes[0].astype(int))) for s in dataset.samples[2:]}
    maps["val/not_in_the_dataset.JPEG"] = np.ones((3, 3), np.float32)
    store = _npz(tmp_path / "three.npz", maps)
    args = ["--heatmaps", str(store), "--wsol-metadata", str(_wsol_folder(shared_data)), "--metrics",
            "fmeasure,gt-known", "--out", str(tmp_path / "out")]
    _assert_one_line_error(_run(*args), "nothing for image ILSVRC2012_val_00006947 (2 images lack one)")
    result = _run(*args, "--on-missing", "skip")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == ("3 of 5 images evaluated; skipped 2 without a map, 0 without a "
                                             "prediction; 1 maps matched no image")
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert (saved["images"], saved["skipped_no_map"], saved["unused_maps"]) == (3, 2, 1)
    assert saved["metrics"] == {"gt_known_loc_accuracy": 1.0, "otsu_fmeasure": 1.0}
    _assert_one_line_error(_run(*args, "--on-missing", "skip"), "metrics.json exists (pass --overwrite")
    assert _run(*args, "--on-missing", "skip", "--overwrite").exit_code == 0


def test_out_folder_follows_the_rule_of_every_command(shared_data, tmp_path):
    """--out: a metrics file in a folder gwapbench did not write is never replaced (--overwrite or not), other files
    are added there; gwapbench's own results only with --overwrite; a failed evaluation leaves no new folder."""
    dataset = read_wsol_root(_wsol_folder(shared_data))
    store = _npz(tmp_path / "maps.npz", {s.image_path.relative_to(dataset.images_root).as_posix():
                                         _box_map(s.height, s.width, tuple(s.boxes[0].astype(int)))
                                         for s in dataset.samples})
    args = ["--heatmaps", str(store), "--wsol-metadata", str(_wsol_folder(shared_data)), "--metrics", "gt-known"]
    user = tmp_path / "user"
    user.mkdir()
    (user / "metrics.csv").write_text("mine\n")
    for extra in ([], ["--overwrite"]):
        _assert_one_line_error(_run(*args, "--out", str(user), *extra),
                               "metrics.csv exists in a folder gwapbench did not write")
        assert [(p.name, p.read_text()) for p in user.iterdir()] == [("metrics.csv", "mine\n")]
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert _run(*args, "--out", str(other)).exit_code == 0
    assert sorted(p.name for p in other.iterdir()) == ["metrics.csv", "metrics.json", "notes.txt"]  # no marker
    assert json.loads((other / "metrics.json").read_text())["metrics"] == {"gt_known_loc_accuracy": 1.0}
    _assert_one_line_error(_run(*args, "--out", str(other), "--overwrite"), "metrics.json exists in a folder")
    nan = _npz(tmp_path / "nan.npz", {k: np.full((7, 7), np.nan, np.float32) for k in np.load(store).files})
    _assert_one_line_error(_run("--heatmaps", str(nan), "--wsol-metadata", str(_wsol_folder(shared_data)),
                                "--out", str(tmp_path / "new" / "eval")), "contains NaN")
    assert not (tmp_path / "new").exists()


def test_gt_known_normalizes_class_agnostic_maps_by_default(tmp_path):
    """An alpha-like map (GWAP: max / min < e) read as stored keeps every pixel above 0.2 x max: the whole
    image. evaluate's default (--normalize minmax) reads it in [0, 1]: the GT box here is the box a literal
    pipeline (numpy min-max, OpenCV resize, scipy labelling) draws, so IoU 1."""
    import cv2

    z = np.full((8, 8), -2.0)
    z[2:5, 3:6] = 2.0
    weights = np.exp(1 / (1 + np.exp(-z)))
    alpha = (weights / weights.sum()).astype(np.float32)
    unit = cv2.resize((alpha - alpha.min()) / (alpha.max() - alpha.min()), (64, 64), interpolation=cv2.INTER_LINEAR)
    labels, _ = ndimage.label(unit > 0.2 * unit.max(), structure=np.ones((3, 3)))
    rows, cols = np.nonzero(labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:])))
    box = (int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max()))
    assert (box[2] - box[0] + 1) * (box[3] - box[1] + 1) < 0.5 * 64 * 64
    samples = [_sample("a", 64, 64, box)]
    store = _npz(tmp_path / "alpha.npz", {"a": alpha})
    with open_heatmaps(store) as maps:
        normalized = evaluate_heatmaps(maps, samples, metrics=["gt-known"])
    with open_heatmaps(store) as maps:
        raw = evaluate_heatmaps(maps, samples, metrics=["gt-known"], normalize="none")
    assert normalized["settings"]["normalize"] == "minmax" and normalized["metrics"]["gt_known_loc_accuracy"] == 1.0
    assert raw["metrics"]["gt_known_loc_accuracy"] == 0.0


# ---------------------------------------------------------------- hardening (issue 19)


@pytest.mark.parametrize("content, reason", [(b"", "empty file (0 bytes)"), (b"image,map\n", "not an .npz archive"),
                                             (b"PK\x03\x04 cut short", "not an .npz archive")])
def test_an_unreadable_npz_names_the_file_and_why(tmp_path, content, reason):
    path = tmp_path / "maps.npz"
    path.write_bytes(content)
    with pytest.raises(InputError, match=re.escape(f"--heatmaps {path}: {reason}")):
        open_heatmaps(path)
    from gwapbench.data.synthetic import VOC_YEAR, make_synthetic_voc

    make_synthetic_voc(tmp_path / "voc", {"test": 1}, size=32)  # the command reads the dataset first
    result = _run("--heatmaps", str(path), "--voc-root", str(tmp_path / "voc" / "VOCdevkit" / VOC_YEAR))
    assert result.exit_code == 2 and str(path) in result.output and "Aborted" not in result.output, result.output


def test_ranked_predictions_take_only_ascii_digits_and_say_nor_only_with_names(tmp_path):
    bad = tmp_path / "ranked.csv"
    bad.write_text("image_id,top1\nx,\u00b2\n")  # '²'.isdigit() is True, int('²') fails
    with pytest.raises(InputError, match=re.escape(f"--predictions {bad}: line 2, column top1: '\u00b2' is neither "
                                                   "a class index in 0..2 nor a class name")):
        read_predictions(bad, 3, ["n0", "n1", "n2"])
    with pytest.raises(InputError, match=re.escape("'\u00b2' is not a class index in 0..2")):
        read_predictions(bad, 3)
    bad.write_text("image_id,top1\nx,\u0663\n")  # ARABIC-INDIC DIGIT THREE: int() takes it, it is no CSV index
    with pytest.raises(InputError, match="is not a class index"):
        read_predictions(bad, 5)


def test_an_image_without_a_prediction_names_the_predictions_file(tmp_path):
    a, b = _sample("a", 30, 30, (5, 5, 20, 20), label=3), _sample("b", 30, 30, (5, 5, 20, 20), label=7)
    csv = tmp_path / "top1.csv"
    csv.write_text("image_id,top1\na,3\n")
    store = _npz(tmp_path / "m.npz", {"a": _box_map(30, 30, (5, 5, 20, 20)), "b": _box_map(30, 30, (5, 5, 20, 20))})
    with open_heatmaps(store) as maps, pytest.raises(InputError, match=re.escape(
            f"--predictions {csv}: nothing for image b")):
        evaluate_heatmaps(maps, [a, b], read_predictions(csv, 10), metrics=["loc-error"])


@pytest.mark.parametrize("folder", [False, True])
def test_a_map_above_the_size_limit_is_refused_before_it_is_loaded(tmp_path, monkeypatch, folder):
    """The limit is read from the stored array's header, so a 30000 x 30000 map is refused without loading it
    (peak memory in docs/evaluate.md); here the limit is lowered to 20 x 20 = 400 pixels."""
    import gwapbench.evaluation.heatmaps_io as heatmaps_io

    monkeypatch.setattr(heatmaps_io, "MAX_MAP_PIXELS", 400)
    a = _sample("a", 30, 30, (5, 5, 20, 20), label=3)
    for shape, refused in (((20, 20), False), ((20, 21), True)):
        maps = {"a": np.ones(shape, dtype=np.float32)}
        if folder:
            path = tmp_path / f"maps{shape[1]}"
            path.mkdir()
            np.save(path / "a.npy", maps["a"])
        else:
            path = _npz(tmp_path / f"m{shape[1]}.npz", maps)
        with open_heatmaps(path) as store:
            if refused:
                with pytest.raises(InputError, match=re.escape("heat map of image a: 20x21 = 420 pixels, above the "
                                                               "limit of 400")):
                    evaluate_heatmaps(store, [a], metrics=["gt-known"])
            else:
                assert evaluate_heatmaps(store, [a], metrics=["gt-known"])["images"] == 1
