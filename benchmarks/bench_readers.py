"""Dataset reader speed: `python benchmarks/bench_readers.py`.

1. All 50,000 ILSVRC val images of the wsolevaluation metadata (`read_wsol_metadata`) vs
   `pandas.read_csv` of the same four files (parsing only, no Sample records: a floor).
2. The 4952-image VOC2007 test COCO-style JSON (`read_voc_coco_json`) vs `pycocotools.coco.COCO`
   building its index from the same file.
3. A devkit of 4952 VOC XMLs, written to a temporary folder from that JSON (`read_voc`, labels from
   the XMLs) vs py-faster-rcnn's `parse_rec` loop (ElementTree per file, written out here).
Results must agree (checked before timing is reported). Ratio = reference / ours (> 1: we are faster).
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time, optional_reference, print_header, print_row  # noqa: E402
from shared_data import shared_data  # noqa: E402

from gwapbench.data.ilsvrc import read_wsol_metadata  # noqa: E402
from gwapbench.data.sample import Sample  # noqa: E402
from gwapbench.data.voc import VOC_CLASSES, read_voc  # noqa: E402
from gwapbench.data.voc_json import read_voc_coco_json  # noqa: E402


def pandas_wsol(folder: Path) -> tuple[pd.DataFrame, ...]:
    names = {"class_labels.txt": ["path", "label"], "image_sizes.txt": ["path", "w", "h"],
             "localization.txt": ["path", "x0", "y0", "x1", "y1"], "image_ids.txt": ["path"]}  # fmt: skip
    return tuple(pd.read_csv(folder / name, header=None, names=columns) for name, columns in names.items())


def quiet_coco(path: Path):
    """pycocotools' `COCO(path)` index, its progress prints silenced."""
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def write_devkit(samples: list[Sample], root: Path) -> None:
    """Annotations/<id>.xml (VOC schema, with <size>) and ImageSets/Main/test.txt for `samples`."""
    (root / "Annotations").mkdir(parents=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    for sample in samples:
        annotation = ET.Element("annotation")
        ET.SubElement(annotation, "filename").text = f"{sample.image_id}.jpg"
        size = ET.SubElement(annotation, "size")
        ET.SubElement(size, "width").text = str(sample.width)
        ET.SubElement(size, "height").text = str(sample.height)
        for box, label, difficult in zip(sample.boxes, sample.box_labels, sample.difficult):
            obj = ET.SubElement(annotation, "object")
            ET.SubElement(obj, "name").text = VOC_CLASSES[label]
            ET.SubElement(obj, "difficult").text = str(int(difficult))
            bndbox = ET.SubElement(obj, "bndbox")
            for key, value in zip(("xmin", "ymin", "xmax", "ymax"), box):
                ET.SubElement(bndbox, key).text = str(int(value))
        ET.ElementTree(annotation).write(root / "Annotations" / f"{sample.image_id}.xml")
    (root / "ImageSets" / "Main" / "test.txt").write_text("".join(f"{s.image_id}\n" for s in samples))


def parse_rec_loop(root: Path) -> dict[str, list[dict]]:
    """py-faster-rcnn `voc_eval.parse_rec` over every id of test.txt."""
    records = {}
    for image_id in (root / "ImageSets" / "Main" / "test.txt").read_text().split():
        objects = []
        for obj in ET.parse(root / "Annotations" / f"{image_id}.xml").findall("object"):
            bbox = obj.find("bndbox")
            objects.append({
                "name": obj.find("name").text,
                "difficult": int(obj.find("difficult").text),
                "bbox": [int(bbox.find(key).text) for key in ("xmin", "ymin", "xmax", "ymax")],
            })  # fmt: skip
        records[image_id] = objects
    return records


def main() -> None:
    wsol = shared_data("ilsvrc2012_val_gt")
    voc_json = shared_data("voc2007_gt") / "annotations_json"
    print_header()

    ours_s, samples = best_time(lambda: read_wsol_metadata(wsol))
    ref_s, frames = best_time(lambda: pandas_wsol(wsol))
    assert len(samples) == len(frames[3]) == 50000 and sum(len(s.boxes) for s in samples) == len(frames[2])
    print_row("ILSVRC val wsol metadata, 50,000 images", ours_s, ref_s, "pandas.read_csv (parse only)")

    json_path = voc_json / "pascal_test2007.json"
    flags_path = voc_json / "pascal_test2007_difficult_flags.json"
    ours_s, (voc_samples, _) = best_time(lambda: read_voc_coco_json(json_path, flags_path))
    if optional_reference("pycocotools", "VOC07 test COCO JSON vs pycocotools") is not None:
        ref_s, coco = best_time(lambda: quiet_coco(json_path))
        assert len(voc_samples) == len(coco.imgs) and sum(len(s.boxes) for s in voc_samples) == len(coco.anns)
        print_row("VOC07 test COCO JSON, 4952 images", ours_s, ref_s, "pycocotools COCO index")

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "VOC2007"
        write_devkit(voc_samples, root)
        ours_s, (xml_samples, _) = best_time(lambda: read_voc(root, "test", labels_from="xml"))
        ref_s, records = best_time(lambda: parse_rec_loop(root))
        for sample, json_sample in zip(xml_samples, voc_samples, strict=True):
            record = records[sample.image_id]
            assert np.array_equal(sample.boxes, [obj["bbox"] for obj in record])
            assert np.array_equal(sample.boxes, json_sample.boxes)
            assert np.array_equal(sample.labels, json_sample.labels)
        print_row("VOC07 test devkit XMLs, 4952 files", ours_s, ref_s, "py-faster-rcnn parse_rec loop")


if __name__ == "__main__":
    main()
