"""R-FCN with weak branches: position-sensitive layout, losses, the region hinge, outputs, NMS, overfitting."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.models.detection.roi_heads import fastrcnn_loss

from gwapbench.metrics import voc_detection_ap
from reference_models.rfcn import DETECTION_LOSSES, METHODS, RFCN, RFCNConfig, build_rfcn
from reference_models.rfcn_head import PositionSensitiveHead, position_sensitive_pool, vote
from reference_models.rfcn_loss import cell_box_overlap, hardest_rois, per_roi_detection_loss, region_hinge

SMALL = RFCNConfig(
    min_size=96,
    max_size=160,
    anchor_sizes=(16, 32, 64),
    rpn_channels=32,
    mid_channels=32,
    rpn_pre_nms_top_n=500,
    rpn_post_nms_top_n=100,
    ohem_rois=32,
)
COLOURS = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.2, 0.9]])


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on 2 shared cores, OpenMP spin-waiting made these small models 5-7x slower in CPU time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model(method: str = "rfcn_gwap_gap", config: RFCNConfig = SMALL, num_classes: int = 3, seed: int = 0) -> RFCN:
    torch.manual_seed(seed)
    return build_rfcn(method, num_classes, backbone="tiny", weights=None, config=config, width=16)


def _rectangles(count: int, size: int = 96, seed: int = 0) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """Grey noisy images, each with two non-overlapping solid rectangles of classes 0..2 (one colour per class)."""
    rng = np.random.default_rng(seed)
    images, targets = [], []
    for _ in range(count):
        image = torch.from_numpy(0.5 + 0.05 * rng.standard_normal((3, size, size))).float()
        boxes: list[list[int]] = []
        labels = []
        while len(boxes) < 2:
            w, h = rng.integers(20, 40, 2)
            x, y = rng.integers(0, size - w), rng.integers(0, size - h)
            if any(x < b[2] and b[0] < x + w and y < b[3] and b[1] < y + h for b in boxes):
                continue
            label = int(rng.integers(0, 3))
            image[:, y : y + h, x : x + w] = COLOURS[label][:, None, None]
            boxes.append([int(x), int(y), int(x + w), int(y + h)])
            labels.append(label)
        images.append(image.clamp(0, 1))
        targets.append({"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels)})
    return images, targets


# --- position-sensitive pooling ----------------------------------------------------------------


def _bin_map(
    k: int, outputs: int, roi_cells: tuple[int, int], bin_cells: int, size: int, outside: float
) -> torch.Tensor:
    """(1, k*k*outputs, size, size): channel (d*k + i)*k + j holds 100 d + 10 i + j + 1 on the cells of
    bin (i, j) of a RoI starting at cell `roi_cells` with `bin_cells` cells per bin, `outside` elsewhere."""
    maps = torch.full((1, k * k * outputs, size, size), outside)
    y0, x0 = roi_cells
    for d in range(outputs):
        for i in range(k):
            for j in range(k):
                ys, xs = y0 + i * bin_cells, x0 + j * bin_cells
                maps[0, (d * k + i) * k + j, ys : ys + bin_cells, xs : xs + bin_cells] = 100 * d + 10 * i + j + 1
    return maps


@pytest.mark.parametrize("stride", [1, 2])
def test_position_sensitive_pool_reads_bin_ij_of_output_d_from_its_channel(stride):
    k, outputs = 3, 4
    maps = _bin_map(k, outputs, roi_cells=(5, 2), bin_cells=4, size=20, outside=1000.0)
    roi = torch.tensor([[2.0, 5.0, 14.0, 17.0]]) * stride  # x1, y1, x2, y2 in image pixels
    pooled = position_sensitive_pool(maps, [roi], k, stride)
    expected = torch.tensor([[[100 * d + 10 * i + j + 1 for j in range(k)] for i in range(k)] for d in range(outputs)])
    torch.testing.assert_close(pooled[0], expected.float())
    torch.testing.assert_close(vote(pooled)[0], expected.float().mean(dim=(1, 2)))


def test_head_scores_rois_by_voting_over_the_position_sensitive_bins():
    """Through the head's own convs set to identities: class logits and box deltas are the bin means."""
    k, num_classes = 3, 3  # C + 1 = 4 = box outputs, so one identity serves both maps
    channels = k * k * (num_classes + 1)
    head = PositionSensitiveHead(channels, num_classes, stride=2, mid_channels=channels, k=k).eval()
    identity = torch.eye(channels)[:, :, None, None]
    with torch.no_grad():
        for conv in (head.reduce[0], head.class_maps, head.box_maps):
            conv.weight.copy_(identity)
            conv.bias.zero_()
    maps = _bin_map(k, num_classes + 1, roi_cells=(1, 3), bin_cells=2, size=12, outside=500.0)
    rois = [torch.tensor([[6.0, 2.0, 18.0, 14.0], [6.0, 2.0, 18.0, 14.0]])]
    logits, deltas = head.score_rois(maps, rois)
    means = torch.tensor([100 * d + 11 + 1 for d in range(num_classes + 1)], dtype=torch.float32)  # mean of 10i + j: 11
    torch.testing.assert_close(logits, means.expand(2, -1))
    torch.testing.assert_close(deltas, means.expand(2, -1))


