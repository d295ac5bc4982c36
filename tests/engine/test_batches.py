"""The engine's torch datasets on hand-built images: each item against an independent computation of what the
docs say it holds (torchvision's resize, pixel masks for boxes, the devkit XML for real VOC boxes)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from gwapbench.data.sample import Sample
from gwapbench.engine.batches import ImageLabelDataset, Normalizer, collate
from gwapbench.engine.detection_data import DetectionDataset, collate_detection
from gwapbench.errors import InputError

# An 8 x 16 image, white rectangle on rows 2..3 and columns 4..7 (0-based): VOC box (5, 3, 8, 4).
HEIGHT, WIDTH = 8, 16


def _mask_box(mask: np.ndarray) -> list[float]:
    rows, cols = np.nonzero(mask)
    return [cols.min(), rows.min(), cols.max() + 1.0, rows.max() + 1.0]


def _sample(tmp_path: Path, labels=(1, -1, 0), boxes=((5, 3, 8, 4),), difficult=(False,)) -> Sample:
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pixels[2:4, 4:8] = 255
    pixels[0, 0] = (10, 120, 250)  # a coloured corner: channels and orientation must survive
    Image.fromarray(pixels).save(tmp_path / "img.png")
    return Sample("img", tmp_path / "img.png", WIDTH, HEIGHT, np.array(labels, np.int8),
                  np.array(boxes, np.float64).reshape(-1, 4), np.zeros(len(boxes), np.int64),
                  np.array(difficult, bool))


@pytest.mark.parametrize("cache_bytes", [0, 1 << 20])
def test_image_label_item_is_the_resized_image_with_its_labels_and_boxes(tmp_path, cache_bytes):
    sample = _sample(tmp_path)
    dataset = ImageLabelDataset([sample], 16, cache_bytes=cache_bytes)
    assert (dataset.cache is None) == (cache_bytes == 0)
    image, targets, mask, boxes, index = dataset[(0, False)]
    decoded = torch.from_numpy(np.array(Image.open(sample.image_path))).permute(2, 0, 1).float() / 255
    reference = TF.resize(decoded, [16, 16], antialias=True) * 255  # torchvision, bilinear with antialiasing
    assert image.dtype == torch.uint8 and image.shape == (3, 16, 16)
    assert (image.float() - reference).abs().max() <= 0.5 + 1e-3  # rounded to the nearest grey level
    assert targets.tolist() == [1.0, 0.0, 0.0] and mask.tolist() == [True, True, False] and index == 0
    # Rows doubled (8 -> 16), columns kept: the rectangle's pixels >= 128 span [4, 8) x [4, 8).
    assert boxes.tolist() == [[4, 4, 8, 8]] == [_mask_box(image[0].numpy() >= 128)]
    flipped, _, _, flipped_boxes, _ = dataset[(0, True)]
    assert torch.equal(flipped, image.flip(-1))
    assert flipped_boxes.tolist() == [[8, 4, 12, 8]] == [_mask_box(flipped[0].numpy() >= 128)]


def test_collate_stacks_items_and_passes_an_error_on(tmp_path):
    dataset = ImageLabelDataset([_sample(tmp_path)] * 2, 16)
    items = [dataset[(0, False)], dataset[(1, True)]]
    batch = collate(items)
    assert torch.equal(batch.images, torch.stack([items[0][0], items[1][0]]))
    assert batch.targets.shape == batch.label_mask.shape == (2, 3) and batch.indices.tolist() == [0, 1]
    assert [b.tolist() for b in batch.boxes] == [[[4, 4, 8, 8]], [[8, 4, 12, 8]]]
    error = InputError("img.png: cannot decode image")
    assert collate([items[0], error]) is error


def test_undecodable_or_resized_image_is_an_input_error_item(tmp_path):
    sample = _sample(tmp_path)
    wrong = Sample("img", sample.image_path, WIDTH + 1, HEIGHT, sample.labels)
    (error,) = [ImageLabelDataset([wrong], 16, cache_bytes=0)[(0, False)]]
    assert isinstance(error, InputError) and "image is 16x8 but its annotation says 17x8" in str(error)
    with pytest.raises(InputError, match="17x8"):
        ImageLabelDataset([wrong], 16)  # cached: decoded up front


def test_normalizer_is_the_backbone_statistics_on_0_1_pixels():
    images = torch.randint(0, 256, (2, 3, 4, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    ours = Normalizer(mean, std)(images)
    for channel in range(3):
        expected = (images[:, channel].double() / 255 - mean[channel]) / std[channel]
        torch.testing.assert_close(ours[:, channel].double(), expected, atol=1e-5, rtol=0)


def test_detection_item_is_the_image_at_its_size_with_the_non_difficult_boxes(tmp_path):
    sample = _sample(tmp_path, labels=(1, 1, -1), boxes=((5, 3, 8, 4), (1, 1, 2, 2)), difficult=(False, True))
    dataset = DetectionDataset([sample], cache_bytes=0)
    image, target, index = dataset[(0, False)]
    assert torch.equal(image, torch.from_numpy(np.array(Image.open(sample.image_path))).permute(2, 0, 1))
    assert target["boxes"].tolist() == [[4, 2, 8, 4]] == [_mask_box(image[0].numpy() == 255)]
    assert target["labels"].tolist() == [0] and target["image_labels"].tolist() == [1.0, 1.0, 0.0] and index == 0
    flipped, flipped_target, _ = dataset[(0, True)]
    assert torch.equal(flipped, image.flip(-1))
    assert flipped_target["boxes"].tolist() == [[8, 2, 12, 4]] == [_mask_box(flipped[0].numpy() == 255)]
    batch = collate_detection([dataset[(0, False)], dataset[(0, True)]])
    assert [t["boxes"].tolist() for t in batch.targets] == [[[4, 2, 8, 4]], [[8, 2, 12, 4]]]
    assert batch.indices.tolist() == [0, 0] and len(batch.images) == 2


def test_detection_items_on_real_voc_images_follow_the_devkit_xml(shared_data):
    mini = shared_data("voc2007_mini")
    root = mini / "VOCdevkit" / "VOC2007"
    classes = (mini / "classes.txt").read_text().split()
    samples, expected = [], []
    for note in sorted((root / "Annotations").glob("*.xml")):
        tree = ET.parse(note).getroot()
        objects = list(tree.iter("object"))
        boxes = [[float(o.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")] for o in objects]
        difficult = [o.findtext("difficult") == "1" for o in objects]
        width, height = int(tree.findtext("size/width")), int(tree.findtext("size/height"))
        samples.append(Sample(note.stem, root / "JPEGImages" / tree.findtext("filename"), width, height,
                              np.zeros(len(classes), np.int8), np.array(boxes).reshape(-1, 4),
                              np.array([classes.index(o.findtext("name")) for o in objects]), np.array(difficult)))
        # Mirrored continuous corners of the non-difficult boxes: (W - xmax, ymin - 1, W - (xmin - 1), ymax).
        expected.append([[width - x2, y1 - 1, width - (x1 - 1), y2]
                         for (x1, y1, x2, y2), hard in zip(boxes, difficult) if not hard])
    assert len(samples) == 13
    dataset = DetectionDataset(samples)
    for index, (sample, boxes) in enumerate(zip(samples, expected)):
        image, target, _ = dataset[(index, True)]
        assert image.shape == (3, sample.height, sample.width)
        assert target.get("boxes", torch.zeros(0, 4)).tolist() == boxes
