"""ILSVRC models and evaluation: shapes and classes on the 5 real val images with random weights, the
offline weights error, backprop saliency against torch.autograd.grad per image, and the evaluation from
stored predictions (single- and multi-scale) against literal per-image loops with scipy labelling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from gwapbench.data.ilsvrc import read_wsol_metadata
from gwapbench.data.sample import Sample
from gwapbench.engine.batches import Batch, ImageLabelDataset, Normalizer
from gwapbench.engine.ilsvrc_evaluate import LocalizationOptions, evaluate_ilsvrc, evaluate_ilsvrc_boxes
from gwapbench.engine.ilsvrc_models import backprop_saliency, build_ilsvrc_task
from gwapbench.engine.ilsvrc_sources import read_ilsvrc_val, resolve_ilsvrc_data
from gwapbench.errors import InputError
from reference_models.backbones import IMAGENET_MEAN, IMAGENET_STD, WeightsNotFoundError
from tests.oracle import literal

SIZE = 96  # small inputs keep the CPU test short; GoogLeNet then gives 6 x 6 maps


@pytest.fixture(scope="module")
def mini_val(shared_data, tmp_path_factory):
    root = shared_data("ilsvrc2012_val_mini")
    data = resolve_ilsvrc_data("ilsvrc", tmp_path_factory.mktemp("runs"), root)
    return root, data, read_ilsvrc_val(root).samples


def _batch(samples: list[Sample], size: int) -> tuple[Batch, torch.Tensor]:
    dataset = ImageLabelDataset(samples, size)
    items = [dataset[(i, False)] for i in range(len(samples))]
    images, targets, masks, boxes, indices = zip(*items)
    batch = Batch(torch.stack(images), torch.stack(targets), torch.stack(masks), list(boxes), torch.tensor(indices))
    return batch, Normalizer(IMAGENET_MEAN, IMAGENET_STD)(batch.images)


def test_val_classes_agree_with_the_wsolevaluation_metadata(mini_val):
    root, data, samples = mini_val
    assert len(data.classes) == 1000 and list(data.classes) == sorted(data.classes)
    wsol = {s.image_id: int(s.positive_classes[0]) for s in read_wsol_metadata(
        root / "wsolevaluation_metadata" / "ILSVRC" / "test")}
    assert {s.image_id: int(s.box_labels[0]) for s in samples} == wsol


@pytest.mark.parametrize("method,extra_conv,names,channels", [
    ("gap", True, ("top1", "top2", "top3", "top4", "top5", "gt"), 1024),
    ("gwap", True, ("alpha",), 1024),
    ("gmp", False, ("top1", "top2", "top3", "top4", "top5", "gt"), 832),
])
def test_cam_googlenet_shapes_and_classes(mini_val, method, extra_conv, names, channels):
    _, _, samples = mini_val
    torch.manual_seed(0)
    task = build_ilsvrc_task("googlenet", method, 1000, SIZE, weights="none", extra_conv=extra_conv).eval()
    assert task.classifier.backbone.out_channels == channels
    assert task.classifier.classifier.in_features == channels and task.classifier.classifier.out_features == 1000
    batch, images = _batch(samples, SIZE)
    logits, maps = task.predict(batch, images)
    assert logits.shape == (5, 1000) and task.map_names == names
    assert maps.shape == (5, len(names), *task.feature_size) and task.feature_size == (6, 6)
    assert torch.isfinite(maps).all()
    if names[0] == "top1":  # the CAM of the true class: w_c . F, by hand
        features = task.classifier.backbone(images)
        true = [int(s.box_labels[0]) for s in samples]
        expected = torch.einsum("nk,nkhw->nhw", task.classifier.classifier.weight[true], features)
        torch.testing.assert_close(maps[:, -1], expected, rtol=1e-4, atol=1e-4)
        top1 = logits.argmax(dim=1)
        expected = torch.einsum("nk,nkhw->nhw", task.classifier.classifier.weight[top1], features)
        torch.testing.assert_close(maps[:, 0], expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("net,method", [("googlenet", "original"), ("alexnet", "original"),
                                        ("vgg16", "backprop")])
def test_pretrained_rows_with_random_weights(mini_val, net, method):
    _, _, samples = mini_val
    torch.manual_seed(0)
    task = build_ilsvrc_task(net, method, 1000, SIZE, weights="none")
    assert not task.trainable
    batch, images = _batch(samples, SIZE)
    logits, maps = task.predict(batch, images)
    assert logits.shape == (5, 1000) and torch.isfinite(logits).all()
    if method == "backprop":
        assert maps.shape == (5, 2, SIZE, SIZE) and (maps >= 0).all()
    else:
        assert maps.shape[1] == 0


def test_bad_model_requests(tmp_path):
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, wrong)
    with pytest.raises(InputError, match="not a state dict of torchvision's alexnet"):
        build_ilsvrc_task("alexnet", "original", 1000, SIZE, weights=str(wrong))
    with pytest.raises(InputError, match="1000 ILSVRC classes"):
        build_ilsvrc_task("googlenet", "original", 10, SIZE, weights="none")
    with pytest.raises(InputError, match="backprop rows exist for googlenet, vgg16"):
        build_ilsvrc_task("alexnet", "backprop", 1000, SIZE, weights="none")
    with pytest.raises(InputError, match="choose from"):
        build_ilsvrc_task("googlenet", "lse", 1000, SIZE, weights="none")


def test_weights_not_found_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsNotFoundError, match="googlenet-"):
        build_ilsvrc_task("googlenet", "original", 1000, SIZE)
    with pytest.raises(WeightsNotFoundError, match=str(tmp_path / "empty")):
        build_ilsvrc_task("googlenet", "gwap", 1000, SIZE)


def test_backprop_saliency_against_autograd_per_image():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 8 * 8, 7))
    mean, std = torch.tensor([0.4, 0.5, 0.6]).view(3, 1, 1), torch.tensor([0.2, 0.25, 0.3]).view(3, 1, 1)
    raw = torch.rand(3, 3, 8, 8)
    classes = torch.tensor([2, 6, 0])
    got = backprop_saliency(model, (raw - mean) / std, classes, std.flatten())
    for n in range(3):  # d logit / d raw image, one image at a time, then max over channels of |.|
        image = raw[n].clone().requires_grad_(True)
        score = model(((image - mean) / std)[None])[0, classes[n]]
        (grad,) = torch.autograd.grad(score, image)
        torch.testing.assert_close(got[n], grad.abs().amax(dim=0), rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------ evaluation against literal loops

COARSE = 7  # stored map side


def _blob_maps(rng: np.random.Generator, samples: list[Sample], on_object: np.ndarray, floor: float,
               kinds: int) -> np.ndarray:
    """(N, kinds, COARSE, COARSE) float32 maps: `floor` everywhere, plus 1 + noise on the cells whose centres
    fall inside the image's GT box (on_object) or inside its mirror image through the centre (mostly a miss)."""
    maps = np.full((len(samples), kinds, COARSE, COARSE), floor, np.float32)
    for i, s in enumerate(samples):
        x1, y1, x2, y2 = s.boxes[0]
        if not on_object[i]:  # the box mirrored through the image centre
            x1, y1, x2, y2 = s.width - 1 - x2, s.height - 1 - y2, s.width - 1 - x1, s.height - 1 - y1
        ys = (np.arange(COARSE) + 0.5) * s.height / COARSE
        xs = (np.arange(COARSE) + 0.5) * s.width / COARSE
        inside = ((ys >= y1) & (ys <= y2))[:, None] & ((xs >= x1) & (xs <= x2))[None, :]
        maps[i, :, inside] += 1 + 0.3 * rng.random((int(inside.sum()), kinds), dtype=np.float32)
    return maps


