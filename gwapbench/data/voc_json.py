"""VOC ground truth from a Detectron-style COCO JSON conversion of the official XMLs.

The conversion stores `bbox = [xmin - 1, ymin - 1, w, h]` with `w = xmax - xmin + 1`, so the
VOC corners are recovered exactly as `xmin = bx + 1, xmax = bx + w` (and likewise for y).
Difficult flags, lost in such JSONs, come from a separate file mapping each image id to one
0/1 flag per annotation, in the order of that image's annotations sorted by annotation id.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gwapbench.data.sample import Sample, image_labels_from_boxes
from gwapbench.errors import InputError


def read_voc_coco_json(
    json_path: str | Path,
    difficult_flags_path: str | Path | None = None,
    images_dir: str | Path = "JPEGImages",
) -> tuple[list[Sample], list[str]]:
    """Read a COCO-style VOC JSON; return the samples (in JSON image order) and the class names.

    Class index = position of the category in ascending category-id order (the official VOC order).
    """
    json_path = Path(json_path)
    try:
        data = json.loads(json_path.read_text())
        categories = sorted(data["categories"], key=lambda c: c["id"])
        images = data["images"]
        annotations = sorted(data["annotations"], key=lambda a: a["id"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(f"{json_path}: not a readable COCO-style annotation file ({err})") from err
    class_of_category = {c["id"]: i for i, c in enumerate(categories)}
    flags: dict[str, list[int]] = {}
    if difficult_flags_path is not None:
        try:
            flags = json.loads(Path(difficult_flags_path).read_text())
        except (OSError, ValueError) as err:
            raise InputError(f"{difficult_flags_path}: unreadable difficult-flag file ({err})") from err

    try:
        by_image: dict[int, list[dict]] = {img["id"]: [] for img in images}
        for ann in annotations:
            by_image.setdefault(ann["image_id"], []).append(ann)

        samples = []
        for img in images:
            anns = by_image[img["id"]]
            image_id = Path(img["file_name"]).stem
            bbox = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
            boxes = np.column_stack([bbox[:, 0] + 1, bbox[:, 1] + 1, bbox[:, 0] + bbox[:, 2], bbox[:, 1] + bbox[:, 3]])
            box_labels = np.array([class_of_category[a["category_id"]] for a in anns], dtype=np.int64)
            difficult = np.zeros(len(anns), dtype=bool)
            if difficult_flags_path is not None:
                image_flags = flags.get(image_id)
                if image_flags is None or len(image_flags) != len(anns):
                    raise InputError(
                        f"{difficult_flags_path}: image {image_id} has {len(anns)} annotations but "
                        f"{'no' if image_flags is None else len(image_flags)} difficult flags"
                    )
                difficult = np.asarray(image_flags, dtype=bool)
            samples.append(
                Sample(
                    image_id=image_id,
                    image_path=Path(images_dir) / img["file_name"],
                    width=int(img["width"]),
                    height=int(img["height"]),
                    labels=image_labels_from_boxes(box_labels, difficult, len(categories)),
                    boxes=boxes,
                    box_labels=box_labels,
                    difficult=difficult,
                )
            )
    except InputError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise InputError(f"{json_path}: malformed image or annotation entry ({type(err).__name__}: {err})") from err
    return samples, [c["name"] for c in categories]
