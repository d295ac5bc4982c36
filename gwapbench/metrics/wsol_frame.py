"""MaxBoxAcc and MaxBoxAccV2 of maps of any size, in wsolevaluation's frame (Choe et al. 2020).

wsolevaluation scores maps of `_RESIZE_LENGTH` = 224 squared in [0, 1] (its `check_scoremap_validity`)
against GT boxes scaled by its `resize_bbox`: int(x * 224 / width), int(y * 224 / height), with no
clipping to the frame (`BoxEvaluator._load_resized_boxes`, evaluation.py). Here each map is resized
bilinearly to size x size and min-max normalized (a map already 224 x 224 that attains 0 and 1 is
left as it is), and the GT boxes are scaled the same way. Both `gwapbench evaluate` and
`gwapbench localize-error --max-box-acc` count through `FramedBoxAcc`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gwapbench.metrics.heatmaps import minmax_normalize, resize_heatmap
from gwapbench.metrics.localization import MaxBoxAcc, MaxBoxAccOptions

WSOL_SIZE = 224  # wsolevaluation's _RESIZE_LENGTH
V2_IOU_PERCENT = (30, 50, 70)


def frame_gt_boxes(boxes: object, height: int, width: int, size: int = WSOL_SIZE) -> np.ndarray:
    """(G, 4) boxes of an image of (height, width) in the size x size frame: wsolevaluation's
    `resize_bbox`, int(x * size / width) per corner (truncation toward zero, no clipping)."""
    scale = np.array([width, height, width, height], dtype=np.float64)
    return np.trunc(np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * size / scale)


def frame_maps(maps: Sequence[object], size: int = WSOL_SIZE) -> np.ndarray:
    """(N, size, size) maps resized bilinearly to size x size, then min-max normalized to [0, 1]."""
    return np.stack([minmax_normalize(resize_heatmap(m, size, size)) for m in maps])


class FramedBoxAcc:
    """MaxBoxAcc (IoU 0.5, largest contour) and MaxBoxAccV2 (IoU 0.3 / 0.5 / 0.7, every contour) over
    batches, in the size x size frame, under one box convention ("wsolevaluation" or "components")."""

    def __init__(self, box_convention: str = "wsolevaluation", size: int = WSOL_SIZE, v1: bool = True,
                 v2: bool = True, cam_thresholds: Sequence[float] | None = None) -> None:
        """cam_thresholds: default 100, np.arange(0, 1, 0.01) (wsolevaluation's --cam_curve_interval 0.01)."""
        self.box_convention, self.size = box_convention, size
        cams = MaxBoxAccOptions().cam_thresholds if cam_thresholds is None else tuple(map(float, cam_thresholds))
        self.v1 = MaxBoxAcc(MaxBoxAccOptions(cam_thresholds=cams, box_convention=box_convention)) if v1 else None
        self.v2 = MaxBoxAcc(MaxBoxAccOptions.v2(cams, box_convention=box_convention)) if v2 else None

    def update(self, maps: Sequence[object], gt_boxes: Sequence[object], image_sizes: Sequence[tuple[int, int]]
               ) -> None:
        """maps: one 2-D map per image (any size); gt_boxes: (G, 4) inclusive 0-based image pixels per image;
        image_sizes: (height, width) per image."""
        frame = frame_maps(maps, self.size)
        gt = [frame_gt_boxes(b, h, w, self.size) for b, (h, w) in zip(gt_boxes, image_sizes)]
        for accumulator in (self.v1, self.v2):
            if accumulator is not None:
                accumulator.update(frame, gt)

    def results(self) -> dict[str, float]:
        """Fractions in [0, 1]: max_box_acc, max_box_acc_v2 and max_box_acc_v2_iou{30,50,70}."""
        out: dict[str, float] = {}
        if self.v1 is not None:
            out["max_box_acc"] = float(self.v1.compute()[0][0])
        if self.v2 is not None:
            maxima = self.v2.compute()[0]
            out["max_box_acc_v2"] = float(maxima.mean())
            out.update({f"max_box_acc_v2_iou{iou}": float(v) for iou, v in zip(V2_IOU_PERCENT, maxima)})
        return out
