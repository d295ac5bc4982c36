"""Saliency metric speed on all 4952 VOC2007 test images: `python benchmarks/bench_saliency.py [--quick]`.

Otsu F-measure (Table II) at each image's real size vs the per-map scikit-image loop, and PxAP
vs wsolevaluation's per-image `np.histogram` accumulation (its reference implementation, written
out here), both on seeded simulated float32 maps in [0, 1]: a bilinearly upsampled coarse random
field plus noise. Values must agree exactly (checked before timing is reported).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from skimage.filters import threshold_otsu

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time, print_row, run_script  # noqa: E402
from shared_data import shared_data  # noqa: E402

from gwapbench.data.voc_json import read_voc_coco_json  # noqa: E402
from gwapbench.metrics.pxap import pxap, pxap_bin_edges, pxap_from_histograms  # noqa: E402
from gwapbench.metrics.saliency import boxes_to_mask, otsu_fmeasure  # noqa: E402

BETA2 = 0.3


def simulated_maps(masks: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """Float32 maps in [0, 1]: a 1/16-resolution random field upsampled bilinearly, plus noise, clipped."""
    rng = np.random.default_rng(seed)
    noise_bank = (0.08 * rng.standard_normal(1 << 22)).astype(np.float32)
    maps = []
    for mask in masks:
        height, width = mask.shape
        coarse = torch.from_numpy(rng.random((1, 1, height // 16 + 2, width // 16 + 2), dtype=np.float32))
        field = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
        field = field[0, 0]
        start = int(rng.integers(0, noise_bank.size - mask.size))
        noise = torch.from_numpy(noise_bank[start : start + mask.size].reshape(height, width))
        maps.append(field.add_(noise).add_(0.15 * torch.from_numpy(mask)).clamp_(0, 1).numpy())
    return maps


def skimage_fmeasure_loop(maps: list[np.ndarray], masks: list[np.ndarray]) -> np.ndarray:
    """Reference: per map, min-max normalize, skimage Otsu, foreground = x > t, F-beta."""
    scores = np.zeros(len(maps))
    for i, (image_map, mask) in enumerate(zip(maps, masks)):
        low, high = image_map.min(), image_map.max()
        if low == high:
            continue
        normalized = (image_map - low) / (high - low)
        binary = normalized > threshold_otsu(normalized)
        hits = np.count_nonzero(binary & mask)
        precision, recall = hits / np.count_nonzero(binary), hits / max(np.count_nonzero(mask), 1)
        if precision + recall > 0:
            scores[i] = (1 + BETA2) * precision * recall / (BETA2 * precision + recall)
    return scores


def wsolevaluation_pxap(maps: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """Reference: per-image np.histogram of scores inside / outside the mask over the PxAP bin edges."""
    edges = pxap_bin_edges()
    histograms = np.zeros((2, len(edges) - 1))
    for image_map, mask in zip(maps, masks):
        histograms[1] += np.histogram(image_map[mask], bins=edges)[0]
        histograms[0] += np.histogram(image_map[~mask], bins=edges)[0]
    return pxap_from_histograms(histograms)


def run(quick: bool) -> None:
    root = shared_data("voc2007_gt")
    samples, _ = read_voc_coco_json(
        root / "annotations_json/pascal_test2007.json", root / "annotations_json/pascal_test2007_difficult_flags.json"
    )
    samples = samples[:300] if quick else samples
    masks = [boxes_to_mask(s.boxes, s.height, s.width) for s in samples]
    maps = simulated_maps(masks)
    megapixels = sum(m.size for m in masks) / 1e6

    ours_s, ours = best_time(lambda: otsu_fmeasure(maps, masks, BETA2), repeat=3)
    reference_s, reference = best_time(lambda: skimage_fmeasure_loop(maps, masks), repeat=1 if not quick else 2)
    max_difference = float(np.max(np.abs(ours - reference)))
    if max_difference > 1e-12:
        raise SystemExit(f"otsu_fmeasure differs from the skimage loop by {max_difference}")
    name = f"otsu_fmeasure {len(maps)} VOC07 maps ({megapixels:.0f} Mpx)"
    print_row(name, ours_s, reference_s, "skimage threshold_otsu loop")

    subset = slice(None) if quick else slice(0, 1000)
    pxap_maps, pxap_masks = maps[subset], masks[subset]
    ours_s, ours_ap = best_time(lambda: pxap(pxap_maps, pxap_masks), repeat=3)
    reference_s, reference_ap = best_time(lambda: wsolevaluation_pxap(pxap_maps, pxap_masks), repeat=1)
    if abs(ours_ap - reference_ap) > 1e-12:
        raise SystemExit(f"pxap differs from the wsolevaluation histogram loop: {ours_ap} vs {reference_ap}")
    print_row(f"pxap {len(pxap_maps)} VOC07 maps", ours_s, reference_s, "wsolevaluation np.histogram loop")


if __name__ == "__main__":
    run_script(run, __doc__, "300 images instead of 4952")
