"""OpenImages mask reading against wsolevaluation's own rule, run with OpenCV: `load_mask_image` (cv2.imread
IMREAD_GRAYSCALE, cv2.resize INTER_NEAREST to 224 x 224) and `get_mask`'s > 0.5."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gwapbench.data.wsol_masks import WsolMaskEntry, WsolMaskFiles, read_mask_png
from gwapbench.errors import InputError

cv2 = pytest.importorskip("cv2")


def opencv_mask(path) -> np.ndarray:
    """wsolevaluation's load_mask_image + the > 0.5 of get_mask, literally."""
    mask = np.float32(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
    return cv2.resize(mask, (224, 224), interpolation=cv2.INTER_NEAREST) > 0.5


def random_png(path, mode: str, height: int, width: int, rng) -> None:
    """Blobs of a few bright values (OpenCV's and PIL's gray conversions agree on them) on black."""
    inside = rng.random((height // 7 + 1, width // 7 + 1)) < 0.4
    inside = np.kron(inside, np.ones((7, 7), bool))[:height, :width] ^ (rng.random((height, width)) < 0.05)
    channels = {"1": 1, "L": 1, "P": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    values = rng.choice([40, 128, 255], size=(height, width, channels)).astype(np.uint8) * inside[..., None]
    if mode in ("LA", "RGBA"):
        values[..., -1] = rng.integers(0, 256, (height, width))  # alpha: ignored by both readers
    if mode == "1":
        image = Image.fromarray(inside)
    elif mode == "P":
        image = Image.fromarray(values[..., 0] // 40, "P")  # indices 0..6
        image.putpalette([0, 0, 0] + [200, 90, 30] * 255)
    else:
        image = Image.fromarray(values[..., 0] if mode == "L" else values, mode)
    image.save(path)


@pytest.mark.parametrize("mode", ["1", "L", "P", "LA", "RGB", "RGBA"])
@pytest.mark.parametrize(("height", "width"), [(1063, 1600), (240, 320), (224, 224), (31, 50), (225, 223)])
def test_each_mode_and_size_reads_as_opencv(tmp_path, mode, height, width):
    path = tmp_path / f"m_{mode}.png"
    random_png(path, mode, height, width, np.random.default_rng(height * 7 + width))
    mask = read_mask_png(path)
    assert mask.shape == (224, 224) and mask.dtype == bool and 0 < mask.sum() < 224 * 224
    np.testing.assert_array_equal(mask, opencv_mask(path))


@pytest.mark.parametrize("workers", [1, 3])
def test_mask_files_in_any_order_and_with_read_ahead_threads(tmp_path, workers):
    """The union of an image's masks and its ignore mask, indexed in order, backwards and by jumps."""
    rng = np.random.default_rng(3)
    entries = []
    for n in range(12):
        names = [f"i{n}_m{k}.png" for k in range(1 + n % 3)]
        for name in names:
            random_png(tmp_path / name, "L", 60 + n, 90, rng)
        ignore = f"i{n}_ignore.png" if n % 4 else ""
        if ignore:
            random_png(tmp_path / ignore, "RGB", 40, 41 + n, rng)
        entries.append(WsolMaskEntry(f"i{n}.jpg", tuple(names), ignore))
    masks = WsolMaskFiles(entries, tmp_path, workers=workers, readahead=4)
    ignores = WsolMaskFiles(entries, tmp_path, ignore=True, workers=workers, readahead=4)
    for index in [*range(12), 11, 3, 4, 0, -1]:
        entry = entries[index]
        expected = np.logical_or.reduce([opencv_mask(tmp_path / name) for name in entry.mask_paths])
        np.testing.assert_array_equal(masks[index], expected)
        if entry.ignore_path:
            np.testing.assert_array_equal(ignores[index], opencv_mask(tmp_path / entry.ignore_path))
        else:
            assert ignores[index] is None
    with pytest.raises(IndexError):
        masks[12]
    sparse = WsolMaskFiles(entries, tmp_path, workers=workers, readahead=4)
    for index in (0, 2, 3, 6, 9, 11):  # forward with gaps, as `evaluate` skips images without a map
        np.testing.assert_array_equal(sparse[index], masks[index])
        assert len(sparse._pending) <= 4  # skipped masks are not held
    (tmp_path / "i5_m0.png").write_bytes(b"not a png")
    fresh = WsolMaskFiles(entries, tmp_path, workers=workers, readahead=4)
    assert fresh[0].shape == (224, 224)  # image 5 is read ahead, its error raised only when it is indexed
    with pytest.raises(InputError, match="i5_m0.png: not a readable image"):
        fresh[5]
