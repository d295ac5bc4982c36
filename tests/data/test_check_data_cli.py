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


def _synthetic_voc(tmp_path):
    """A 6-image synthetic devkit (its own classes.txt) and its root."""
    from gwapbench.data.synthetic import make_synthetic_voc

    samples = make_synthetic_voc(tmp_path / "synth", {"train": 0, "val": 0, "test": 6}, size=48, seed=7)["test"]
    return tmp_path / "synth" / "VOCdevkit" / "VOCsynth", samples


def _one_line_error(result, text: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and text in result.output, result.output


def test_missing_or_unreadable_images_are_found_without_verify_images(tmp_path):
    root, samples = _synthetic_voc(tmp_path)
    samples[2].image_path.write_bytes(b"GIF89a-not-really")
    samples[4].image_path.unlink()
    _one_line_error(CliRunner().invoke(cli, ["check-data", "--voc-root", str(root)]), "not a readable image")
    result = CliRunner().invoke(cli, ["check-data", "--voc-root", str(root), "--on-bad-file", "skip"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("4 images")
    lines = result.output.splitlines()
    assert f"  skipped {samples[2].image_path}: not a readable image" in "\n".join(lines)
    assert f"  skipped {samples[4].image_path}: image file not found" in lines
    # the whole JPEGImages folder gone (the reproduction)
    for sample in samples:
        sample.image_path.unlink(missing_ok=True)
    _one_line_error(CliRunner().invoke(cli, ["check-data", "--voc-root", str(root)]), "image file not found")


def test_label_disagreement_between_lists_and_xmls_warns_or_fails_with_strict(tmp_path):
    root, samples = _synthetic_voc(tmp_path)
    absent = next((s.image_id, c) for s in samples for c in range(len(s.labels)) if s.labels[c] == -1)
    image_id, column = absent
    names = (root / "classes.txt").read_text().split()
    class_list = root / "ImageSets" / "Main" / f"{names[column]}_test.txt"
    class_list.write_text(class_list.read_text().replace(f"{image_id} -1\n", f"{image_id}  1\n"))
    message = (f"label disagreement in {class_list}: image {image_id} is labelled 1 but its XML has "
               f"no {names[column]} object")
    result = CliRunner().invoke(cli, ["check-data", "--voc-root", str(root), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    summary = f"skipped 0 file(s), dropped 0 box(es), 1 label disagreement(s) (warnings); first: {message}"
    assert summary in result.output
    assert f"  {message}" in result.output.splitlines()
    saved = json.loads((tmp_path / "run" / "bad_files.json").read_text())["label_disagreements"]
    assert saved == [{"list": str(class_list), "image_id": image_id, "class": names[column], "list_label": 1,
                      "xml_label": -1}]
    strict = CliRunner().invoke(cli, ["check-data", "--voc-root", str(root), "--strict"])
    assert strict.exit_code == 2 and strict.output.splitlines()[-1].startswith("error: --strict: 1 label disagreement")


def test_out_is_checked_before_anything_is_read(tmp_path):
    root, _ = _synthetic_voc(tmp_path)
    a_file = tmp_path / "f"
    a_file.write_text("x")
    blocked = tmp_path / "blocked"
    (blocked / "bad_files.json").mkdir(parents=True)
    user = tmp_path / "user"
    user.mkdir()
    (user / "class_counts.csv").write_text("my own table")
    missing_root = tmp_path / "no-such-devkit"  # reading it would fail: the --out error must come first
    for out, text in ((a_file / "sub", f"{a_file} is a file, not a folder"), (a_file, "exists and is not a folder"),
                      (blocked, "bad_files.json exists as a folder"), (user, "class_counts.csv exists in a folder")):
        result = CliRunner().invoke(cli, ["check-data", "--voc-root", str(missing_root), "--out", str(out)])
        _one_line_error(result, f"--out {out}: {text}")
    assert (user / "class_counts.csv").read_text() == "my own table"
    run_args = ["check-data", "--voc-root", str(root), "--out", str(tmp_path / "run")]
    assert CliRunner().invoke(cli, run_args).exit_code == 0
    again = CliRunner().invoke(cli, run_args)
    assert again.exit_code == 0, again.output  # gwapbench's own folder: rewritten


def test_argument_messages(tmp_path):
    root, _ = _synthetic_voc(tmp_path)
    imagenet = tmp_path / "imagenet"
    cases = [
        (["--voc-root", str(root), "--classes", ""], "--classes '': give comma-separated class names"),
        (["--voc-root", str(root), "--classes", " , "], "--classes ' , ': give comma-separated class names"),
        (["--imagenet-root", str(imagenet), "--split", "val"], "--split applies to --voc-root only"),
        (["--imagenet-root", str(imagenet), "--classes", "a"], "--classes applies to --voc-root only"),
    ]
    for args, text in cases:
        _one_line_error(CliRunner().invoke(cli, ["check-data", *args]), text)
    (root / "ImageSets" / "Main" / "test.txt").write_text("\n")
    _one_line_error(CliRunner().invoke(cli, ["check-data", "--voc-root", str(root)]), "test.txt: lists no images")


def test_positive_column_and_dropped_box_lines(tmp_path):
    root, samples = _synthetic_voc(tmp_path)
    xml = root / "Annotations" / f"{samples[0].image_id}.xml"
    tree = ET.parse(xml)
    box = tree.getroot().find("object/bndbox")
    box.find("xmax").text = str(int(box.findtext("xmin")) - 3)
    tree.write(xml)
    result = CliRunner().invoke(cli, ["check-data", "--voc-root", str(root), "--on-bad-file", "skip"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split() == ["class", "positive", "difficult-only", "objects", "difficult"]
    dropped = [line for line in lines if line.startswith("  dropped a box of ")]
    assert len(dropped) == 1 and dropped[0].startswith(f"  dropped a box of {xml}: box 1 (")
    assert dropped[0].endswith("has xmax < xmin (inverted corners)")
    assert result.output.startswith("6 images")  # the image stays
