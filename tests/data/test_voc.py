"""VOC devkit reader on real data (VOC2007 mini, BCCD, full VOC07 GT JSON) and on broken copies of it."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gwapbench.data.bad_files import save_bad_file_report
from gwapbench.data.decode import load_image
from gwapbench.data.voc import VOC_CLASSES, read_voc, read_voc_union, voc_year
from gwapbench.data.voc_json import read_voc_coco_json
from gwapbench.errors import InputError

BCCD_CLASSES = ("RBC", "WBC", "Platelets")


@pytest.fixture(scope="module")
def voc_mini(shared_data) -> Path:
    return shared_data("voc2007_mini") / "VOCdevkit" / "VOC2007"


def _class_file_labels(root: Path, split: str) -> dict[str, list[int]]:
    """Independent parse of the 20 `<cls>_<split>.txt` files: image id -> label per class."""
    labels: dict[str, list[int]] = {}
    for column, name in enumerate(VOC_CLASSES):
        for line in (root / "ImageSets" / "Main" / f"{name}_{split}.txt").read_text().splitlines():
            if line.strip():
                image_id, value = line.split()
                labels.setdefault(image_id, [0] * len(VOC_CLASSES))[column] = int(value)
    return labels


def _xml_objects(path: Path) -> list[tuple[str, list[float], bool]]:
    root = ET.parse(path).getroot()
    return [
        (
            obj.find("name").text,
            [float(obj.find(f"bndbox/{key}").text) for key in ("xmin", "ymin", "xmax", "ymax")],
            obj.find("difficult") is not None and obj.find("difficult").text.strip() == "1",
        )
        for obj in root.iter("object")
    ]


def test_voc2007_mini_counts_boxes_and_labels(voc_mini):
    samples, report = read_voc(voc_mini, "test", verify_images=True)
    assert report.count == 0
    assert len(samples) == 13
    assert sum(len(s.boxes) for s in samples) == 59
    assert sum(int(s.difficult.sum()) for s in samples) == 9
    expected_labels = _class_file_labels(voc_mini, "test")
    ids = (voc_mini / "ImageSets/Main/test.txt").read_text().split()
    assert [s.image_id for s in samples] == ids
    for sample in samples:
        assert sample.labels.tolist() == expected_labels[sample.image_id]
        objects = _xml_objects(voc_mini / "Annotations" / f"{sample.image_id}.xml")
        assert [VOC_CLASSES[i] for i in sample.box_labels] == [name for name, _, _ in objects]
        np.testing.assert_array_equal(sample.boxes, [box for _, box, _ in objects])
        assert sample.difficult.tolist() == [flag for _, _, flag in objects]
        with Image.open(sample.image_path) as image:
            assert image.size == (sample.width, sample.height)


def test_voc2007_mini_xml_labels_agree_with_class_files(voc_mini):
    from_lists = read_voc(voc_mini, "test", labels_from="imagesets").samples
    from_xml = read_voc(voc_mini, "test", labels_from="xml").samples
    for listed, derived in zip(from_lists, from_xml):
        assert listed.labels.tolist() == derived.labels.tolist()
    # the hand-derived rule on one image: 000001 has a dog and a person, neither difficult
    first = from_xml[[s.image_id for s in from_xml].index("000001")]
    assert set(np.flatnonzero(first.labels == 1)) == {VOC_CLASSES.index("dog"), VOC_CLASSES.index("person")}
    assert not (first.labels == 0).any()


def test_unknown_class_names_the_file(voc_mini):
    with pytest.raises(InputError, match=r"Annotations.*\.xml: object \d+ has unknown class name"):
        read_voc(voc_mini, "test", classes=("dog", "person"), labels_from="xml")
    samples, report = read_voc(voc_mini, "test", classes=("dog", "person"), labels_from="xml", on_bad_file="skip")
    kept = {s.image_id for s in samples}
    for image_id in (voc_mini / "ImageSets/Main/test.txt").read_text().split():
        names = {name for name, _, _ in _xml_objects(voc_mini / "Annotations" / f"{image_id}.xml")}
        assert (image_id in kept) == (names <= {"dog", "person"})
    assert report.count == 13 - len(samples) > 0
    assert all("unknown class name" in item.reason for item in report.skipped)


def test_bccd_zero_area_boxes_fail_or_skip(shared_data):
    root = shared_data("bccd") / "BCCD"
    with pytest.raises(InputError, match=r"BloodImage_00338\.xml: box \d+ \(504, 337, 504, 337\) has zero area"):
        read_voc(root, ("trainval", "test"), classes=BCCD_CLASSES)
    samples, report = read_voc(root, ("trainval", "test"), classes=BCCD_CLASSES, on_bad_file="skip")
    assert len(samples) == 364
    assert report.count == 2
    assert [Path(item.path).name for item in report.skipped] == ["BloodImage_00338.xml", "BloodImage_00343.xml"]
    assert all("zero area" in item.reason for item in report.skipped)
    # independent count: every object of every XML, minus the two degenerate boxes
    total = sum(len(_xml_objects(path)) for path in (root / "Annotations").glob("*.xml"))
    assert sum(len(s.boxes) for s in samples) == total - 2
    assert all(((s.boxes[:, 2] > s.boxes[:, 0]) & (s.boxes[:, 3] > s.boxes[:, 1])).all() for s in samples)
    assert all(s.labels[s.box_labels].min(initial=1) == 1 for s in samples)  # no difficult objects in BCCD


def test_full_voc2007_test_ground_truth(shared_data):
    folder = shared_data("voc2007_gt")
    samples, classes = read_voc_coco_json(
        folder / "annotations_json/pascal_test2007.json",
        folder / "annotations_json/pascal_test2007_difficult_flags.json",
    )
    assert tuple(classes) == VOC_CLASSES
    assert len(samples) == 4952
    assert sum(len(s.boxes) for s in samples) == 14976
    assert sum(int(s.difficult.sum()) for s in samples) == 2944
    assert sorted(s.image_id for s in samples) == sorted((folder / "ImageSets_full_Main/test.txt").read_text().split())
    # derived per-class labels, by the devkit rule, in a literal loop
    for sample in samples:
        expected = [-1] * len(VOC_CLASSES)
        for label, difficult in zip(sample.box_labels, sample.difficult):
            if not difficult:
                expected[label] = 1
            elif expected[label] == -1:
                expected[label] = 0
        assert sample.labels.tolist() == expected


def _copy_devkit(source: Path, target: Path, ids: list[str]) -> Path:
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (target / sub).mkdir(parents=True)
    for image_id in ids:
        shutil.copy(source / "Annotations" / f"{image_id}.xml", target / "Annotations")
        shutil.copy(source / "JPEGImages" / f"{image_id}.jpg", target / "JPEGImages")
    (target / "ImageSets/Main/test.txt").write_text("\n".join(ids) + "\n")
    return target


@pytest.fixture
def devkit(voc_mini, tmp_path) -> Path:
    return _copy_devkit(voc_mini, tmp_path / "VOC2007", ["000001", "000004", "000067"])


def test_truncated_jpeg_fails_on_verify_and_at_decode(devkit):
    image = devkit / "JPEGImages" / "000004.jpg"
    image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])
    samples, _ = read_voc(devkit, "test")  # header intact: not checked without verify_images
    with pytest.raises(InputError, match=r"000004\.jpg: cannot decode image"):
        load_image(samples[1].image_path)
    with pytest.raises(InputError, match=r"000004\.jpg: corrupt or truncated image"):
        read_voc(devkit, "test", verify_images=True)
    samples, report = read_voc(devkit, "test", verify_images=True, on_bad_file="skip")
    assert [s.image_id for s in samples] == ["000001", "000067"]
    assert report.count == 1 and report.skipped[0].path.endswith("000004.jpg")


def test_malformed_xml_fails_or_is_skipped(devkit):
    xml = devkit / "Annotations" / "000067.xml"
    xml.write_text(xml.read_text()[:-40])
    with pytest.raises(InputError, match=r"000067\.xml: malformed XML"):
        read_voc(devkit, "test")
    samples, report = read_voc(devkit, "test", on_bad_file="skip")
    assert [s.image_id for s in samples] == ["000001", "000004"]
    assert "malformed XML" in report.skipped[0].reason


def test_out_of_image_box_and_missing_annotation(devkit):
    xml = devkit / "Annotations" / "000001.xml"
    xml.write_text(xml.read_text().replace("<xmax>352</xmax>", "<xmax>900</xmax>"))
    with pytest.raises(InputError, match=r"000001\.xml: box 2 .* outside the 353x500 image"):
        read_voc(devkit, "test")
    (devkit / "Annotations" / "000004.xml").unlink()
    samples, report = read_voc(devkit, "test", on_bad_file="skip")
    assert [s.image_id for s in samples] == ["000001", "000067"]
    assert len(samples[0].boxes) == 1  # the out-of-image box dropped, the image kept
    assert samples[0].labels[VOC_CLASSES.index("person")] == 1  # its person still labels the image
    assert [item.reason.split(" (")[0] for item in report.skipped] == ["box 2", "annotation file not found"]


def test_size_falls_back_to_jpeg_header(devkit):
    xml = devkit / "Annotations" / "000004.xml"
    tree = ET.parse(xml)
    tree.getroot().remove(tree.getroot().find("size"))
    tree.write(xml)
    sample = read_voc(devkit, "test").samples[1]
    with Image.open(sample.image_path) as image:
        assert (sample.width, sample.height) == image.size


def test_missing_root_split_and_class_lists(devkit, tmp_path):
    with pytest.raises(InputError, match="VOC root folder not found"):
        read_voc(tmp_path / "nowhere", "test")
    with pytest.raises(InputError, match=r"ImageSets/Main/train\.txt: ImageSets file not found"):
        read_voc(devkit, "train")
    with pytest.raises(InputError, match=r"aeroplane_test\.txt: ImageSets file not found"):
        read_voc(devkit, "test", labels_from="imagesets")
    with pytest.raises(ValueError, match="on_bad_file"):
        read_voc(devkit, "test", on_bad_file="ignore")


def test_union_prefixes_year_and_merges_reports(voc_mini, tmp_path):
    first = _copy_devkit(voc_mini, tmp_path / "VOC2007", ["000001", "000004"])
    second = _copy_devkit(voc_mini, tmp_path / "VOC2012", ["000001", "000067"])
    (second / "Annotations" / "000067.xml").write_text("<annotation>")
    samples, report = read_voc_union([(first, "test"), (second, "test")], on_bad_file="skip")
    assert [s.image_id for s in samples] == ["2007_000001", "2007_000004", "2012_000001"]
    assert report.count == 1
    assert voc_year(first) == "2007" and voc_year(tmp_path / "BCCD") == "BCCD"
    with pytest.raises(InputError, match="more than once"):
        read_voc_union([(first, "test"), (first, "test")])


def test_report_json_round_trip(devkit, tmp_path):
    (devkit / "Annotations" / "000004.xml").write_text("not xml")
    _, report = read_voc(devkit, "test", on_bad_file="skip")
    save_bad_file_report(report, tmp_path / "run" / "skipped.json")
    saved = json.loads((tmp_path / "run" / "skipped.json").read_text())
    assert saved["count"] == 1 and saved["on_bad_file"] == "skip"
    assert saved["skipped"][0]["path"].endswith("000004.xml")
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["skipped.json"]


def test_class_list_with_a_repeated_and_a_missing_image_fails(devkit):
    ids = (devkit / "ImageSets" / "Main" / "test.txt").read_text().split()
    for name in VOC_CLASSES:
        (devkit / "ImageSets" / "Main" / f"{name}_test.txt").write_text("".join(f"{i} -1\n" for i in ids))
    path = devkit / "ImageSets" / "Main" / "cat_test.txt"
    rows = path.read_text().splitlines()
    assert len(read_voc(devkit, "test", labels_from="imagesets").samples) == 3
    path.write_text("\n".join([rows[0], rows[0], *rows[2:]]) + "\n")  # first id twice, second id missing
    with pytest.raises(InputError, match="appears more than once"):
        read_voc(devkit, "test", labels_from="imagesets")
    path.write_text("\n".join(rows[1:]) + "\n")  # first id missing
    with pytest.raises(InputError, match="is missing"):
        read_voc(devkit, "test", labels_from="imagesets")


def test_bad_class_lists_and_json_entries_are_input_errors(devkit, tmp_path):
    for classes in (["cat", "cat"], ["cat", ""], []):
        with pytest.raises(InputError):
            read_voc(devkit, "test", classes=classes)
    path = tmp_path / "gt.json"
    path.write_text(json.dumps({
        "images": [{"file_name": "1.jpg", "id": 1, "width": 5, "height": 5}],
        "annotations": [{"id": 1, "image_id": 1, "bbox": [0, 0, 2, 2], "category_id": 7}],
        "categories": [{"id": 1, "name": "a"}],
    }))
    with pytest.raises(InputError, match="gt.json: malformed"):
        read_voc_coco_json(path)
