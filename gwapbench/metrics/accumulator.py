"""Stateful accumulators: `update` per batch, `merge` across processes, `compute` at the end.

Every metric in gwapbench has a pure functional kernel over whole arrays; its accumulator turns
each batch into state and evaluates the kernel's formula once in `compute`. Two kinds of state:

- totals (`_add`): running sums (numbers or numpy arrays of a fixed shape), so memory stays
  constant however many batches arrive (histograms, counts); merging adds them;
- items (`_append`): per-batch items kept in lists, for metrics that need every input at the
  end (a ranking over all images); merging concatenates the lists.

Either way, merging two accumulators (e.g. after gathering `state()` from every torchrun rank)
gives exactly the result of a single pass over all data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np


_SCALE_BITS = 1074  # every finite float64 is an integer multiple of 2^-1074


def exact_scaled_sum(values: np.ndarray) -> int:
    """sum(values) x 2^1074 as an exact Python int (a total that any split or merge order reproduces)."""
    total = 0
    for value in np.asarray(values, dtype=np.float64).tolist():
        numerator, denominator = value.as_integer_ratio()  # denominator = 2^m, m <= 1074
        total += numerator << (_SCALE_BITS + 1 - denominator.bit_length())
    return total


def exact_mean(scaled_total: int, count: int) -> float:
    """The correctly rounded mean from an `exact_scaled_sum` total over `count` values."""
    return scaled_total / (count << _SCALE_BITS)  # int / int is correctly rounded in Python


def _same(a: Any, b: Any) -> bool:
    """Equality that also works for numpy arrays (thresholds) and tuples of them."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    return bool(a == b)


class Accumulator(ABC):
    """Base class: subclasses keep state with `_add(name=value)` or `_append(name=item)` in `update`."""

    def __init__(self) -> None:
        self._state: dict[str, list[Any]] = {}
        self._totals: dict[str, Any] = {}

    def _append(self, **items: Any) -> None:
        for name, item in items.items():
            self._state.setdefault(name, []).append(item)

    def _extend(self, **items: list[Any]) -> None:
        for name, values in items.items():
            self._state.setdefault(name, []).extend(values)

    def _items(self, name: str) -> list[Any]:
        return self._state.get(name, [])

    def _add(self, **totals: Any) -> None:
        """Add to running totals (never in place, so merged states share nothing that changes)."""
        for name, value in totals.items():
            self._totals[name] = self._totals[name] + value if name in self._totals else value

    def _total(self, name: str, default: Any = 0) -> Any:
        return self._totals.get(name, default)

    def _require_data(self, count: int) -> None:
        """The empty rule of every accumulator: `compute()` with nothing added raises, never returns NaN."""
        if count == 0:
            raise ValueError(f"{type(self).__name__}.compute(): no data: call update first")

    def reset(self) -> None:
        self._state = {}
        self._totals = {}

    def settings(self) -> dict[str, Any]:
        """The accumulator's configuration: its public attributes (k, metric, thresholds, ...)."""
        return {name: value for name, value in vars(self).items() if not name.startswith("_")}

    def state(self) -> dict[str, dict[str, Any]]:
        """The picklable state, e.g. for `torch.distributed.gather_object`: settings, items and totals."""
        return {
            "settings": self.settings(),
            "items": {name: list(values) for name, values in self._state.items()},
            "totals": dict(self._totals),
        }

    def merge(self, other: "Accumulator | dict[str, dict[str, Any]]") -> "Accumulator":
        """Add another accumulator's (or a gathered `state()`'s) items after this one's and its totals to ours.

        Raises ValueError when the other side was configured differently (e.g. top-1 vs top-5):
        merging those would silently mix two different metrics.
        """
        if isinstance(other, Accumulator) and type(other) is not type(self):
            raise ValueError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        state = other.state() if isinstance(other, Accumulator) else other
        ours, theirs = self.settings(), state["settings"]
        if ours.keys() != theirs.keys() or not all(_same(ours[name], theirs[name]) for name in ours):
            raise ValueError(f"cannot merge {type(self).__name__} with settings {theirs} into one with {ours}")
        self._extend(**state["items"])
        self._add(**state.get("totals", {}))
        return self

    @abstractmethod
    def update(self, *args: Any, **kwargs: Any) -> None:
        """Add one batch."""

    @abstractmethod
    def compute(self) -> Any:
        """Evaluate the metric over everything added so far.

        Raises ValueError("<Name>.compute(): no data: call update first") when no image was added
        (the same rule for every accumulator, and for every metric function given no images).
        NaN is kept for values undefined within the data, e.g. the AP of a class without positives.
        """
