"""Bad-file policy for the dataset readers: fail on the first bad file, or skip it and report.

`on_bad_file="fail"` (the default) raises `BadFileError` (an `InputError`) naming the file and the
problem; `on_bad_file="skip"` records `(file, reason, what)` in a `BadFileReport` and goes on:
`what` is "file" when the whole image was left out, "box" when one box was dropped from a kept
image. The report also lists label disagreements (kept images whose per-class list label differs
from their XML objects): warnings in either policy. Callers print `report.summary()` and save the
report with the run (`save_bad_file_report`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from gwapbench.atomic import write_text_atomic
from gwapbench.errors import InputError

if TYPE_CHECKING:  # numpy-free at import: the CLI reads ON_BAD_FILE_CHOICES from here
    from gwapbench.data.sample import Sample

ON_BAD_FILE_CHOICES = ("fail", "skip")
SKIPPED_KINDS = ("file", "box")


class BadFileError(InputError):
    """One bad input file (or one bad record inside it): message `"<path>: <reason>"`."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class SkippedItem:
    """A file left out (`what="file"`), or a box dropped from a kept file (`what="box"`), and why."""

    path: str
    reason: str
    what: str = "file"

    def describe(self) -> str:
        """One console line: "skipped <file>: <reason>" or "dropped a box of <file>: <reason>"."""
        verb = "skipped" if self.what == "file" else "dropped a box of"
        return f"{verb} {self.path}: {self.reason}"


_LABEL_MEANING = {1: "a non-difficult {} object", 0: "only difficult {} objects", -1: "no {} object"}


@dataclass(frozen=True)
class LabelDisagreement:
    """A per-class list (`<cls>_<split>.txt`) gives `list_label` where the image's XML objects give `xml_label`."""

    list_path: str
    image_id: str
    class_name: str
    list_label: int
    xml_label: int

    def describe(self) -> str:
        xml_meaning = _LABEL_MEANING[self.xml_label].format(self.class_name)
        return (f"label disagreement in {self.list_path}: image {self.image_id} is labelled {self.list_label} "
                f"but its XML has {xml_meaning}")


@dataclass
class BadFileReport:
    """What a reader skipped under `on_bad_file="skip"`; raises instead under `"fail"`."""

    on_bad_file: str = "fail"
    skipped: list[SkippedItem] = field(default_factory=list)
    label_disagreements: list[LabelDisagreement] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.on_bad_file not in ON_BAD_FILE_CHOICES:
            raise ValueError(f"on_bad_file must be one of {ON_BAD_FILE_CHOICES}, got {self.on_bad_file!r}")

    def handle(self, error: BadFileError, what: str = "file") -> None:
        """Raise `error` under the fail policy; record it (a whole "file" or one "box") under the skip policy."""
        if what not in SKIPPED_KINDS:
            raise ValueError(f"what must be one of {SKIPPED_KINDS}, got {what!r}")
        if self.on_bad_file == "fail":
            raise error
        self.skipped.append(SkippedItem(error.path, error.reason, what))

    def extend(self, other: BadFileReport) -> None:
        """Append the items another reader skipped or flagged (for concatenated datasets)."""
        self.skipped.extend(other.skipped)
        self.label_disagreements.extend(other.label_disagreements)

    @property
    def count(self) -> int:
        return len(self.skipped)

    def summary(self) -> str:
        """One line for the console: files skipped, boxes dropped, label disagreements, and the first problem."""
        if not self.skipped and not self.label_disagreements:
            return "no bad files"
        files = sum(item.what == "file" for item in self.skipped)
        parts = [f"skipped {files} file(s)", f"dropped {self.count - files} box(es)"]
        if self.label_disagreements:
            parts.append(f"{len(self.label_disagreements)} label disagreement(s) (warnings)")
        first = self.skipped[0].describe() if self.skipped else self.label_disagreements[0].describe()
        return f"{', '.join(parts)}; first: {first}"

    def to_dict(self) -> dict:
        return {
            "on_bad_file": self.on_bad_file,
            "count": self.count,
            "skipped": [{"path": item.path, "reason": item.reason, "what": item.what} for item in self.skipped],
            "label_disagreements": [
                {"list": d.list_path, "image_id": d.image_id, "class": d.class_name, "list_label": d.list_label,
                 "xml_label": d.xml_label}
                for d in self.label_disagreements
            ],
        }


class ReadResult(NamedTuple):
    """What every reader returns: the good samples and the report of what was skipped."""

    samples: list[Sample]
    report: BadFileReport


def save_bad_file_report(report: BadFileReport, path: str | Path) -> None:
    """Write the report as JSON (`on_bad_file`, `count`, `skipped: [{path, reason}]`), atomically."""
    write_text_atomic(path, json.dumps(report.to_dict(), indent=2) + "\n")
