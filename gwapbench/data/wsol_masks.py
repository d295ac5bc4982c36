"""wsolevaluation's OpenImages ground truth: metadata rows and PNG masks read as its `get_mask` reads them.

Metadata (`metadata/OpenImages/<split>`): `image_ids.txt`, `class_labels.txt` (`path,label`) and
`localization.txt`, one row per foreground mask, `image_path,mask_path,ignore_path`; an image's first row
names its ignore mask, later rows leave it empty (its `get_mask_paths` asserts so). No image sizes: its
`MaskEvaluator` scores everything in the 224 x 224 frame.

Masks (its `load_mask_image` and `get_mask`, evaluation.py): each PNG read as 8-bit grayscale, resized to
224 x 224 with nearest neighbour (OpenCV's rule: source column min(floor(x * (1 / (224 / width))), width - 1),
rows alike), binarized at > 0.5 (any non-zero value); the foreground is the union of an image's masks, the
ignored pixels are its ignore mask minus that foreground.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import os
import weakref
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from gwapbench.data.ilsvrc import read_metadata_rows, wsol_class_label
from gwapbench.data.sample import Sample
from gwapbench.errors import InputError

MASK_FRAME = 224  # wsolevaluation's _RESIZE_LENGTH
GRAY_MODES = ("1", "L", "P", "LA", "RGB", "RGBA")  # decoded to 8-bit gray as OpenCV's IMREAD_GRAYSCALE does


@dataclass(frozen=True)
class WsolMaskEntry:
    """One image's mask files, relative to the mask root: its foreground masks and its ignore mask ("" none)."""

    image: str
    mask_paths: tuple[str, ...]
    ignore_path: str


def _rows(path: Path, fields: int) -> list[list[str]]:
    return read_metadata_rows(path, fields, fields)


def is_mask_metadata(folder: Path) -> bool:
    """True for OpenImages-style metadata: `localization.txt` rows of three fields (image, mask, ignore)."""
    path = folder / "localization.txt"
    if not path.is_file():
        return False
    with path.open(newline="") as handle:
        first = next((row for row in csv.reader(handle) if row), [])
    return len(first) == 3


def read_wsol_mask_metadata(folder: Path, num_classes: int) -> tuple[list[Sample], list[WsolMaskEntry]]:
    """Samples (in `image_ids.txt` order, MASK_FRAME x MASK_FRAME, no boxes) and their mask entries."""
    ids = [row[0] for row in _rows(folder / "image_ids.txt", 1)]
    try:
        label_of = {image: int(label) for image, label in _rows(folder / "class_labels.txt", 2)}
    except ValueError as err:
        raise InputError(f"{folder / 'class_labels.txt'}: malformed class label ({err})") from err
    masks: dict[str, list[str]] = {}
    ignore: dict[str, str] = {}
    for lineno, (image, mask, ignore_path) in enumerate(_rows(folder / "localization.txt", 3), start=1):
        if image in masks:
            if ignore_path:
                raise InputError(f"{folder / 'localization.txt'}:{lineno}: {image} names an ignore mask on a "
                                 "second row (one ignore mask per image, on its first row)")
            masks[image].append(mask)
        else:
            masks[image], ignore[image] = [mask], ignore_path
    samples, entries = [], []
    for image in ids:
        label = wsol_class_label(folder, image, label_of, num_classes, masks, "a row in localization.txt")
        labels = np.full(num_classes, -1, dtype=np.int8)
        labels[label] = 1
        samples.append(Sample(image_id=os.path.splitext(os.path.basename(image))[0], image_path=folder / image,
                              width=MASK_FRAME, height=MASK_FRAME, labels=labels))
        entries.append(WsolMaskEntry(image, tuple(masks[image]), ignore[image]))
    return samples, entries


