"""Where Tables III-IV's images come from: `--imagenet-root P` or `--data synthetic`.

`--imagenet-root P`: a CLS-LOC folder (`ILSVRC/Data/CLS-LOC/{train,val}`, `LOC_synset_mapping.txt`, val
boxes from `ILSVRC/Annotations/CLS-LOC/val/*.xml` or `LOC_val_solution.csv`); `--data synthetic`: the
generator's default ILSVRC tree, cached in `<runs-dir>/_datasets/synthetic-ilsvrc` (`sources.generated_once`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gwapbench.config import DataConfig
from gwapbench.data.bad_files import BadFileReport, ReadResult
from gwapbench.data.ilsvrc import read_ilsvrc_val_xml, read_loc_val_solution, read_synset_mapping
from gwapbench.data.sample import Sample
from gwapbench.data.synthetic import make_synthetic_ilsvrc
from gwapbench.engine.sources import generated_once, is_generated
from gwapbench.engine.store import check_runs_dir
from gwapbench.errors import InputError

ILSVRC_DATA = ("ilsvrc", "synthetic")  # --data of the ILSVRC commands
ILSVRC_KINDS = ("ilsvrc", "synthetic_ilsvrc")  # DataConfig.kind of --imagenet-root and of --data synthetic
SYNTHETIC_ILSVRC_FOLDER = Path("_datasets") / "synthetic-ilsvrc"
ILSVRC_CLS_LOC = Path("ILSVRC") / "Data" / "CLS-LOC"
ILSVRC_VAL_XML = Path("ILSVRC") / "Annotations" / "CLS-LOC" / "val"
SYNSET_MAPPING = "LOC_synset_mapping.txt"


def synthetic_ilsvrc_root(runs_dir: Path) -> Path:
    """The cached synthetic ILSVRC tree (`make_synthetic_ilsvrc` defaults), generated on first use."""
    check_runs_dir(runs_dir, writable=not is_generated(runs_dir / SYNTHETIC_ILSVRC_FOLDER))
    return generated_once(runs_dir / SYNTHETIC_ILSVRC_FOLDER, make_synthetic_ilsvrc)


def synset_mapping_path(root: Path) -> Path:
    """`LOC_synset_mapping.txt` at the root (Kaggle layout) or in its `ILSVRC/` folder."""
    for path in (root / SYNSET_MAPPING, root / "ILSVRC" / SYNSET_MAPPING):
        if path.is_file():
            return path
    raise InputError(f"--imagenet-root {root}: no {SYNSET_MAPPING} there or in {root / 'ILSVRC'} (the class "
                     "list in sorted-wnid order); point --imagenet-root at an ILSVRC CLS-LOC folder, or try --data "
                     "synthetic")


def resolve_ilsvrc_data(kind: str, runs_dir: Path, imagenet_root: Path | None,
                        on_bad_file: str = "fail") -> DataConfig:
    """A DataConfig for `--imagenet-root P` (kind "ilsvrc") or `--data synthetic` (the cached synthetic tree)."""
    if kind == "synthetic":
        if imagenet_root is not None:
            raise InputError("--imagenet-root: not used with --data synthetic (the generator writes its own folder)")
        root, kind = synthetic_ilsvrc_root(runs_dir), "synthetic_ilsvrc"
    elif kind == "ilsvrc":
        if imagenet_root is None:
            raise InputError("--imagenet-root: give the ILSVRC CLS-LOC folder (holding ILSVRC/Data/CLS-LOC), "
                             "or --data synthetic")
        root = imagenet_root
        if not (root / ILSVRC_CLS_LOC).is_dir():
            raise InputError(f"--imagenet-root {root}: no {ILSVRC_CLS_LOC} folder there")
    else:
        raise InputError(f"--data {kind!r}: choose ilsvrc or synthetic")
    wnids = read_synset_mapping(synset_mapping_path(root))
    return DataConfig(kind=kind, root=str(root), classes=tuple(wnids), train_split="train", test_split="val",
                      on_bad_file=on_bad_file)


def read_ilsvrc_train(root: Path, wnids: Sequence[str]) -> ReadResult:
    """`ILSVRC/Data/CLS-LOC/train/<wnid>/*.JPEG`, image-level labels only (one-hot rows shared, sizes
    unknown = 0: images are never opened to list them). A folder that is no listed wnid is an error."""
    train = root / ILSVRC_CLS_LOC / "train"
    if not train.is_dir():
        raise InputError(f"--imagenet-root {root}: no training folder {train}")
    index = {wnid: i for i, wnid in enumerate(wnids)}
    unknown = sorted(e.name for e in os.scandir(train) if e.is_dir() and e.name not in index)
    if unknown:
        raise InputError(f"{train / unknown[0]}: {unknown[0]} is not a wnid of {SYNSET_MAPPING}")
    one_hot = np.where(np.eye(len(wnids), dtype=bool), 1, -1).astype(np.int8)
    one_hot.flags.writeable = False
    samples = []
    for wnid in wnids:
        folder = train / wnid
        if folder.is_dir():
            names = sorted(e.name for e in os.scandir(folder) if e.name.endswith(".JPEG"))
            samples += [Sample(n[: -len(".JPEG")], folder / n, 0, 0, one_hot[index[wnid]]) for n in names]
    return ReadResult(samples, BadFileReport("fail"))


def read_ilsvrc_val(root: Path, on_bad_file: str = "fail", verify_images: bool = False) -> ReadResult:
    """Val ground truth from the per-image XMLs, else from `LOC_val_solution.csv` at the root (images
    decoded up front with `verify_images`, as `read_split` does under "skip")."""
    mapping = synset_mapping_path(root)
    images = root / ILSVRC_CLS_LOC / "val"
    if (root / ILSVRC_VAL_XML).is_dir():
        return read_ilsvrc_val_xml(root / ILSVRC_VAL_XML, mapping, images, on_bad_file, verify_images)
    if (root / "LOC_val_solution.csv").is_file():
        return read_loc_val_solution(root / "LOC_val_solution.csv", mapping, images, on_bad_file, verify_images)
    raise InputError(f"--imagenet-root {root}: no val ground truth ({ILSVRC_VAL_XML} or LOC_val_solution.csv)")


def read_ilsvrc_split(data: DataConfig, split: str) -> ReadResult:
    """`read_split` for ILSVRC data ("train": the listing, else val), images verified under "skip"."""
    root = Path(data.root)
    if split == "train":
        return read_ilsvrc_train(root, data.classes)
    val = read_ilsvrc_val(root, data.on_bad_file, verify_images=data.on_bad_file == "skip")
    if val.samples:
        return val
    raise InputError(f"{data.root}: the val split holds no readable image")
