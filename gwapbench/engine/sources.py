"""Where a run's images come from: `--data voc07 | voc | synthetic` resolved to a DataConfig, and
its splits read with the dataset readers.

- `voc07`: a VOC2007 devkit folder (`--voc-root`, default `VOCdevkit/VOC2007`), the 20 VOC classes;
- `voc`: any VOC-layout folder with the classes given (e.g. BCCD: RBC, WBC, Platelets) or listed in
  its `classes.txt` (make-synthetic writes one);
- `synthetic`: the built-in generator's default VOC set (600 images, 160 px, seed 0), written on
  first use into `<runs-dir>/_datasets/synthetic-voc` and reused afterwards (no download).

ILSVRC data (Tables III-IV) is resolved and read in `engine.ilsvrc_sources`, Table V's in
`engine.detection_sources`; both reuse `generated_once` for their synthetic sets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from gwapbench.config import DataConfig
from gwapbench.data.bad_files import ReadResult
from gwapbench.data.synthetic import VOC_YEAR, make_synthetic_voc
from gwapbench.data.synthetic_shapes import CLASS_NAMES as SYNTHETIC_CLASSES
from gwapbench.data.voc import CLASS_LIST_NAME, VOC_CLASSES, read_voc, voc_class_names
from gwapbench.engine.store import check_runs_dir
from gwapbench.errors import InputError
from gwapbench.locks import holder_if_held, release, try_acquire
from gwapbench.outdir import has_content

DATA_KINDS = ("voc07", "voc", "synthetic")
DEFAULT_VOC_ROOT = Path("VOCdevkit") / "VOC2007"
SYNTHETIC_FOLDER = Path("_datasets") / "synthetic-voc"
LOCK_POLL_SECONDS = 0.2
FOREIGN_LOCK_SECONDS = 600  # generating a synthetic set takes well under a minute


def generated_once(out: Path, make: Callable[[Path], object]) -> Path:
    """`out`, written by `make(out)` on first use (atomically: a partial one never shows).

    `make` first creates `out` holding only its marker, then swaps the full folder in, so `out` counts as
    generated once it holds more than the marker. Processes started together (torchrun ranks) take turns
    on `<out>.lock` (`gwapbench.locks`; a dead owner's lock of this host is taken over): one generates, the
    others, on any node, wait and reuse its folder."""
    lock = out.parent / f"{out.name}.lock"
    while not is_generated(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        if not try_acquire(lock):
            _wait_or_take_over(lock)
            continue
        try:
            if not is_generated(out):
                make(out)
        finally:
            release(lock)
    return out


def _wait_or_take_over(lock: Path) -> None:
    """One turn of waiting for another process's `lock`: a stale one of this host is removed; one held on another
    host for longer than generation takes (`FOREIGN_LOCK_SECONDS`) is an InputError naming it."""
    owner = holder_if_held(lock)
    if owner is None:
        release(lock)
        return
    if owner.elsewhere:
        try:
            held = time.time() - lock.stat().st_mtime
        except FileNotFoundError:
            return
        if held > FOREIGN_LOCK_SECONDS:
            raise InputError(f"{lock} has been held by {owner} for {held:.0f} s{owner.removal_hint(lock)}")
    time.sleep(LOCK_POLL_SECONDS)


def is_generated(out: Path) -> bool:
    return out.is_dir() and has_content(out)


def synthetic_voc_root(runs_dir: Path) -> Path:
    """The cached synthetic VOC devkit, generated on first use."""
    check_runs_dir(runs_dir, writable=not is_generated(runs_dir / SYNTHETIC_FOLDER))
    return generated_once(runs_dir / SYNTHETIC_FOLDER, make_synthetic_voc) / "VOCdevkit" / VOC_YEAR


def resolve_data(
    kind: str,
    runs_dir: Path,
    voc_root: Path | None = None,
    classes: Sequence[str] | None = None,
    train_split: str = "trainval",
    test_split: str = "test",
    on_bad_file: str = "fail",
) -> DataConfig:
    """A DataConfig for `--data KIND`; InputError saying where it looked when there is no dataset there."""
    if kind not in DATA_KINDS:
        raise InputError(f"--data {kind!r}: choose one of {', '.join(DATA_KINDS)}")
    if kind == "synthetic":
        if voc_root is not None:
            raise InputError("--voc-root: not used with --data synthetic (the generator writes its own folder)")
        root = synthetic_voc_root(runs_dir)
        names = tuple(classes) if classes else tuple(SYNTHETIC_CLASSES)
    else:
        root = voc_root if voc_root is not None else DEFAULT_VOC_ROOT
        listing = root / "ImageSets" / "Main" / f"{train_split}.txt"
        if not listing.is_file():
            raise InputError(
                f"--voc-root {root}: no VOC dataset there (looked for {listing}); "
                "point --voc-root at a devkit folder such as VOCdevkit/VOC2007, or try --data synthetic"
            )
        if kind == "voc07" and classes and tuple(classes) != VOC_CLASSES:
            raise InputError("--classes: --data voc07 always uses the 20 VOC classes; use --data voc for others")
        if kind == "voc" and not classes and not (root / CLASS_LIST_NAME).is_file():
            raise InputError(f"--classes: --data voc needs the class names (e.g. --classes RBC,WBC,Platelets) "
                             f"or a {CLASS_LIST_NAME} in {root}")
        names = tuple(classes) if classes else voc_class_names(root)
    return DataConfig(kind=kind, root=str(root), classes=names, train_split=train_split, test_split=test_split,
                      on_bad_file=on_bad_file)


def read_split(data: DataConfig, split: str) -> ReadResult:
    """Read one split of the run's dataset with its bad-file policy.

    Under "skip" every image is decoded once up front, so that a corrupt one is left out (and
    reported) before training rather than stopping it midway; under "fail" images are decoded when
    used, and the first that does not decode stops the run with one line naming it (the last
    checkpoint stays, so the run resumes once the file is fixed).
    """
    skip = data.on_bad_file == "skip"
    result = read_voc(data.root, split, data.classes, on_bad_file=data.on_bad_file, verify_images=skip)
    if not result.samples:
        raise InputError(f"{data.root}: split {split!r} holds no readable image")
    return result