@functools.lru_cache(maxsize=256)
def nearest_indices(source: int, size: int) -> np.ndarray:
    """OpenCV's INTER_NEAREST source index of each of `size` destination pixels: floor(x / (size / source)).

    Cached per (source, size) (masks of one dataset share a few sizes); the array is read-only.
    """
    inverse_scale = 1.0 / (size / source)
    indices = np.minimum(np.floor(np.arange(size) * inverse_scale).astype(np.int64), source - 1)
    indices.flags.writeable = False
    return indices


@contextlib.contextmanager
def open_mask_png(path: Path) -> Iterator[Image.Image]:
    """The mask file opened (its header read, nothing decoded yet) with an accepted mode; InputError naming the
    file when it is missing, unreadable (also while the caller decodes it) or of another mode."""
    try:
        with Image.open(path) as image:
            if image.mode not in GRAY_MODES:
                raise InputError(f"mask {path}: image mode {image.mode} (expected 8-bit gray, palette or colour)")
            yield image
    except FileNotFoundError as err:
        raise InputError(f"mask {path}: file not found") from err
    except (UnidentifiedImageError, OSError) as err:
        raise InputError(f"mask {path}: not a readable image ({err})") from err


def read_mask_png(path: Path, size: int = MASK_FRAME) -> np.ndarray:
    """(size, size) bool: the PNG as 8-bit gray, resized with nearest neighbour, > 0.5.

    1-bit and gray masks are used as decoded (a 1-bit pixel is gray 0 or 255); other modes go through
    PIL's convert("L"), which costs less than exporting their channels. The nearest-neighbour pixels are
    then picked rows first, columns second.
    """
    with open_mask_png(path) as image:
        pixels = np.asarray(image if image.mode in ("1", "L") else image.convert("L"))
    picked = pixels.take(nearest_indices(pixels.shape[0], size), axis=0)
    return picked.take(nearest_indices(pixels.shape[1], size), axis=1) > 0


class WsolMaskFiles(Sequence):
    """The foreground (`ignore=False`: union of an image's masks) or ignore masks (`ignore=True`; None where an
    image has none) of mask entries, each read from `root` only when indexed.

    With `workers` > 1 (default: NUMBA_NUM_THREADS, the evaluation's thread count) the masks after the one
    indexed are decoded ahead in that many threads (PIL releases the GIL while decoding), up to
    `readahead` images ahead: indexing in order, as `evaluate` does (skipping images is fine), then
    waits little, and at most `readahead` masks are held. Indexing backwards or beyond the read-ahead
    restarts it there.
    """

    def __init__(self, entries: Sequence[WsolMaskEntry], root: Path, ignore: bool = False,
                 size: int = MASK_FRAME, workers: int | None = None, readahead: int = 64) -> None:
        self.entries, self.root, self.ignore, self.size = list(entries), Path(root), ignore, size
        self.readahead = readahead
        if workers is None:
            from gwapbench.compiled import get_num_threads  # numba only where masks are read

            workers = get_num_threads()
        self._pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
        if self._pool is not None:
            weakref.finalize(self, self._pool.shutdown, wait=False, cancel_futures=True)
        self._pending: dict[int, Future] = {}
        self._next = 0

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> np.ndarray | None:  # type: ignore[override]
        index = range(len(self))[index]  # IndexError out of range; negative indices count from the end
        if self._pool is None:
            return self._read(index)
        if index not in self._pending:
            self._pending.clear()  # a jump: what was read ahead is dropped
            self._next = index
        while next(iter(self._pending), index) < index:  # images skipped over (in submission order)
            del self._pending[next(iter(self._pending))]
        while self._next < min(index + self.readahead, len(self)):
            self._pending[self._next] = self._pool.submit(self._read, self._next)
            self._next += 1
        return self._pending.pop(index).result()

    def _read(self, index: int) -> np.ndarray | None:
        entry = self.entries[index]
        if self.ignore:
            return read_mask_png(self.root / entry.ignore_path, self.size) if entry.ignore_path else None
        union = read_mask_png(self.root / entry.mask_paths[0], self.size)
        for mask_path in entry.mask_paths[1:]:
            union |= read_mask_png(self.root / mask_path, self.size)
        return union
