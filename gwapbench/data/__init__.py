"""Dataset readers (VOC, ILSVRC, synthetic), all producing `Sample` records.

The names below are imported on first use (PEP 562 `__getattr__`), so that importing one
torch-free submodule (e.g. `gwapbench.data.bad_files` from the CLI) does not load torch through
the image decoding.
"""

from __future__ import annotations

import importlib

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
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}
_RENAMED = {"SYNTHETIC_CLASS_NAMES": ("synthetic_shapes", "CLASS_NAMES")}

__all__ = sorted([*_MODULE_OF, *_RENAMED])


def __getattr__(name: str) -> object:
    if name in _RENAMED:
        module, attribute = _RENAMED[name]
    elif name in _MODULE_OF:
        module, attribute = _MODULE_OF[name], name
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
