"""Dataset readers (VOC, ILSVRC, synthetic), all producing `Sample` records."""

from gwapbench.data.sample import Sample

__all__ = ["Sample"]
