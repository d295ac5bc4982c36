"""Where Table V's images come from: `--data voc | synthetic`.

- `voc`: training on the union of the trainval splits of `--voc-root` (VOC2007) and, when given,
  `--voc2012-root` (VOC2012): the paper's VOC07+12 (kind "voc0712"; "voc07" without VOC2012);
  testing on VOC2007 test. The 20 VOC classes.
- `synthetic`: the built-in generator's VOC set cached in `<runs-dir>/_datasets/synthetic-voc`
  (as Table I's, `sources.synthetic_voc_root`): its trainval for training, its test for testing.

The box proportion is applied to the training images (`detection_data.split_boxes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gwapbench.data.sample import Sample
from gwapbench.data.voc import read_voc, read_voc_union, voc_class_names
from gwapbench.engine.sources import synthetic_voc_root
from gwapbench.errors import InputError

DETECTION_DATA = ("voc", "synthetic")


@dataclass(frozen=True)
class DetectionSource:
    """kind: "voc0712", "voc07" or "synthetic"; roots: the devkit folders whose trainval splits are joined
    (the first one also gives the test split); on_bad_file: "fail" or "skip"."""

    kind: str
    roots: tuple[Path, ...]
    classes: tuple[str, ...]
    on_bad_file: str = "fail"

    @property
    def metric_prefix(self) -> str:
        """Both VOC kinds test on VOC2007 test, the paper's "voc07"; synthetic keeps its own name."""
        return "synthetic" if self.kind == "synthetic" else "voc07"


def _check_devkit(root: Path, flag: str, split: str) -> None:
    listing = root / "ImageSets" / "Main" / f"{split}.txt"
    if not listing.is_file():
        raise InputError(f"{flag} {root}: no VOC dataset there (looked for {listing})")


def resolve_detection_source(kind: str, runs_dir: Path, voc_root: Path | None, voc2012_root: Path | None,
                             on_bad_file: str = "fail") -> DetectionSource:
    """Validate the flags up front; InputError naming the flag and the folder it looked in."""
    if kind not in DETECTION_DATA:
        raise InputError(f"--data {kind!r}: choose one of {', '.join(DETECTION_DATA)}")
    if kind == "synthetic":
        if voc_root is not None or voc2012_root is not None:
            raise InputError("--voc-root/--voc2012-root: not used with --data synthetic")
        root = synthetic_voc_root(runs_dir)
        return DetectionSource("synthetic", (root,), voc_class_names(root), on_bad_file)
    if voc_root is None:
        raise InputError("--voc-root: --data voc needs the VOC2007 devkit folder, e.g. --voc-root VOCdevkit/VOC2007")
    _check_devkit(voc_root, "--voc-root", "test")
    roots = (voc_root,)
    if voc2012_root is not None:
        _check_devkit(voc2012_root, "--voc2012-root", "trainval")
        roots += (voc2012_root,)
    _check_devkit(voc_root, "--voc-root", "trainval")
    return DetectionSource("voc0712" if len(roots) == 2 else "voc07", roots, voc_class_names(voc_root), on_bad_file)


def read_detection_splits(source: DetectionSource) -> tuple[list[Sample], list[Sample], list[str]]:
    """(training samples of the union, test samples, one line per file the bad-file policy skipped)."""
    verify = source.on_bad_file == "skip"
    train = read_voc_union([(root, "trainval") for root in source.roots], source.classes, source.on_bad_file,
                           verify_images=verify)
    test = read_voc(source.roots[0], "test", source.classes, on_bad_file=source.on_bad_file, verify_images=verify)
    for name, result in (("trainval", train), ("test", test)):
        if not result.samples:
            raise InputError(f"{source.roots[0]}: split {name!r} holds no readable image")
    skipped = [f"{item.path}: {item.reason}" for r in (train, test) for item in r.report.skipped]
    return train.samples, test.samples, skipped