def _random_case(seed: int, floor: float, count: int = 40, classes: int = 8):
    """Samples with one GT box each (non-square images of 30 to 70 pixels), logits that rank the true class
    first on about 3/4 of the images, and 6 maps per image that cover the GT box on about 3/4 of them
    (`_blob_maps`): neither every image localized nor none, so a wrong box rule moves the error."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(count):
        h, w = int(rng.integers(30, 70)), int(rng.integers(30, 70))
        x1, y1 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        box = np.array([[x1, y1, int(rng.integers(x1 + w // 4, w)), int(rng.integers(y1 + h // 4, h))]], float)
        label = int(rng.integers(classes))
        labels = np.full(classes, -1, np.int8)
        labels[label] = 1
        samples.append(Sample(f"img{i}", None, w, h, labels, box, np.array([label]), np.zeros(1, bool)))
    logits = rng.normal(size=(count, classes)).astype(np.float32)
    right = rng.random(count) < 0.75
    logits[np.flatnonzero(right), [s.box_labels[0] for s, r in zip(samples, right) if r]] += 5
    coarse = _blob_maps(rng, samples, rng.random(count) < 0.75, floor, 6)
    return samples, logits, coarse


def _predictions(samples, logits, maps, names) -> dict[str, np.ndarray]:
    return {"image_ids": np.array([s.image_id for s in samples]), "logits": logits,
            "maps": maps.astype(np.float16), "map_names": np.array(names)}


def _literal_boxes(samples, scale_maps: list[np.ndarray], kind: str, threshold: float = 0.2) -> list[tuple]:
    """Each image's box from its stored maps (one (N, h, w) array per scale): the paper's rule
    (tests/oracle/literal.py: upsampled, averaged, normalized for alpha, thresholded, largest component)."""
    return [literal.largest_component_box(literal.foreground(
        [m[i].astype(np.float16).astype(np.float32) for m in scale_maps], kind, s.height, s.width, threshold))
        for i, s in enumerate(samples)]


def _literal_errors(samples, logits, boxes, keep=None) -> tuple[float, float]:
    """Top-1 classification and localization error (eval_clsloc with one guess) over all images, and the
    localization error over the images where `keep` is true."""
    keep = np.ones(len(samples), bool) if keep is None else keep
    cls_wrong = loc_wrong = 0
    for i, s in enumerate(samples):
        guess = literal.ranked(logits[i])[0]
        cls_wrong += guess != s.box_labels[0]
        loc_wrong += keep[i] and not literal.eval_clsloc_correct([(guess, boxes[i])], s.boxes, list(s.box_labels))
    return 100 * cls_wrong / len(samples), 100 * loc_wrong / int(keep.sum())


def test_single_scale_alpha_evaluation_against_a_literal_loop():
    """GWAP-like alpha (a positive floor: min / max about 0.5): the paper normalizes it to [0, 1] before the
    20 % threshold, so boxes follow the blob, not the whole image."""
    samples, logits, coarse = _random_case(0, floor=1.0)
    maps = coarse[:, :1]
    metrics, top1_boxes = evaluate_ilsvrc_boxes([_predictions(samples, logits, maps, ["alpha"])], samples)
    boxes = _literal_boxes(samples, [maps[:, 0]], "alpha")
    assert [tuple(b) for b in top1_boxes.tolist()] == boxes
    cls_error, loc_error = _literal_errors(samples, logits, boxes)
    assert (metrics["top1_cls_error"], metrics["top1_loc_error"]) == pytest.approx((cls_error, loc_error))
    assert 10 < cls_error < 50 and cls_error < loc_error < 90  # neither all nor none localized
    whole = [(0, 0, s.width - 1, s.height - 1) for s in samples]
    assert sum(b == w for b, w in zip(boxes, whole)) < len(samples) // 4


def test_multiscale_cam_evaluation_against_a_literal_loop():
    """CAMs with a negative background (CAMs are signed): the CAM paper's rule, 20 % of the max, no min."""
    samples, logits, coarse = _random_case(1, floor=-0.3)
    rng = np.random.default_rng(2)
    names = ["top1", "top2", "top3", "top4", "top5", "gt"]
    small = coarse  # maps at the first scale (7 x 7) and a second one (9 x 9), same class ranking
    large = coarse.repeat(2, axis=2).repeat(2, axis=3)[:, :, :9, :9] + 0.1 * rng.random((len(samples), 6, 9, 9),
                                                                                           dtype=np.float32)
    scales = [_predictions(samples, logits, small, names), _predictions(samples, logits, large, names)]
    metrics, top1_boxes = evaluate_ilsvrc_boxes(scales, samples, LocalizationOptions())
    boxes = _literal_boxes(samples, [small[:, 0], large[:, 0]], "cam")
    assert [tuple(b) for b in top1_boxes.tolist()] == boxes
    cls_error, loc_error = _literal_errors(samples, logits, boxes)
    assert (metrics["top1_cls_error"], metrics["top1_loc_error"]) == pytest.approx((cls_error, loc_error))
    assert 10 < cls_error < 50 and cls_error < loc_error < 90
    gt_boxes = _literal_boxes(samples, [small[:, 5], large[:, 5]], "cam")
    gt_hits = [literal.eval_clsloc_correct([(s.box_labels[0], b)], s.boxes, list(s.box_labels))
               for s, b in zip(samples, gt_boxes)]
    assert metrics["gt_known_loc_accuracy"] == pytest.approx(100 * np.mean(gt_hits))
    assert 0 < np.mean(gt_hits) < 1