# --- losses ------------------------------------------------------------------------------------


def test_cell_box_overlap_matches_supersampling():
    rng = np.random.default_rng(3)
    corners = np.sort(rng.integers(0, 4 * 24 + 1, size=(6, 2, 2)), axis=1) / 4.0  # multiples of 1/4 pixel
    boxes = torch.tensor(corners.transpose(0, 2, 1).reshape(6, 4)[:, [0, 2, 1, 3]], dtype=torch.float64)
    boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 0.25)
    stride, h, w = 4.0, 6, 6
    centres = (np.arange(int(h * stride * 8)) + 0.5) / 8  # 8 samples per pixel: exact for quarter-pixel edges
    expected = np.zeros((6, h, w))
    for g, (x1, y1, x2, y2) in enumerate(boxes.numpy()):
        inside = ((centres >= y1) & (centres < y2))[:, None] & ((centres >= x1) & (centres < x2))[None, :]
        expected[g] = inside.reshape(h, 32, w, 32).mean(axis=(1, 3))
    np.testing.assert_allclose(cell_box_overlap(boxes, (h, w), stride).numpy(), expected, atol=1e-12)


def test_region_hinge_hand_worked():
    stride, margin = 4.0, 0.5
    maps = torch.full((2, 4, 4), 0.1)
    maps[0, 0:2, 0:2] = 0.9  # class 0 high inside box A (cells rows 0-1, cols 0-1)
    box_a = torch.tensor([[0.0, 0.0, 8.0, 8.0]])
    # inside 0.9, negatives (the 12 other cells) 0.1: 0.8 >= margin -> 0
    torch.testing.assert_close(region_hinge(maps, box_a, torch.tensor([0]), stride, margin), torch.zeros(1))
    # a constant added per class changes nothing (log alpha_c = M_c - const)
    torch.testing.assert_close(region_hinge(maps + 3.0, box_a, torch.tensor([0]), stride, margin), torch.zeros(1))
    low = torch.full((2, 4, 4), 0.3)
    low[0, 0:2, 0:2] = 0.5  # inside 0.5, negatives 0.3: 0.5 - 0.2 = 0.3
    torch.testing.assert_close(region_hinge(low, box_a, torch.tensor([0]), stride, margin), torch.tensor([0.3]))

    # box B (class 0) covers cell (3, 3) fully and cell (3, 2) half; box C is class 1 over cell (0, 3)
    m = torch.arange(16, dtype=torch.float32).view(1, 4, 4).repeat(2, 1, 1) / 16  # M_c(y, x) = (4y + x) / 16
    boxes = torch.tensor([[0.0, 0.0, 8.0, 8.0], [10.0, 12.0, 16.0, 16.0], [12.0, 0.0, 16.0, 4.0]])
    labels = torch.tensor([0, 0, 1])
    values = (4 * np.arange(4)[:, None] + np.arange(4)[None, :]) / 16
    class0_cells = {(0, 0), (0, 1), (1, 0), (1, 1), (3, 2), (3, 3)}
    neg0 = np.mean([values[y, x] for y in range(4) for x in range(4) if (y, x) not in class0_cells])
    neg1 = np.mean([values[y, x] for y in range(4) for x in range(4) if (y, x) != (0, 3)])
    inside = [values[0:2, 0:2].mean(), (0.5 * values[3, 2] + 1.0 * values[3, 3]) / 1.5, values[0, 3]]
    expected = [max(0.0, margin - (inside[g] - negative)) for g, negative in enumerate((neg0, neg0, neg1))]
    torch.testing.assert_close(region_hinge(m, boxes, labels, stride, margin), torch.tensor(expected).float())
    # a box over the whole map leaves no negative cell: no constraint
    whole = torch.tensor([[0.0, 0.0, 16.0, 16.0]])
    torch.testing.assert_close(region_hinge(low, whole, torch.tensor([1]), stride, margin), torch.zeros(1))


