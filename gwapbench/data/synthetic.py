"""Write procedural datasets in the real PASCAL VOC and ILSVRC CLS-LOC layouts.

The same readers as for real data read the output. Generation is deterministic given the seed
(every image draws from its own `numpy.random.SeedSequence([seed, split, index])`, class
assignments from `[seed]`), and atomic: everything is written into a staging folder beside
`out`, renamed onto `out` at the end, and removed on failure (`gwapbench.outdir.replace_folder`;
`overwrite` replaces only a folder gwapbench wrote, which carries its marker file). A VOC devkit
gets a `classes.txt` (one class name a line) that the VOC reader uses when no classes are given.

Box conventions, as in the real files: VOC XMLs 1-based inclusive corners; ILSVRC XMLs and
`LOC_val_solution.csv` 0-based inclusive corners (xmax <= width - 1). The returned `Sample`s use
the same conventions as the files they describe.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from gwapbench.atomic import write_bytes_atomic, write_text_atomic
from gwapbench.data.sample import Sample, image_labels_from_boxes
from gwapbench.data.synthetic_scene import SceneObject, SceneSpec, compose_scene
from gwapbench.data.synthetic_shapes import CLASS_NAMES, encode_jpeg
from gwapbench.data.voc import CLASS_LIST_NAME
from gwapbench.errors import InputError
from gwapbench.outdir import replace_folder

VOC_SPLITS = ("train", "val", "test")
VOC_YEAR = "VOCsynth"
VOC_SCENE = SceneSpec(
    object_scale=(0.05, 0.28),
    distractor_scale=(0.05, 0.22),
    distractors=(2, 5),
    min_visible=0.25,
    difficult_visible=0.5,
    difficult_side=0.12,
)
ILSVRC_SCENE = SceneSpec(
    object_scale=(0.15, 0.35),
    distractor_scale=(0.06, 0.2),
    distractors=(2, 4),
    min_visible=0.6,
    difficult_visible=0.0,
    difficult_side=0.0,
)
MAX_OBJECTS_PER_VOC_IMAGE = 4
MAX_IMAGES = 1_000_000  # about 5 GB of JPEGs at the default size; the class deck is drawn in memory up front
MAX_SEED = 2**63 - 1


def synthetic_wnids(num_classes: int = len(CLASS_NAMES)) -> list[str]:
    """Fake WordNet ids n00000001, n00000002, ... (sorted order = class index order)."""
    return [f"n{index + 1:08d}" for index in range(num_classes)]


def _image_rng(seed: int, split_index: int, image_index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, split_index, image_index]))


def _image_shape(rng: np.random.Generator, size: int) -> tuple[int, int]:
    """(height, width): the longer side is `size`, the shorter one `size * U(0.7, 1)`, orientation random."""
    short = int(round(size * rng.uniform(0.7, 1.0)))
    return (size, short) if rng.random() < 0.5 else (short, size)


def _class_deck(rng: np.random.Generator, count: int, num_classes: int) -> list[int]:
    """`count` class indices from concatenated random permutations: every class count within 1 of the others."""
    rounds = -(-count // num_classes)
    return [int(c) for _ in range(rounds) for c in rng.permutation(num_classes)][:count]


def _xml_object(name: str, box: tuple[int, int, int, int], obj: SceneObject) -> str:
    xmin, ymin, xmax, ymax = box
    return (
        "\t<object>\n"
        f"\t\t<name>{name}</name>\n"
        "\t\t<pose>Unspecified</pose>\n"
        f"\t\t<truncated>{int(obj.truncated)}</truncated>\n"
        f"\t\t<difficult>{int(obj.difficult)}</difficult>\n"
        "\t\t<bndbox>\n"
        f"\t\t\t<xmin>{xmin}</xmin>\n\t\t\t<ymin>{ymin}</ymin>\n"
        f"\t\t\t<xmax>{xmax}</xmax>\n\t\t\t<ymax>{ymax}</ymax>\n"
        "\t\t</bndbox>\n"
        "\t</object>\n"
    )


def _xml(folder: str, filename: str, database: str, height: int, width: int, objects_xml: str) -> str:
    return (
        "<annotation>\n"
        f"\t<folder>{folder}</folder>\n"
        f"\t<filename>{filename}</filename>\n"
        f"\t<source>\n\t\t<database>{database}</database>\n\t</source>\n"
        f"\t<size>\n\t\t<width>{width}</width>\n\t\t<height>{height}</height>\n\t\t<depth>3</depth>\n\t</size>\n"
        "\t<segmented>0</segmented>\n"
        f"{objects_xml}"
        "</annotation>\n"
    )


def _sample(
    image_id: str, path: Path, height: int, width: int, objects: list[SceneObject], origin: int, num_classes: int
) -> Sample:
    """The Sample a reader should produce; boxes shifted to the file's `origin` (1 for VOC, 0 for ILSVRC)."""
    box_labels = np.array([obj.class_index for obj in objects], dtype=np.int64)
    difficult = np.array([obj.difficult for obj in objects], dtype=bool)
    labels = image_labels_from_boxes(box_labels, difficult, num_classes)
    return Sample(
        image_id=image_id,
        image_path=path,
        width=width,
        height=height,
        labels=labels,
        boxes=np.array([obj.box for obj in objects], dtype=np.float64).reshape(-1, 4) + origin,
        box_labels=box_labels,
        difficult=difficult,
    )


