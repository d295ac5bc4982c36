"""PASCAL VOC devkit reader (any year, any ImageSets/Main list, any class list).

Layout: `<root>/ImageSets/Main/<split>.txt` (one id a line), optional per-class lists
`<root>/ImageSets/Main/<cls>_<split>.txt` (`id label`, label 1 / -1 / 0), `<root>/Annotations/<id>.xml`,
`<root>/JPEGImages/<id>.jpg` (the devkit's `VOCopts.imgpath`).

Image-level labels: from the per-class lists when they exist for every class (the official
classification ground truth, which `VOCevalcls` reads); otherwise derived from the XML objects
(1 = a non-difficult object, 0 = only difficult objects, -1 = none), which is how the devkit built
those lists. Where both exist and differ, the list wins and the report records a
`LabelDisagreement` (a warning; `check-data --strict` makes it fatal). Boxes are the XML corners
(1-based inclusive), per-box class and difficult flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from gwapbench.data.annotation_xml import parse_annotation_xml
from gwapbench.data.bad_files import BadFileError, BadFileReport, LabelDisagreement, ReadResult
from gwapbench.data.image_files import check_annotated_image
from gwapbench.data.sample import Sample, image_labels_from_boxes
from gwapbench.errors import InputError

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip
LABELS_FROM_CHOICES = ("auto", "imagesets", "xml")
CLASS_LIST_NAME = "classes.txt"


def voc_class_names(root: str | Path) -> tuple[str, ...]:
    """The class names of a devkit folder: `<root>/classes.txt` (one a line) when present, else the 20 VOC classes.

    `make-synthetic` writes that file; any other VOC-layout dataset can carry one too.
    """
    path = Path(root) / CLASS_LIST_NAME
    if not path.is_file():
        return VOC_CLASSES
    names = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    if not names:
        raise InputError(f"{path}: lists no class names")
    return names


def _read_lines(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise InputError(f"{path}: ImageSets file not found")
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def read_image_set(root: Path, split: str) -> list[str]:
    """Image ids of `ImageSets/Main/<split>.txt`, in file order; InputError if missing or with duplicates."""
    path = root / "ImageSets" / "Main" / f"{split}.txt"
    ids = [fields[0] for fields in _read_lines(path)]
    if not ids:
        raise InputError(f"{path}: lists no images")
    if len(set(ids)) != len(ids):
        raise InputError(f"{path}: an image id appears more than once")
    return ids


def read_class_labels(root: Path, split: str, classes: Sequence[str], ids: Sequence[str]) -> np.ndarray:
    """(N, C) int8 labels from `<cls>_<split>.txt` for every class, rows in `ids` order."""
    row_of = {image_id: row for row, image_id in enumerate(ids)}
    labels = np.zeros((len(ids), len(classes)), dtype=np.int8)
    for column, name in enumerate(classes):
        path = root / "ImageSets" / "Main" / f"{name}_{split}.txt"
        seen: set[str] = set()
        for lineno, fields in enumerate(_read_lines(path), start=1):
            if len(fields) != 2 or fields[1] not in ("1", "-1", "0"):
                raise InputError(f"{path}:{lineno}: expected 'image_id label' with label 1, -1 or 0")
            if fields[0] not in row_of:
                raise InputError(f"{path}:{lineno}: image {fields[0]} is not in ImageSets/Main/{split}.txt")
            if fields[0] in seen:
                raise InputError(f"{path}:{lineno}: image {fields[0]} appears more than once")
            labels[row_of[fields[0]], column] = int(fields[1])
            seen.add(fields[0])
        if len(seen) != len(ids):
            missing = next(image_id for image_id in ids if image_id not in seen)
            raise InputError(
                f"{path}: has {len(seen)} images but ImageSets/Main/{split}.txt lists {len(ids)} (e.g. {missing} is missing)"
            )
    return labels


def _has_class_lists(root: Path, split: str, classes: Sequence[str]) -> bool:
    return all((root / "ImageSets" / "Main" / f"{name}_{split}.txt").is_file() for name in classes)


def _check_classes(classes: Sequence[str]) -> None:
    if len(classes) == 0:
        raise InputError("classes must not be empty")
    if any(not name for name in classes):
        raise InputError(f"class names must not be empty, got {list(classes)}")
    if len(set(classes)) != len(classes):
        raise InputError(f"classes must be unique, got {list(classes)}")


def read_voc(
    root: str | Path,
    split: str | Sequence[str] = "test",
    classes: Sequence[str] | None = None,
    on_bad_file: str = "fail",
    verify_images: bool = False,
    labels_from: str = "auto",
    id_prefix: str = "",
) -> ReadResult:
    """Read one devkit folder (e.g. `VOCdevkit/VOC2007`) for one split or several splits concatenated.

    Args:
        root: the folder holding ImageSets, Annotations and JPEGImages.
        split: name(s) of `ImageSets/Main/<split>.txt`; several are read in order (ids must not repeat).
        classes: class names; index = position (default: `voc_class_names(root)`, i.e. the root's
            classes.txt if any, else the 20 VOC classes in the official order).
        on_bad_file: "fail" raises on the first bad file; "skip" leaves it out and reports it.
        verify_images: decode every image in full (catches corrupt or truncated JPEGs up front);
            otherwise images are only opened for their header when the XML lacks a size.
        labels_from: "imagesets" (per-class lists, required), "xml" (derived from the objects),
            or "auto" (per-class lists when all exist for the split, else the XML).
        id_prefix: prepended to each image id (e.g. "2007_" to keep ids unique across years).

    Missing root, split list or per-class list raises `InputError` in any policy: they define the data.
    """
    root = Path(root)
    if classes is None:
        classes = voc_class_names(root) if root.is_dir() else VOC_CLASSES
    _check_classes(classes)
    if labels_from not in LABELS_FROM_CHOICES:
        raise ValueError(f"labels_from must be one of {LABELS_FROM_CHOICES}, got {labels_from!r}")
    report = BadFileReport(on_bad_file)
    if not root.is_dir():
        raise InputError(f"{root}: VOC root folder not found")
    splits = [split] if isinstance(split, str) else list(split)
    class_index = {name: index for index, name in enumerate(classes)}
    annotations_dir, images_dir = root / "Annotations", root / "JPEGImages"
    samples: list[Sample] = []
    for split_name in splits:
        ids = read_image_set(root, split_name)
        use_lists = labels_from == "imagesets" or (
            labels_from == "auto" and _has_class_lists(root, split_name, classes)
        )
        list_labels = read_class_labels(root, split_name, classes, ids) if use_lists else None
        for row, image_id in enumerate(ids):
            try:
                sample = _read_one(annotations_dir, images_dir, image_id, class_index, report, verify_images, id_prefix)
            except BadFileError as err:
                report.handle(err)
                continue
            if list_labels is not None:
                _record_disagreements(report, root, split_name, classes, sample, list_labels[row])
                sample = replace(sample, labels=list_labels[row].copy())
            samples.append(sample)
    if len({sample.image_id for sample in samples}) != len(samples):
        raise InputError(f"{root}: splits {splits} list the same image more than once")
    return ReadResult(samples, report)


def _record_disagreements(
    report: BadFileReport, root: Path, split: str, classes: Sequence[str], sample: Sample, list_labels: np.ndarray
) -> None:
    """Add a `LabelDisagreement` for each class where the per-class list and the XML objects differ."""
    for column in np.flatnonzero(list_labels != sample.labels):
        report.label_disagreements.append(LabelDisagreement(
            str(root / "ImageSets" / "Main" / f"{classes[column]}_{split}.txt"), sample.image_id, classes[column],
            int(list_labels[column]), int(sample.labels[column]),
        ))


def _read_one(
    annotations_dir: Path,
    images_dir: Path,
    image_id: str,
    class_index: dict[str, int],
    report: BadFileReport,
    verify_images: bool,
    id_prefix: str,
) -> Sample:
    annotation_path = annotations_dir / f"{image_id}.xml"
    image_path = images_dir / f"{image_id}.jpg"
    annotation = parse_annotation_xml(annotation_path, class_index)
    width, height, keep = check_annotated_image(
        annotation_path, image_path, annotation.width, annotation.height, annotation.boxes, report, verify_images
    )
    return Sample(
        image_id=id_prefix + image_id,
        image_path=image_path,
        width=width,
        height=height,
        # every object counts for the image-level labels, also one whose bad box was dropped
        labels=image_labels_from_boxes(annotation.box_labels, annotation.difficult, len(class_index)),
        boxes=annotation.boxes[keep],
        box_labels=annotation.box_labels[keep],
        difficult=annotation.difficult[keep],
    )


def voc_year(root: str | Path) -> str:
    """The year of a devkit folder (`VOC2007` -> "2007"); the folder name itself when it has no VOC prefix."""
    name = Path(root).name
    return name[3:] if name.startswith("VOC") and len(name) > 3 else name


def read_voc_union(
    parts: Sequence[tuple[str | Path, str]],
    classes: Sequence[str] | None = None,
    on_bad_file: str = "fail",
    verify_images: bool = False,
    labels_from: str = "auto",
) -> ReadResult:
    """Concatenate several (root, split) parts, e.g. VOC07 trainval + VOC12 trainval for Table V.

    Image ids become `<year>_<id>` (year from the root's folder name, see `voc_year`) so they stay
    unique across years; the reports are merged. Default classes: those of the first root.
    """
    if len(parts) == 0:
        raise ValueError("parts must list at least one (root, split) pair")
    if classes is None and Path(parts[0][0]).is_dir():
        classes = voc_class_names(parts[0][0])
    samples: list[Sample] = []
    report = BadFileReport(on_bad_file)
    for root, split in parts:
        part = read_voc(root, split, classes, on_bad_file, verify_images, labels_from, id_prefix=f"{voc_year(root)}_")
        samples.extend(part.samples)
        report.extend(part.report)
    if len({sample.image_id for sample in samples}) != len(samples):
        raise InputError(f"parts {[(str(root), split) for root, split in parts]} list the same image more than once")
    return ReadResult(samples, report)
