"""WSLClassifier: logits, localization maps per head kind, and the CAM identity."""

from __future__ import annotations

import pytest
import torch

from reference_models.backbones import build_backbone
from reference_models.classifier import WSLClassifier, upsample_maps
from reference_models.pooling import build_pooling


def _model(head_name: str, num_classes: int = 4) -> WSLClassifier:
    torch.manual_seed(0)
    backbone = build_backbone("tiny", weights=None, width=8)
    return WSLClassifier(backbone, build_pooling(head_name, backbone.out_channels, num_classes), num_classes).eval()


def test_gap_logit_equals_mean_cam_plus_bias():
    model = _model("gap")
    images = torch.randn(3, 3, 48, 40)
    with torch.no_grad():
        out = model(images, return_maps=True)
    assert model.map_kind == "cam" and out.maps.shape == (3, 4, 6, 5)
    torch.testing.assert_close(out.logits, out.maps.mean(dim=(2, 3)) + model.classifier.bias, rtol=1e-5, atol=1e-5)


def test_cam_of_requested_classes():
    model = _model("gmp")
    images = torch.randn(2, 3, 32, 32)
    classes = torch.tensor([[3, 0], [1, 1]])
    with torch.no_grad():
        all_maps = model(images, return_maps=True).maps
        picked = model(images, map_classes=classes).maps
    for i in range(2):
        for j in range(2):
            torch.testing.assert_close(picked[i, j], all_maps[i, classes[i, j]])
    with pytest.raises(ValueError, match="map_classes"):
        model(images, map_classes=torch.tensor([[4, 0], [0, 0]]))


def test_gwap_maps_are_alpha_and_broadcast_to_requested_classes():
    model = _model("gwap")
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = model(images, return_maps=True)
        picked = model(images, map_classes=torch.tensor([[2, 1, 0], [0, 0, 3]])).maps
        features = model.backbone(images)
        alpha = model.head(features).weights
    assert model.map_kind == "alpha"
    torch.testing.assert_close(out.maps, alpha)
    assert picked.shape == (2, 3, 4, 4)
    torch.testing.assert_close(picked[:, 2], alpha[:, 0])


def test_class_specific_maps_and_scores():
    model = _model("gwap_cs")
    assert model.classifier is None and model.map_kind == "alpha_c"
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = model(images, return_maps=True)
        picked = model(images, map_classes=torch.tensor([[1], [3]])).maps
    assert out.logits.shape == (2, 4) and out.maps.shape == (2, 4, 4, 4)
    torch.testing.assert_close(out.maps.sum(dim=(2, 3)), torch.ones(2, 4))
    torch.testing.assert_close(picked[:, 0], torch.stack([out.maps[0, 1], out.maps[1, 3]]))


def test_oracle_head_needs_gt_mask():
    model = _model("gwap_gt")
    images = torch.randn(1, 3, 32, 32)
    with pytest.raises(ValueError, match="needs gt_mask"):
        model(images)
    mask = torch.zeros(1, 1, 4, 4)
    mask[0, 0, 1, 2] = 1
    with torch.no_grad():
        out = model(images, gt_mask=mask, return_maps=True)
        features = model.backbone(images)
    torch.testing.assert_close(out.logits, model.classifier(features[:, :, 1, 2]))
    with pytest.raises(ValueError, match="does not take"):
        _model("gap")(images, gt_mask=mask)


def test_upsample_maps():
    maps = torch.full((1, 2, 3, 4), 0.25)
    up = upsample_maps(maps, (30, 41))
    assert up.shape == (1, 2, 30, 41)
    torch.testing.assert_close(up, torch.full_like(up, 0.25))
    with pytest.raises(ValueError):
        upsample_maps(torch.zeros(3, 4), (8, 8))


def test_tiny_gwap_classifier_learns_a_toy_task():
    """A few SGD steps on a bright-square-vs-none task lower the loss: every part is trainable."""
    torch.manual_seed(5)
    model = _model("gwap", num_classes=1).train()
    images = torch.randn(16, 3, 32, 32) * 0.1
    labels = torch.zeros(16, 1)
    images[:8, :, 8:16, 8:16] += 2.0
    labels[:8] = 1
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(15):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(images).logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_classifier_validates_channels_and_num_classes():
    backbone = build_backbone("tiny", weights=None, width=8)  # 32 channels
    with pytest.raises(ValueError, match="GAP was built for 64 channels but the tiny backbone gives 32"):
        WSLClassifier(backbone, build_pooling("gap", 64, 3), 3)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="num_classes must be an integer >= 1"):
            WSLClassifier(backbone, build_pooling("gap", 32, 3), bad)
    model = WSLClassifier(backbone, build_pooling("gap", 32, 3), 3)
    with pytest.raises(ValueError, match="tiny: images must be at least 8x8 pixels, got 4x4"):
        model(torch.zeros(1, 3, 4, 4))
