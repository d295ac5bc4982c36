"""Synthetic data generation and loading speed: `python benchmarks/data_loading.py [--quick]`.

Rows (our time, a reference measured in the same run, ratio = reference / ours):
- generation of the default synthetic VOC (600 images) and ILSVRC (400 images) sets at 160 px,
  against the I/O floor: PIL JPEG-encoding and writing the same number of same-sized noise images;
- decode + transform (resize to 128x128, seeded random flip, ImageNet normalization) of the
  synthetic ILSVRC train images through a torch DataLoader (batch 32) with 0 and 2 workers: the
  engine's pipeline (`ImageLabelDataset` decoding at every use, flips from `epoch_keys`, `collate`,
  `Normalizer` on the batch), against torchvision's `ImageFolder` with the equivalent
  `transforms.v2` pipeline on the same files.
Images per second are printed below the table. Both loaders run with `torch.set_num_threads(1)`
(what DataLoader workers use): per-image ops on small images gain nothing from intra-op threads,
and on a busy 2-core machine OpenMP spin-waiting made 0-worker loading ~40x slower for both.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import datasets as tv_datasets
from torchvision.transforms import v2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time, print_row, run_script  # noqa: E402

from gwapbench.data.synthetic import make_synthetic_ilsvrc, make_synthetic_voc  # noqa: E402
from gwapbench.engine.batches import ImageLabelDataset, Normalizer, collate, epoch_keys  # noqa: E402

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _encode_floor(folder: Path, shapes: list[tuple[int, int]]) -> None:
    """The I/O floor of generation: encode and write one JPEG of noise per image size."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for index, (height, width) in enumerate(shapes):
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{index}.jpg", quality=90)


def _drain(loader: DataLoader) -> int:
    return sum(len(batch[1]) for batch in loader)


def _drain_engine(loader: DataLoader, normalize: Normalizer) -> int:
    return sum(len(normalize(batch.images)) for batch in loader)


def run(quick: bool = False) -> None:
    voc_splits = {"train": 25, "val": 25, "test": 50} if quick else {"train": 150, "val": 150, "test": 300}
    per_class = (6, 2) if quick else (30, 10)
    rates = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        counter = iter(range(1000))
        voc_time, voc = best_time(lambda: make_synthetic_voc(root / f"voc{next(counter)}", voc_splits), repeat=1)
        voc_shapes = [(s.height, s.width) for split in ("train", "val", "test") for s in voc[split]]
        floor_time, _ = best_time(lambda: _encode_floor(root / f"floor{next(counter)}", voc_shapes), repeat=1)
        print_row(f"generate synthetic VOC ({len(voc_shapes)} images)", voc_time, floor_time, "PIL encode+write only")

        ilsvrc_root = root / "ilsvrc"
        ilsvrc_time, ilsvrc = best_time(lambda: make_synthetic_ilsvrc(ilsvrc_root, *per_class), repeat=1)
        ilsvrc_shapes = [(s.height, s.width) for split in ("train", "val") for s in ilsvrc[split]]
        floor_time, _ = best_time(lambda: _encode_floor(root / f"floor{next(counter)}", ilsvrc_shapes), repeat=1)
        print_row(f"generate synthetic ILSVRC ({len(ilsvrc_shapes)} images)", ilsvrc_time, floor_time,
                  "PIL encode+write only")

        ours = ImageLabelDataset(ilsvrc["train"], 128, cache_bytes=0)  # decoded at every use, as ImageFolder
        keys = epoch_keys(seed=0, epoch=0, count=len(ours), flip_probability=0.5)
        batches = [keys[first : first + 32] for first in range(0, len(keys), 32)]
        normalize = Normalizer(MEAN, STD)
        reference = tv_datasets.ImageFolder(
            str(ilsvrc_root / "ILSVRC" / "Data" / "CLS-LOC" / "train"),
            transform=v2.Compose([
                v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Resize((128, 128), antialias=True),
                v2.RandomHorizontalFlip(0.5), v2.Normalize(MEAN, STD),
            ]),
        )
        assert len(reference) == len(ours)
        torch.set_num_threads(1)
        for workers in (0, 2):
            def engine_loader():
                return DataLoader(ours, batch_sampler=batches, collate_fn=collate, num_workers=workers)

            def reference_loader():
                return DataLoader(reference, batch_size=32, num_workers=workers, persistent_workers=False)

            ours_time, count = best_time(lambda: _drain_engine(engine_loader(), normalize), repeat=3)
            ref_time, _ = best_time(lambda: _drain(reference_loader()), repeat=3)
            print_row(f"decode+transform {count} images, {workers} workers", ours_time, ref_time,
                      "torchvision ImageFolder + v2")
            rates.append((workers, count / ours_time, count / ref_time))
    for workers, ours_rate, ref_rate in rates:
        print(f"  {workers} workers: ours {ours_rate:,.0f} images/s, torchvision {ref_rate:,.0f} images/s")


if __name__ == "__main__":
    run_script(run, __doc__, "smaller sets, for a smoke run")
