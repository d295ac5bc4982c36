"""Row runs of the binaries gray > t of an 8-bit map for several levels t at once (one pass).

Per row, byte x holds bit l set when gray[y, x] > levels[l]; a run of level l starts where bit l
turns on and ends where it turns off. The changes (XOR of neighbouring bytes) are scanned eight bytes
at a time, so rows of a smooth map cost a few vector passes and no per-pixel branch.
"""

from __future__ import annotations

import numpy as np

from gwapbench.compiled import njit

MAX_LEVELS = 8  # one bit per level in a byte


@njit(cache=True, nogil=True)
def gray_runs(gray: np.ndarray, levels: np.ndarray, starts: np.ndarray, runs: np.ndarray) -> None:
    """Runs of gray > levels[l] (uint8 levels, at most `MAX_LEVELS`): those of row y are
    runs[l, 0, k] (first column) .. runs[l, 1, k] (last column) for starts[l, y] <= k < starts[l, y + 1].
    starts is (L, H + 1) int64, runs (L, 2, >= H * ((W + 1) // 2)) int32 (the most runs a row can hold)."""
    height, width = gray.shape
    count = len(levels)
    span = (width + 8) // 8 * 8  # bytes 0..width of the change row, padded to whole 64-bit words
    bits = np.zeros(span + 1, dtype=np.uint8)  # bits[x + 1]: level bits of pixel x; bits[0] = bits[width + 1] = 0
    change = np.zeros(span, dtype=np.uint8)  # change[x] = bits[x + 1] ^ bits[x]: runs start or end at x
    words = change.view(np.uint64)
    inside = np.zeros(count, dtype=np.bool_)
    total = np.zeros(count, dtype=np.int64)
    for y in range(height):
        row = gray[y]
        for x in range(width):
            bits[x + 1] = 0
        for level in range(count):
            threshold, flag = levels[level], np.uint8(1 << level)
            for x in range(width):
                bits[x + 1] |= flag if row[x] > threshold else np.uint8(0)
        for x in range(width + 1):
            change[x] = bits[x + 1] ^ bits[x]
        for level in range(count):
            starts[level, y] = total[level]
        for word in range(span // 8):
            if words[word] == 0:
                continue
            for x in range(word * 8, word * 8 + 8):
                flags = change[x]
                for level in range(count):
                    if flags >> level & 1:
                        if inside[level]:
                            runs[level, 1, total[level]] = x - 1
                            total[level] += 1
                        else:
                            runs[level, 0, total[level]] = x
                        inside[level] = not inside[level]
    for level in range(count):
        starts[level, height] = total[level]