def _with_root(samples: dict[str, list[Sample]], staging: Path, out: Path) -> dict[str, list[Sample]]:
    """Re-point image paths from the staging folder to the final folder."""
    return {
        split: [replace(s, image_path=out / s.image_path.relative_to(staging)) for s in split_samples]
        for split, split_samples in samples.items()
    }


def make_synthetic_voc(
    out: str | Path,
    splits: dict[str, int] | None = None,
    size: int = 160,
    seed: int = 0,
    overwrite: bool = False,
    jpeg_quality: int = 90,
) -> dict[str, list[Sample]]:
    """Write a synthetic VOC devkit at `out/VOCdevkit/VOCsynth`; return the samples of each split.

    `splits` maps "train", "val", "test" to image counts (default 150/150/300); "trainval" is
    written as train + val. Each image holds 1 to 4 class objects (classes drawn from a balanced
    deck) and 2 to 5 distractors. Image ids are 000001, 000002, ... across the splits in order.
    """
    counts = _validate_counts(splits or {"train": 150, "val": 150, "test": 300}, VOC_SPLITS)
    _validate_image_args(size, jpeg_quality, seed)
    out = Path(out)
    deck_rng = np.random.default_rng(np.random.SeedSequence([seed]))
    num_objects = [int(n) for n in deck_rng.integers(1, MAX_OBJECTS_PER_VOC_IMAGE, sum(counts.values()), endpoint=True)]
    deck = iter(_class_deck(deck_rng, sum(num_objects), len(CLASS_NAMES)))
    with replace_folder(out, replace=overwrite) as staging:
        root = staging / "VOCdevkit" / VOC_YEAR
        samples: dict[str, list[Sample]] = {}
        image_number = 0
        for split_index, split in enumerate(VOC_SPLITS):
            samples[split] = []
            for index in range(counts[split]):
                classes = [next(deck) for _ in range(num_objects[image_number])]
                image_number += 1
                image_id = f"{image_number:06d}"
                rng = _image_rng(seed, split_index, index)
                height, width = _image_shape(rng, size)
                canvas, objects = compose_scene(rng, height, width, classes, VOC_SCENE)
                path = root / "JPEGImages" / f"{image_id}.jpg"
                write_bytes_atomic(path, encode_jpeg(canvas, jpeg_quality))
                objects_xml = "".join(
                    _xml_object(CLASS_NAMES[o.class_index], tuple(b + 1 for b in o.box), o) for o in objects
                )
                xml = _xml(VOC_YEAR, f"{image_id}.jpg", "The synthetic gwapbench database", height, width, objects_xml)
                write_text_atomic(root / "Annotations" / f"{image_id}.xml", xml)
                samples[split].append(_sample(image_id, path, height, width, objects, 1, len(CLASS_NAMES)))
        samples["trainval"] = samples["train"] + samples["val"]
        _write_voc_image_sets(root / "ImageSets" / "Main", samples)
        write_text_atomic(root / CLASS_LIST_NAME, "".join(f"{name}\n" for name in CLASS_NAMES))
    return _with_root(samples, staging, out)


