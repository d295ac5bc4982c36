"""Box-proportion splits: sizes, nesting, per-class coverage, determinism, on hand cases and full VOC07."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gwapbench.data.sample import Sample
from gwapbench.data.splits import box_proportion_split, box_ranking, drop_boxes
from gwapbench.data.voc_json import read_voc_coco_json

PROPORTIONS = (0.01, 0.02, 0.05, 0.1)


def _sample(index: int, box_classes: list[int], num_classes: int = 4) -> Sample:
    labels = np.full(num_classes, -1, dtype=np.int8)
    labels[box_classes] = 1
    return Sample(
        image_id=f"{index:04d}",
        image_path=Path(f"{index:04d}.jpg"),
        width=10,
        height=10,
        labels=labels,
        boxes=np.tile([1.0, 1.0, 5.0, 5.0], (len(box_classes), 1)),
        box_labels=np.array(box_classes, dtype=np.int64),
        difficult=np.zeros(len(box_classes), dtype=bool),
    )


@pytest.fixture(scope="module")
def voc_test(shared_data) -> list[Sample]:
    folder = shared_data("voc2007_gt") / "annotations_json"
    return read_voc_coco_json(folder / "pascal_test2007.json", folder / "pascal_test2007_difficult_flags.json")[0]


def _covered_classes(samples: list[Sample], mask: np.ndarray) -> set[int]:
    covered: set[int] = set()
    for sample, keep in zip(samples, mask):
        if keep:
            covered.update(sample.box_labels.tolist())
    return covered


def test_voc07_sizes_nesting_coverage(voc_test):
    all_classes = _covered_classes(voc_test, np.ones(len(voc_test), dtype=bool))
    previous = np.zeros(len(voc_test), dtype=bool)
    for proportion in PROPORTIONS:
        mask = box_proportion_split(voc_test, proportion, seed=3)
        assert mask.sum() == round(proportion * 4952)  # 50, 99, 248, 495: all above the 20-class cover
        assert _covered_classes(voc_test, mask) == all_classes == set(range(20))
        assert not (previous & ~mask).any()  # nested
        previous = mask


def test_deterministic_and_seed_dependent(voc_test):
    first = box_proportion_split(voc_test, 0.02, seed=0)
    np.testing.assert_array_equal(first, box_proportion_split(voc_test, 0.02, seed=0))
    assert (first != box_proportion_split(voc_test, 0.02, seed=1)).any()


def test_hand_worked_cover_takes_precedence():
    # 10 images; class 3 appears only on image 7, class 2 only on image 4; image 9 has no boxes
    box_classes = [[0], [0], [1], [0, 1], [2], [0], [1], [3, 0], [1], []]
    samples = [_sample(i, classes) for i, classes in enumerate(box_classes)]
    for seed in range(20):
        order, cover_size = box_ranking(samples, seed)
        assert sorted(order.tolist()) == list(range(10))
        assert {4, 7} <= set(order[:cover_size].tolist())
        assert _covered_classes(samples, np.isin(np.arange(10), order[:cover_size])) == {0, 1, 2, 3}
        # each cover image adds a class not covered by the cover images before it
        seen: set[int] = set()
        for index in order[:cover_size]:
            assert set(box_classes[index]) - seen
            seen.update(box_classes[index])
        small = box_proportion_split(samples, 0.1, seed)  # round(1.0) = 1 < cover: the cover is kept
        assert small.sum() == cover_size
        assert box_proportion_split(samples, 1.0, seed).all()
        half = box_proportion_split(samples, 0.5, seed)
        assert half.sum() == max(cover_size, 5) and not (small & ~half).any()


def test_drop_boxes_keeps_labels():
    samples = [_sample(0, [0, 2]), _sample(1, [1])]
    out = drop_boxes(samples, np.array([True, False]))
    assert out[0] is samples[0]
    assert out[1].boxes.shape == (0, 4) and out[1].box_labels.shape == (0,) and out[1].difficult.shape == (0,)
    assert out[1].labels.tolist() == samples[1].labels.tolist()


@pytest.mark.parametrize("proportion", [0, -0.1, 1.5])
def test_bad_arguments(proportion):
    with pytest.raises(ValueError, match="proportion must be in"):
        box_proportion_split([_sample(0, [0])], proportion, seed=0)
    with pytest.raises(ValueError, match="samples must not be empty"):
        box_ranking([], seed=0)
    with pytest.raises(ValueError, match="keeps_boxes must have shape"):
        drop_boxes([_sample(0, [0])], np.array([True, False]))
