"""Heat maps stored by any method, read one at a time.

Three stores, each mapping an image id to one 2-D array:

- an `.npz` file (`np.savez(path, **{image_id: map})`); members are read when asked for;
- a run's `predictions.npz` (gwapbench's run store: `image_ids`, `maps` (N, K, h, w), `map_names`,
  `logits`), told apart by those members: the map of an image is the class-agnostic `alpha`, else
  the map of its true class (`gt`), the map GT-known accuracy and MaxBoxAcc score;
- a folder of `.npy` files as wsolevaluation stores score maps: the map of image id `I` is
  `<folder>/I.npy`, sub-folders allowed. wsolevaluation's code (`CamDataset._load_cam`:
  `os.path.join(scoremap_path, image_id + '.npy')`; `inference.py` saves with `np.save` on the
  id's path) keeps the id's extension, `val/ILSVRC2012_val_00000001.JPEG.npy`; its README and
  docstring show the id without extension, `val/ILSVRC2012_val_00000001.npy`. Both are accepted.

A map larger than `MAX_MAP_PIXELS` (25 million pixels, e.g. 5000 x 5000) is refused with one line
naming the image before it is loaded: its shape is read from the stored array's header. This bounds
the memory one map takes (a 5000 x 5000 float32 map is 100 MB, its working copies a few times that);
maps are resized to each image anyway, so a larger one gains nothing.

An image's map is found under any of its keys (`sample_keys`): its path relative to the dataset's
image folder with or without the extension, or its bare image id. Two maps for one image is an error.
"""

from __future__ import annotations

import math
import zipfile
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from gwapbench.data.sample import Sample
from gwapbench.errors import InputError
from gwapbench.npz import UnreadableNpz, member_shape, open_npz, read_member, stored_shape

_NPY = ".npy"
MAX_MAP_PIXELS = 25_000_000  # the largest map evaluated (module docstring)


class HeatmapStore:
    """Base of the two stores: `keys` (the image ids held) and `load(key)` (the raw array)."""

    path: Path
    keys: frozenset[str]

    def load(self, key: str) -> np.ndarray:
        raise NotImplementedError

    def shape(self, key: str) -> tuple[int, ...]:
        """The stored array's shape, read without loading the array."""
        raise NotImplementedError

    def close(self) -> None:
        """Release open files (the .npz store keeps its archive open)."""

    def __enter__(self) -> HeatmapStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NpyFolderStore(HeatmapStore):
    """`<folder>/<id>.npy`, nested ids as sub-folders; the folder is listed once."""

    def __init__(self, folder: Path) -> None:
        self.path = folder
        keys = []
        for directory, _, files in os.walk(folder):
            prefix = os.path.relpath(directory, folder)
            prefix = "" if prefix == "." else prefix.replace(os.sep, "/") + "/"
            keys.extend(prefix + name[: -len(_NPY)] for name in files if name.endswith(_NPY))
        self.keys = frozenset(keys)

    def load(self, key: str) -> np.ndarray:
        path = f"{self.path}/{key}{_NPY}"  # a string join: a Path per map costs ~5% of reading a 224x224 map
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            raise InputError(f"{path}: not a readable .npy array ({err})") from err

    def shape(self, key: str) -> tuple[int, ...]:
        path = f"{self.path}/{key}{_NPY}"
        try:
            with open(path, "rb") as handle:
                return stored_shape(handle)
        except (OSError, ValueError, EOFError) as err:
            raise InputError(f"{path}: not a readable .npy array ({err})") from err