def _write_voc_image_sets(folder: Path, samples: dict[str, list[Sample]]) -> None:
    """`<split>.txt` (one id a line) and `<cls>_<split>.txt` (`id label`, label 1 / -1 / 0 right-aligned)."""
    for split, split_samples in samples.items():
        write_text_atomic(folder / f"{split}.txt", "".join(f"{s.image_id}\n" for s in split_samples))
        for class_index, name in enumerate(CLASS_NAMES):
            rows = "".join(f"{s.image_id} {int(s.labels[class_index]):2d}\n" for s in split_samples)
            write_text_atomic(folder / f"{name}_{split}.txt", rows)


def make_synthetic_ilsvrc(
    out: str | Path,
    train_per_class: int = 30,
    val_per_class: int = 10,
    size: int = 160,
    seed: int = 0,
    overwrite: bool = False,
    jpeg_quality: int = 90,
) -> dict[str, list[Sample]]:
    """Write a synthetic ILSVRC CLS-LOC tree at `out`; return the samples of "train" and "val".

    Files: `ILSVRC/Data/CLS-LOC/train/<wnid>/<wnid>_<k>.JPEG`, `ILSVRC/Data/CLS-LOC/val/
    ILSVRC2012_val_<8 digits>.JPEG`, per-image XMLs under `ILSVRC/Annotations/CLS-LOC/{train/<wnid>,val}`,
    `LOC_synset_mapping.txt` ("wnid name", sorted wnids = class indices) and `LOC_val_solution.csv`
    (Kaggle: `ImageId,PredictionString` with "wnid xmin ymin xmax ymax" per box). Each image shows
    one class (1 or 2 instances; exactly `*_per_class` images per class, val in shuffled order)
    among 2 to 4 distractors. Labels are one-hot 1 / -1.
    """
    counts = _validate_counts({"train": train_per_class, "val": val_per_class}, ("train", "val"))
    if sum(counts.values()) * len(CLASS_NAMES) > MAX_IMAGES:
        raise ValueError(f"splits: at most {MAX_IMAGES} images in all, got {sum(counts.values())} per class")
    _validate_image_args(size, jpeg_quality, seed)
    out = Path(out)
    wnids = synthetic_wnids()
    order_rng = np.random.default_rng(np.random.SeedSequence([seed]))
    val_classes = [int(c) for c in order_rng.permutation(np.repeat(np.arange(len(wnids)), counts["val"]))]
    with replace_folder(out, replace=overwrite) as staging:
        data = staging / "ILSVRC" / "Data" / "CLS-LOC"
        notes = staging / "ILSVRC" / "Annotations" / "CLS-LOC"
        samples: dict[str, list[Sample]] = {"train": [], "val": []}
        jobs = [("train", c, k) for c in range(len(wnids)) for k in range(counts["train"])]
        jobs += [("val", c, k) for k, c in enumerate(val_classes)]
        for split, class_index, k in jobs:
            split_index = 0 if split == "train" else 1
            rng = _image_rng(seed, split_index, len(samples[split]))
            wnid = wnids[class_index]
            if split == "train":
                image_id, image_dir, note_dir = f"{wnid}_{k + 1}", data / "train" / wnid, notes / "train" / wnid
            else:
                image_id, image_dir, note_dir = f"ILSVRC2012_val_{k + 1:08d}", data / "val", notes / "val"
            height, width = _image_shape(rng, size)
            instances = [class_index] * (1 if rng.random() < 0.75 else 2)
            canvas, objects = compose_scene(rng, height, width, instances, ILSVRC_SCENE)
            path = image_dir / f"{image_id}.JPEG"
            write_bytes_atomic(path, encode_jpeg(canvas, jpeg_quality))
            objects_xml = "".join(_xml_object(wnid, o.box, o) for o in objects)
            xml = _xml(split, image_id, "ILSVRC_2012", height, width, objects_xml)
            write_text_atomic(note_dir / f"{image_id}.xml", xml)
            samples[split].append(_sample(image_id, path, height, width, objects, 0, len(wnids)))
        mapping = "".join(f"{wnid} {name}\n" for wnid, name in zip(wnids, CLASS_NAMES))
        write_text_atomic(staging / "LOC_synset_mapping.txt", mapping)
        write_text_atomic(staging / "LOC_val_solution.csv", _kaggle_solution(samples["val"], wnids))
    return _with_root(samples, staging, out)


