"""Bad-file policy for the dataset readers: fail on the first bad file, or skip it and report.

`on_bad_file="fail"` (the default) raises `BadFileError` (an `InputError`) naming the file and the
problem; `on_bad_file="skip"` records `(file, reason)` in a `BadFileReport` and goes on. Callers
print `report.summary()` and save the report with the run (`save_bad_file_report`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from gwapbench.atomic import write_text_atomic
from gwapbench.data.sample import Sample
from gwapbench.errors import InputError

ON_BAD_FILE_CHOICES = ("fail", "skip")


class BadFileError(InputError):
    """One bad input file (or one bad record inside it): message `"<path>: <reason>"`."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class SkippedItem:
    """A file left out, or a record dropped from a kept file, and why."""

    path: str
    reason: str


@dataclass
class BadFileReport:
    """What a reader skipped under `on_bad_file="skip"`; raises instead under `"fail"`."""

    on_bad_file: str = "fail"
    skipped: list[SkippedItem] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.on_bad_file not in ON_BAD_FILE_CHOICES:
            raise ValueError(f"on_bad_file must be one of {ON_BAD_FILE_CHOICES}, got {self.on_bad_file!r}")

    def handle(self, error: BadFileError) -> None:
        """Raise `error` under the fail policy; record it under the skip policy."""
        if self.on_bad_file == "fail":
            raise error
        self.skipped.append(SkippedItem(error.path, error.reason))

    def extend(self, other: BadFileReport) -> None:
        """Append the items another reader skipped (for concatenated datasets)."""
        self.skipped.extend(other.skipped)

    @property
    def count(self) -> int:
        return len(self.skipped)

    def summary(self) -> str:
        """One line for the console: how many items were skipped, and the first one."""
        if not self.skipped:
            return "no bad files"
        first = self.skipped[0]
        return f"skipped {self.count} bad item(s); first: {first.path}: {first.reason}"

    def to_dict(self) -> dict:
        return {
            "on_bad_file": self.on_bad_file,
            "count": self.count,
            "skipped": [{"path": item.path, "reason": item.reason} for item in self.skipped],
        }


class ReadResult(NamedTuple):
    """What every reader returns: the good samples and the report of what was skipped."""

    samples: list[Sample]
    report: BadFileReport


def save_bad_file_report(report: BadFileReport, path: str | Path) -> None:
    """Write the report as JSON (`on_bad_file`, `count`, `skipped: [{path, reason}]`), atomically."""
    write_text_atomic(path, json.dumps(report.to_dict(), indent=2) + "\n")
