"""Table V parts: schedule scaling, training targets, box corners, which images plain R-FCN trains on."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from gwapbench.data.sample import Sample
from gwapbench.data.transforms import file_boxes_to_tensor
from gwapbench.engine.detection import DetectionTask, file_corners, training_samples
from gwapbench.engine.detection_data import split_boxes, training_target
from gwapbench.engine.detection_schedules import resolve_detection_schedule
from gwapbench.errors import InputError
from reference_models.rfcn import RFCNConfig, build_rfcn


def sample(boxes, box_labels, difficult, labels, width=100, height=80) -> Sample:
    return Sample("000001", Path("000001.jpg"), width, height, np.array(labels, dtype=np.int8),
                  np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(box_labels, dtype=np.int64),
                  np.array(difficult, dtype=bool))


def test_paper_schedule_is_rfcn_on_voc0712_and_scales_with_the_training_images():
    schedule, head = resolve_detection_schedule("paper", 16_551)
    assert (schedule.iterations, schedule.lr_step, schedule.batch_size) == (30_000, 20_000, 8)
    assert (schedule.lr, schedule.lr_at(19_999), schedule.lr_at(20_000)) == (1e-3, 1e-3, pytest.approx(1e-4))
    assert (schedule.momentum, schedule.weight_decay, schedule.image_size) == (0.9, 5e-4, 600)
    assert head == {"min_size": 600, "max_size": 1000, "anchor_sizes": (128, 256, 512)}
    voc07_only, _ = resolve_detection_schedule("paper", 5_011)  # 30000 * 5011 / 16551 = 9082.8
    assert (voc07_only.iterations, voc07_only.lr_step) == (9_083, 6_055)  # 20000 * 5011 / 16551 = 6055.2


def test_overrides_apply_after_scaling_and_anchors_follow_the_shorter_side():
    schedule, head = resolve_detection_schedule("paper", 5_011, (("image_size", 300), ("iterations", 7)))
    assert schedule.iterations == 7 and schedule.lr_step == 6_055
    assert head["anchor_sizes"] == (64, 128, 256) and (head["min_size"], head["max_size"]) == (300, 500)
    ci, ci_head = resolve_detection_schedule("ci", 123_456)  # CPU schedules are not scaled
    assert ci.iterations == 60 and ci_head["k"] == 3
    with pytest.raises(InputError, match="--schedule 'fast'"):
        resolve_detection_schedule("fast", 10)
    with pytest.raises(InputError, match="unknown schedule field"):
        resolve_detection_schedule("ci", 10, (("epochs", 3),))


def test_target_keeps_non_difficult_boxes_as_continuous_corners_and_mirrors_them():
    s = sample([[1, 1, 10, 20], [50, 30, 100, 80]], [2, 4], [False, True], [-1, -1, 1, -1, 0])
    target = training_target(s, flip=False)
    assert torch.equal(target["boxes"], torch.tensor([[0.0, 0.0, 10.0, 20.0]]))  # (1, 1, 10, 20) covers pixels 0..9
    assert torch.equal(target["labels"], torch.tensor([2]))
    assert torch.equal(target["image_labels"], torch.tensor([0.0, 0, 1, 0, 0]))  # difficult-only class 4 is not 1
    flipped = training_target(s, flip=True)
    assert torch.equal(flipped["boxes"], torch.tensor([[90.0, 0.0, 100.0, 20.0]]))  # x -> 100 - x


def test_image_without_usable_boxes_is_image_level_only():
    only_difficult = training_target(sample([[1, 1, 10, 20]], [0], [True], [0, -1]), flip=False)
    dropped = training_target(sample(np.zeros((0, 4)), [], [], [1, 1]), flip=True)
    assert "boxes" not in only_difficult and "boxes" not in dropped
    assert torch.equal(dropped["image_labels"], torch.tensor([1.0, 1.0]))


def test_file_corners_invert_file_boxes_to_tensor_and_keep_sub_pixel_boxes_one_pixel_wide():
    boxes = np.array([[1, 1, 100, 80], [17, 3, 17, 9], [5.5, 6.0, 40.25, 9.0]])
    np.testing.assert_allclose(file_corners(file_boxes_to_tensor(boxes, first_pixel=1)), boxes, atol=1e-5)
    thin = file_corners(torch.tensor([[29.4, 63.1, 40.4, 64.0]]))  # 0.9 px tall
    np.testing.assert_allclose(thin, [[30.4, 64.1, 40.4, 64.1]], atol=1e-5)


def test_plain_rfcn_trains_on_the_box_images_only_and_weak_methods_on_all():
    samples = [sample([[1, 1, 10, 20]], [i % 3], [False], [1, 1, 1]) for i in range(20)]
    split = split_boxes(samples, 0.1, seed=0)
    with_boxes = [s for s in split if len(s.boxes)]
    assert len(with_boxes) == 3  # the class cover (3 classes) exceeds round(0.1 * 20) = 2
    config = RFCNConfig(min_size=64, max_size=64, anchor_sizes=(16, 32), rpn_channels=8, mid_channels=8, k=3)
    plain = DetectionTask(build_rfcn("rfcn", 3, backbone="tiny", weights="none", config=config))
    weak = DetectionTask(build_rfcn("rfcn_gwap", 3, backbone="tiny", weights="none", config=config))
    assert training_samples(plain, split) == with_boxes
    assert training_samples(weak, split) == split


def test_rfcn_trains_and_detects_under_bfloat16_autocast():
    """The mixed-precision path of CUDA runs (the loop's autocast), exercised with CPU autocast."""
    torch.manual_seed(0)
    config = RFCNConfig(min_size=64, max_size=80, anchor_sizes=(16, 32), rpn_channels=8, mid_channels=8, k=3)
    model = build_rfcn("rfcn_gwap_gap", 3, backbone="tiny", weights="none", config=config)
    images = [torch.rand(3, 64, 80), torch.rand(3, 64, 72)]
    targets = [{"boxes": torch.tensor([[8.0, 8.0, 40.0, 50.0]]), "labels": torch.tensor([1])},
               {"image_labels": torch.tensor([1.0, 0.0, 1.0])}]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = model(images, targets)
    total = sum(losses.values())
    total.backward()
    assert torch.isfinite(total) and losses["loss_classifier"] > 0 and losses["loss_weak_gwap"] > 0
    model.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        detections = model(images)
    assert detections[0]["boxes"].dtype == torch.float32 and detections[1]["weight_maps"].shape[0] == 3


def test_a_run_resumed_from_its_checkpoint_ends_with_the_same_predictions(tmp_path):
    """Train 1 iteration, stop, resume to 2 through the store: identical to 2 iterations without a stop."""
    from gwapbench.config import DataConfig, RunConfig
    from gwapbench.data.synthetic import VOC_YEAR, make_synthetic_voc
    from gwapbench.data.synthetic_shapes import CLASS_NAMES
    from gwapbench.engine.detection import build_detection_task, train_detection
    from gwapbench.engine.detection_sources import DetectionSource, read_detection_splits
    from gwapbench.engine.inputs import EngineOptions, RunData
    from gwapbench.engine.runner import execute
    from gwapbench.engine.store import RunStore

    make_synthetic_voc(tmp_path / "voc", {"train": 6, "val": 4, "test": 3}, size=64)
    root = tmp_path / "voc" / "VOCdevkit" / VOC_YEAR
    source = DetectionSource("synthetic", (root,), tuple(CLASS_NAMES))
    train, test, _ = read_detection_splits(source)
    train = split_boxes(train, 0.5, seed=0)
    config = RunConfig(DataConfig("synthetic", str(root), source.classes), "tiny", "rfcn_gwap", "ci",
                       weights="none", task="voc_detection")
    schedule, head = resolve_detection_schedule("ci", len(train), (("batch_size", 2), ("image_size", 64),
                                                                   ("iterations", 2), ("checkpoint_every", 1)))
    options = EngineOptions(device="cpu", workers=0, progress=False)
    store = RunStore(tmp_path / "runs")
    straight, stopped = store.run("straight"), store.run("stopped")
    for run in (straight, stopped):
        run.create(config, "fingerprint", schedule)
    torch.manual_seed(config.seed)
    first_half = build_detection_task(config, 10, head)
    train_detection(stopped, first_half, config, replace(schedule, iterations=1), train, torch.device("cpu"), options)
    assert torch.load(stopped.checkpoint_path, weights_only=True)["iteration"] == 1
    metrics = [execute(run, config, schedule, RunData(train, test, source.classes), options)
               for run in (straight, stopped)]
    assert metrics[0]["det_map"] == metrics[1]["det_map"]
    a, b = straight.load_predictions(), stopped.load_predictions()
    assert a.keys() == b.keys() and all(np.array_equal(a[key], b[key]) for key in a)
    assert len(a["det_scores"]) > 0
