"""Synthetic VOC/ILSVRC generator: determinism, layout, annotations read back independently, balance, CLI."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from gwapbench.cli import cli
from gwapbench.data import synthetic, synthetic_shapes
from gwapbench.data.synthetic import make_synthetic_ilsvrc, make_synthetic_voc, synthetic_wnids
from gwapbench.data.synthetic_shapes import CLASS_NAMES, CLASS_SHAPES, TEXTURES, Placement, paint_shape

TINY_VOC = {"train": 6, "val": 6, "test": 12}


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    out = tmp_path_factory.mktemp("voc") / "synth"
    return out, make_synthetic_voc(out, TINY_VOC, size=96, seed=3)


@pytest.fixture(scope="module")
def ilsvrc(tmp_path_factory):
    out = tmp_path_factory.mktemp("ilsvrc") / "synth"
    return out, make_synthetic_ilsvrc(out, train_per_class=2, val_per_class=2, size=96, seed=5)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _parse_voc_xml(path: Path) -> tuple[int, int, list[tuple[str, list[int], int, int]]]:
    """(width, height, [(name, [xmin, ymin, xmax, ymax], difficult, truncated)]) read with ElementTree."""
    root = ET.parse(path).getroot()
    width, height = int(root.findtext("size/width")), int(root.findtext("size/height"))
    objects = [
        (
            obj.findtext("name"),
            [int(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")],
            int(obj.findtext("difficult")),
            int(obj.findtext("truncated")),
        )
        for obj in root.iter("object")
    ]
    return width, height, objects


def test_same_seed_identical_bytes_and_other_seed_differs(tmp_path):
    first = make_synthetic_voc(tmp_path / "a", {"train": 3, "val": 0, "test": 3}, size=64, seed=11)
    make_synthetic_voc(tmp_path / "b", {"train": 3, "val": 0, "test": 3}, size=64, seed=11)
    make_synthetic_voc(tmp_path / "c", {"train": 3, "val": 0, "test": 3}, size=64, seed=12)
    files_a, files_b, files_c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert files_a == files_b
    assert any(name.endswith(".jpg") for name in files_a)
    annotations = [name for name in files_a if name.endswith(".xml")]
    assert len(annotations) == 6 and len(first["trainval"]) == 3
    assert any(files_a[name] != files_c[name] for name in annotations)
    assert not list(tmp_path.glob(".*"))  # no staging leftovers


def test_voc_xmls_match_the_reported_samples_and_images(voc):
    out, samples = voc
    root = out / "VOCdevkit" / "VOCsynth"
    for sample in samples["train"] + samples["val"] + samples["test"]:
        width, height, objects = _parse_voc_xml(root / "Annotations" / f"{sample.image_id}.xml")
        with Image.open(root / "JPEGImages" / f"{sample.image_id}.jpg") as image:
            assert image.size == (width, height) == (sample.width, sample.height)
            assert image.mode == "RGB"
        assert sample.image_path == root / "JPEGImages" / f"{sample.image_id}.jpg"
        assert 1 <= len(objects) <= 4
        assert [CLASS_NAMES.index(o[0]) for o in objects] == sample.box_labels.tolist()
        assert [o[1] for o in objects] == sample.boxes.astype(int).tolist()
        assert [bool(o[2]) for o in objects] == sample.difficult.tolist()
        for _, (xmin, ymin, xmax, ymax), _, _ in objects:  # 1-based inclusive, inside the image
            assert 1 <= xmin < xmax <= width and 1 <= ymin < ymax <= height


def test_voc_image_sets_consistent_with_xmls(voc):
    out, samples = voc
    main = out / "VOCdevkit" / "VOCsynth" / "ImageSets" / "Main"
    ids = {split: (main / f"{split}.txt").read_text().split() for split in ("train", "val", "trainval", "test")}
    assert [len(ids[s]) for s in ("train", "val", "test")] == [6, 6, 12]
    assert ids["trainval"] == ids["train"] + ids["val"]
    assert not set(ids["trainval"]) & set(ids["test"])
    for split, split_ids in ids.items():
        for class_index, name in enumerate(CLASS_NAMES):
            rows = [line.split() for line in (main / f"{name}_{split}.txt").read_text().splitlines()]
            assert [r[0] for r in rows] == split_ids
            for image_id, label in rows:
                _, _, objects = _parse_voc_xml(out / "VOCdevkit" / "VOCsynth" / "Annotations" / f"{image_id}.xml")
                flags = [o[2] for o in objects if o[0] == name]
                expected = -1 if not flags else (1 if 0 in flags else 0)
                assert int(label) == expected, (split, name, image_id)
            reported = [int(s.labels[class_index]) for s in samples[split]]
            assert reported == [int(r[1]) for r in rows], (split, name)


def test_voc_class_balance_and_difficulty_rates(tmp_path):
    samples = make_synthetic_voc(tmp_path / "v", {"train": 120, "val": 0, "test": 80}, size=96, seed=0)
    every = samples["train"] + samples["test"]
    box_labels = np.concatenate([s.box_labels for s in every])
    difficult = np.concatenate([s.difficult for s in every])
    boxes = np.concatenate([s.boxes for s in every])
    assert bool(np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1]))
    per_class = np.bincount(box_labels, minlength=len(CLASS_NAMES))
    # Classes come from a balanced deck; an object hidden entirely (or to a sliver) is dropped: allow 1 more.
    assert per_class.max() - per_class.min() <= 2
    positives = (np.stack([s.labels for s in every]) == 1).sum(axis=0)
    assert positives.min() >= 0.6 * positives.mean()
    assert 0.02 <= difficult.mean() <= 0.3
    objects_per_image = np.array([len(s.boxes) for s in every])
    assert objects_per_image.min() >= 1 and objects_per_image.max() <= 4 and objects_per_image.mean() > 2


def test_ilsvrc_layout_classes_and_boxes(ilsvrc):
    out, samples = ilsvrc
    wnids = synthetic_wnids()
    assert wnids == sorted(wnids) and len(wnids) == len(CLASS_NAMES) >= 10
    mapping = [line.split(" ", 1) for line in (out / "LOC_synset_mapping.txt").read_text().splitlines()]
    assert [m[0] for m in mapping] == wnids and [m[1] for m in mapping] == list(CLASS_NAMES)
    data = out / "ILSVRC" / "Data" / "CLS-LOC"
    for wnid in wnids:
        images = sorted(p.stem for p in (data / "train" / wnid).glob("*.JPEG"))
        assert images == [f"{wnid}_1", f"{wnid}_2"]
        notes = out / "ILSVRC" / "Annotations" / "CLS-LOC" / "train" / wnid
        assert sorted(p.stem for p in notes.glob("*.xml")) == images
    train_classes = [int(np.flatnonzero(s.labels == 1)[0]) for s in samples["train"]]
    assert train_classes == [i for i in range(len(wnids)) for _ in range(2)]
    with (out / "LOC_val_solution.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["ImageId", "PredictionString"]
    solution = {row[0]: row[1].split() for row in rows[1:]}
    assert len(solution) == len(samples["val"]) == 2 * len(wnids)
    val_classes = []
    for sample in samples["val"]:
        tokens = solution[sample.image_id]
        boxes = [[int(t) for t in tokens[i + 1 : i + 5]] for i in range(0, len(tokens), 5)]
        class_index = wnids.index(tokens[0])
        val_classes.append(class_index)
        assert set(tokens[0::5]) == {tokens[0]}
        assert sample.labels.tolist() == [1 if c == class_index else -1 for c in range(len(wnids))]
        assert boxes == sample.boxes.astype(int).tolist() and set(sample.box_labels) == {class_index}
        root = ET.parse(out / "ILSVRC" / "Annotations" / "CLS-LOC" / "val" / f"{sample.image_id}.xml").getroot()
        assert root.findtext("filename") == sample.image_id
        assert [o.findtext("name") for o in root.iter("object")] == [tokens[0]] * len(boxes)
        width, height = int(root.findtext("size/width")), int(root.findtext("size/height"))
        with Image.open(data / "val" / f"{sample.image_id}.JPEG") as image:
            assert image.size == (width, height)
        for x0, y0, x1, y1 in boxes:  # 0-based inclusive, inside the image
            assert 0 <= x0 < x1 <= width - 1 and 0 <= y0 < y1 <= height - 1
    assert np.bincount(val_classes).tolist() == [2] * len(wnids)


def test_paint_shape_matches_a_literal_disc():
    canvas = np.zeros((20, 24, 3))
    owner = np.full((20, 24), -1, dtype=np.int32)
    place = Placement(cx=20.0, cy=9.5, rx=5.0, ry=5.0, angle=0.3)
    painted = paint_shape(
        canvas, owner, 7, place, CLASS_SHAPES["disc"], TEXTURES["solid"], (np.array([9.0, 8, 7]), np.zeros(3))
    )
    expected = np.array([[(x - 20) ** 2 + (y - 9.5) ** 2 <= 25 for x in range(24)] for y in range(20)])
    full = sum((x - 20) ** 2 + (y - 9.5) ** 2 <= 25 for x in range(10, 31) for y in range(0, 20))
    np.testing.assert_array_equal(owner == 7, expected)
    np.testing.assert_array_equal(canvas[expected], np.tile([9.0, 8, 7], (expected.sum(), 1)))
    assert painted.area == expected.sum() and painted.full_area == full and painted.truncated


def test_failed_generation_leaves_nothing(tmp_path, monkeypatch):
    calls = {"n": 0}
    real_encode = synthetic_shapes.encode_jpeg

    def failing_encode(canvas, quality=90):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real_encode(canvas, quality)

    monkeypatch.setattr(synthetic, "encode_jpeg", failing_encode)
    with pytest.raises(RuntimeError):
        make_synthetic_voc(tmp_path / "out", {"train": 4}, size=48)
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments_raise_value_error(tmp_path):
    with pytest.raises(ValueError, match="splits"):
        make_synthetic_voc(tmp_path / "x", {"train": 0})
    with pytest.raises(ValueError, match="unknown split"):
        make_synthetic_voc(tmp_path / "x", {"tain": 3})
    with pytest.raises(ValueError, match="size"):
        make_synthetic_ilsvrc(tmp_path / "x", 1, 1, size=8)


def test_cli_writes_layouts_and_rejects_bad_out(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["make-synthetic", "--layout", "voc", "--out", str(tmp_path / "v"), "--images", "8",
                                 "--size", "64", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "trainval" in result.output
    main = tmp_path / "v" / "VOCdevkit" / "VOCsynth" / "ImageSets" / "Main"
    assert [len((main / f"{s}.txt").read_text().split()) for s in ("train", "val", "test")] == [2, 2, 4]
    result = runner.invoke(cli, ["make-synthetic", "--layout", "ilsvrc", "--out", str(tmp_path / "i"),
                                 "--splits", "train=1,val=2", "--size", "64"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "i" / "ILSVRC" / "Data" / "CLS-LOC" / "val").glob("*.JPEG"))) == 20

    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    bad = {
        "is a file": ["--layout", "voc", "--out", str(a_file)],
        "not empty": ["--layout", "voc", "--out", str(tmp_path / "v")],
        "splits": ["--layout", "voc", "--out", str(tmp_path / "w"), "--splits", "train=3,dev=2"],
        "both": ["--layout", "voc", "--out", str(tmp_path / "w"), "--splits", "train=3", "--images", "4"],
    }
    for case, args in bad.items():
        result = runner.invoke(cli, ["make-synthetic", *args])
        assert result.exit_code == 2, (case, result.output)
        assert result.output.count("\n") == 1 and result.output.startswith("error: --"), (case, result.output)
    assert not (tmp_path / "w").exists()


def test_cli_overwrite_replaces(tmp_path):
    runner = CliRunner()
    args = ["make-synthetic", "--layout", "voc", "--out", str(tmp_path / "v"), "--images", "4", "--size", "48"]
    assert runner.invoke(cli, args).exit_code == 0
    (tmp_path / "v" / "stale.txt").write_text("old")
    assert runner.invoke(cli, [*args, "--overwrite"]).exit_code == 0
    assert not (tmp_path / "v" / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v"]


def test_objects_have_no_trivial_colour_or_contrast_cue(tmp_path):
    """Inside object boxes vs outside: mean saturation and brightness within 25%, edge density under 2x."""
    samples = make_synthetic_voc(tmp_path / "v", {"train": 40}, size=96, seed=4)["train"]
    inside, outside = [], []
    for sample in samples:
        with Image.open(sample.image_path) as image:
            hsv = np.asarray(image.convert("HSV"), dtype=np.float64)
        gradient = np.hypot(*np.gradient(hsv[..., 2]))
        in_box = np.zeros(hsv.shape[:2], dtype=bool)
        for xmin, ymin, xmax, ymax in sample.boxes.astype(int):
            in_box[ymin - 1 : ymax, xmin - 1 : xmax] = True
        features = np.stack([hsv[..., 1], hsv[..., 2], gradient], axis=-1)
        inside.append(features[in_box].mean(axis=0))
        outside.append(features[~in_box].mean(axis=0))
    saturation, brightness, edges = np.mean(inside, axis=0) / np.mean(outside, axis=0)
    assert 0.8 <= saturation <= 1.25 and 0.8 <= brightness <= 1.25
    assert edges < 2.0


def test_voc_reader_reads_what_the_generator_wrote(voc):
    from gwapbench.data.voc import read_voc

    out, samples = voc
    root = out / "VOCdevkit" / "VOCsynth"
    for split in ("train", "val", "trainval", "test"):
        from_lists = read_voc(root, split, classes=CLASS_NAMES, labels_from="imagesets", verify_images=True)
        from_xml = read_voc(root, split, classes=CLASS_NAMES, labels_from="xml")
        assert from_lists.report.count == from_xml.report.count == 0
        assert len(from_lists.samples) == len(from_xml.samples) == len(samples[split])
        for read, xml_read, written in zip(from_lists.samples, from_xml.samples, samples[split]):
            assert (read.image_id, read.image_path, read.width, read.height) == (
                written.image_id, written.image_path, written.width, written.height
            )
            np.testing.assert_array_equal(read.labels, written.labels)
            np.testing.assert_array_equal(xml_read.labels, written.labels)
            np.testing.assert_array_equal(read.boxes, written.boxes)
            np.testing.assert_array_equal(read.box_labels, written.box_labels)
            np.testing.assert_array_equal(read.difficult, written.difficult)


def test_ilsvrc_readers_read_what_the_generator_wrote(ilsvrc):
    from gwapbench.data.ilsvrc import read_ilsvrc_val_xml, read_loc_val_solution

    out, samples = ilsvrc
    mapping = out / "LOC_synset_mapping.txt"
    images = out / "ILSVRC" / "Data" / "CLS-LOC" / "val"
    from_xml = read_ilsvrc_val_xml(out / "ILSVRC" / "Annotations" / "CLS-LOC" / "val", mapping, images,
                                   verify_images=True)
    from_csv = read_loc_val_solution(out / "LOC_val_solution.csv", mapping, images)
    written = sorted(samples["val"], key=lambda s: s.image_id)
    for result in (from_xml, from_csv):
        assert result.report.count == 0 and len(result.samples) == len(written)
        for read, expected in zip(result.samples, written):
            assert (read.image_id, read.image_path, read.width, read.height) == (
                expected.image_id, expected.image_path, expected.width, expected.height
            )
            np.testing.assert_array_equal(read.labels, expected.labels)
            np.testing.assert_array_equal(read.boxes, expected.boxes)
            np.testing.assert_array_equal(read.box_labels, expected.box_labels)


def _xml_boxes(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """All written boxes and their images' (width, height), parsed from the XMLs alone."""
    boxes, sizes = [], []
    for xml in sorted(folder.rglob("*.xml")):
        root = ET.parse(xml).getroot()
        size = (int(root.findtext("size/width")), int(root.findtext("size/height")))
        for obj in root.iter("object"):
            box = obj.find("bndbox")
            boxes.append([float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")])
            sizes.append(size)
    return np.array(boxes), np.array(sizes)


def test_box_origin_reaches_both_image_borders_exactly(tmp_path):
    """Objects cut by the border pin the corner convention: VOC boxes span 1..width, ILSVRC 0..width-1."""
    make_synthetic_voc(tmp_path / "voc", {"train": 0, "val": 0, "test": 60}, size=64, seed=21)
    boxes, sizes = _xml_boxes(tmp_path / "voc")
    assert boxes[:, 0].min() == 1 and boxes[:, 1].min() == 1
    assert (boxes[:, 2] == sizes[:, 0]).any() and (boxes[:, 3] == sizes[:, 1]).any()
    assert (boxes[:, 2] <= sizes[:, 0]).all() and (boxes[:, 3] <= sizes[:, 1]).all()
    make_synthetic_ilsvrc(tmp_path / "ilsvrc", train_per_class=0, val_per_class=6, size=64, seed=22)
    boxes, sizes = _xml_boxes(tmp_path / "ilsvrc" / "ILSVRC" / "Annotations" / "CLS-LOC" / "val")
    assert boxes[:, 0].min() == 0 and boxes[:, 1].min() == 0
    assert (boxes[:, 2] == sizes[:, 0] - 1).any() and (boxes[:, 3] == sizes[:, 1] - 1).any()
    assert (boxes[:, 2] <= sizes[:, 0] - 1).all() and (boxes[:, 3] <= sizes[:, 1] - 1).all()


def _one_line_error(result, text: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1, result.output
    assert result.output.startswith("error: ") and text in result.output, result.output


def test_overwrite_never_deletes_a_folder_gwapbench_did_not_write(tmp_path):
    (tmp_path / "x" / "docs").mkdir(parents=True)
    (tmp_path / "x" / "docs" / "thesis.tex").write_text("hi")
    args = ["make-synthetic", "--layout", "voc", "--out", str(tmp_path / "x"), "--images", "4", "--size", "48"]
    _one_line_error(CliRunner().invoke(cli, [*args, "--overwrite"]), "holds files gwapbench did not write")
    assert _files(tmp_path) == {"x/docs/thesis.tex": b"hi"}


def test_overwrite_of_the_working_directory_is_refused_and_leaves_nothing(tmp_path, monkeypatch):
    out = tmp_path / "v"
    args = ["make-synthetic", "--layout", "voc", "--images", "4", "--size", "48"]
    assert CliRunner().invoke(cli, [*args, "--out", str(out)]).exit_code == 0
    before = _files(tmp_path)
    monkeypatch.chdir(out)
    _one_line_error(CliRunner().invoke(cli, [*args, "--out", ".", "--overwrite"]), "working directory")
    assert _files(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["v"]


def test_stale_partial_folder_of_a_killed_run_is_removed_by_the_next_run(tmp_path):
    import subprocess
    import sys

    dead_pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                                  capture_output=True, text=True).stdout)
    stale = tmp_path / f".v.{dead_pid}.k1ll3d.partial"
    (stale / "VOCdevkit").mkdir(parents=True)
    args = ["make-synthetic", "--layout", "voc", "--images", "4", "--size", "48", "--out", str(tmp_path / "v")]
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v"]


def test_seed_and_image_counts_are_bounded_up_front(tmp_path):
    out = str(tmp_path / "v")
    cases = {
        "--seed -1: must be in 0..": ["--layout", "voc", "--seed", "-1"],
        f"--images 1000000000: at most {synthetic.MAX_IMAGES} images": ["--layout", "voc", "--images", "1000000000"],
        f"--images {10**20}: at most": ["--layout", "ilsvrc", "--images", str(10**20)],
        f"at most {synthetic.MAX_IMAGES} are allowed": ["--layout", "ilsvrc", "--splits", "train=999999,val=1"],
    }
    for text, args in cases.items():
        _one_line_error(CliRunner().invoke(cli, ["make-synthetic", "--out", out, *args]), text)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="seed: must be in"):
        make_synthetic_voc(tmp_path / "y", {"train": 1}, seed=-1)
    with pytest.raises(ValueError, match="at most"):
        make_synthetic_voc(tmp_path / "y", {"train": synthetic.MAX_IMAGES + 1})


def test_rounded_image_count_is_announced(tmp_path):
    result = CliRunner().invoke(cli, ["make-synthetic", "--layout", "ilsvrc", "--out", str(tmp_path / "i"),
                                      "--images", "39", "--size", "48"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "note: --images 39 rounded to 30 (the ilsvrc layout writes the same number of images for every class)"
    )
    # independent count of what was written
    assert len(list((tmp_path / "i" / "ILSVRC" / "Data" / "CLS-LOC").rglob("*.JPEG"))) == 30
    exact = CliRunner().invoke(cli, ["make-synthetic", "--layout", "voc", "--out", str(tmp_path / "v"),
                                     "--images", "39", "--size", "48"])
    assert exact.exit_code == 0 and "note:" not in exact.output


def test_synthetic_voc_carries_its_class_list_and_marker(tmp_path):
    make_synthetic_voc(tmp_path / "v", {"test": 4}, size=48, seed=2)
    root = tmp_path / "v" / "VOCdevkit" / "VOCsynth"
    assert (root / "classes.txt").read_text().split() == list(CLASS_NAMES)
    assert (tmp_path / "v" / ".gwapbench-output").is_file()
    result = CliRunner().invoke(cli, ["check-data", "--voc-root", str(root)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].endswith(f"{len(CLASS_NAMES)} classes")
