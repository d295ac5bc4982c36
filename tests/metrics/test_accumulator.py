"""Accumulator merging: equal to one pass, refused between differently configured metrics."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from gwapbench.metrics import OtsuFMeasure, PxAP, TopKError, VOCDetectionAP, otsu_fmeasure, pxap, topk_error


def test_merge_of_gathered_state_equals_single_pass():
    rng = np.random.default_rng(0)
    scores, labels = rng.random((40, 6)), rng.integers(0, 6, 40)
    first, second = TopKError(2), TopKError(2)
    first.update(scores[:15], labels[:15])
    second.update(scores[15:], labels[15:])
    assert first.merge(second.state()).compute() == topk_error(scores, labels, 2)


def test_merge_refuses_different_settings():
    rng = np.random.default_rng(1)
    top1, top5 = TopKError(1), TopKError(5)
    top5.update(rng.random((10, 8)), rng.integers(0, 8, 10))
    with pytest.raises(ValueError, match="settings"):
        top1.merge(top5)
    with pytest.raises(ValueError, match="settings"):
        VOCDetectionAP(2, iou_threshold=0.5).merge(VOCDetectionAP(2, iou_threshold=0.9))
    with pytest.raises(ValueError, match="settings"):
        PxAP(0.01).merge(PxAP(0.1).state())
    with pytest.raises(ValueError, match="cannot merge PxAP into TopKError"):
        TopKError(1).merge(PxAP())


def test_pickled_states_of_constant_memory_accumulators_merge_to_one_pass():
    rng = np.random.default_rng(2)
    maps = [rng.random((int(rng.integers(3, 20)), int(rng.integers(3, 20)))) for _ in range(12)]
    masks = [rng.random(m.shape) < 0.4 for m in maps]
    for make, function in ((PxAP, pxap), (OtsuFMeasure, lambda m, g: float(otsu_fmeasure(m, g).mean()))):
        parts = [make(), make(), make()]
        for part, batch in zip(parts, (slice(0, 5), slice(5, 6), slice(6, 12))):
            part.update(maps[batch], masks[batch])
        gathered = [pickle.loads(pickle.dumps(part.state())) for part in parts]  # as gather_object would
        merged = make()
        for state in gathered:
            merged.merge(state)
        assert merged.compute() == pytest.approx(function(maps, masks), abs=1e-15)
        merged.reset()
        with pytest.raises(ValueError, match="no data: call update first"):
            merged.compute()
