"""Dataset readers (VOC, ILSVRC, synthetic), all producing `Sample` records."""

from gwapbench.data.datasets import (
    DetectionDataset,
    MultiLabelDataset,
    SingleLabelDataset,
    detection_collate,
    load_image,
)
from gwapbench.data.sample import Sample
from gwapbench.data.synthetic import make_synthetic, make_synthetic_ilsvrc, make_synthetic_voc, synthetic_wnids
from gwapbench.data.synthetic_shapes import CLASS_NAMES as SYNTHETIC_CLASS_NAMES
from gwapbench.data.transforms import Compose, Normalize, RandomHorizontalFlip, Resize, file_boxes_to_tensor, hflip

__all__ = [
    "Compose",
    "DetectionDataset",
    "MultiLabelDataset",
    "Normalize",
    "RandomHorizontalFlip",
    "Resize",
    "SYNTHETIC_CLASS_NAMES",
    "Sample",
    "SingleLabelDataset",
    "detection_collate",
    "file_boxes_to_tensor",
    "hflip",
    "load_image",
    "make_synthetic",
    "make_synthetic_ilsvrc",
    "make_synthetic_voc",
    "synthetic_wnids",
]
