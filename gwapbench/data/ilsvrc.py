"""ILSVRC validation ground truth readers.

Class index = position of the wnid in sorted-wnid order (the order of `LOC_synset_mapping.txt`
and of torchvision's `ImageFolder`), never the devkit's ILSVRC2012_ID order.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from collections.abc import Container, Mapping, Sequence
from pathlib import Path

import numpy as np

from gwapbench.data.annotation_xml import parse_annotation_xml
from gwapbench.data.bad_files import BadFileError, BadFileReport, ReadResult
from gwapbench.data.image_files import check_annotated_image
from gwapbench.data.sample import Sample
from gwapbench.errors import InputError

ILSVRC_NUM_CLASSES = 1000


def read_metadata_rows(path: Path, min_fields: int, max_fields: int | None = None) -> list[list[str]]:
    """The non-empty rows of a comma-separated metadata file (wsolevaluation's layout, the devkit's CSV), each with
    `min_fields` to `max_fields` (unbounded: None) fields; InputError naming the file and line otherwise."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    expected = f"{min_fields}" if max_fields == min_fields else f"at least {min_fields}"
    for lineno, row in enumerate(rows, start=1):
        if len(row) < min_fields or (max_fields is not None and len(row) > max_fields):
            raise InputError(f"{path}:{lineno}: expected {expected} comma-separated fields, got {len(row)}")
    return rows


def wsol_class_label(folder: Path, image: str, label_of: Mapping[str, int], num_classes: int,
                     also_in: Container[str], also_what: str) -> int:
    """The class label of `image` in wsolevaluation metadata: InputError naming the folder when the image lacks a
    label or is not in `also_in` (described as `also_what`), naming class_labels.txt when the label lies outside
    0..num_classes-1."""
    if image not in label_of or image not in also_in:
        raise InputError(f"{folder}: image {image} lacks a class label or {also_what}")
    label = label_of[image]
    if not 0 <= label < num_classes:
        raise InputError(f"{folder / 'class_labels.txt'}: label {label} of {image} outside 0..{num_classes - 1}")
    return label


def read_wsol_metadata(
    folder: str | Path,
    images_root: str | Path = ".",
    num_classes: int = ILSVRC_NUM_CLASSES,
) -> list[Sample]:
    """Read wsolevaluation-style metadata (`image_ids.txt`, `class_labels.txt`, `image_sizes.txt`,
    `localization.txt`) into samples, in `image_ids.txt` order.

    Boxes are `x0, y0, x1, y1` as in the official XMLs (inclusive corners); labels are
    sorted-wnid class indices, stored as a one-hot 1/-1 `labels` vector.
    """
    folder, images_root = Path(folder), Path(images_root)
    ids = [row[0] for row in read_metadata_rows(folder / "image_ids.txt", 1)]
    try:
        label_of = {row[0]: int(row[1]) for row in read_metadata_rows(folder / "class_labels.txt", 2)}
        size_of = {row[0]: (int(row[1]), int(row[2])) for row in read_metadata_rows(folder / "image_sizes.txt", 3)}
        boxes_of: dict[str, list[list[float]]] = defaultdict(list)
        for row in read_metadata_rows(folder / "localization.txt", 5):
            boxes_of[row[0]].append([float(v) for v in row[1:5]])
    except ValueError as err:
        if isinstance(err, InputError):
            raise
        raise InputError(f"{folder}: malformed number in wsolevaluation metadata ({err})") from err

    samples = []
    for image in ids:
        label = wsol_class_label(folder, image, label_of, num_classes, size_of, "an image size")
        boxes = np.array(boxes_of.get(image, []), dtype=np.float64).reshape(-1, 4)
        width, height = size_of[image]
        image_id = os.path.splitext(os.path.basename(image))[0]
        box_labels = np.full(len(boxes), label, dtype=np.int64)
        image_path = images_root / image
        samples.append(_ilsvrc_sample(image_id, image_path, width, height, [label], boxes, box_labels, num_classes))
    return samples


