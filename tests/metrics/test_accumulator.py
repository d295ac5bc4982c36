"""Accumulator merging: equal to one pass, refused between differently configured metrics."""

from __future__ import annotations

import numpy as np
import pytest

from gwapbench.metrics import PxAP, TopKError, VOCDetectionAP, topk_error


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
