"""ILSVRC val readers: per-image XMLs, Kaggle CSV and wsolevaluation metadata agree on real images."""

from __future__ import annotations

import csv
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from gwapbench.data.ilsvrc import (
    blacklisted,
    ilsvrc_val_index,
    read_blacklist,
    read_ilsvrc_val_xml,
    read_loc_val_solution,
    read_synset_mapping,
    read_wsol_metadata,
)
from gwapbench.data.wsol_masks import read_wsol_mask_metadata
from gwapbench.errors import InputError


@pytest.fixture(scope="module")
def mini(shared_data) -> Path:
    return shared_data("ilsvrc2012_val_mini")


def _paths(mini: Path) -> dict[str, Path]:
    return {
        "xml": mini / "ILSVRC/Annotations/CLS-LOC/val",
        "mapping": mini / "ILSVRC/LOC_synset_mapping.txt",
        "images": mini / "ILSVRC/Data/CLS-LOC/val",
        "csv": mini / "LOC_val_solution_subset.csv",
        "wsol": mini / "wsolevaluation_metadata/ILSVRC/test",
    }


def _read_all(mini: Path):
    p = _paths(mini)
    from_xml = read_ilsvrc_val_xml(p["xml"], p["mapping"], p["images"], verify_images=True)
    from_csv = read_loc_val_solution(p["csv"], p["mapping"], p["images"], verify_images=True)
    from_wsol = read_wsol_metadata(p["wsol"], images_root=p["images"].parent)
    return from_xml, from_csv, from_wsol


def test_class_index_is_line_of_synset_mapping(mini):
    p = _paths(mini)
    mapping_lines = [line.split()[0] for line in p["mapping"].read_text().splitlines()]
    samples, report = read_ilsvrc_val_xml(p["xml"], p["mapping"], p["images"])
    assert report.count == 0 and len(samples) == 5
    for sample in samples:
        wnid = ET.parse(p["xml"] / f"{sample.image_id}.xml").getroot().find("object/name").text
        assert sample.box_labels.tolist() == [mapping_lines.index(wnid)]
        assert np.flatnonzero(sample.labels == 1).tolist() == [mapping_lines.index(wnid)]
        assert (sample.labels == -1).sum() == 999


def test_xml_csv_and_wsol_readers_agree(mini):
    from_xml, from_csv, from_wsol = _read_all(mini)
    assert from_xml.report.count == from_csv.report.count == 0
    for a, b, c in zip(from_xml.samples, from_csv.samples, from_wsol, strict=True):
        assert a.image_id == b.image_id == c.image_id
        assert a.image_path == b.image_path == c.image_path
        assert (a.width, a.height) == (b.width, b.height) == (c.width, c.height)
        assert a.labels.tolist() == b.labels.tolist() == c.labels.tolist()
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.boxes, c.boxes)
        assert a.box_labels.tolist() == b.box_labels.tolist() == c.box_labels.tolist()


def test_csv_rows_parsed_independently(mini):
    p = _paths(mini)
    mapping = read_synset_mapping(p["mapping"])
    samples = {s.image_id: s for s in read_loc_val_solution(p["csv"], p["mapping"], p["images"]).samples}
    with p["csv"].open() as handle:
        for row in csv.DictReader(handle):
            fields = row["PredictionString"].split()
            sample = samples[row["ImageId"]]
            for k in range(len(fields) // 5):
                assert mapping[sample.box_labels[k]] == fields[5 * k]
                assert sample.boxes[k].tolist() == [float(v) for v in fields[5 * k + 1 : 5 * k + 5]]


def test_full_wsol_metadata_loads(shared_data):
    samples = read_wsol_metadata(shared_data("ilsvrc2012_val_gt"))
    assert len(samples) == 50000
    assert sum(len(s.boxes) for s in samples) == 80477
    assert {ilsvrc_val_index(s.image_id) for s in samples} == set(range(1, 50001))


def test_blacklist_flags(mini, tmp_path):
    samples = read_wsol_metadata(_paths(mini)["wsol"])
    blacklist_file = tmp_path / "blacklist.txt"
    blacklist_file.write_text("6947\n15365\n36\n")
    blacklist = read_blacklist(blacklist_file)
    assert blacklist == {6947, 15365, 36}
    flags = blacklisted(samples, blacklist)
    assert [s.image_id for s, flag in zip(samples, flags) if flag] == [
        "ILSVRC2012_val_00006947",
        "ILSVRC2012_val_00015365",
    ]
    blacklist_file.write_text("12\nabc\n")
    with pytest.raises(InputError, match=r"blacklist\.txt: expected one positive image index a line, got 'abc'"):
        read_blacklist(blacklist_file)


def test_unsorted_synset_mapping_is_refused(mini, tmp_path):
    lines = _paths(mini)["mapping"].read_text().splitlines()
    swapped = tmp_path / "mapping.txt"
    swapped.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")
    with pytest.raises(InputError, match=r"mapping\.txt: wnids are not unique and in sorted order"):
        read_synset_mapping(swapped)


def test_bad_csv_row_and_unknown_wnid(mini, tmp_path):
    p = _paths(mini)
    rows = p["csv"].read_text().splitlines()
    bad = tmp_path / "solution.csv"
    bad.write_text("\n".join([rows[0], rows[1], rows[2].replace("n04259630", "n99999999"), rows[3] + " 7"]) + "\n")
    with pytest.raises(InputError, match=r"solution\.csv: row 3 \(ILSVRC2012_val_00010453\): unknown wnid 'n99999999'"):
        read_loc_val_solution(bad, p["mapping"], p["images"])
    samples, report = read_loc_val_solution(bad, p["mapping"], p["images"], on_bad_file="skip")
    assert [s.image_id for s in samples] == ["ILSVRC2012_val_00006947"]
    assert [item.reason.split(":")[0] for item in report.skipped] == [
        "row 3 (ILSVRC2012_val_00010453)",
        "row 4 (ILSVRC2012_val_00015365)",
    ]
    assert "multiple of 5" in report.skipped[1].reason
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="empty.csv: expected the header"):
        read_loc_val_solution(empty, p["mapping"], p["images"])


