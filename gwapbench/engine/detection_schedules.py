"""Table V (R-FCN) schedules by name: `paper`, `quick`, `ci`; kept apart from Table I's `SCHEDULES`.

`paper` is R-FCN's VOC 07+12 recipe (Dai et al. 2016, Sec. 4.1): SGD with momentum 0.9 and
weight decay 5e-4, lr 1e-3 for 20k mini-batches then 1e-4 for 10k, 8 images per mini-batch (8 GPUs
x 1 image), one scale with the shorter side 600 (longer side <= 1000), horizontal flips. Those
30k iterations were sized for the 16,551 images of VOC07+12 trainval, so `iterations` and `lr_step`
are scaled to the training set a run reads: `round(value * N / 16551)`, N = every training image
(with or without boxes; the same count for all four methods of a proportion, so rows get equal
compute). For the VOC07+12 union that is exactly 20k + 10k.

`quick` and `ci` train the `tiny` backbone from scratch on CPU (`quick` at the synthetic set's
native 160 px, `ci` at 128 px), with a small R-FCN (3x3 position-sensitive bins, 128-channel head, 100 proposals) whose
anchors scale with the shorter side as R-FCN's (128, 256, 512) do at 600. They are not scaled
(their counts fit a CPU budget, not a dataset), and were chosen for run time, not tuned toward a result.

`--override KEY=VALUE` replaces a `Schedule` field after scaling (so `iterations=...` is the
count run); `image_size` is the shorter side.

The batch of every schedule is `batch_size` box images, plain R-FCN's; the weak methods add
`IMAGE_LEVEL_PER_BOX_IMAGE` x `batch_size` image-level images to it (`detection_data.DetectionBatches`),
so every row's detection loss sees the same box images and the weak rows learn from image labels on top.
The ratio is part of a weak run's training-split name (`training_split`), hence of its run id.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from gwapbench.engine.schedules import Schedule, check_overrides
from gwapbench.errors import InputError
from reference_models.rfcn import METHODS

VOC0712_TRAINVAL_IMAGES = 16_551  # 5,011 VOC2007 + 11,540 VOC2012 trainval images
PAPER_ANCHORS = (128, 256, 512)  # at a shorter side of 600
PAPER_SHORTER_SIDE = 600
# Image-level images added per box image of a batch (1:1; the paper gives no ratio): the same for every
# proportion, at most twice plain R-FCN's images per iteration, and divisible among the processes that
# share the batch. Uniform draws over all images (the old stream) would be (1 - p) / p: 99 at p = 0.01.
IMAGE_LEVEL_PER_BOX_IMAGE = 1
LONGER_SIDE_RATIO = 1000 / 600  # R-FCN's max_size / min_size


@dataclass(frozen=True)
class DetectionSchedule:
    """A training Schedule, the training-set size it was written for (0: not scaled) and the
    R-FCN settings (`RFCNConfig` fields) that differ from R-FCN's own."""

    schedule: Schedule
    reference_images: int = 0
    head: dict[str, Any] = field(default_factory=dict)


# score_thresh 0.001 (R-FCN: 0.05): a briefly trained CPU detector scores every class below 0.05 and would
# emit nothing; its low-scored boxes still rank, and AP only counts ranks.
_SMALL_HEAD = {"rpn_channels": 64, "mid_channels": 128, "k": 3, "rpn_pre_nms_top_n": 1000,
               "rpn_post_nms_top_n": 100, "ohem_rois": 64, "roi_batch_size_per_image": 64, "score_thresh": 0.001}

DETECTION_SCHEDULES: dict[str, DetectionSchedule] = {
    "paper": DetectionSchedule(
        Schedule("paper", image_size=600, batch_size=8, lr=1e-3, lr_step=20_000, iterations=30_000,
                 checkpoint_every=1_000),
        reference_images=VOC0712_TRAINVAL_IMAGES,
    ),
    "quick": DetectionSchedule(
        Schedule("quick", image_size=160, batch_size=4, lr=0.01, lr_step=300, iterations=400, checkpoint_every=50),
        head=_SMALL_HEAD,
    ),
    "ci": DetectionSchedule(
        Schedule("ci", image_size=128, batch_size=4, lr=0.01, lr_step=45, iterations=60, checkpoint_every=20),
        head=_SMALL_HEAD,
    ),
}


def scaled(value: int, images: int, reference_images: int) -> int:
    """round(value * images / reference_images), at least 1; `value` itself when reference_images is 0."""
    return value if reference_images == 0 else max(1, round(value * images / reference_images))


def resolve_detection_schedule(name: str, train_images: int,
                               overrides: tuple[tuple[str, Any], ...] = ()) -> tuple[Schedule, dict[str, Any]]:
    """(Schedule scaled to `train_images` with `overrides` applied, RFCNConfig keyword arguments)."""
    if name not in DETECTION_SCHEDULES:
        raise InputError(f"--schedule {name!r}: choose one of {', '.join(DETECTION_SCHEDULES)}")
    check_overrides(overrides)
    spec = DETECTION_SCHEDULES[name]
    base = spec.schedule
    schedule = replace(base, iterations=scaled(base.iterations, train_images, spec.reference_images),
                       lr_step=scaled(base.lr_step, train_images, spec.reference_images))
    schedule = replace(schedule, **dict(overrides))
    return schedule, rfcn_settings(name, schedule)


def rfcn_settings(name: str, schedule: Schedule) -> dict[str, Any]:
    """The RFCNConfig keyword arguments of schedule `name` at `schedule.image_size` (its shorter side): R-FCN's
    longer-side cap and anchors scaled from 600 px, then the schedule's own head settings."""
    size = schedule.image_size
    return {"min_size": size, "max_size": round(size * LONGER_SIDE_RATIO),
            "anchor_sizes": tuple(round(a * size / PAPER_SHORTER_SIDE) for a in PAPER_ANCHORS),
            **DETECTION_SCHEDULES[name].head}



def training_split(proportion: float, method: str) -> str:
    """A Table V run's training-split name: `trainval:boxes=<p>`, and for a method with a weak branch
    `+image_level=<IMAGE_LEVEL_PER_BOX_IMAGE>:1` (its stream), so runs of another stream keep other ids."""
    weak = bool(METHODS[method])
    return f"trainval:boxes={proportion}" + (f"+image_level={IMAGE_LEVEL_PER_BOX_IMAGE}:1" if weak else "")
