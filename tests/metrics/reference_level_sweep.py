"""Test reference: gwapbench's earlier numpy MaxBoxAcc sweep (components convention), kept only to
check that the compiled sweep (`gwapbench.metrics._kernels.threshold_sweep`) gives the same best IoU on every
map and threshold. Vectorized over maps: one sparse connected-components call per level."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from gwapbench.metrics._kernels.component_boxes import EMPTY_BOX
from gwapbench.metrics.localization import best_iou_with_image_gt


def numpy_best_ious(maps: np.ndarray, gt_boxes: list[np.ndarray], thresholds: np.ndarray, multi_contour: bool
                    ) -> np.ndarray:
    """(n, T) best IoU of the largest (or every) component's inclusive box at each CAM threshold."""
    levels = (maps * maps.dtype.type(255)).astype(np.uint8)  # wsolevaluation: (scoremap * 255).astype(uint8)
    cam_levels = np.floor(thresholds[None, :] * levels.max(axis=(1, 2))[:, None]).astype(np.int64)
    return level_set_scores(levels, cam_levels, lambda boxes, image: best_iou_with_image_gt(boxes, image, gt_boxes),
                            multi_contour)


class _ComponentStore:
    """Growable per-component arrays of the level sweep (a union-find forest over component ids)."""

    FIELDS = {"parent": np.int64, "area": np.int64, "first": np.int64, "image": np.int64, "score": np.float64,
              "x1": np.int64, "y1": np.int64, "x2": np.int64, "y2": np.int64, "alive": bool}

    def __init__(self, capacity: int = 1024) -> None:
        self.size = 0
        self.arrays = {name: np.zeros(capacity, dtype=dtype) for name, dtype in self.FIELDS.items()}

    def allocate(self, count: int) -> np.ndarray:
        needed = self.size + count
        capacity = len(self.arrays["parent"])
        if needed > capacity:
            capacity = max(needed, 2 * capacity)
            for name, arr in self.arrays.items():
                grown = np.zeros(capacity, dtype=arr.dtype)
                grown[: self.size] = arr[: self.size]
                self.arrays[name] = grown
        ids = np.arange(self.size, needed)
        self.arrays["parent"][ids] = ids
        self.size = needed
        return ids

    def find(self, ids: np.ndarray) -> np.ndarray:
        """Roots of `ids`, compressing the paths it walks (pointer jumping, vectorized)."""
        parent = self.arrays["parent"]
        roots = parent[ids]
        while True:
            above = parent[roots]
            if np.array_equal(above, roots):
                break
            roots = above
        parent[ids] = roots
        return roots


def level_set_scores(
    levels: np.ndarray,
    record_levels: np.ndarray,
    score: Callable[[np.ndarray, np.ndarray], np.ndarray],
    all_components: bool,
) -> np.ndarray:
    """(n, T) score of the 8-connected components of {levels[i] > record_levels[i, j]} for all i, j at once.

    `score(boxes, image_index)` rates inclusive (x1, y1, x2, y2) boxes of image i. The entry is the
    score of the largest component (ties: first pixel in row-major order; `all_components=False`)
    or the best score over all components; where the set is empty, the score of `EMPTY_BOX`.

    Upper level sets are nested, so one sweep from level 255 down to 1 adds each pixel once, when
    the level reaches its value; the new pixels of a level are joined to each other and to the
    existing components they touch (one sparse connected-components call per level over all
    images), merging areas, boxes and first pixels. Cost: O(pixels) array work plus 255 levels of
    per-level overhead, instead of one labeling per threshold.
    """
    num_images, height, width = levels.shape
    padded_h, padded_w = height + 2, width + 2
    plane = padded_h * padded_w
    padded = np.zeros((num_images, padded_h, padded_w), dtype=np.uint8)
    padded[:, 1:-1, 1:-1] = levels
    flat = padded.reshape(-1)
    order = np.argsort(flat, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(flat, minlength=256))])
    comp_of_pixel = np.full(flat.size, -1, dtype=np.int64)  # -1 absent, >= 0 component id, <= -2 new now
    store = _ComponentStore()
    images = np.arange(num_images)
    empty_scores = score(np.tile(np.array(EMPTY_BOX, dtype=np.int64), (num_images, 1)), images)
    largest = np.full(num_images, -1, dtype=np.int64)
    result = np.zeros(record_levels.shape)
    pair_order = np.argsort(record_levels.reshape(-1), kind="stable")
    pair_levels = record_levels.reshape(-1)[pair_order]
    for value in range(255, 0, -1):
        pixels = order[starts[value] : starts[value + 1]]
        if len(pixels):
            _add_level(pixels, comp_of_pixel, store, plane, padded_w, score, largest)
        lo, hi = np.searchsorted(pair_levels, [value - 1, value])
        if lo == hi:
            continue
        pairs = pair_order[lo:hi]
        image = pairs // record_levels.shape[1]
        if all_components:
            best = empty_scores.copy()
            alive = np.flatnonzero(store.arrays["alive"][: store.size])
            if len(alive):
                best_alive = np.full(num_images, -np.inf)
                np.maximum.at(best_alive, store.arrays["image"][alive], store.arrays["score"][alive])
                has = np.isfinite(best_alive)
                best[has] = best_alive[has]
            result.reshape(-1)[pairs] = best[image]
        else:
            chosen = largest[image]
            values = empty_scores[image]
            values[chosen >= 0] = store.arrays["score"][chosen[chosen >= 0]]
            result.reshape(-1)[pairs] = values
    return result


