"""Training schedules by name: `paper` (the paper's Table I setup), `quick` and `ci` (CPU).

`paper` (Qiu 2018, section IV-A): 600x600 input, horizontal flip only, mini-batch 4, SGD with
initial lr 0.0005 divided by 10 every 20,000 iterations, 60,000 iterations, sigmoid cross-entropy
on the image labels. Assumed where the paper is silent: momentum 0.9 and weight decay 5e-4 (the
Caffe solver values of the CAM release it builds on), flip probability 0.5 ("each sampled image is
horizontally flipped" read as the usual random mirror), and the classifier layers' lr equal to the
backbone's.

`ilsvrc_paper` (Tables III-IV; the CLI's `--schedule paper` for table3/table4): fine-tuning on the
ILSVRC train set at 224x224, "the same experimental setup as in GAP [6]". The CAM release
(metalbubble/CAM) ships deploy prototxts and trained weights but no solver, so every number is
assumed: mini-batch 64, lr 0.01 divided by 10 every 100,000 iterations, 300,000 iterations (15
epochs), momentum 0.9, weight decay 5e-4, random mirror. Images are resized to 224x224 (no
256-resize-and-crop as Caffe's data layer would do).

`quick` and `ci` train the `tiny` net from scratch on CPU: `quick` is the default of
`--net tiny` (about 40 s a run on 2 cores at the default synthetic size), `ci` is about a third of
that, for regression checks. Their numbers were chosen for run time, not tuned toward any result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from gwapbench.errors import InputError


@dataclass(frozen=True)
class Schedule:
    """SGD with momentum and a step learning-rate decay, counted in iterations."""

    name: str
    image_size: int
    batch_size: int
    lr: float
    lr_step: int
    iterations: int
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_decay: float = 0.1
    flip_probability: float = 0.5
    checkpoint_every: int = 1000

    def lr_at(self, iteration: int) -> float:
        """lr * lr_decay ** floor(iteration / lr_step)."""
        return self.lr * self.lr_decay ** (iteration // self.lr_step)


SCHEDULES: dict[str, Schedule] = {
    s.name: s
    for s in (
        Schedule("paper", image_size=600, batch_size=4, lr=5e-4, lr_step=20_000, iterations=60_000,
                 checkpoint_every=2_000),
        Schedule("quick", image_size=96, batch_size=16, lr=0.05, lr_step=120, iterations=160,
                 checkpoint_every=50),
        Schedule("ci", image_size=64, batch_size=16, lr=0.05, lr_step=45, iterations=60, checkpoint_every=30),
    )
}

SCHEDULES["ilsvrc_paper"] = Schedule("ilsvrc_paper", image_size=224, batch_size=64, lr=0.01, lr_step=100_000,
                                     iterations=300_000, checkpoint_every=5_000)  # Tables III-IV (module doc)

OVERRIDABLE = tuple(f.name for f in fields(Schedule) if f.name != "name")

# The type and range of each overridable field: (type, holds, what it must be). A float field takes an
# int too; an int field takes only an int (1e3 and 1.5 are refused: the run id keeps the value as given).
FIELD_RULES: dict[str, tuple[type, Callable[[Any], bool], str]] = {
    "image_size": (int, lambda v: 16 <= v <= 4096, "an integer in 16..4096"),
    "batch_size": (int, lambda v: v >= 1, "an integer >= 1"),
    "lr": (float, lambda v: 0 < v <= 10, "a number in (0, 10]"),
    "lr_step": (int, lambda v: v >= 1, "an integer >= 1"),
    "iterations": (int, lambda v: v >= 1, "an integer >= 1"),
    "momentum": (float, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "weight_decay": (float, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "lr_decay": (float, lambda v: 0 < v <= 1, "a number in (0, 1]"),
    "flip_probability": (float, lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "checkpoint_every": (int, lambda v: v >= 1, "an integer >= 1"),
}


def _type_holds(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return False
    if kind is int:
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)


def check_overrides(overrides: tuple[tuple[str, Any], ...]) -> None:
    """InputError (one line, naming the key) unless every key is a schedule field (`OVERRIDABLE`) and its value
    has the field's type and lies in its range (`FIELD_RULES`). Called before any data is read or run created."""
    unknown = [key for key, _ in overrides if key not in FIELD_RULES]
    if unknown:
        raise InputError(f"unknown schedule field(s) {', '.join(unknown)}; choose from {', '.join(OVERRIDABLE)}")
    for key, value in overrides:
        kind, holds, wanted = FIELD_RULES[key]
        if not _type_holds(value, kind) or not holds(value):
            raise InputError(f"--override {key}={value!r}: {key} must be {wanted}")


def schedule_label(name: str, overrides: tuple[tuple[str, Any], ...] = ()) -> str:
    """What a table row records as its schedule: the name, then each override as `+field=value`
    (`ci+iterations=4+batch_size=8`), so rows of differently trained runs never compare as alike."""
    return name + "".join(f"+{key}={value}" for key, value in overrides)


def default_schedule_name(net: str) -> str:
    """`quick` for the CPU net `tiny`, `paper` for the ImageNet backbones."""
    return "quick" if net == "tiny" else "paper"


def resolve_schedule(name: str, overrides: tuple[tuple[str, Any], ...] = ()) -> Schedule:
    """The named schedule with `overrides` ((field, value) pairs) applied; InputError on an unknown name or a
    value out of its field's type or range (`check_overrides`)."""
    if name not in SCHEDULES:
        raise InputError(f"--schedule {name!r}: choose one of {', '.join(SCHEDULES)}")
    check_overrides(overrides)
    return replace(SCHEDULES[name], **dict(overrides))
