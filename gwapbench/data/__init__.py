"""Dataset readers (VOC, ILSVRC, synthetic), all producing `Sample` records."""

from gwapbench.data.bad_files import BadFileError, BadFileReport, ReadResult, SkippedItem, save_bad_file_report
from gwapbench.data.datasets import (
    DetectionDataset,
    MultiLabelDataset,
    SingleLabelDataset,
    detection_collate,
    load_image,
)
from gwapbench.data.ilsvrc import (
    blacklisted,
    read_blacklist,
    read_ilsvrc_val_xml,
    read_loc_val_solution,
    read_synset_mapping,
    read_wsol_metadata,
)
from gwapbench.data.sample import Sample
from gwapbench.data.splits import box_proportion_split, box_ranking, drop_boxes
from gwapbench.data.synthetic import make_synthetic, make_synthetic_ilsvrc, make_synthetic_voc, synthetic_wnids
from gwapbench.data.synthetic_shapes import CLASS_NAMES as SYNTHETIC_CLASS_NAMES
from gwapbench.data.transforms import Compose, Normalize, RandomHorizontalFlip, Resize, file_boxes_to_tensor, hflip
from gwapbench.data.voc import VOC_CLASSES, read_voc, read_voc_union
from gwapbench.data.voc_json import read_voc_coco_json

__all__ = [
    "BadFileError",
    "BadFileReport",
    "Compose",
    "DetectionDataset",
    "MultiLabelDataset",
    "Normalize",
    "RandomHorizontalFlip",
    "ReadResult",
    "Resize",
    "SYNTHETIC_CLASS_NAMES",
    "Sample",
    "SingleLabelDataset",
    "SkippedItem",
    "VOC_CLASSES",
    "blacklisted",
    "box_proportion_split",
    "box_ranking",
    "detection_collate",
    "drop_boxes",
    "file_boxes_to_tensor",
    "hflip",
    "load_image",
    "make_synthetic",
    "make_synthetic_ilsvrc",
    "make_synthetic_voc",
    "read_blacklist",
    "read_ilsvrc_val_xml",
    "read_loc_val_solution",
    "read_synset_mapping",
    "read_voc",
    "read_voc_coco_json",
    "read_voc_union",
    "read_wsol_metadata",
    "save_bad_file_report",
    "synthetic_wnids",
]
