"""Class predictions for the localization error: a CSV with a header row, one image a row.

Two forms, told apart by the header:

- ranked guesses: `image_id,top1[,top2,...,topK]`; each guess is a class index (0-based, sorted-wnid
  order for ILSVRC) or, where the dataset names its classes, a class name (a wnid);
- class scores: `image_id` then exactly one column per class, in class-index order (the column
  names are free); the guesses are the classes ranked by a stable descending sort of the scores,
  so equal scores rank by class index (the tie rule of `gwapbench.metrics.topk_error`).

Image ids are matched to the dataset's images like heat-map ids (`heatmaps_io.sample_keys`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gwapbench.errors import InputError

TOP_K = 5  # guesses kept from a scores CSV


@dataclass(frozen=True)
class ClassPredictions:
    """Ranked class guesses per image: `guesses[i]` (K classes, best first) for `image_ids[i]`."""

    image_ids: list[str]
    guesses: np.ndarray
    source: str = "--predictions"  # how errors name where the predictions came from

    def __post_init__(self) -> None:
        if self.guesses.ndim != 2 or len(self.guesses) != len(self.image_ids):
            raise ValueError(f"guesses must have shape ({len(self.image_ids)}, K), got {self.guesses.shape}")


def _guess_indices(cells: np.ndarray, num_classes: int, class_names: list[str] | None, path: Path) -> np.ndarray:
    """Class indices of the guess cells (indices or names); InputError naming the first bad cell."""
    values, inverse = np.unique(cells, return_inverse=True)
    index_of = {name: i for i, name in enumerate(class_names or [])}
    indices = np.empty(len(values), dtype=np.int64)
    for j, value in enumerate(values.tolist()):
        if value.isascii() and value.isdigit() and int(value) < num_classes:
            indices[j] = int(value)
        elif value in index_of:
            indices[j] = index_of[value]
        else:
            row, column = np.argwhere(cells == value)[0]
            what = (f"is neither a class index in 0..{num_classes - 1} nor a class name" if class_names
                    else f"is not a class index in 0..{num_classes - 1}")
            raise InputError(f"--predictions {path}: line {row + 2}, column top{column + 1}: {value!r} {what}")
    return indices[inverse.reshape(-1)].reshape(cells.shape)


def read_predictions(path: str | Path, num_classes: int, class_names: list[str] | None = None) -> ClassPredictions:
    """Read a predictions CSV (module docstring); InputError naming the file and line for bad input."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"--predictions {path}: file not found")
    try:
        header = pd.read_csv(path, nrows=0).columns.tolist()
    except (ValueError, pd.errors.ParserError) as err:
        raise InputError(f"--predictions {path}: not a CSV file ({err})") from err
    ranked = len(header) >= 2 and header[1:] == [f"top{j}" for j in range(1, len(header))]
    if not ranked and len(header) - 1 != num_classes:
        raise InputError(
            f"--predictions {path}: expected the header image_id,top1[,top2...] or image_id and one score column "
            f"per class ({num_classes}), got {len(header)} columns"
        )
    try:
        table = pd.read_csv(path, dtype=str if ranked else {header[0]: str}, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as err:
        raise InputError(f"--predictions {path}: {err}") from err
    ids = table.iloc[:, 0].tolist()
    duplicated = table.iloc[:, 0].duplicated()
    if duplicated.any():
        line = int(np.flatnonzero(duplicated)[0]) + 2
        raise InputError(f"--predictions {path}: line {line}: image {ids[line - 2]} appears twice")
    values = table.iloc[:, 1:].to_numpy()
    source = f"--predictions {path}"
    if ranked:
        return ClassPredictions(ids, _guess_indices(values.astype(str), num_classes, class_names, path), source)
    try:
        scores = values.astype(np.float64)
    except ValueError as err:
        raise InputError(f"--predictions {path}: a score is not a number ({err})") from err
    bad = ~np.isfinite(scores)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise InputError(f"--predictions {path}: line {row + 2}, score column {column + 1}: not a finite number")
    order = np.argsort(-scores, axis=1, kind="stable")[:, : min(TOP_K, num_classes)]
    return ClassPredictions(ids, order, source)
