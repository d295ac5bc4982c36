"""Stateful accumulators: `update` per batch, `merge` across processes, `compute` at the end.

Every metric in gwapbench has a pure functional kernel over whole arrays; its accumulator only
collects the inputs batch by batch and calls that kernel once in `compute`. The state is a dict
of lists of per-batch items, so merging two accumulators (e.g. after gathering from every
torchrun rank) is list concatenation, and the result equals a single pass over all data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np


def _same(a: Any, b: Any) -> bool:
    """Equality that also works for numpy arrays (thresholds) and tuples of them."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    return bool(a == b)


class Accumulator(ABC):
    """Base class: subclasses call `_append(name=item, ...)` in `update` and read `_items(name)`."""

    def __init__(self) -> None:
        self._state: dict[str, list[Any]] = {}

    def _append(self, **items: Any) -> None:
        for name, item in items.items():
            self._state.setdefault(name, []).append(item)

    def _extend(self, **items: list[Any]) -> None:
        for name, values in items.items():
            self._state.setdefault(name, []).extend(values)

    def _items(self, name: str) -> list[Any]:
        return self._state.get(name, [])

    def reset(self) -> None:
        self._state = {}

    def settings(self) -> dict[str, Any]:
        """The accumulator's configuration: its public attributes (k, metric, thresholds, ...)."""
        return {name: value for name, value in vars(self).items() if not name.startswith("_")}

    def state(self) -> dict[str, dict[str, Any]]:
        """The picklable state, e.g. for `torch.distributed.gather_object`: settings and collected items."""
        return {"settings": self.settings(), "items": {name: list(values) for name, values in self._state.items()}}

    def merge(self, other: "Accumulator | dict[str, dict[str, Any]]") -> "Accumulator":
        """Add another accumulator's (or a gathered `state()`'s) items after this one's.

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
        return self

    @abstractmethod
    def update(self, *args: Any, **kwargs: Any) -> None:
        """Add one batch."""

    @abstractmethod
    def compute(self) -> Any:
        """Evaluate the metric over everything added so far."""