class NpzStore(HeatmapStore):
    """An `.npz` archive of one array per image id (compressed or not)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._archive = open_npz(path)
        except UnreadableNpz as err:
            raise InputError(f"--heatmaps {path}: {err}") from err
        self.keys = frozenset(self._archive.files)

    def load(self, key: str) -> np.ndarray:
        try:
            return read_member(self._archive, key)
        except UnreadableNpz as err:
            raise InputError(f"--heatmaps {self.path}: {err}") from err

    def shape(self, key: str) -> tuple[int, ...]:
        try:
            return member_shape(self._archive, key)
        except UnreadableNpz as err:
            raise InputError(f"--heatmaps {self.path}: {err}") from err

    def close(self) -> None:
        self._archive.close()


RUN_PREDICTION_MEMBERS = frozenset({"image_ids", "maps", "map_names", "logits"})
RUN_MAP_NAMES = ("alpha", "gt")  # the map taken from a run's predictions, first present wins


class RunPredictionsStore(HeatmapStore):
    """A run's predictions.npz: image id -> its `alpha` map, else its true class's `gt` map."""

    def __init__(self, path: Path, archive: np.lib.npyio.NpzFile) -> None:
        self.path = path
        try:
            names = [str(n) for n in archive["map_names"]]
            ids = [str(i) for i in archive["image_ids"]]
            maps = archive["maps"]
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise InputError(f"--heatmaps {path}: not a readable run predictions file ({err})") from err
        finally:
            archive.close()
        chosen = next((n for n in RUN_MAP_NAMES if n in names), None)
        if chosen is None or maps.ndim != 4 or maps.shape[:2] != (len(ids), len(names)):
            raise InputError(f"--heatmaps {path}: a run's predictions need maps (N, K, h, w) with an 'alpha' or 'gt' "
                             f"map (map_names: {', '.join(names) or 'none'})")
        self.map_name = chosen
        self._maps = maps[:, names.index(chosen)]
        self._row = {image_id: i for i, image_id in enumerate(ids)}
        self.keys = frozenset(self._row)

    def load(self, key: str) -> np.ndarray:
        return self._maps[self._row[key]]

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._maps.shape[1:])


def open_heatmaps(path: str | os.PathLike[str]) -> HeatmapStore:
    """The store at `path`: a folder of .npy files, a run's predictions.npz or an .npz of one map per image
    id; InputError otherwise."""
    path = Path(path)
    if path.is_dir():
        return NpyFolderStore(path)
    if path.is_file() and path.suffix == ".npz":
        store = NpzStore(path)
        if RUN_PREDICTION_MEMBERS <= store.keys:
            return RunPredictionsStore(path, store._archive)
        return store
    if path.exists():
        raise InputError(f"--heatmaps {path}: expected a folder of .npy maps or an .npz file")
    raise InputError(f"--heatmaps {path}: not found")


def sample_keys(sample: Sample, images_root: Path | None = None) -> tuple[str, ...]:
    """The ids a map of `sample` may be stored under, most specific first: the image path relative to
    `images_root` (e.g. `val/ILSVRC2012_val_00000001.JPEG`), the same without extension, the image id."""
    keys = []
    path, root = str(sample.image_path), str(images_root) + os.sep if images_root is not None else None
    if root is not None and path.startswith(root):  # the readers build image paths as root / relative name
        relative = path[len(root) :].replace(os.sep, "/")
        keys += [relative, os.path.splitext(relative)[0]]
    keys.append(sample.image_id)
    return tuple(dict.fromkeys(keys))


def match_keys(
    samples: Sequence[Sample], available: frozenset[str], images_root: Path | None, what: str
) -> list[str | None]:
    """For each sample, the one key of `available` naming it (None if none); two keys for one image:
    InputError naming both (`what` says where, e.g. "--heatmaps maps/")."""
    matched: list[str | None] = []
    for sample in samples:
        found = [key for key in sample_keys(sample, images_root) if key in available]
        if len(found) > 1:
            raise InputError(f"{what}: two entries for image {sample.image_id}: {found[0]!r} and {found[1]!r}")
        matched.append(found[0] if found else None)
    return matched


def check_heatmap_array(array: np.ndarray, image: str) -> np.ndarray:
    """The map as float32 or float64 (other real dtypes become float32); InputError naming the image
    if it is not 2-D, is empty, is not real-valued or holds NaN or infinity."""
    if array.ndim != 2:
        raise InputError(f"heat map of image {image}: expected a 2-D array, got shape {array.shape}")
    check_map_size(array.shape, image)
    if array.size == 0:
        raise InputError(f"heat map of image {image}: empty (shape {array.shape})")
    if array.dtype.kind not in "biuf":
        raise InputError(f"heat map of image {image}: expected real numbers, got dtype {array.dtype}")
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise InputError(f"heat map of image {image}: contains NaN or infinite values")
    return array


def check_map_size(shape: tuple[int, ...], image: str) -> None:
    """InputError naming the image when a map of `shape` holds more than `MAX_MAP_PIXELS` values."""
    pixels = math.prod(shape)
    if pixels > MAX_MAP_PIXELS:
        raise InputError(f"heat map of image {image}: {'x'.join(map(str, shape))} = {pixels} pixels, above the limit "
                         f"of {MAX_MAP_PIXELS}: store it downsampled (each map is resized to its image anyway)")


def iter_heatmaps(store: HeatmapStore, keys: Sequence[str]) -> Iterator[np.ndarray]:
    """The checked maps of `keys`, one at a time, in order; each one's size checked before it is loaded (by a store
    with `shape`, as both stores here; any object with `path`, `keys` and `load` serves as a store)."""
    shape = getattr(store, "shape", None)
    for key in keys:
        if shape is not None:
            check_map_size(shape(key), key)
        yield check_heatmap_array(store.load(key), key)
