"""`gwapbench evaluate --wsol-metadata metadata/OpenImages/test`: PxAP against wsolevaluation's own
`MaskEvaluator` (../shared/reference/wsolevaluation), on the 11 real OpenImages sample masks and on synthetic
OpenImages-layout sets (ignore regions, holes, empty foregrounds, several masks an image, masks of any size,
maps with ties and scores exactly on the CAM thresholds). Results must be identical: the PxAP and the
precision/recall at every CAM threshold, recomputed from its two histograms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from gwapbench.cli import cli
from tests.wsol_reference import mask_evaluator, write_scoremaps


def _evaluate(scoremaps: Path, metadata: Path, out: Path, *flags: str) -> tuple[int, dict | str]:
    result = CliRunner().invoke(cli, ["evaluate", "--heatmaps", str(scoremaps), "--wsol-metadata", str(metadata),
                                      "--out", str(out), *flags])
    if result.exit_code != 0:
        return result.exit_code, result.output
    return 0, json.loads((out / "metrics.json").read_text())


def _maps(count: int, seed: int) -> np.ndarray:
    """(N, 224, 224) float64 maps attaining 0 and 1 (so min-max leaves them as they are): a smooth random field,
    every third map quantized to k / 100 (ties, and scores exactly on wsolevaluation's thresholds), every third
    to k / 4 (large ties), the rest to k / 256."""
    rng = np.random.default_rng(seed)
    field = torch.nn.functional.interpolate(torch.from_numpy(rng.random((count, 1, 6, 6))), size=(224, 224),
                                            mode="bilinear", align_corners=False)[:, 0].numpy()
    maps = np.empty_like(field)
    for i, m in enumerate(field):
        m = (m - m.min()) / (m.max() - m.min())
        levels = (100, 4, 256)[i % 3]
        maps[i] = np.round(m * levels) / levels
    return maps


def _expected_curve(true_hist: np.ndarray, false_hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall at each CAM threshold t_j (scores >= t_j) from MaskEvaluator's histograms."""
    tp = np.cumsum(true_hist[::-1])[::-1][:-2]
    fp = np.cumsum(false_hist[::-1])[::-1][:-2]
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
    return precision, tp / true_hist.sum()


def _check_identical(saved: dict, reference: tuple[float, np.ndarray, np.ndarray]) -> None:
    auc, true_hist, false_hist = reference
    assert 100 * saved["metrics"]["pxap"] == pytest.approx(auc, abs=1e-9)
    precision, recall = _expected_curve(true_hist, false_hist)
    assert saved["pxap_curve"]["precision"] == pytest.approx(precision.tolist(), abs=1e-12)
    assert saved["pxap_curve"]["recall"] == pytest.approx(recall.tolist(), abs=1e-12)
    assert saved["pxap_curve"]["cam_thresholds"] == pytest.approx(np.arange(0, 1, 0.01).tolist(), abs=0)


def test_real_openimages_masks_equal_wsolevaluations_mask_evaluator(shared_data, wsolevaluation_dir, tmp_path):
    sample = shared_data("openimages_masks_sample")
    ids = sample.joinpath("image_ids.txt").read_text().split()
    scoremaps = tmp_path / "scoremaps"
    write_scoremaps(scoremaps, ids, _maps(len(ids), 0))
    reference = mask_evaluator(wsolevaluation_dir, sample, sample, scoremaps, ids)
    assert 5 < reference[0] < 95
    assert reference[1].sum() > 0 and reference[2].sum() + reference[1].sum() < len(ids) * 224 * 224  # ignored px
    code, saved = _evaluate(scoremaps, sample, tmp_path / "out")
    assert code == 0, saved
    assert saved["images"] == len(ids) and saved["settings"]["metrics"] == ["pxap"]
    _check_identical(saved, reference)


def _png(path: Path, array: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8), mode="L").save(path)
    return path.name


