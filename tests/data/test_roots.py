"""`gwapbench.data.roots`: the three ILSVRC val layouts an --imagenet-root may hold read to the same samples."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from gwapbench.data.roots import read_dataset_root, read_imagenet_root
from gwapbench.errors import InputError


def _kaggle_layout(mini: Path, root: Path) -> Path:
    """LOC_val_solution.csv + LOC_synset_mapping.txt + ILSVRC/Data/CLS-LOC/val, without the XMLs."""
    images = root / "ILSVRC" / "Data" / "CLS-LOC"
    images.mkdir(parents=True)
    (images / "val").symlink_to(mini / "ILSVRC" / "Data" / "CLS-LOC" / "val")
    shutil.copy(mini / "LOC_val_solution_subset.csv", root / "LOC_val_solution.csv")
    shutil.copy(mini / "ILSVRC" / "LOC_synset_mapping.txt", root / "LOC_synset_mapping.txt")
    return root


def _summary(samples) -> list[tuple]:
    return [(s.image_id, s.width, s.height, s.boxes.tolist(), np.flatnonzero(s.labels == 1).tolist()) for s in samples]


def test_xml_csv_and_wsol_layouts_agree(shared_data, tmp_path):
    mini = shared_data("ilsvrc2012_val_mini")
    xml = read_imagenet_root(mini)
    csv = read_imagenet_root(_kaggle_layout(mini, tmp_path / "kaggle"))
    wsol = read_imagenet_root(mini / "wsolevaluation_metadata" / "ILSVRC" / "test")
    assert "val XMLs" in xml.source and csv.source.endswith("LOC_val_solution.csv") and "wsolevaluation" in wsol.source
    assert _summary(xml.samples) == _summary(csv.samples) == _summary(wsol.samples)
    # hand check from the files: 00015365 is balance beam (n02777292, class 416), box 0,263,469,286, 470x312
    assert ("ILSVRC2012_val_00015365", 470, 312, [[0.0, 263.0, 469.0, 286.0]], [416]) in _summary(xml.samples)
    assert xml.class_names == csv.class_names and xml.class_names[416] == "n02777292"
    assert wsol.class_names is None and xml.box_origin == csv.box_origin == wsol.box_origin == 0
    explicit = read_dataset_root(wsol_metadata=mini / "wsolevaluation_metadata" / "ILSVRC" / "test")
    assert _summary(explicit.samples) == _summary(wsol.samples)


def test_bad_roots(shared_data, tmp_path):
    with pytest.raises(InputError, match="folder not found"):
        read_imagenet_root(tmp_path / "absent")
    (tmp_path / "LOC_val_solution.csv").write_text("ImageId,PredictionString\n")
    with pytest.raises(InputError, match="LOC_synset_mapping.txt not found"):
        read_imagenet_root(tmp_path)
    (tmp_path / "LOC_val_solution.csv").unlink()
    (tmp_path / "image_ids.txt").write_text("val/a.JPEG\n")
    with pytest.raises(InputError, match=r"--imagenet-root .*class_labels.txt not found"):
        read_imagenet_root(tmp_path)
