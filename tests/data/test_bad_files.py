"""Bad-file policy: fail raises naming the file, skip records (file, reason); atomic JSON report; image checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from gwapbench.data.annotation_xml import box_problems
from gwapbench.data.bad_files import BadFileError, BadFileReport, SkippedItem, save_bad_file_report
from gwapbench.data.image_files import image_size, verify_image
from gwapbench.errors import InputError


def test_fail_policy_raises_an_input_error_naming_the_file():
    report = BadFileReport()
    with pytest.raises(InputError, match=r"^a/b\.xml: malformed XML$"):
        report.handle(BadFileError("a/b.xml", "malformed XML"))
    assert report.count == 0


def test_skip_policy_records_and_summarises():
    report = BadFileReport("skip")
    assert report.summary() == "no bad files"
    report.handle(BadFileError("x.jpg", "corrupt"))
    other = BadFileReport("skip", [SkippedItem("y.xml", "box 1 has zero area", "box")])
    report.extend(other)
    assert report.count == 2
    assert report.summary() == "skipped 1 file(s), dropped 1 box(es); first: skipped x.jpg: corrupt"
    assert [item.describe() for item in report.skipped] == [
        "skipped x.jpg: corrupt",
        "dropped a box of y.xml: box 1 has zero area",
    ]
    assert report.to_dict() == {
        "on_bad_file": "skip",
        "count": 2,
        "skipped": [
            {"path": "x.jpg", "reason": "corrupt", "what": "file"},
            {"path": "y.xml", "reason": "box 1 has zero area", "what": "box"},
        ],
        "label_disagreements": [],
    }
    with pytest.raises(ValueError, match="what must be one of"):
        report.handle(BadFileError("z.xml", "x"), what="record")


def test_unknown_policy_is_a_value_error():
    with pytest.raises(ValueError, match=r"on_bad_file must be one of \('fail', 'skip'\), got 'warn'"):
        BadFileReport("warn")


def test_saved_report_is_json_and_atomic(tmp_path, monkeypatch):
    report = BadFileReport("skip", [SkippedItem("z.jpg", "image file not found")])
    target = tmp_path / "out" / "bad_files.json"
    save_bad_file_report(report, target)
    assert json.loads(target.read_text())["skipped"] == [{"path": "z.jpg", "reason": "image file not found",
                                                          "what": "file"}]

    def broken_dumps(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(json, "dumps", broken_dumps)
    with pytest.raises(RuntimeError):
        save_bad_file_report(BadFileReport("skip"), target)
    assert json.loads(target.read_text())["count"] == 1  # the old file untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["bad_files.json"]


def test_box_problems_hand_cases():
    boxes = np.array(
        [
            [1, 1, 10, 10],  # fine
            [5, 5, 5, 9],  # zero width
            [0, 0, 20, 10],  # x2 == width is allowed (1-based inclusive corners)
            [3, -1, 8, 8],  # above the image
            [3, 3, 8, 11],  # below the image
            [9, 2, 4, 8],  # x2 < x1: inverted, not "zero area"
            [2, 9, 30, 4],  # y2 < y1 (and outside): inverted is the reason
        ],
        dtype=np.float64,
    )
    problems = box_problems(boxes, width=20, height=10)
    assert [row for row, _ in problems] == [1, 3, 4, 5, 6]
    assert problems[0][1] == "box 2 (5, 5, 5, 9) has zero area"
    assert problems[1][1] == "box 4 (3, -1, 8, 8) lies outside the 20x10 image"
    assert problems[3][1] == "box 6 (9, 2, 4, 8) has xmax < xmin (inverted corners)"
    assert problems[4][1] == "box 7 (2, 9, 30, 4) has ymax < ymin (inverted corners)"


def test_malformed_numbers_name_their_xml_field(tmp_path):
    from gwapbench.data.annotation_xml import parse_annotation_xml

    cases = {
        "<size><width>wide</width></size>": "malformed number: <size/width> is 'wide', not a number",
        "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>1O</xmax><ymax>9</ymax></bndbox></object>":
            "object 1 (cat): malformed number: <bndbox/xmax> is '1O', not a number",
        "<object><name>cat</name><difficult>yes</difficult><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>5</xmax>"
        "<ymax>9</ymax></bndbox></object>": "object 1 (cat): malformed number: <difficult> is 'yes', not a number",
        "<object><name>cat</name><bndbox><xmin>nan</xmin><ymin>2</ymin><xmax>5</xmax><ymax>9</ymax></bndbox></object>":
            "object 1 (cat): malformed number: <bndbox/xmin> is 'nan', not a finite number",
    }
    for body, message in cases.items():
        path = tmp_path / "a.xml"
        path.write_text(f"<annotation>{body}</annotation>")
        with pytest.raises(InputError) as info:
            parse_annotation_xml(path, {"cat": 0})
        assert str(info.value) == f"{path}: {message}"


def test_image_checks(tmp_path):
    path = tmp_path / "im.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(path, quality=90)
    assert image_size(path) == (60, 40)
    verify_image(path, 60, 40)
    with pytest.raises(InputError, match=r"im\.jpg: image is 60x40 but its annotation says 40x60"):
        verify_image(path, 40, 60)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(InputError, match=r"im\.jpg: corrupt or truncated image"):
        verify_image(path, 60, 40)
    (tmp_path / "text.jpg").write_text("hello")
    with pytest.raises(InputError, match=r"text\.jpg: not a readable image"):
        image_size(tmp_path / "text.jpg")
    with pytest.raises(InputError, match=r"gone\.jpg: image file not found"):
        image_size(tmp_path / "gone.jpg")
