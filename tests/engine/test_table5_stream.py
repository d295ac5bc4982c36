"""Table V's training stream, read from the batches `train_detection` hands the model (not from timing):
every method's detection loss sees plain R-FCN's box images, in its order and with its flips, at every
iteration; the weak methods add the image-level images of one seeded stream on top (docs/table5.md)."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from gwapbench.config import DataConfig, RunConfig
from gwapbench.data.decode import load_image_uint8
from gwapbench.data.synthetic import VOC_YEAR, make_synthetic_voc
from gwapbench.data.synthetic_shapes import CLASS_NAMES
from gwapbench.engine.detection import train_detection, training_samples
from gwapbench.engine.detection_data import split_boxes
from gwapbench.engine.detection_schedules import resolve_detection_schedule
from gwapbench.engine.detection_sources import DetectionSource, read_detection_splits
from gwapbench.engine.inputs import EngineOptions
from gwapbench.engine.store import RunStore
from gwapbench.tables.table5 import TABLE5_METHODS

BATCH, ITERATIONS, PROPORTION = 4, 12, 0.25
WEAK = tuple(m for m in TABLE5_METHODS if m != "rfcn")


class Recorder(nn.Module):
    """Stands in for DetectionTask: records every image of every batch as (image id, mirrored, has boxes),
    the mirroring read by comparing the batch's pixels with the decoded file."""

    def __init__(self, uses_image_labels: bool, samples) -> None:
        super().__init__()
        self.model = SimpleNamespace(uses_image_labels=uses_image_labels)
        self.weight = nn.Parameter(torch.zeros(()))
        self.samples = samples
        self.batches: list[list[tuple[str, bool, bool]]] = []

    def forward(self, batch, images):
        seen = []
        for image, target, index in zip(batch.images, batch.targets, batch.indices.tolist()):
            sample = self.samples[index]
            decoded = load_image_uint8(sample.image_path)
            plain, mirrored = torch.equal(image, decoded), torch.equal(image, decoded.flip(-1))
            assert plain != mirrored, sample.image_id  # a mirror-symmetric image would make the reading ambiguous
            seen.append((sample.image_id, mirrored, "boxes" in target))
        self.batches.append(seen)
        return {"loss": self.weight * 0.0}


@pytest.fixture(scope="module")
def streams(tmp_path_factory):
    """method -> the batches of its first ITERATIONS iterations, and the box-proportion split."""
    base = tmp_path_factory.mktemp("stream")
    make_synthetic_voc(base / "voc", {"train": 20, "val": 20, "test": 2}, size=64)
    root = base / "voc" / "VOCdevkit" / VOC_YEAR
    source = DetectionSource("synthetic", (root,), tuple(CLASS_NAMES))
    train, _, _ = read_detection_splits(source)
    split = split_boxes(train, PROPORTION, seed=0)
    schedule, _ = resolve_detection_schedule("ci", len(split), (("batch_size", BATCH), ("iterations", ITERATIONS),
                                                                ("checkpoint_every", 1000)))
    store = RunStore(base / "runs")
    recorded = {}
    for method in TABLE5_METHODS:
        config = RunConfig(DataConfig("synthetic", str(root), source.classes), "tiny", method, "ci", seed=3,
                           weights="none", task="voc_detection")
        run = store.run(method)
        run.create(config, "fingerprint", schedule)
        samples = training_samples(Recorder(method != "rfcn", []), split)
        task = Recorder(method != "rfcn", samples)
        train_detection(run, task, config, schedule, samples, torch.device("cpu"),
                        EngineOptions(device="cpu", workers=0, progress=False))
        recorded[method] = task.batches
    return recorded, split


def _box_part(batches):
    return [[(image_id, mirrored) for image_id, mirrored, boxed in batch if boxed] for batch in batches]


def test_every_method_s_detection_loss_sees_plain_rfcn_s_box_images_and_flips(streams):
    recorded, split = streams
    plain = recorded["rfcn"]
    assert len(plain) == ITERATIONS and all(len(batch) == BATCH and all(boxed for *_, boxed in batch)
                                            for batch in plain)
    boxed_ids = {s.image_id for s in split if len(s.boxes)}
    assert 2 * BATCH <= len(boxed_ids) < len(split) // 2  # several box epochs in ITERATIONS, most images unboxed
    assert {image_id for batch in plain for image_id, _, _ in batch} <= boxed_ids
    assert {mirrored for batch in plain for _, mirrored, _ in batch} == {False, True}
    for method in WEAK:
        assert len(recorded[method]) == ITERATIONS
        assert _box_part(recorded[method]) == _box_part(plain), method
        # the box images lead each batch, in plain R-FCN's order
        assert [batch[:BATCH] for batch in recorded[method]] == plain, method