def test_alpha_boxes_and_fmeasure_do_not_change_under_an_affine_change_of_the_map():
    """The paper normalizes GWAP's weight map to [0, 1] (IV-B) before the Otsu threshold (Table II) and the 20 %
    threshold (Table IV), so both see the same map for m and 4 m - 3 (exact in float16 for these maps). Under a
    raw 20 %-of-max rule the floor of 1 lies below the threshold for 4 m - 3 but above it for m."""
    from gwapbench.engine.evaluate import evaluate_predictions

    samples, logits, coarse = _random_case(5, floor=1.0)
    maps = coarse[:, :1].astype(np.float16).astype(np.float32)
    moved = 4 * maps - 3
    assert np.array_equal(moved.astype(np.float16).astype(np.float32), moved)
    boxes = [evaluate_ilsvrc_boxes([_predictions(samples, logits, m, ["alpha"])], samples)[1] for m in (maps, moved)]
    np.testing.assert_array_equal(boxes[1], boxes[0])
    classes = [str(c) for c in range(logits.shape[1])]
    fmeasure = [evaluate_predictions(_predictions(samples, logits, m, ["alpha"]), samples, classes)["otsu_fmeasure"]
                for m in (maps, moved)]
    assert fmeasure[1] == fmeasure[0]


def test_blacklist_leaves_images_out_of_the_localization_error():
    """Maps with an exact zero background (raw and normalized thresholds agree): the blacklist is the subject.
    The excluded images are localized wrongly, so leaving them out lowers the error."""
    samples, logits, coarse = _random_case(3, floor=0.0)
    predictions = _predictions(samples, logits, coarse[:, :1], ["alpha"])
    boxes = _literal_boxes(samples, [coarse[:, 0]], "alpha")
    wrong = [i for i, (s, b) in enumerate(zip(samples, boxes)) if not literal.eval_clsloc_correct(
        [(literal.ranked(logits[i])[0], b)], s.boxes, list(s.box_labels))]
    exclude = np.zeros(len(samples), bool)
    exclude[wrong[:10]] = True
    cls_error, kept_error = _literal_errors(samples, logits, boxes, keep=~exclude)
    assert kept_error < _literal_errors(samples, logits, boxes)[1]  # the case can tell exclusion apart
    metrics = evaluate_ilsvrc(predictions, samples, LocalizationOptions(exclude=exclude))
    assert metrics["top1_loc_error"] == pytest.approx(kept_error)
    assert metrics["top1_cls_error"] == pytest.approx(cls_error)  # classification counts every image
    assert metrics["excluded_from_loc"] == 10


def test_other_box_methods_box_each_map_at_image_size():
    from gwapbench.engine.ilsvrc_evaluate import box_method_available, image_boxes
    from gwapbench.metrics import heatmap_to_box, resize_heatmap

    if not box_method_available("cam_legacy"):
        pytest.skip("gwapbench.metrics has no cam_legacy box method in this version")
    samples, _, coarse = _random_case(4, floor=0.0, count=12)
    got = image_boxes(list(coarse[:, 0]), samples, LocalizationOptions(box_method="cam_legacy", normalize="none"))
    for i, s in enumerate(samples):
        expected = heatmap_to_box(resize_heatmap(coarse[i, 0], s.height, s.width), method="cam_legacy")
        np.testing.assert_array_equal(got[i], expected)
