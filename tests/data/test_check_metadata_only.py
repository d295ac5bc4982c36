"""`gwapbench check-data --wsol-metadata DIR --metadata-only`: the metadata checked without its images."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from gwapbench.cli import cli


def check(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["check-data", *args])
    return result.exit_code, result.output.strip().splitlines()


def rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return [row for row in csv.reader(handle) if row]


@pytest.mark.parametrize("name", ["cub200_test_gt", "ilsvrc2012_val_gt"])
def test_real_box_metadata_checks_without_images(shared_data, name):
    folder = shared_data(name)
    code, output = check("--wsol-metadata", str(folder), "--metadata-only")
    assert code == 0, output
    images, boxes = len(rows(folder / "image_ids.txt")), len(rows(folder / "localization.txt"))  # one box a row
    assert output[0] == "metadata only: images not read"
    assert output[1].startswith(f"{images} images, {boxes} objects (0 difficult)")
    code, output = check("--wsol-metadata", str(folder))  # the images are not in the shared folder
    assert code == 2 and len(output) == 1 and "image file not found" in output[0]


def test_real_openimages_metadata_and_sample_masks(shared_data):
    folder = shared_data("openimages30k_test_gt")  # mask paths, no masks
    code, output = check("--wsol-metadata", str(folder), "--metadata-only")
    assert code == 0, output
    assert output[0] == "metadata only: images not read; mask files not checked (give --mask-root)"
    assert output[1].startswith(f"{len(rows(folder / 'image_ids.txt'))} images, 0 objects")
    code, output = check("--wsol-metadata", str(folder), "--metadata-only", "--mask-root", str(folder))
    assert code == 2 and len(output) == 1 and output[0].startswith("error: mask ") and "file not found" in output[0]
    sample = shared_data("openimages_masks_sample")
    named = sum(bool(field) for row in rows(sample / "localization.txt") for field in row[1:])
    code, output = check("--wsol-metadata", str(sample), "--metadata-only", "--mask-root", str(sample))
    assert code == 0, output
    assert output[0] == f"metadata only: images not read; {named} mask files' headers read"


def box_metadata(folder: Path) -> Path:
    """Three images with sizes and one or two boxes each, consistent."""
    folder.mkdir(parents=True)
    ids = ["val/a.JPEG", "val/b.JPEG", "val/c.JPEG"]
    folder.joinpath("image_ids.txt").write_text("".join(f"{i}\n" for i in ids))
    folder.joinpath("class_labels.txt").write_text("".join(f"{i},{n}\n" for n, i in enumerate(ids)))
    folder.joinpath("image_sizes.txt").write_text("val/a.JPEG,100,80\nval/b.JPEG,50,50\nval/c.JPEG,30,40\n")
    folder.joinpath("localization.txt").write_text(
        "val/a.JPEG,0,0,99,79\nval/a.JPEG,10,10,20,20\nval/b.JPEG,5,6,7,8\nval/c.JPEG,0,1,30,40\n")
    return folder


BROKEN = {  # file, new content, what the one-line error says
    "duplicate id": ("image_ids.txt", "val/a.JPEG\nval/b.JPEG\nval/c.JPEG\nval/b.JPEG\n",
                     "image_ids.txt: image val/b.JPEG listed more than once"),
    "stray label": ("class_labels.txt", "val/a.JPEG,0\nval/b.JPEG,1\nval/c.JPEG,2\nval/d.JPEG,3\n",
                    "class_labels.txt:4: image val/d.JPEG is not in image_ids.txt"),
    "box outside": ("localization.txt", "val/a.JPEG,0,0,101,79\nval/b.JPEG,5,6,7,8\nval/c.JPEG,0,1,30,40\n",
                    "box [0.0, 0.0, 101.0, 79.0] of image val/a.JPEG is reversed or outside its 100x80 image"),
    "reversed box": ("localization.txt", "val/a.JPEG,0,0,99,79\nval/b.JPEG,7,6,5,8\nval/c.JPEG,0,1,30,40\n",
                     "box [7.0, 6.0, 5.0, 8.0] of image val/b.JPEG is reversed"),
    "no box": ("localization.txt", "val/a.JPEG,0,0,99,79\nval/b.JPEG,5,6,7,8\n",
               "localization.txt: image val/c.JPEG has no box"),
    "zero size": ("image_sizes.txt", "val/a.JPEG,100,80\nval/b.JPEG,0,50\nval/c.JPEG,30,40\n",
                  "image_sizes.txt: image val/b.JPEG has size 0x50"),
    "label out of range": ("class_labels.txt", "val/a.JPEG,0\nval/b.JPEG,1000\nval/c.JPEG,2\n",
                           "label 1000 of val/b.JPEG outside 0..999"),
    "short row": ("localization.txt", "val/a.JPEG,0,0,99\n",
                  "localization.txt:1: expected at least 5 comma-separated fields, got 4"),
}


def test_consistent_synthetic_box_metadata_passes(tmp_path):
    code, output = check("--wsol-metadata", str(box_metadata(tmp_path / "m")), "--metadata-only")
    assert code == 0, output
    assert output[1].startswith("3 images, 4 objects")


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_box_metadata_is_a_one_line_error(tmp_path, case):
    folder = box_metadata(tmp_path / "m")
    name, content, message = BROKEN[case]
    folder.joinpath(name).write_text(content)
    code, output = check("--wsol-metadata", str(folder), "--metadata-only")
    assert code == 2 and len(output) == 1, output
    assert output[0].startswith("error: ") and message in output[0], output


def mask_metadata(folder: Path, masks: Path) -> Path:
    """Two OpenImages-layout images: a 1-bit mask, a second instance and an RGB ignore mask."""
    folder.mkdir(parents=True)
    ids = ["test/x/a.jpg", "test/x/b.jpg"]
    folder.joinpath("image_ids.txt").write_text("".join(f"{i}\n" for i in ids))
    folder.joinpath("class_labels.txt").write_text("test/x/a.jpg,3\ntest/x/b.jpg,4\n")
    folder.joinpath("localization.txt").write_text(
        "test/x/a.jpg,test/x/a_m0.png,test/x/a_ignore.png\ntest/x/a.jpg,test/x/a_m1.png,\n"
        "test/x/b.jpg,test/x/b_m0.png,\n")
    (masks / "test" / "x").mkdir(parents=True)
    for name in ("a_m0", "a_m1", "b_m0"):
        Image.fromarray(np.eye(30, 40, dtype=bool)).save(masks / "test" / "x" / f"{name}.png")
    Image.fromarray(np.zeros((30, 40, 3), np.uint8), "RGB").save(masks / "test" / "x" / "a_ignore.png")
    return folder


def test_synthetic_mask_metadata_and_its_broken_masks(tmp_path):
    masks = tmp_path / "masks"
    folder = mask_metadata(tmp_path / "m", masks)
    code, output = check("--wsol-metadata", str(folder), "--metadata-only", "--mask-root", str(masks))
    assert code == 0, output
    assert output[0] == "metadata only: images not read; 4 mask files' headers read"
    (masks / "test" / "x" / "a_m1.png").write_bytes(b"not a png")
    Image.fromarray(np.zeros((4, 4), np.uint16)).save(masks / "test" / "x" / "b_m0.png")  # 16-bit gray
    code, output = check("--wsol-metadata", str(folder), "--metadata-only", "--mask-root", str(masks))
    assert code == 2 and len(output) == 1 and "a_m1.png: not a readable image" in output[0], output
    (masks / "test" / "x" / "a_m1.png").unlink()
    code, output = check("--wsol-metadata", str(folder), "--metadata-only", "--mask-root", str(masks))
    assert code == 2 and len(output) == 1 and "a_m1.png: file not found" in output[0], output
    Image.fromarray(np.eye(30, 40, dtype=bool)).save(masks / "test" / "x" / "a_m1.png")
    code, output = check("--wsol-metadata", str(folder), "--metadata-only", "--mask-root", str(masks))
    assert code == 2 and len(output) == 1 and "b_m0.png: image mode I" in output[0], output
    folder.joinpath("localization.txt").write_text(
        "test/x/a.jpg,test/x/a_m0.png,test/x/a_ignore.png\ntest/x/b.jpg,test/x/b_m0.png,\ntest/x/z.jpg,test/x/z.png,\n")
    code, output = check("--wsol-metadata", str(folder), "--metadata-only")
    assert code == 2 and len(output) == 1
    assert "localization.txt:3: image test/x/z.jpg is not in image_ids.txt" in output[0]


@pytest.mark.parametrize("args", [
    ["--voc-root", "VOC", "--metadata-only"],
    ["--wsol-metadata", "m", "--metadata-only", "--verify-images"],
    ["--wsol-metadata", "m", "--mask-root", "masks"],
])
def test_metadata_only_option_misuse(tmp_path, args):
    code, output = check(*args)
    assert code == 2 and len(output) == 1 and output[0].startswith("error: ") and "--m" in output[0], output


def test_mask_root_on_box_metadata_is_refused(tmp_path):
    folder = box_metadata(tmp_path / "m")
    code, output = check("--wsol-metadata", str(folder), "--metadata-only", "--mask-root", str(tmp_path))
    assert code == 2 and output == [f"error: --mask-root applies to mask metadata (OpenImages); {folder} holds boxes"]