def _synthetic_set(folder: Path, masks: Path, seed: int) -> list[str]:
    """An OpenImages-layout set of 9 images with masks of odd sizes; localization rows image,mask,ignore."""
    rng = np.random.default_rng(seed)
    rows, ids = [], []
    for n in range(9):
        h, w = [(300, 451), (77, 100), (224, 224), (50, 61), (513, 389), (224, 300), (31, 29), (640, 480),
                (225, 223)][n]
        image = f"test/c{n % 3}/img{n}.jpg"
        ids.append(image)
        yy, xx = np.mgrid[:h, :w]
        cy, cx, r = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w, rng.uniform(0.15, 0.35) * min(h, w)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2
        foreground = [disc & ~((yy - cy) ** 2 + (xx - cx) ** 2 < (r / 2) ** 2)]  # a ring: a hole
        if n % 3 == 1:  # a second instance
            foreground.append((np.abs(yy - h * 0.8) < h * 0.1) & (np.abs(xx - w * 0.2) < w * 0.15))
        if n == 4:  # an empty foreground
            foreground = [np.zeros((h, w), bool)]
        ignore = (np.abs(yy - cy) < r * 1.3) & (np.abs(xx - cx) < r * 1.3)  # a box over the disc: overlaps it
        values = [1, 128, 255][n % 3]  # any non-zero value is foreground
        for k, mask in enumerate(foreground):
            name = _png(masks / "test" / f"c{n % 3}" / f"img{n}_m{k}.png", mask * values)
            ignore_name = _png(masks / "test" / f"c{n % 3}" / f"img{n}_ignore.png", ignore * 255) if k == 0 else ""
            rows.append(f"{image},test/c{n % 3}/{name},{'test/c%d/%s' % (n % 3, ignore_name) if ignore_name else ''}")
    folder.mkdir(parents=True)
    folder.joinpath("image_ids.txt").write_text("".join(f"{i}\n" for i in ids))
    folder.joinpath("class_labels.txt").write_text("".join(f"{i},{n % 3}\n" for n, i in enumerate(ids)))
    folder.joinpath("image_sizes.txt").write_text("".join(f"{i},224,224\n" for i in ids))  # its configure_metadata
    folder.joinpath("localization.txt").write_text("\n".join(rows) + "\n")
    return ids


@pytest.mark.parametrize("seed", [1, 2])
def test_synthetic_openimages_sets_equal_wsolevaluations_mask_evaluator(wsolevaluation_dir, tmp_path, seed):
    metadata, mask_root = tmp_path / "metadata" / "OpenImages" / "test", tmp_path / "dataset" / "OpenImages"
    ids = _synthetic_set(metadata, mask_root, seed)
    scoremaps = tmp_path / "scoremaps"
    write_scoremaps(scoremaps, ids, _maps(len(ids), seed))
    reference = mask_evaluator(wsolevaluation_dir, metadata, mask_root, scoremaps, ids)
    assert 5 < reference[0] < 95
    code, saved = _evaluate(scoremaps, metadata, tmp_path / "out", "--mask-root", str(mask_root))
    assert code == 0, saved
    _check_identical(saved, reference)
    # float32 maps (its evaluator asks for float64: it sees the same values widened; k / 100 in float32 lies on
    # the other side of some thresholds than in float64, so this is a different set of scores)
    maps32 = _maps(len(ids), seed).astype(np.float32)
    np.savez(tmp_path / "maps32.npz", **{image: m for image, m in zip(ids, maps32)})
    write_scoremaps(tmp_path / "maps64", ids, maps32)
    reference32 = mask_evaluator(wsolevaluation_dir, metadata, mask_root, tmp_path / "maps64", ids)
    assert reference32[0] != reference[0]
    code, saved32 = _evaluate(tmp_path / "maps32.npz", metadata, tmp_path / "out32", "--mask-root", str(mask_root))
    assert code == 0, saved32
    _check_identical(saved32, reference32)


def test_no_ignore_mask_equals_an_empty_ignore_png(tmp_path):
    """An image whose first row names no ignore mask (wsolevaluation's code cannot read that: it opens the mask
    folder) is scored with no ignored pixel: the same as an all-zero ignore PNG."""
    metadata, mask_root = tmp_path / "m" / "OpenImages" / "test", tmp_path / "masks"
    ids = _synthetic_set(metadata, mask_root, 3)
    write_scoremaps(tmp_path / "maps", ids, _maps(len(ids), 3))
    rows = metadata.joinpath("localization.txt").read_text().splitlines()
    first = rows[0].split(",")
    _png(mask_root / first[2], np.zeros((5, 5)))
    code, zero = _evaluate(tmp_path / "maps", metadata, tmp_path / "a", "--mask-root", str(mask_root))
    metadata.joinpath("localization.txt").write_text("\n".join([",".join(first[:2]) + ","] + rows[1:]) + "\n")
    code2, none = _evaluate(tmp_path / "maps", metadata, tmp_path / "b", "--mask-root", str(mask_root))
    assert code == code2 == 0
    assert none["metrics"]["pxap"] == zero["metrics"]["pxap"]


def test_mask_errors_are_one_line_exit_2(tmp_path):
    metadata, mask_root = tmp_path / "m" / "OpenImages" / "test", tmp_path / "masks"
    ids = _synthetic_set(metadata, mask_root, 4)
    write_scoremaps(tmp_path / "maps", ids, _maps(len(ids), 4))
    code, output = _evaluate(tmp_path / "maps", metadata, tmp_path / "a", "--mask-root", str(tmp_path))
    assert code == 2 and "mask " in output and "img0_m0.png: file not found" in output
    code, output = _evaluate(tmp_path / "maps", metadata, tmp_path / "b", "--mask-root", str(mask_root),
                             "--metrics", "max-box-acc")
    assert code == 2 and "needs boxes" in output
    assert not (tmp_path / "a" / "metrics.json").exists()