def _add_level(
    pixels: np.ndarray,
    comp_of_pixel: np.ndarray,
    store: _ComponentStore,
    plane: int,
    padded_w: int,
    score: Callable[[np.ndarray, np.ndarray], np.ndarray],
    largest: np.ndarray,
) -> None:
    """Join the pixels of one level to each other and to the components they touch (8-neighbours)."""
    count = len(pixels)
    comp_of_pixel[pixels] = -2 - np.arange(count)
    rows, cols, old_sources, old_codes = [], [], [], []

    def link(sources: np.ndarray, codes: np.ndarray, new_edges: bool) -> None:
        """Record edges from `sources` to new pixels (if `new_edges`) and to old components."""
        if new_edges:
            new = np.flatnonzero(codes <= -2)
            rows.append(sources[new])
            cols.append(-2 - codes[new])
        old = np.flatnonzero(codes >= 0)
        old_sources.append(sources[old])
        old_codes.append(codes[old])

    everyone = np.arange(count)
    up, left, right, down = (comp_of_pixel[pixels + offset] for offset in (-padded_w, -1, 1, padded_w))
    # Orthogonal neighbours; new-new edges once, from the pixel with the smaller index.
    link(everyone, up, False)
    link(everyone, left, False)
    link(everyone, right, True)
    link(everyone, down, True)
    # A diagonal neighbour matters only when both pixels between them are absent: otherwise the
    # two are already joined through that pixel (new, or old and 8-adjacent to both).
    for vertical, horizontal, offset, new_edges in (
        (up, left, -padded_w - 1, False), (up, right, -padded_w + 1, False),
        (down, left, padded_w - 1, True), (down, right, padded_w + 1, True),
    ):
        lonely = np.flatnonzero((vertical == -1) & (horizontal == -1))
        link(lonely, comp_of_pixel[pixels[lonely] + offset], new_edges)
    old_roots = store.find(np.concatenate(old_codes))
    is_touched = np.zeros(store.size, dtype=bool)
    is_touched[old_roots] = True
    unique_roots = np.flatnonzero(is_touched)
    node_of_root = np.empty(store.size, dtype=np.int64)
    node_of_root[unique_roots] = count + np.arange(len(unique_roots))
    rows = np.concatenate(rows + old_sources)
    cols = np.concatenate(cols + [node_of_root[old_roots]])
    num_nodes = count + len(unique_roots)
    graph = sparse.coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(num_nodes, num_nodes))
    num_groups, group = csgraph.connected_components(graph.tocsr(), directed=False)
    pixel_group, root_group = group[:count], group[count:]
    arrays = store.arrays
    # Each group keeps its smallest old root id, or gets a new id when it touches no component.
    keep = np.full(num_groups, np.iinfo(np.int64).max)
    np.minimum.at(keep, root_group, unique_roots)
    fresh = keep == np.iinfo(np.int64).max
    keep[fresh] = store.allocate(int(fresh.sum()))
    arrays = store.arrays
    absorbed = unique_roots != keep[root_group]
    arrays["parent"][unique_roots[absorbed]] = keep[root_group[absorbed]]
    arrays["alive"][unique_roots[absorbed]] = False
    local = pixels % plane
    row, col = local // padded_w - 1, local % padded_w - 1
    area = np.bincount(pixel_group, minlength=num_groups) + np.bincount(
        root_group, weights=arrays["area"][unique_roots], minlength=num_groups
    ).astype(np.int64)
    stats = {}
    for name, pixel_values, reduce in (
        ("x1", col, np.minimum), ("y1", row, np.minimum), ("x2", col, np.maximum),
        ("y2", row, np.maximum), ("first", pixels, np.minimum),
    ):
        out = np.full(num_groups, np.iinfo(np.int64).max if reduce is np.minimum else -1, dtype=np.int64)
        reduce.at(out, pixel_group, pixel_values)
        reduce.at(out, root_group, arrays[name][unique_roots])
        stats[name] = out
    for name, values in stats.items():
        arrays[name][keep] = values
    arrays["area"][keep] = area
    image = pixels // plane
    image_of_group = np.zeros(num_groups, dtype=np.int64)
    image_of_group[pixel_group] = image
    arrays["image"][keep] = image_of_group
    arrays["alive"][keep] = True
    boxes = np.stack([stats["x1"], stats["y1"], stats["x2"], stats["y2"]], axis=1)
    arrays["score"][keep] = score(boxes, image_of_group)
    comp_of_pixel[pixels] = keep[pixel_group]
    # Largest per image: the changed components and the (root of the) previous largest compete.
    touched = np.unique(image_of_group)
    previous = largest[touched]
    previous = store.find(previous[previous >= 0]) if (previous >= 0).any() else np.zeros(0, dtype=np.int64)
    candidates = np.concatenate([keep, previous])
    cand_image = arrays["image"][candidates]
    order = np.lexsort((arrays["first"][candidates], -arrays["area"][candidates], cand_image))
    leaders = order[np.r_[True, cand_image[order][1:] != cand_image[order][:-1]]]
    largest[cand_image[leaders]] = candidates[leaders]
