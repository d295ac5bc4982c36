"""What a run is: frozen, JSON-serializable configs and the run id.

A run is one trained and evaluated model: (task, dataset, splits, net, method, schedule, seed,
image size, overrides, numeric precision). Its id is a stable hash of that config plus a fingerprint of the data it
reads (image ids, sizes, labels, boxes; see `data_fingerprint`), so a changed dataset never reuses
an old run. The dataset's location on disk is recorded but not hashed: the same data moved to
another folder keeps its runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from gwapbench.data.sample import Sample

RUN_ID_HEX_DIGITS = 12


@dataclass(frozen=True)
class DataConfig:
    """The dataset a run reads.

    kind: "voc07" (VOC2007, its 20 classes), "voc" (any VOC-layout folder) or "synthetic" (the
    built-in generator's default VOC set); root: the devkit folder (not part of the run id);
    classes: class names in label order; on_bad_file: "fail" or "skip" (see gwapbench.data).
    """

    kind: str
    root: str
    classes: tuple[str, ...]
    train_split: str = "trainval"
    test_split: str = "test"
    on_bad_file: str = "fail"


# What a run does (RunConfig.task); it says which model, loss and evaluation the engine uses and what the
# run's files hold.
VOC_TASK, ILSVRC_TASK, DETECTION_TASK = "voc_classification", "ilsvrc_classification", "voc_detection"

# The class-agnostic maps a VOC run of a CAM head stores (`predictions.npz` map_names, in this order) and the
# choices of `--cam-map`: the CAMs of the predicted classes (max), of the ground-truth classes, of the top-1 class.
CAM_MAP_NAMES = ("predicted", "gt", "top1")


@dataclass(frozen=True)
class RunConfig:
    """One run. weights: the backbone's initial weights ("default" = torchvision's ImageNet weights,
    "none", or a file path); overrides: (name, value) pairs replacing schedule fields, sorted by name;
    model: (name, value) model options sorted by name, e.g. (("extra_conv", False),) for ILSVRC; precision: the
    resolved numeric precision of training and prediction, "fp32", "bf16" or "fp16" (engine/precision.py)."""

    data: DataConfig
    net: str
    method: str
    schedule: str
    seed: int = 0
    image_size: int = 0
    weights: str = "default"
    task: str = VOC_TASK
    overrides: tuple[tuple[str, Any], ...] = field(default_factory=tuple)
    model: tuple[tuple[str, Any], ...] = field(default_factory=tuple)
    precision: str = "fp32"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        data = dict(raw["data"])
        data["classes"] = tuple(data["classes"])
        overrides = tuple((str(k), v) for k, v in raw.get("overrides", ()))
        model = tuple((str(k), v) for k, v in raw.get("model", ()))
        return cls(**{**raw, "data": DataConfig(**data), "overrides": overrides, "model": model})

    def identity(self) -> dict[str, Any]:
        """The hashed part: everything but where the data lives (and `model` when empty, `precision` when
        "fp32", so that runs made before those fields existed keep their ids; see docs/engine.md on older
        CUDA runs)."""
        identity = self.to_dict()
        del identity["data"]["root"]
        if not identity["model"]:
            del identity["model"]
        if identity["precision"] == "fp32":
            del identity["precision"]
        return identity


def data_fingerprint(splits: Iterable[tuple[str, list[Sample]]]) -> str:
    """sha256 over each split's image ids, sizes, labels, boxes, box classes and difficult flags."""
    digest = hashlib.sha256()
    for name, samples in splits:
        digest.update(f"split {name} {len(samples)}\n".encode())
        for s in samples:
            digest.update(f"{s.image_id} {s.width} {s.height}\n".encode())
            for array, dtype in ((s.labels, np.int8), (s.boxes, np.float64), (s.box_labels, np.int64),
                                 (s.difficult, np.bool_)):
                digest.update(np.ascontiguousarray(array, dtype=dtype).tobytes())
    return digest.hexdigest()


def run_id(config: RunConfig, fingerprint: str) -> str:
    """`<net>-<method>-<12 hex digits>`: readable, and stable across processes and machines."""
    payload = json.dumps({"config": config.identity(), "data": fingerprint}, sort_keys=True, default=str)
    digest = hashlib.sha256(payload.encode()).hexdigest()[:RUN_ID_HEX_DIGITS]
    return f"{config.net}-{config.method}-{digest}"