def _kaggle_solution(samples: list[Sample], wnids: list[str]) -> str:
    rows = ["ImageId,PredictionString\n"]
    for s in samples:
        boxes = " ".join(
            f"{wnids[label]} " + " ".join(str(int(v)) for v in box) for box, label in zip(s.boxes, s.box_labels)
        )
        rows.append(f"{s.image_id},{boxes}\n")
    return "".join(rows)


def _validate_counts(counts: dict[str, int], names: tuple[str, ...]) -> dict[str, int]:
    unknown = set(counts) - set(names)
    if unknown:
        raise ValueError(f"splits: unknown split(s) {sorted(unknown)}; expected {', '.join(names)}")
    full = {name: int(counts.get(name, 0)) for name in names}
    if any(n < 0 for n in full.values()) or sum(full.values()) == 0:
        raise ValueError(f"splits: image counts must be >= 0 with at least one image, got {full}")
    if sum(full.values()) > MAX_IMAGES:
        raise ValueError(f"splits: at most {MAX_IMAGES} images in all, got {sum(full.values())}")
    return full


def _validate_image_args(size: int, jpeg_quality: int, seed: int) -> None:
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed: must be in 0..{MAX_SEED}, got {seed}")
    if not 32 <= size <= 4096:
        raise ValueError(f"size: image side must be in 32..4096 pixels, got {size}")
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f"jpeg_quality: must be in 1..100, got {jpeg_quality}")


LAYOUTS = ("voc", "ilsvrc")
DEFAULT_IMAGES = {"voc": 600, "ilsvrc": 400}


def parse_split_sizes(text: str, layout: str) -> dict[str, int]:
    """Parse `--splits` text such as "train=150,val=150,test=300" (VOC: images per split) or
    "train=30,val=10" (ILSVRC: images per class); raise `InputError` naming `--splits` when malformed."""
    names = VOC_SPLITS if layout == "voc" else ("train", "val")
    sizes: dict[str, int] = {}
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or name not in names or not value.strip().isdigit() or name in sizes:
            raise InputError(f"--splits {text!r}: expected comma-separated NAME=COUNT with NAME in {', '.join(names)}")
        sizes[name] = int(value)
    if sum(sizes.values()) == 0:
        raise InputError(f"--splits {text!r}: at least one image is needed")
    if total_images(layout, sizes) > MAX_IMAGES:
        raise InputError(f"--splits {text!r}: {total_images(layout, sizes)} images; at most {MAX_IMAGES} are allowed")
    return sizes


def total_images(layout: str, sizes: dict[str, int]) -> int:
    """The number of images split `sizes` write (ILSVRC sizes count images per class)."""
    return sum(sizes.values()) * (1 if layout == "voc" else len(CLASS_NAMES))


def default_split_sizes(layout: str, images: int) -> dict[str, int]:
    """Split `images` in total: VOC train/val/test 1:1:2 (as VOC2007); ILSVRC per class, val = a quarter.

    ILSVRC writes the same number of images for every class, so `images` is rounded down to a
    multiple of the class count (see `total_images`).
    """
    if images < (4 if layout == "voc" else 2 * len(CLASS_NAMES)):
        raise InputError(f"--images {images}: too few for the {layout} layout")
    if images > MAX_IMAGES:
        raise InputError(f"--images {images}: at most {MAX_IMAGES} images are allowed")
    if layout == "voc":
        quarter = images // 4
        return {"train": quarter, "val": quarter, "test": images - 2 * quarter}
    per_class = images // len(CLASS_NAMES)
    val = max(1, per_class // 4)
    return {"train": per_class - val, "val": val}


def make_synthetic(
    layout: str, out: str | Path, sizes: dict[str, int], size: int = 160, seed: int = 0, overwrite: bool = False,
    jpeg_quality: int = 90,
) -> dict[str, list[Sample]]:
    """Write the `layout` ("voc" or "ilsvrc") with split `sizes` (see `parse_split_sizes`) at `out`."""
    if layout == "voc":
        return make_synthetic_voc(out, sizes, size, seed, overwrite, jpeg_quality)
    if layout == "ilsvrc":
        return make_synthetic_ilsvrc(
            out, sizes.get("train", 0), sizes.get("val", 0), size, seed, overwrite, jpeg_quality
        )
    raise ValueError(f"layout: expected one of {LAYOUTS}, got {layout!r}")
