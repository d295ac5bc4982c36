"""Read the ground truth behind a command's `--voc-root`, `--imagenet-root` or `--wsol-metadata` option.

One function picks the reader from the folder's layout, so `check-data`, `evaluate` and the table
commands accept the same folders:

- `--voc-root`: a devkit folder (`ImageSets/Main`, `Annotations`, `JPEGImages`).
- `--imagenet-root`: the ILSVRC CLS-LOC layout with per-image val XMLs
  (`ILSVRC/Annotations/CLS-LOC/val/*.xml`), else Kaggle's `LOC_val_solution.csv` (sizes from the
  images in `ILSVRC/Data/CLS-LOC/val`), else a wsolevaluation metadata folder (`image_ids.txt` ...).
- `--wsol-metadata`: a wsolevaluation metadata folder: boxes (`metadata/ILSVRC/test`, `metadata/CUB/test`)
  or masks (`metadata/OpenImages/test`, told apart by its three-field `localization.txt` rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gwapbench.data.bad_files import BadFileReport
from gwapbench.data.ilsvrc import read_ilsvrc_val_xml, read_loc_val_solution, read_synset_mapping, read_wsol_metadata
from gwapbench.data.sample import Sample
from gwapbench.data.voc import read_voc, voc_class_names
from gwapbench.data.wsol_masks import WsolMaskEntry, is_mask_metadata, read_wsol_mask_metadata
from gwapbench.errors import InputError

WSOL_METADATA_FILES = ("image_ids.txt", "class_labels.txt", "image_sizes.txt", "localization.txt")
WSOL_MASK_METADATA_FILES = ("image_ids.txt", "class_labels.txt", "localization.txt")
# Classes of wsolevaluation's benchmarks, by the dataset folder of its layout metadata/<dataset>/<split>.
WSOL_NUM_CLASSES = {"CUB": 200, "ILSVRC": 1000, "OpenImages": 100}


def wsol_num_classes(folder: Path) -> int:
    """Classes of a metadata folder metadata/<dataset>/<split>: CUB 200, OpenImages 100, else ILSVRC's 1,000."""
    return WSOL_NUM_CLASSES.get(folder.resolve().parent.name, WSOL_NUM_CLASSES["ILSVRC"])


@dataclass(frozen=True)
class DatasetRead:
    """What a root option holds.

    Attributes:
        samples, report: the reader's `ReadResult`.
        class_names: class index -> name (VOC names, wnids), or None where the files name no classes
            (wsolevaluation metadata: sorted-wnid indices only).
        box_origin: pixel index of the first column/row in the boxes: 1 for VOC, 0 for ILSVRC.
        images_root: the folder image paths are relative to (map ids may be given relative to it).
        source: which files were read, for messages.
        mask_entries: per sample its mask files (wsolevaluation's OpenImages metadata), else None.
    """

    samples: list[Sample]
    report: BadFileReport
    class_names: list[str] | None
    box_origin: int
    images_root: Path
    source: str
    mask_entries: list[WsolMaskEntry] | None = field(default=None)


def _imagenet_mapping(root: Path) -> Path:
    for path in (root / "LOC_synset_mapping.txt", root / "ILSVRC" / "LOC_synset_mapping.txt"):
        if path.is_file():
            return path
    raise InputError(f"--imagenet-root {root}: LOC_synset_mapping.txt not found there or in ILSVRC/")


def read_wsol_root(folder: Path, option: str = "--wsol-metadata") -> DatasetRead:
    """A wsolevaluation metadata folder; image paths are the folder joined with the ids of image_ids.txt.
    Box metadata (ILSVRC, CUB) gives samples with boxes; mask metadata (OpenImages) samples without boxes
    and their `mask_entries`."""
    masks = is_mask_metadata(folder)
    expected = WSOL_MASK_METADATA_FILES if masks else WSOL_METADATA_FILES
    missing = [name for name in expected if not (folder / name).is_file()]
    if missing:
        raise InputError(f"{option} {folder}: {missing[0]} not found (expected {', '.join(expected)})")
    if masks:
        samples, entries = read_wsol_mask_metadata(folder, wsol_num_classes(folder))
        return DatasetRead(samples, BadFileReport(), None, 0, folder, f"wsolevaluation mask metadata {folder}",
                           entries)
    samples = read_wsol_metadata(folder, images_root=folder, num_classes=wsol_num_classes(folder))
    return DatasetRead(samples, BadFileReport(), None, 0, folder, f"wsolevaluation metadata {folder}")


