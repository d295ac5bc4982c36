"""The one map-chunking helper of the evaluation paths: chunks against a literal loop, resizing against
OpenCV, and chunked metrics equal to the same metric over all images at once."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from gwapbench.data.sample import Sample
from gwapbench.engine import evaluate as voc_evaluate
from gwapbench.engine import ilsvrc_evaluate
from gwapbench.evaluation.chunks import image_chunks, maps_at_image_size
from gwapbench.metrics import FramedBoxAcc, otsu_fmeasure, resize_heatmap


def _literal_chunks(count: int, size: int) -> list[list[int]]:
    chunks, current = [], []
    for index in range(count):
        current.append(index)
        if len(current) == size:
            chunks.append(current)
            current = []
    return chunks + ([current] if current else [])


@pytest.mark.parametrize("count", range(8))
@pytest.mark.parametrize("size", [1, 2, 3, 7, 8])
def test_image_chunks_are_the_literal_loop(count, size):
    assert [list(chunk) for chunk in image_chunks(count, size)] == _literal_chunks(count, size)


def test_image_chunks_refuse_an_empty_chunk():
    with pytest.raises(ValueError, match="at least 1"):
        list(image_chunks(5, 0))


def _samples(count: int, seed: int = 0) -> list[Sample]:
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(count):
        height, width = (int(v) for v in rng.integers(9, 40, 2))
        x1, y1 = (int(v) for v in rng.integers(1, 5, 2))
        box = [x1, y1, int(rng.integers(x1 + 1, width + 1)), int(rng.integers(y1 + 1, height + 1))]
        samples.append(Sample(f"{i}", Path(f"{i}.jpg"), width, height, np.array([1], np.int8),
                              np.array([box], np.float64), np.array([0]), np.array([False])))
    return samples


def test_maps_at_image_size_match_opencv_bilinear():
    samples = _samples(4)
    maps = [np.random.default_rng(i).random((7, 5)).astype(np.float32) for i in range(4)]
    for resized, heatmap, sample in zip(maps_at_image_size(maps, samples), maps, samples):
        expected = cv2.resize(heatmap, (sample.width, sample.height), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_allclose(resized, expected, atol=1e-5)


def test_chunked_otsu_fmeasure_is_the_mean_over_all_images(monkeypatch):
    samples = _samples(7, seed=1)
    stored = np.random.default_rng(2).random((7, 1, 6, 6)).astype(np.float16)
    monkeypatch.setattr(voc_evaluate, "OTSU_CHUNK", 3)  # chunks of 3, 3, 1
    chunked = voc_evaluate.mean_otsu_fmeasure(samples, lambda i, s: voc_evaluate.scored_map(stored[i, 0], s))
    at_image = [resize_heatmap(stored[i, 0].astype(np.float32), s.height, s.width) for i, s in enumerate(samples)]
    masks = [voc_evaluate.gt_mask(s) for s in samples]
    assert chunked == pytest.approx(float(np.mean(otsu_fmeasure(at_image, masks))), rel=1e-12)


def test_chunked_max_box_acc_is_the_metric_over_all_images(monkeypatch):
    samples = _samples(5, seed=3)
    maps = np.random.default_rng(4).random((5, 8, 8)).astype(np.float32)
    monkeypatch.setattr(ilsvrc_evaluate, "CHUNK", 2)
    chunked = ilsvrc_evaluate.max_box_acc_metrics(maps, samples)
    whole = FramedBoxAcc("wsolevaluation")
    whole.update(list(maps), [s.boxes for s in samples], [(s.height, s.width) for s in samples])
    assert chunked == {name: 100 * value for name, value in whole.results().items()}
