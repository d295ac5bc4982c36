"""`gwapbench check-data`: reads real datasets through the readers, reports and saves skipped files."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
from click.testing import CliRunner

from gwapbench.cli import cli
from gwapbench.data.sample import Sample
from gwapbench.data.summary import class_counts


def test_class_counts_hand_worked():
    samples = [
        Sample("a", "a.jpg", 10, 10, np.array([1, -1, 0], dtype=np.int8), np.zeros((3, 4)),
               np.array([0, 0, 2]), np.array([False, True, True])),
        Sample("b", "b.jpg", 10, 10, np.array([1, 1, -1], dtype=np.int8), np.zeros((2, 4)),
               np.array([0, 1]), np.array([False, False])),
    ]
    counts = {c.name: c for c in class_counts(samples, ["x", "y", "z"])}
    assert (counts["x"].positive_images, counts["x"].objects, counts["x"].difficult_objects) == (2, 3, 1)
    assert (counts["y"].positive_images, counts["y"].objects) == (1, 1)
    assert (counts["z"].difficult_only_images, counts["z"].objects, counts["z"].difficult_objects) == (1, 1, 1)
    assert [c.objects for c in class_counts([], ["x", "y"])] == [0, 0]


def test_voc_mini_counts_match_the_xmls(shared_data, tmp_path):
    root = shared_data("voc2007_mini") / "VOCdevkit" / "VOC2007"
    result = CliRunner().invoke(cli, ["check-data", "--voc-root", str(root), "--verify-images", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "13 images, 59 objects (9 difficult), 20 classes"
    # independent count of person objects from the XMLs
    persons = sum(
        obj.findtext("name") == "person"
        for xml in (root / "Annotations").glob("*.xml")
        for obj in ET.parse(xml).getroot().iter("object")
    )
    csv_rows = (tmp_path / "class_counts.csv").read_text().splitlines()
    person = next(row for row in csv_rows if row.startswith("person,")).split(",")
    assert int(person[3]) == persons == 22
    assert json.loads((tmp_path / "bad_files.json").read_text())["count"] == 0


def test_bccd_zero_area_boxes_fail_or_are_reported(shared_data, tmp_path):
    root = shared_data("bccd") / "BCCD"
    args = ["check-data", "--voc-root", str(root), "--split", "trainval,test", "--classes", "RBC,WBC,Platelets"]
    failed = CliRunner().invoke(cli, args)
    assert failed.exit_code == 2
    assert len(failed.output.strip().splitlines()) == 1 and "BloodImage_00338.xml" in failed.output
    skipped = CliRunner().invoke(cli, [*args, "--on-bad-file", "skip", "--out", str(tmp_path / "run")])
    assert skipped.exit_code == 0, skipped.output
    assert skipped.output.startswith("364 images")
    report = json.loads((tmp_path / "run" / "bad_files.json").read_text())
    assert report["count"] == 2
    assert sorted(item["path"].rsplit("/", 1)[-1] for item in report["skipped"]) == [
        "BloodImage_00338.xml",
        "BloodImage_00343.xml",
    ]


def test_ilsvrc_mini_and_bad_arguments(shared_data, tmp_path):
    voc = shared_data("voc2007_mini") / "VOCdevkit" / "VOC2007"
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    result = CliRunner().invoke(cli, ["check-data", "--imagenet-root", str(shared_data("ilsvrc2012_val_mini"))])
    assert result.exit_code == 0 and result.output.startswith("5 images, 5 objects (0 difficult), 1000 classes")
    for args, text in (
        (["--voc-root", str(tmp_path / "missing")], "missing"),
        ([], "exactly one of --voc-root, --imagenet-root and --wsol-metadata"),
        (["--voc-root", str(voc), "--wsol-metadata", str(tmp_path)], "exactly one of"),
        (["--imagenet-root", str(tmp_path)], "found neither ILSVRC/Annotations/CLS-LOC/val, LOC_val_solution.csv"),
        (["--wsol-metadata", str(tmp_path)], "image_ids.txt not found"),
        (["--voc-root", str(voc), "--classes", "cat,cat"], "classes must be unique"),
        (["--voc-root", str(voc), "--out", str(a_file)], "exists and is not a folder"),
    ):
        result = CliRunner().invoke(cli, ["check-data", *args])
        assert result.exit_code == 2 and text in result.output
        assert len(result.output.strip().splitlines()) == 1
