"""Dataset readers (VOC, ILSVRC, synthetic), all producing `Sample` records.

The names below are imported on first use (PEP 562 `__getattr__`), so that importing one
torch-free submodule (e.g. `gwapbench.data.bad_files` from the CLI) does not load torch through
the image decoding.
"""

from __future__ import annotations

from gwapbench.lazy import lazy_exports

_SOURCES: dict[str, tuple[str, ...]] = {
    "bad_files": ("BadFileError", "BadFileReport", "ReadResult", "SkippedItem", "save_bad_file_report"),
    "decode": ("load_image", "load_image_uint8", "load_sample_image"),
    "ilsvrc": (
        "blacklisted", "read_blacklist", "read_ilsvrc_val_xml", "read_loc_val_solution", "read_synset_mapping",
        "read_wsol_metadata",
    ),
    "sample": ("Sample",),
    "splits": ("box_proportion_split", "box_ranking", "drop_boxes"),
    "synthetic": ("make_synthetic", "make_synthetic_ilsvrc", "make_synthetic_voc", "synthetic_wnids"),
    "transforms": ("file_boxes_to_tensor", "hflip_boxes"),
    "voc": ("VOC_CLASSES", "read_voc", "read_voc_union", "voc_class_names"),
    "voc_json": ("read_voc_coco_json",),
}  # fmt: skip
_RENAMED = {"SYNTHETIC_CLASS_NAMES": ("synthetic_shapes", "CLASS_NAMES")}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _SOURCES, _RENAMED)