def test_per_roi_loss_and_ohem_selection_agree_with_fastrcnn_loss():
    torch.manual_seed(5)
    logits, deltas = torch.randn(10, 4), torch.randn(10, 4)
    labels, targets = torch.tensor([0, 2, 1, 0, 0, 3, 0, 1, 0, 0]), torch.randn(10, 4)
    per_roi = per_roi_detection_loss(logits, deltas, labels, targets)
    classification, box = fastrcnn_loss(logits, deltas.repeat(1, 4), [labels], [targets])
    torch.testing.assert_close(per_roi.mean(), classification + box)
    losses = torch.tensor([0.1, 0.9, 0.5, 0.7, 0.2, 0.8, 0.3, 0.05])
    torch.testing.assert_close(hardest_rois(losses, [5, 3], keep=2), torch.tensor([1, 3, 5, 6]))
    torch.testing.assert_close(hardest_rois(losses, [5, 3], keep=4).sort().values, torch.tensor([1, 2, 3, 4, 5, 6, 7]))


def _bce(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Independent sigmoid cross-entropy: numpy, mean over all terms."""
    z, y = logits.detach().double().numpy(), labels.double().numpy()
    p = 1 / (1 + np.exp(-z))
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def _branch_logits(model: RFCN, images: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    image_list, _ = model.transform(images)
    features = model.backbone(image_list.tensors)
    return {name: branch(features).output for name, branch in model.weak.items()}


def test_weak_only_batch_gives_zero_detection_loss_and_the_weak_loss():
    model = _model().train()
    images, _ = _rectangles(2)
    image_labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    losses = model(images, [{"image_labels": row} for row in image_labels])
    assert set(losses) == {*DETECTION_LOSSES, "loss_weak_gwap", "loss_weak_gap", "loss_region"}
    for name in DETECTION_LOSSES + ("loss_region",):
        assert float(losses[name]) == 0.0, name
    logits = _branch_logits(model, images)
    for name in ("gwap", "gap"):
        value = float(losses[f"loss_weak_{name}"].detach())
        assert value > 0 and value == pytest.approx(0.1 * _bce(logits[name], image_labels), rel=1e-5)


def test_images_without_boxes_leave_the_detection_losses_unchanged():
    """With batch norm frozen, [A, image-level B, C] gives the detection losses of [A, C] alone.

    Every anchor and (OHEM) RoI is used, so that no random sampling differs between the batches.
    """
    images, targets = _rectangles(3)
    model = _model(config=dataclasses.replace(SMALL, rpn_batch_size_per_image=10**6))
    model.train()
    model.backbone.eval()  # batch statistics would couple the images
    results = []
    for batch_images, batch in (
        (images, [targets[0], {"image_labels": torch.tensor([0.0, 1.0, 1.0])}, targets[2]]),
        ([images[0], images[2]], [targets[0], targets[2]]),
    ):
        losses = model(batch_images, batch)
        results.append([float(losses[name].detach()) for name in DETECTION_LOSSES])
    assert min(results[1]) > 0
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5)


def test_lambda_scales_only_the_weak_terms():
    images, targets = _rectangles(3)
    batch = [targets[0], {"image_labels": torch.tensor([0.0, 1.0, 1.0])}, targets[2]]
    results = {}
    for weight in (0.1, 0.7):
        model = _model(config=dataclasses.replace(SMALL, weak_weight=weight)).train()
        torch.manual_seed(11)  # the RoI and anchor samplers draw the same samples
        results[weight] = {name: float(value.detach()) for name, value in model(images, batch).items()}
    for name in DETECTION_LOSSES:
        assert results[0.1][name] > 0 and results[0.7][name] == results[0.1][name], name
    for name in ("loss_weak_gwap", "loss_weak_gap", "loss_region"):
        assert results[0.1][name] > 0
        assert results[0.7][name] == pytest.approx(7 * results[0.1][name], rel=1e-5), name


def test_region_loss_is_the_hinge_on_m_c_of_equation_7():
    """loss_region, computed from log alpha_c, equals the hinge on M_c = O_c sigmoid(S_c) built by hand."""
    config = dataclasses.replace(SMALL, region_margin=2.0)  # unreachable margin: every hinge is active
    model = _model("rfcn_gwap", config=config).train()
    images, targets = _rectangles(2)  # 96 px = min_size: the transform does not rescale the boxes
    losses = model(images, targets)
    image_list, _ = model.transform(images)
    maps = model.weak["gwap"].head.conv(model.backbone(image_list.tensors))
    o = torch.softmax(maps, dim=1)[:, :3]
    m = o * torch.sigmoid(maps[:, :3])
    hinges = torch.cat([region_hinge(m[i].detach(), t["boxes"], t["labels"], 8, 2.0) for i, t in enumerate(targets)])
    assert float(hinges.min()) > 0
    assert float(losses["loss_region"].detach()) == pytest.approx(0.1 * float(hinges.mean()), rel=1e-5)


def test_targets_are_validated_up_front():
    images, targets = _rectangles(1)
    weak = _model().train()
    with pytest.raises(ValueError, match=r"targets\[0\] has neither"):
        weak(images, [{}])
    with pytest.raises(ValueError, match="labels"):
        weak(images, [{"boxes": targets[0]["boxes"]}])
    with pytest.raises(ValueError, match="must lie in 0..2"):
        weak(images, [{"boxes": targets[0]["boxes"], "labels": torch.tensor([0, 3])}])
    with pytest.raises(ValueError, match="x2 <= x1"):
        weak(images, [{"boxes": torch.tensor([[5.0, 5.0, 5.0, 9.0]]), "labels": torch.tensor([0])}])
    with pytest.raises(ValueError, match="one target dict per image"):
        weak(images, None)
    baseline = _model("rfcn").train()
    assert not baseline.uses_image_labels and weak.uses_image_labels
    assert float(sum(baseline(images, [{}]).values())) == 0.0  # image-level images add nothing to plain R-FCN


# --- construction and outputs ------------------------------------------------------------------


def test_methods_build_their_branches_and_the_rfcn_numbers():
    for method, branches in METHODS.items():
        model = _model(method)
        assert tuple(model.weak) == branches
    with pytest.raises(ValueError, match="unknown method"):
        build_rfcn("rfcn_lse", 3)
    full = build_rfcn("rfcn_gwap", 20, backbone="resnet50", weights=None)
    assert full.backbone.stride == 16
    assert full.roi_heads.class_maps.out_channels == 7 * 7 * 21 and full.roi_heads.box_maps.out_channels == 7 * 7 * 4
    assert full.rpn.head.cls_logits.out_channels == 9 and full.rpn.head.conv[0][0].out_channels == 512
    assert full.rpn.post_nms_top_n() == 300 and full.roi_heads.nms_thresh == 0.3


def test_proposals_detections_and_weight_maps_have_documented_shapes_and_ranges():
    model = _model().eval()
    images = [torch.rand(3, 75, 120), torch.rand(3, 100, 90)]  # resized by 96/75 and 96/90
    with torch.no_grad():
        image_list, _ = model.transform(images)
        proposals, _ = model.rpn(image_list, {"0": model.backbone(image_list.tensors)})
        detections = model(images)
    for boxes, (h, w) in zip(proposals, image_list.image_sizes):
        assert boxes.shape[1] == 4 and 0 < len(boxes) <= SMALL.rpn_post_nms_top_n
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
        assert (boxes[:, 2:] >= boxes[:, :2]).all()
    for detection, image, (h, w) in zip(detections, images, image_list.image_sizes):
        boxes, scores, labels = detection["boxes"], detection["scores"], detection["labels"]
        assert 0 < len(boxes) <= SMALL.detections_per_img and boxes.shape[1] == 4
        assert scores.shape == labels.shape == (len(boxes),) and labels.dtype == torch.int64
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= image.shape[2]).all()
        assert (boxes[:, 3] <= image.shape[1]).all()
        assert ((scores > SMALL.score_thresh) & (scores <= 1)).all() and (scores[:-1] >= scores[1:]).all()
        assert ((labels >= 0) & (labels < 3)).all()
        alpha = detection["weight_maps"]
        assert alpha.shape == (3, math.ceil(h / 8), math.ceil(w / 8))
        assert (alpha >= 0).all() and (alpha.sum(dim=(1, 2)) <= 1 + 1e-5).all()


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return iw * ih / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih)


def _greedy_nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, threshold: float) -> list[int]:
    """Literal per-class greedy NMS: by descending score, drop a box overlapping a kept one of its class by more."""
    kept: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if all(labels[j] != labels[i] or _iou(boxes[i], boxes[j]) <= threshold for j in kept):
            kept.append(int(i))
    return kept


def test_nms_threshold_is_honoured():
    images = [torch.rand(3, 96, 96)]
    loose = _model(config=dataclasses.replace(SMALL, nms_thresh=1.0, detections_per_img=10_000)).eval()
    strict = _model(config=SMALL).eval()
    with torch.no_grad():
        everything, kept = loose(images)[0], strict(images)[0]
    boxes, scores, labels = (everything[key].numpy() for key in ("boxes", "scores", "labels"))
    assert any(
        labels[i] == labels[j] and _iou(boxes[i], boxes[j]) > 0.3 for i in range(50) for j in range(i)
    ), "without NMS some same-class detections overlap by more than 0.3"
    reference = _greedy_nms(boxes, scores, labels, 0.3)[: SMALL.detections_per_img]
    np.testing.assert_allclose(kept["boxes"].numpy(), boxes[reference], rtol=0, atol=1e-5)
    np.testing.assert_array_equal(kept["labels"].numpy(), labels[reference])


# --- training ----------------------------------------------------------------------------------


def test_overfits_a_handful_of_synthetic_images():
    """10-17 s of one core (0.12 s per step): 4 images of 96 px, Adam, up to 140 steps, mAP checked every 20 from 60."""
    images, targets = _rectangles(4)
    model = _model("rfcn_gwap_gap")
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    ground_truth = [(t["boxes"].numpy(), t["labels"].numpy(), np.zeros(len(t["labels"]), bool)) for t in targets]
    mean_ap = 0.0
    for step in range(1, 141):
        model.train()
        loss = sum(model(images, targets).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step >= 60 and step % 20 == 0:
            model.eval()
            with torch.no_grad():
                detections = [(d["boxes"].numpy(), d["scores"].numpy(), d["labels"].numpy()) for d in model(images)]
            mean_ap = float(np.nanmean(voc_detection_ap(detections, ground_truth, 3)))
            if mean_ap > 0.9:
                break
    assert mean_ap > 0.9