def read_synset_mapping(path: str | Path) -> list[str]:
    """Wnids of `LOC_synset_mapping.txt` (`wnid name...` a line), in file order = class index order.

    The file must be in sorted-wnid order (the class index convention); a file in another order
    (e.g. the devkit's ILSVRC2012_ID order) raises InputError rather than silently permuting classes.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: synset mapping file not found")
    wnids = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    if wnids != sorted(wnids) or len(set(wnids)) != len(wnids):
        raise InputError(f"{path}: wnids are not unique and in sorted order (class index = sorted-wnid position)")
    return wnids


def _ilsvrc_sample(
    image_id: str,
    image_path: Path,
    width: int,
    height: int,
    positives: Sequence[int] | np.ndarray,
    boxes: np.ndarray,
    box_labels: np.ndarray,
    num_classes: int,
) -> Sample:
    """A sample labelled 1 for the `positives` class indices, -1 elsewhere; no difficult boxes."""
    labels = np.full(num_classes, -1, dtype=np.int8)
    labels[np.asarray(positives, dtype=np.int64)] = 1
    return Sample(
        image_id=image_id,
        image_path=image_path,
        width=width,
        height=height,
        labels=labels,
        boxes=boxes,
        box_labels=box_labels,
        difficult=np.zeros(len(boxes), dtype=bool),
    )


def read_ilsvrc_val_xml(
    annotations_dir: str | Path,
    synset_mapping: str | Path,
    images_dir: str | Path,
    on_bad_file: str = "fail",
    verify_images: bool = False,
) -> ReadResult:
    """Read per-image bbox XMLs (`ILSVRC/Annotations/CLS-LOC/val/*.xml`, object names = wnids), sorted by id.

    Images are `<images_dir>/<id>.JPEG`. Labels: 1 for each wnid with a box, -1 elsewhere.
    """
    annotations_dir, images_dir = Path(annotations_dir), Path(images_dir)
    if not annotations_dir.is_dir():
        raise InputError(f"{annotations_dir}: annotation folder not found")
    wnids = read_synset_mapping(synset_mapping)
    class_index = {wnid: index for index, wnid in enumerate(wnids)}
    report = BadFileReport(on_bad_file)
    samples = []
    for annotation_path in sorted(annotations_dir.glob("*.xml")):
        image_path = images_dir / f"{annotation_path.stem}.JPEG"
        try:
            annotation = parse_annotation_xml(annotation_path, class_index)
            width, height, keep = check_annotated_image(
                annotation_path,
                image_path,
                annotation.width,
                annotation.height,
                annotation.boxes,
                report,
                verify_images,
            )
        except BadFileError as err:
            report.handle(err)
            continue
        samples.append(
            _ilsvrc_sample(
                annotation_path.stem,
                image_path,
                width,
                height,
                annotation.box_labels,  # the class stays even if one of its boxes was dropped
                annotation.boxes[keep],
                annotation.box_labels[keep],
                len(wnids),
            )
        )
    return ReadResult(samples, report)


def _parse_prediction_string(text: str, class_index: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Kaggle `PredictionString`: repeated `wnid x0 y0 x1 y1`; ValueError saying what is wrong."""
    fields = text.split()
    if not fields or len(fields) % 5:
        raise ValueError(f"PredictionString has {len(fields)} fields, expected a multiple of 5 ('wnid x0 y0 x1 y1')")
    unknown = [wnid for wnid in fields[0::5] if wnid not in class_index]
    if unknown:
        raise ValueError(f"unknown wnid {unknown[0]!r}")
    labels = np.array([class_index[wnid] for wnid in fields[0::5]], dtype=np.int64)
    corners = np.array([fields[i + 1 : i + 5] for i in range(0, len(fields), 5)], dtype=np.float64)
    return corners.reshape(-1, 4), labels


def read_loc_val_solution(
    csv_path: str | Path,
    synset_mapping: str | Path,
    images_dir: str | Path,
    on_bad_file: str = "fail",
    verify_images: bool = False,
) -> ReadResult:
    """Read Kaggle's `LOC_val_solution.csv` (`ImageId,PredictionString`), samples sorted by id.

    The CSV has no image sizes: they come from each image's header (`<images_dir>/<id>.JPEG`).
    A bad row (malformed string, unknown wnid) is reported as `<csv>: row N (<id>): ...`.
    """
    csv_path, images_dir = Path(csv_path), Path(images_dir)
    rows = read_metadata_rows(csv_path, 2)
    if not rows or rows[0][:2] != ["ImageId", "PredictionString"]:
        raise InputError(f"{csv_path}: expected the header 'ImageId,PredictionString'")
    wnids = read_synset_mapping(synset_mapping)
    class_index = {wnid: index for index, wnid in enumerate(wnids)}
    report = BadFileReport(on_bad_file)
    samples = []
    for lineno, (image_id, prediction, *_) in sorted(enumerate(rows[1:], start=2), key=lambda item: item[1][0]):
        image_path = images_dir / f"{image_id}.JPEG"
        try:
            try:
                boxes, box_labels = _parse_prediction_string(prediction, class_index)
            except ValueError as err:
                raise BadFileError(csv_path, f"row {lineno} ({image_id}): {err}") from err
            width, height, keep = check_annotated_image(
                csv_path, image_path, 0, 0, boxes, report, verify_images, record=f"row {lineno} ({image_id})"
            )
        except BadFileError as err:
            report.handle(err)
            continue
        samples.append(
            _ilsvrc_sample(image_id, image_path, width, height, box_labels, boxes[keep], box_labels[keep], len(wnids))
        )
    if len({sample.image_id for sample in samples}) != len(samples):
        raise InputError(f"{csv_path}: an ImageId appears more than once")
    return ReadResult(samples, report)


def ilsvrc_val_index(image_id: str) -> int:
    """1-based val image index of an id such as `ILSVRC2012_val_00006947` (-> 6947)."""
    digits = image_id.rsplit("_", 1)[-1]
    if not digits.isdigit():
        raise ValueError(f"image id {image_id!r} does not end in _<number>")
    return int(digits)


def read_blacklist(path: str | Path) -> frozenset[int]:
    """1-based val image indices of the devkit's `ILSVRC2015_clsloc_validation_blacklist.txt` (one a line)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: blacklist file not found")
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    bad = [line for line in lines if not line.isdigit() or int(line) < 1]
    if bad:
        raise InputError(f"{path}: expected one positive image index a line, got {bad[0]!r}")
    return frozenset(int(line) for line in lines)


def blacklisted(samples: list[Sample], blacklist: frozenset[int]) -> np.ndarray:
    """(N,) bool: which samples the blacklist names (by the val index in their id)."""
    return np.array([ilsvrc_val_index(sample.image_id) in blacklist for sample in samples], dtype=bool)