def test_xml_reader_skips_truncated_image(mini, tmp_path):
    p = _paths(mini)
    images = tmp_path / "val"
    shutil.copytree(p["images"], images)
    target = images / "ILSVRC2012_val_00027555.JPEG"
    target.write_bytes(target.read_bytes()[:3000])
    with pytest.raises(InputError, match=r"ILSVRC2012_val_00027555\.JPEG: corrupt or truncated image"):
        read_ilsvrc_val_xml(p["xml"], p["mapping"], images, verify_images=True)
    samples, report = read_ilsvrc_val_xml(p["xml"], p["mapping"], images, on_bad_file="skip", verify_images=True)
    assert len(samples) == 4 and report.count == 1
    with pytest.raises(InputError, match="annotation folder not found"):
        read_ilsvrc_val_xml(tmp_path / "missing", p["mapping"], images)


def test_zero_area_box_dropped_but_class_kept(mini, tmp_path):
    p = _paths(mini)
    rows = p["csv"].read_text().splitlines()
    extra = rows[1] + " n02102177 30 40 30 90"  # a second box of the same class, zero width
    solution = tmp_path / "solution.csv"
    solution.write_text("\n".join([rows[0], extra, rows[2]]) + "\n")
    message = r"solution\.csv: row 2 \(ILSVRC2012_val_00006947\): box 2 \(30, 40, 30, 90\) has zero area"
    with pytest.raises(InputError, match=message):
        read_loc_val_solution(solution, p["mapping"], p["images"])
    samples, report = read_loc_val_solution(solution, p["mapping"], p["images"], on_bad_file="skip")
    assert [len(s.boxes) for s in samples] == [1, 1] and report.count == 1

    annotations = tmp_path / "xml"
    shutil.copytree(p["xml"], annotations)
    xml = annotations / "ILSVRC2012_val_00006947.xml"
    xml.write_text(xml.read_text().replace("<xmax>476</xmax>", "<xmax>45</xmax>"))
    samples, report = read_ilsvrc_val_xml(annotations, p["mapping"], p["images"], on_bad_file="skip")
    first = samples[0]
    assert first.image_id == "ILSVRC2012_val_00006947" and first.boxes.shape == (0, 4)
    assert np.flatnonzero(first.labels == 1).tolist() == [read_synset_mapping(p["mapping"]).index("n02102177")]
    assert report.skipped[0].path.endswith("ILSVRC2012_val_00006947.xml")


def _wsol_folder(folder: Path, label: int, localization: str, sizes: str = "a.jpg,10,10\n") -> Path:
    folder.mkdir()
    (folder / "image_ids.txt").write_text("a.jpg\n")
    (folder / "class_labels.txt").write_text(f"a.jpg,{label}\n")
    (folder / "image_sizes.txt").write_text(sizes)
    (folder / "localization.txt").write_text(localization)
    return folder


@pytest.mark.parametrize("kind", ["boxes", "masks"])
def test_wsol_readers_check_each_image_label_alike(tmp_path, kind):
    """Both wsolevaluation readers (boxes: ILSVRC/CUB, masks: OpenImages) refuse a label outside 0..C-1 naming
    class_labels.txt, and an image without its other rows naming the folder."""
    row = "a.jpg,1,1,5,5\n" if kind == "boxes" else "a.jpg,masks/a.png,\n"
    read = (lambda f: read_wsol_metadata(f, num_classes=3)) if kind == "boxes" else (
        lambda f: read_wsol_mask_metadata(f, 3))
    with pytest.raises(InputError, match=r"class_labels.txt: label 5 of a.jpg outside 0..2"):
        read(_wsol_folder(tmp_path / "range", 5, row))
    other = "an image size" if kind == "boxes" else "a row in localization.txt"
    missing = _wsol_folder(tmp_path / "missing", 1, row.replace("a.jpg", "b.jpg"), sizes="b.jpg,10,10\n")
    with pytest.raises(InputError, match=f"image a.jpg lacks a class label or {other}"):
        read(missing)
    samples = read(_wsol_folder(tmp_path / "good", 2, row))
    first = samples[0] if kind == "boxes" else samples[0][0]  # the mask reader returns (samples, entries)
    assert first.labels.tolist() == [-1, -1, 1]
