"""R-FCN detection inference on CPU: `python benchmarks/bench_rfcn.py [--quick]`.

Input: 4 random 600 x 800 images (shorter side 600 = `min_size`, no resize), 20 classes, one
image per call (as R-FCN tests), one intra-op thread, timed in process CPU time
(`time.process_time`): the machine's 2 cores are shared, and wall time measured mostly the
other jobs (a 10 s wall time for 1.3 s of CPU), while one thread's CPU time is the cost of the
work. One untimed call first (allocator and oneDNN warm-up). Models: `build_rfcn(..., backbone="tiny")`
with the default `RFCNConfig` (R-FCN's: 300 proposals, k = 7, 1024-channel head, 512-channel
RPN conv), random weights, scores thresholded at 0 so that every RoI reaches the per-class NMS.
Rows (best of 3 over the 4 images, the models taking turns):
- `rfcn` vs torchvision's Faster R-CNN on the same backbone, RPN and proposals
  (`MultiScaleRoIAlign` 7x7 + `TwoMLPHead` 1024 + `FastRCNNPredictor`): R-FCN's claim is a
  cheaper per-RoI head;
- `rfcn_gwap_gap` (adds the weak branches and the weight maps) vs `rfcn`, with the same detector
  weights (random weights decide how many boxes survive NMS, and so its cost);
- `rfcn` vs the tiny backbone alone (the floor: ratio < 1, the share of the backbone).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time, print_row, run_script  # noqa: E402
from torchvision.models.detection import FasterRCNN  # noqa: E402
from torchvision.models.detection.anchor_utils import AnchorGenerator  # noqa: E402
from torchvision.ops import MultiScaleRoIAlign  # noqa: E402

from reference_models.rfcn import RFCN, RFCNConfig, build_rfcn  # noqa: E402

NUM_CLASSES = 20
CONFIG = dataclasses.replace(RFCNConfig(), score_thresh=0.0)


def faster_rcnn_like(model: RFCN) -> FasterRCNN:
    """torchvision's Faster R-CNN sharing `model`'s backbone and RPN settings, with its own box head."""
    reference = FasterRCNN(
        model.backbone,
        num_classes=NUM_CLASSES + 1,
        min_size=CONFIG.min_size,
        max_size=CONFIG.max_size,
        image_mean=list(model.backbone.mean),
        image_std=list(model.backbone.std),
        rpn_anchor_generator=AnchorGenerator((CONFIG.anchor_sizes,), (CONFIG.aspect_ratios,)),
        rpn_head=model.rpn.head,
        rpn_pre_nms_top_n_test=CONFIG.rpn_pre_nms_top_n,
        rpn_post_nms_top_n_test=CONFIG.rpn_post_nms_top_n,
        box_roi_pool=MultiScaleRoIAlign(["0"], output_size=7, sampling_ratio=2),
        box_score_thresh=CONFIG.score_thresh,
        box_nms_thresh=CONFIG.nms_thresh,
        box_detections_per_img=CONFIG.detections_per_img,
    )
    reference.transform.size_divisible = model.backbone.stride
    return reference.eval()


def interleaved_cpu_seconds(
    models: dict[str, Callable[[list[torch.Tensor]], object]], images: list[torch.Tensor], repeat: int
) -> dict[str, float]:
    """Best CPU seconds per model for all images, one image per call, after one warm-up image each.

    The models take turns within each repeat, so that a change in the machine's load hits all of them.
    """
    best = dict.fromkeys(models, float("inf"))
    with torch.no_grad():
        for model in models.values():
            model(images[:1])
        for _ in range(repeat):
            for name, model in models.items():
                seconds, _ = best_time(lambda m=model: [m([image]) for image in images], 1, clock=time.process_time)
                best[name] = min(best[name], seconds)
    return best


def run(quick: bool = False) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    images = [torch.rand(3, 600, 800) for _ in range(1 if quick else 4)]
    repeat = 1 if quick else 3
    rfcn = build_rfcn("rfcn", NUM_CLASSES, backbone="tiny", weights=None, config=CONFIG).eval()
    weak = build_rfcn("rfcn_gwap_gap", NUM_CLASSES, backbone="tiny", weights=None, config=CONFIG).eval()
    weak.load_state_dict(rfcn.state_dict(), strict=False)  # same detector weights: same RoIs reach the NMS
    reference = faster_rcnn_like(rfcn)
    backbone = rfcn.backbone.eval()

    def backbone_only(image_batch: list[torch.Tensor]) -> None:
        backbone(torch.stack(image_batch))

    seconds = interleaved_cpu_seconds(
        {"rfcn": rfcn, "faster": reference, "weak": weak, "backbone": backbone_only}, images, repeat
    )
    label = f"R-FCN tiny, {len(images)} images 600x800, 1 thread, CPU s"
    print_row(label, seconds["rfcn"], seconds["faster"], "torchvision Faster R-CNN, same backbone + RPN")
    print_row("R-FCN + GWAP + GAP (weight maps), same images", seconds["weak"], seconds["rfcn"], "R-FCN")
    print_row("R-FCN, same images", seconds["rfcn"], seconds["backbone"], "tiny backbone alone")
    rates = {name: len(images) / value for name, value in seconds.items()}
    print(
        f"images/s: R-FCN {rates['rfcn']:.2f}, R-FCN+GWAP+GAP {rates['weak']:.2f}, "
        f"Faster R-CNN {rates['faster']:.2f}, backbone alone {rates['backbone']:.2f}"
    )


if __name__ == "__main__":
    run_script(run, __doc__.splitlines()[0], "one image, one repeat (smoke run)")
