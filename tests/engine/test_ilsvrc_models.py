"""ILSVRC models and evaluation: shapes and classes on the 5 real val images with random weights, the
offline weights error, backprop saliency against torch.autograd.grad per image, and the evaluation from
stored predictions (single- and multi-scale) against literal per-image loops with scipy labelling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from gwapbench.data.ilsvrc import read_wsol_metadata
from gwapbench.data.sample import Sample
from gwapbench.engine.batches import Batch, ImageLabelDataset, Normalizer
from gwapbench.engine.ilsvrc_evaluate import LocalizationOptions, evaluate_ilsvrc, evaluate_ilsvrc_boxes
from gwapbench.engine.ilsvrc_models import backprop_saliency, build_ilsvrc_task
from gwapbench.engine.sources import read_ilsvrc_val, resolve_ilsvrc_data
from gwapbench.errors import InputError
from reference_models.backbones import IMAGENET_MEAN, IMAGENET_STD, WeightsNotFoundError

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

def _literal_box(heatmap: np.ndarray, threshold: float) -> np.ndarray:
    labels, count = ndimage.label(heatmap > threshold * heatmap.max(), structure=np.ones((3, 3)))
    if count == 0:
        return np.zeros(4, np.int64)
    sizes = [int(np.sum(labels == lab)) for lab in range(1, count + 1)]
    rows, cols = np.nonzero(labels == 1 + sizes.index(max(sizes)))
    return np.array([cols.min(), rows.min(), cols.max(), rows.max()])


def _literal_iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    inter = max(iw, 0) * max(ih, 0)
    area = lambda x: (x[2] - x[0] + 1) * (x[3] - x[1] + 1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def _literal_resize(heatmap: np.ndarray, height: int, width: int) -> np.ndarray:
    cv2 = pytest.importorskip("cv2")
    return cv2.resize(heatmap.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


def _random_case(seed: int, count: int = 40, classes: int = 8):
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(count):
        h, w = int(rng.integers(30, 70)), int(rng.integers(30, 70))
        x1, y1 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        box = np.array([[x1, y1, int(rng.integers(x1 + 4, w)), int(rng.integers(y1 + 4, h))]], float)
        label = int(rng.integers(classes))
        labels = np.full(classes, -1, np.int8)
        labels[label] = 1
        samples.append(Sample(f"img{i}", None, w, h, labels, box, np.array([label]), np.zeros(1, bool)))
    logits = rng.normal(size=(count, classes)).astype(np.float32)
    logits[: count // 2, [s.box_labels[0] for s in samples[: count // 2]]] += 3  # half classified right
    coarse = rng.random((count, 6, 5, 5)).astype(np.float32)
    return samples, logits, coarse


def _predictions(samples, logits, maps, names) -> dict[str, np.ndarray]:
    return {"image_ids": np.array([s.image_id for s in samples]), "logits": logits,
            "maps": maps.astype(np.float16), "map_names": np.array(names)}


def _literal_errors(samples, logits, map_at_image) -> tuple[float, float]:
    """Top-1 classification and localization error (eval_clsloc with one guess), image by image."""
    cls_wrong = loc_wrong = 0
    for i, s in enumerate(samples):
        guess = int(np.argmax(logits[i]))
        box = _literal_box(map_at_image(i, guess), 0.2)
        right_class = guess == s.box_labels[0]
        cls_wrong += not right_class
        loc_wrong += not (right_class and max(_literal_iou(box, g) for g in s.boxes) >= 0.5)
    return 100 * cls_wrong / len(samples), 100 * loc_wrong / len(samples)


def test_single_scale_alpha_evaluation_against_a_literal_loop():
    samples, logits, coarse = _random_case(0)
    maps = coarse[:, :1]
    metrics = evaluate_ilsvrc(_predictions(samples, logits, maps, ["alpha"]), samples)
    stored = maps.astype(np.float16).astype(np.float32)
    expected = _literal_errors(samples, logits, lambda i, c: _literal_resize(stored[i, 0], samples[i].height,
                                                                              samples[i].width))
    assert (metrics["top1_cls_error"], metrics["top1_loc_error"]) == pytest.approx(expected)


def test_multiscale_cam_evaluation_against_a_literal_loop():
    samples, logits, coarse = _random_case(1)
    rng = np.random.default_rng(2)
    names = ["top1", "top2", "top3", "top4", "top5", "gt"]
    small = coarse  # maps at the first scale (5 x 5) and a second one (9 x 9), same class ranking
    large = rng.random((len(samples), 6, 9, 9)).astype(np.float32)
    scales = [_predictions(samples, logits, small, names), _predictions(samples, logits, large, names)]
    metrics, top1_boxes = evaluate_ilsvrc_boxes(scales, samples, LocalizationOptions())

    def averaged(i: int, rank: int) -> np.ndarray:
        s = samples[i]
        return np.mean([_literal_resize(p["maps"][i, rank].astype(np.float32), s.height, s.width) for p in scales],
                       axis=0)

    expected = _literal_errors(samples, logits, lambda i, c: averaged(i, 0))
    assert (metrics["top1_cls_error"], metrics["top1_loc_error"]) == pytest.approx(expected)
    for i in range(len(samples)):
        np.testing.assert_array_equal(top1_boxes[i], _literal_box(averaged(i, 0), 0.2))
    gt_hits = [max(_literal_iou(_literal_box(averaged(i, 5), 0.2), g) for g in s.boxes) >= 0.5
               for i, s in enumerate(samples)]
    assert metrics["gt_known_loc_accuracy"] == pytest.approx(100 * np.mean(gt_hits))


def test_blacklist_leaves_images_out_of_the_localization_error():
    samples, logits, coarse = _random_case(3)
    predictions = _predictions(samples, logits, coarse[:, :1], ["alpha"])
    exclude = np.zeros(len(samples), bool)
    exclude[::4] = True
    full = evaluate_ilsvrc(predictions, samples)
    kept = [s for s, e in zip(samples, exclude) if not e]
    subset = evaluate_ilsvrc({**predictions, **{k: predictions[k][~exclude] for k in ("image_ids", "logits", "maps")}},
                             kept)
    metrics = evaluate_ilsvrc(predictions, samples, LocalizationOptions(exclude=exclude))
    assert metrics["top1_loc_error"] == pytest.approx(subset["top1_loc_error"])
    assert metrics["top1_cls_error"] == pytest.approx(full["top1_cls_error"])
    assert metrics["excluded_from_loc"] == 10


def test_other_box_methods_box_each_map_at_image_size():
    from gwapbench.engine.ilsvrc_evaluate import box_method_available, image_boxes
    from gwapbench.metrics import heatmap_to_box, resize_heatmap

    if not box_method_available("cam_legacy"):
        pytest.skip("gwapbench.metrics has no cam_legacy box method in this version")
    samples, _, coarse = _random_case(4, count=12)
    got = image_boxes(list(coarse[:, 0]), samples, LocalizationOptions(box_method="cam_legacy", normalize="none"))
    for i, s in enumerate(samples):
        expected = heatmap_to_box(resize_heatmap(coarse[i, 0], s.height, s.width), method="cam_legacy")
        np.testing.assert_array_equal(got[i], expected)
