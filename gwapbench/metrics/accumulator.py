"""Stateful accumulators: `update` per batch, `merge` across processes, `compute` at the end.

Every metric in gwapbench has a pure functional kernel over whole arrays; its accumulator only
collects the inputs batch by batch and calls that kernel once in `compute`. The state is a dict
of lists of per-batch items, so merging two accumulators (e.g. after gathering from every
torchrun rank) is list concatenation, and the result equals a single pass over all data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


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

    def state(self) -> dict[str, list[Any]]:
        """The picklable state, e.g. for `torch.distributed.gather_object`."""
        return {name: list(values) for name, values in self._state.items()}

    def merge(self, other: "Accumulator | dict[str, list[Any]]") -> "Accumulator":
        """Add another accumulator's (or a gathered state's) items after this one's."""
        state = other.state() if isinstance(other, Accumulator) else other
        if isinstance(other, Accumulator) and type(other) is not type(self):
            raise ValueError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        self._extend(**state)
        return self

    @abstractmethod
    def update(self, *args: Any, **kwargs: Any) -> None:
        """Add one batch."""

    @abstractmethod
    def compute(self) -> Any:
        """Evaluate the metric over everything added so far."""
