"""Torch datasets over Sample lists: targets, box conversion with transforms, detection collate, bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from gwapbench.data.datasets import (
    DetectionDataset,
    MultiLabelDataset,
    SingleLabelDataset,
    detection_collate,
    load_image,
)
from gwapbench.data.ilsvrc import read_wsol_metadata
from gwapbench.data.sample import Sample
from gwapbench.data.synthetic import make_synthetic_ilsvrc, make_synthetic_voc
from gwapbench.data.transforms import Compose, Normalize, RandomHorizontalFlip, Resize
from gwapbench.errors import InputError


@pytest.fixture(scope="module")
def voc_samples(tmp_path_factory):
    out = tmp_path_factory.mktemp("voc")
    return make_synthetic_voc(out / "synth", {"train": 6, "val": 0, "test": 0}, size=64, seed=2)["train"]


def _sample_with_image(tmp_path, pixels: np.ndarray, labels, boxes, box_labels, difficult) -> Sample:
    path = tmp_path / "img.png"
    Image.fromarray(pixels).save(path)
    return Sample(
        "img", path, pixels.shape[1], pixels.shape[0], np.array(labels, dtype=np.int8),
        np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(box_labels, dtype=np.int64),
        np.array(difficult, dtype=bool),
    )


def test_load_image_exact_pixels(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    image = load_image(tmp_path / "x.png")
    assert image.shape == (3, 5, 7) and image.dtype == torch.float32
    torch.testing.assert_close(image, torch.from_numpy(pixels).permute(2, 0, 1).float() / 255)


def test_multilabel_targets_and_mask(tmp_path):
    sample = _sample_with_image(
        tmp_path, np.zeros((4, 6, 3), np.uint8), [1, -1, 0, 1], [[1, 1, 2, 2], [3, 1, 6, 4]], [0, 2], [False, True]
    )
    image, target, mask = MultiLabelDataset([sample])[0]
    assert image.shape == (3, 4, 6)
    assert target.tolist() == [1.0, 0.0, 0.0, 1.0] and target.dtype == torch.float32
    assert mask.tolist() == [True, True, False, True]


def test_multilabel_batches_from_the_generator(voc_samples):
    dataset = MultiLabelDataset(voc_samples, Compose([Resize((32, 40)), Normalize((0.5,) * 3, (0.25,) * 3)]))
    images, targets, masks = next(iter(DataLoader(dataset, batch_size=4)))
    assert images.shape == (4, 3, 32, 40) and targets.shape == masks.shape == (4, 10)
    labels = np.stack([s.labels for s in voc_samples[:4]])
    np.testing.assert_array_equal(targets.numpy(), (labels == 1).astype(np.float32))
    np.testing.assert_array_equal(masks.numpy(), labels != 0)


def test_detection_boxes_follow_resize_and_flip(tmp_path):
    # A white rectangle at 0-based cols 2..4, rows 1..2 of a 4x8 image; VOC box (3, 2, 5, 3).
    pixels = np.zeros((4, 8, 3), np.uint8)
    pixels[1:3, 2:5] = 255
    sample = _sample_with_image(tmp_path, pixels, [1], [[3, 2, 5, 3]], [0], [False])
    image, target = DetectionDataset([sample])[0]
    assert target["boxes"].tolist() == [[2, 1, 5, 3]]
    assert target["labels"].tolist() == [0] and target["difficult"].tolist() == [False]
    assert int(target["image_index"]) == 0
    flip_then_double = Compose([RandomHorizontalFlip(1.0), Resize((8, 16))])
    _, target = DetectionDataset([sample], flip_then_double)[0]
    assert target["boxes"].tolist() == [[6, 2, 12, 6]]  # flip: (8-5, 1, 8-2, 3) = (3, 1, 6, 3); then x2
    ilsvrc_style = Sample("img", sample.image_path, 8, 4, np.array([1], np.int8), np.array([[2.0, 1, 4, 2]]),
                          np.array([0]), np.array([False]))
    assert DetectionDataset([ilsvrc_style], first_pixel=0)[0][1]["boxes"].tolist() == [[2, 1, 5, 3]]


def test_detection_collate_shapes(voc_samples):
    loader = DataLoader(DetectionDataset(voc_samples), batch_size=3, collate_fn=detection_collate)
    images, targets = next(iter(loader))
    assert len(images) == len(targets) == 3
    for image, target, sample in zip(images, targets, voc_samples):
        assert image.shape == (3, sample.height, sample.width)
        assert target["boxes"].shape == (len(sample.boxes), 4) and target["boxes"].dtype == torch.float32
        assert target["labels"].shape == target["difficult"].shape == (len(sample.boxes),)
        boxes = target["boxes"]
        assert bool((boxes[:, 0] >= 0).all() and (boxes[:, 2] <= sample.width).all())
        assert bool((boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all())
    assert [int(t["image_index"]) for t in targets] == [0, 1, 2]


def test_single_label_from_synthetic_and_real_ilsvrc(tmp_path, shared_data):
    synthetic = make_synthetic_ilsvrc(tmp_path / "i", train_per_class=1, val_per_class=0, size=48, seed=1)["train"]
    dataset = SingleLabelDataset(synthetic, Resize((24, 24)))
    assert [dataset[i][1] for i in range(len(dataset))] == list(range(10))
    assert dataset[0][0].shape == (3, 24, 24)

    mini = shared_data("ilsvrc2012_val_mini")
    metadata = mini / "wsolevaluation_metadata" / "ILSVRC" / "test"
    real = read_wsol_metadata(metadata, images_root=mini / "ILSVRC" / "Data" / "CLS-LOC")
    label_file = metadata / "class_labels.txt"
    labels = dict(line.split(",") for line in label_file.read_text().split())
    real_dataset = SingleLabelDataset(real)
    for index, sample in enumerate(real):
        image, class_index = real_dataset[index]
        assert class_index == int(next(v for k, v in labels.items() if k.endswith(sample.image_id + ".JPEG")))
        with Image.open(sample.image_path) as pil:
            assert image.shape == (3, pil.height, pil.width)
    with pytest.raises(ValueError, match="exactly one positive"):
        SingleLabelDataset([Sample("x", tmp_path / "x.jpg", 2, 2, np.array([1, 1], np.int8))])


def test_bad_image_files_raise_input_error_naming_the_file(tmp_path):
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(InputError, match="broken.jpg"):
        load_image(corrupt)
    with pytest.raises(InputError, match="missing.jpg"):
        load_image(tmp_path / "missing.jpg")
    sample = _sample_with_image(tmp_path, np.zeros((4, 6, 3), np.uint8), [1], [], [], [])
    wrong_size = Sample("img", sample.image_path, 7, 4, sample.labels)
    with pytest.raises(InputError, match=r"img.png: image is 6x4 but its annotation says 7x4"):
        MultiLabelDataset([wrong_size])[0]


def test_detection_dataset_on_real_voc_images(shared_data):
    import xml.etree.ElementTree as ET

    root = shared_data("voc2007_mini") / "VOCdevkit" / "VOC2007"
    classes = (shared_data("voc2007_mini") / "classes.txt").read_text().split()
    samples, xml_boxes = [], []
    for note in sorted((root / "Annotations").glob("*.xml")):
        tree = ET.parse(note).getroot()
        objects = list(tree.iter("object"))
        boxes = [[float(o.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")] for o in objects]
        xml_boxes.append(boxes)
        samples.append(Sample(
            note.stem, root / "JPEGImages" / tree.findtext("filename"), int(tree.findtext("size/width")),
            int(tree.findtext("size/height")), np.zeros(len(classes), np.int8),
            np.array(boxes).reshape(-1, 4), np.array([classes.index(o.findtext("name")) for o in objects]),
            np.array([o.findtext("difficult") == "1" for o in objects]),
        ))
    assert len(samples) == 13
    dataset = DetectionDataset(samples, RandomHorizontalFlip(1.0))
    for index, (sample, boxes) in enumerate(zip(samples, xml_boxes)):
        image, target = dataset[index]
        assert image.shape == (3, sample.height, sample.width)
        expected = [[sample.width - x2, y1 - 1, sample.width - (x1 - 1), y2] for x1, y1, x2, y2 in boxes]
        assert target["boxes"].tolist() == expected
        assert target["difficult"].tolist() == sample.difficult.tolist()