def read_imagenet_root(root: Path, on_bad_file: str = "fail", verify_images: bool = False) -> DatasetRead:
    """ILSVRC val ground truth: val XMLs, else `LOC_val_solution.csv`, else wsolevaluation metadata."""
    if not root.is_dir():
        raise InputError(f"--imagenet-root {root}: folder not found")
    images = root / "ILSVRC" / "Data" / "CLS-LOC" / "val"
    xml_dir = root / "ILSVRC" / "Annotations" / "CLS-LOC" / "val"
    solution = root / "LOC_val_solution.csv"
    if xml_dir.is_dir():
        mapping = _imagenet_mapping(root)
        result = read_ilsvrc_val_xml(xml_dir, mapping, images, on_bad_file=on_bad_file, verify_images=verify_images)
        source = f"val XMLs {xml_dir}"
    elif solution.is_file():
        mapping = _imagenet_mapping(root)
        result = read_loc_val_solution(solution, mapping, images, on_bad_file=on_bad_file, verify_images=verify_images)
        source = f"{solution}"
    elif (root / "image_ids.txt").is_file():
        return read_wsol_root(root, "--imagenet-root")
    else:
        raise InputError(
            f"--imagenet-root {root}: found neither ILSVRC/Annotations/CLS-LOC/val, LOC_val_solution.csv "
            "nor wsolevaluation metadata (image_ids.txt)"
        )
    return DatasetRead(result.samples, result.report, read_synset_mapping(mapping), 0, images, source)


def voc_names_option(root: Path, classes: str | None) -> list[str]:
    """--classes as a list, else the devkit's classes.txt (written by make-synthetic), else the 20 VOC classes."""
    if classes is None:
        return list(voc_class_names(root))
    names = [c.strip() for c in classes.split(",")]
    if not all(names):
        raise InputError(f"--classes {classes!r}: give comma-separated class names (or leave --classes out)")
    return names


def read_voc_root(
    root: Path, split: str | None = None, classes: str | None = None, on_bad_file: str = "fail",
    verify_images: bool = False,
) -> DatasetRead:
    """A VOC devkit folder; `split` (default test) may list several splits ("train,val"), `classes`
    comma-separated names."""
    names = voc_names_option(root, classes)
    split = split or "test"
    splits = split.split(",") if "," in split else split
    result = read_voc(root, splits, names, on_bad_file=on_bad_file, verify_images=verify_images)
    return DatasetRead(result.samples, result.report, names, 1, root / "JPEGImages", f"VOC {root} ({split})")


def read_dataset_root(
    voc_root: Path | None = None,
    imagenet_root: Path | None = None,
    wsol_metadata: Path | None = None,
    split: str | None = None,
    classes: str | None = None,
    on_bad_file: str = "fail",
    verify_images: bool = False,
) -> DatasetRead:
    """Read the one root option given; InputError unless exactly one is (and --split/--classes only with VOC)."""
    given = [name for name, value in (("--voc-root", voc_root), ("--imagenet-root", imagenet_root),
                                      ("--wsol-metadata", wsol_metadata)) if value is not None]
    if len(given) != 1:
        raise InputError(f"give exactly one of --voc-root, --imagenet-root and --wsol-metadata (got {len(given)})")
    if voc_root is not None:
        return read_voc_root(voc_root, split, classes, on_bad_file, verify_images)
    for option, value in (("--split", split), ("--classes", classes)):
        if value is not None:
            raise InputError(f"{option} applies to --voc-root only; {given[0]} reads the val set and all its classes")
    if imagenet_root is not None:
        return read_imagenet_root(imagenet_root, on_bad_file, verify_images)
    return read_wsol_root(wsol_metadata)