def test_weak_methods_add_the_same_image_level_images_drawn_evenly(streams):
    from gwapbench.engine.detection_schedules import IMAGE_LEVEL_PER_BOX_IMAGE

    recorded, split = streams
    extra = IMAGE_LEVEL_PER_BOX_IMAGE * BATCH
    unboxed = [s.image_id for s in split if not len(s.boxes)]
    image_level = {m: [batch[BATCH:] for batch in recorded[m]] for m in WEAK}
    for method in WEAK:
        assert image_level[method] == image_level[WEAK[0]], method  # all weak rows see one stream
        assert all(len(part) == extra and not any(boxed for *_, boxed in part) for part in image_level[method])
    drawn = [image_id for part in image_level[WEAK[0]] for image_id, _, _ in part]
    assert set(drawn) <= set(unboxed)
    # epochs of the image-level pool follow each other without dropping an image: the first len(unboxed)
    # draws are each image once, and over all draws counts differ by at most one
    assert sorted(drawn[: len(unboxed)]) == sorted(unboxed)
    counts = Counter(drawn)
    total = ITERATIONS * extra
    assert len(unboxed) < total < 2 * len(unboxed)  # the pool is drawn once, then partly a second time
    assert sorted(counts[image_id] for image_id in unboxed) == [1] * (2 * len(unboxed) - total) + [2] * (
        total - len(unboxed))
    assert {mirrored for part in image_level[WEAK[0]] for _, mirrored, _ in part} == {False, True}


def test_the_image_level_stream_is_its_own_seeded_sequence():
    """A literal reading of the documented rule: image-level position j is image order_e[j mod n] of epoch
    e = j // n, with order_e and the flips from numpy's generator seeded SeedSequence([seed, e, 1])."""
    from gwapbench.engine.detection_data import DetectionBatches

    seed, n_box, n_weak, batch, extra, flip = 5, 9, 7, 4, 4, 0.5
    box_indices, weak_indices = list(range(100, 100 + n_box)), list(range(200, 200 + n_weak))
    sampler = DetectionBatches(box_indices, weak_indices, batch, extra, seed, flip, 0, 10)
    expected_weak = []
    for epoch in range(-(-10 * extra // n_weak)):
        rng = np.random.default_rng(np.random.SeedSequence([seed, epoch, 1]))
        order, flips = rng.permutation(n_weak), rng.random(n_weak) < flip
        expected_weak += [(200 + int(i), bool(f)) for i, f in zip(order, flips)]
    box_per_epoch = n_box // batch
    for t, keys in enumerate(sampler):
        rng = np.random.default_rng(np.random.SeedSequence([seed, t // box_per_epoch]))
        order, flips = rng.permutation(n_box), rng.random(n_box) < flip
        first = (t % box_per_epoch) * batch
        assert keys[:batch] == [(100 + int(i), bool(f)) for i, f in zip(order, flips)][first:first + batch]
        assert keys[batch:] == expected_weak[t * extra:(t + 1) * extra]


@pytest.mark.parametrize("world_size", [2, 4])
def test_detection_batches_shard_and_resume_as_one_uninterrupted_process(world_size):
    from gwapbench.engine.detection_data import DetectionBatches

    args = (list(range(13)), list(range(13, 40)), 4, 8, 1, 0.5)
    whole = list(DetectionBatches(*args, 0, 9))
    assert list(DetectionBatches(*args, 4, 9)) == whole[4:]  # resumed at iteration 4
    shards = [list(DetectionBatches(*args, 0, 9, rank, world_size)) for rank in range(world_size)]
    for t, keys in enumerate(whole):
        box, weak = keys[:4], keys[4:]
        for rank in range(world_size):
            assert shards[rank][t] == box[rank::world_size] + weak[rank::world_size]
    assert list(DetectionBatches(list(range(13)), [], 4, 8, 1, 0.5, 0, 9)) == [keys[:4] for keys in whole]


def test_detection_batches_refuse_an_image_level_count_the_processes_cannot_share():
    from gwapbench.engine.detection_data import DetectionBatches
    from gwapbench.errors import InputError

    with pytest.raises(InputError, match="image-level images per batch"):
        DetectionBatches(list(range(8)), list(range(8, 20)), 4, 6, 0, 0.5, 0, 2, rank=0, world_size=4)


def test_the_image_level_ratio_is_part_of_the_weak_runs_ids_only(monkeypatch, tmp_path):
    """Runs trained on another stream are never reused: changing the ratio changes every weak run's id,
    and plain R-FCN's, whose stream it does not touch, stays."""
    from gwapbench.config import run_id
    from gwapbench.engine import detection_schedules
    from gwapbench.engine.detection_sources import DetectionSource
    from gwapbench.tables.table import TableOptions
    from gwapbench.tables.table5 import run_config

    options = TableOptions(net="resnet50", data=DetectionSource("synthetic", (tmp_path,), ("a", "b")), runs_dir=tmp_path,
                           schedule="paper")

    def ids():
        return {m: run_id(run_config(options, m, 0.1, 128), "fingerprint") for m in TABLE5_METHODS}

    before = ids()
    assert run_config(options, "rfcn", 0.1, 128).data.train_split == "trainval:boxes=0.1"
    monkeypatch.setattr(detection_schedules, "IMAGE_LEVEL_PER_BOX_IMAGE", 2)
    after = ids()
    assert after["rfcn"] == before["rfcn"]
    assert all(after[m] != before[m] for m in WEAK)
