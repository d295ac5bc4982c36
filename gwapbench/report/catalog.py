"""The run catalog: every run in a store, described from the files the store writes, and their removal.

A run's status follows its files (docs/engine.md): `metrics.json` -> evaluated, `predictions.npz` ->
predicted, `checkpoint.pt` -> training at its iteration (of the schedule's), `config.json` alone -> created.
A live `lock` adds "running". Its tables follow its task and method: a VOC classification run of one of
Table I's methods is a row of Tables I and II (Table II scores the same runs' maps), an ILSVRC run of a
trained head a row of Tables III and IV, `original` of Table III, `backprop` of Table IV, a detection run
of Table V.

Removal deletes only what gwapbench wrote: a folder qualifies when it carries gwapbench's output marker
and config.json and holds nothing but the store's files (`STORE_FILE`); anything else in it stops the
removal before a file is deleted. A run locked by a live process is refused.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gwapbench.config import DETECTION_TASK, ILSVRC_TASK, VOC_TASK
from gwapbench.engine.ilsvrc_methods import TRAINED_METHODS
from gwapbench.engine.schedules import schedule_label
from gwapbench.engine.store import Run
from gwapbench.errors import InputError
from gwapbench.locks import LockOwner, holder_if_held
from gwapbench.outdir import MARKER_NAME
from gwapbench.report.columns import format_columns
from gwapbench.tables.voc import TABLE1_METHODS

_STORE_NAMES = r"config\.json|checkpoint\.pt|predictions(-\d+)?\.npz|metrics\.json|log\.txt"
# The store's files, their atomic-write temporaries (`.<name>.<random>.tmp`, gwapbench.atomic), the lock, the marker.
STORE_FILE = re.compile(rf"(?:{_STORE_NAMES}|\.(?:{_STORE_NAMES}|lock)\.[^/]*\.tmp|lock|{re.escape(MARKER_NAME)})")
# metrics.json key of each task's headline number (as `Run.metrics` reads it), and how the list names it.
HEADLINES = {VOC_TASK: ("cls_map", "mAP"), ILSVRC_TASK: ("top1_cls_error", "top-1 err"),
             DETECTION_TASK: ("det_map", "det mAP")}


def run_tables(task: str, method: str) -> tuple[str, ...]:
    """The paper tables a run of `task` and `method` is a row of (see the module docstring)."""
    if task == VOC_TASK:
        return ("table1", "table2") if method in TABLE1_METHODS else ()
    if task == ILSVRC_TASK:
        return (("table3",) if method in (*TRAINED_METHODS, "original") else ()) + \
            (("table4",) if method in (*TRAINED_METHODS, "backprop") else ())
    return ("table5",) if task == DETECTION_TASK else ()


@dataclass(frozen=True)
class RunEntry:
    """One run as the list shows it; `status` is one of names.RUN_STATUSES ("damaged" when a file does not read) and
    `progress` says more ("40/160" while training); `running` holds the live (or other host's) holder of the lock."""

    id: str
    folder: Path
    tables: tuple[str, ...]
    net: str
    method: str
    schedule: str
    data: str
    status: str
    progress: str
    headline: str
    size: int
    age_seconds: float
    running: LockOwner | None

    @property
    def finished(self) -> bool:
        return self.status == "evaluated"

    def status_text(self) -> str:
        text = f"{self.status} {self.progress}".strip()
        if self.running is None:
            return text
        where = f" on {self.running.host}" if self.running.elsewhere else ""
        return f"{text}, running (pid {self.running.pid}{where})"


def is_run_folder(folder: Path) -> bool:
    """A folder the run store wrote: gwapbench's marker and a config.json."""
    return folder.is_dir() and (folder / MARKER_NAME).is_file() and (folder / "config.json").is_file()


def live_lock(folder: Path) -> LockOwner | None:
    """The holder of the run's lock, unless there is none or it is known to be gone (`gwapbench.locks`)."""
    return holder_if_held(folder / "lock")


def _size(folder: Path) -> int:
    return sum(entry.stat().st_size for entry in folder.iterdir() if entry.is_file())


def _checkpoint_iteration(path: Path) -> int | None:
    """The iteration stored in checkpoint.pt, read without loading its tensors (None when unreadable)."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return int(state["iteration"])
    except Exception:  # noqa: BLE001  (any unreadable checkpoint shows as such in the list)
        return None


def _headline(task: str, metrics: dict[str, Any]) -> str:
    key, name = HEADLINES[task]
    return f"{name} {metrics[key]:.2f}" if key in metrics else ""


def _status(run: Run, iterations: int) -> tuple[str, str, str]:
    """(status, progress, headline) from the run's files."""
    if run.metrics_path.is_file():
        return "evaluated", "", _headline(run.task(), run.metrics())
    if run.predictions_path.is_file():
        return "predicted", "", ""
    if run.checkpoint_path.is_file():
        done = _checkpoint_iteration(run.checkpoint_path)
        return "training", f"{'?' if done is None else done}/{iterations}", ""
    return "created", "", ""


def describe_run(folder: Path, now: float | None = None) -> RunEntry:
    """The RunEntry of one run folder (`is_run_folder`); a file that fails the store's checks gives status
    "damaged" and, as the headline, its name and why."""
    run = Run(folder, folder.name)
    age = (now if now is not None else time.time()) - (folder / "config.json").stat().st_mtime
    fields: dict[str, Any] = dict(tables=(), net="?", method="?", schedule="?", data="?")
    try:
        config = run.config()
        iterations = json.loads(run.config_path.read_text(encoding="utf-8")).get("schedule", {}).get("iterations", "?")
        fields = dict(tables=run_tables(config.task, config.method), net=config.net, method=config.method,
                      schedule=schedule_label(config.schedule, config.overrides), data=config.data.kind)
        status, progress, headline = _status(run, iterations)
    except InputError as err:
        damage = re.search(r"(\S+) is damaged \((.*)\); delete", str(err))
        headline = f"{Path(damage[1]).name} is damaged: {damage[2]}" if damage else str(err)
        status, progress = "damaged", ""
    return RunEntry(id=folder.name, folder=folder, status=status, progress=progress, headline=headline,
                    size=_size(folder), age_seconds=age, running=live_lock(folder), **fields)


def list_runs(root: Path, table: str | None = None, net: str | None = None,
              status: str | None = None) -> list[RunEntry]:
    """Every run folder under `root`, oldest first, filtered by table, net and status (a STATUS_FILTERS name)."""
    if not root.is_dir():
        raise InputError(f"--runs-dir {root}: no such folder")
    entries = sorted((describe_run(f) for f in root.iterdir() if is_run_folder(f)),
                     key=lambda e: (-e.age_seconds, e.id))
    return [e for e in entries
            if (table is None or table in e.tables) and (net is None or e.net == net)
            and (status is None or e.status == status or (status == "unfinished" and not e.finished)
                 or (status == "running" and e.running is not None))]


def find_run(root: Path, run_id: str) -> Path:
    """The folder of run `run_id` under `root`; InputError (one line) when there is none."""
    folder = root / run_id
    if Path(run_id).name != run_id or run_id.startswith(".") or not is_run_folder(folder):
        known = "" if not root.is_dir() else " (gwapbench runs list shows the ids)"
        raise InputError(f"run {run_id}: no such run in {root}{known}")
    return folder


def foreign_files(folder: Path) -> list[str]:
    """Names in a run folder that the store does not write (folders included)."""
    return sorted(e.name for e in folder.iterdir() if not (e.is_file() and STORE_FILE.fullmatch(e.name)))


@dataclass(frozen=True)
class Removal:
    """What `plan_removal` decided: the runs to remove and, for --unfinished, the runs refused (id, why)."""

    remove: tuple[RunEntry, ...]
    refused: tuple[tuple[str, str], ...]


def _refusal(root: Path, run_id: str) -> str | None:
    """Why run `run_id` may not be removed (None when it may)."""
    folder = root / run_id
    if folder.is_dir() and not is_run_folder(folder):
        return (f"{folder} is not a run folder gwapbench wrote (it lacks {MARKER_NAME} or config.json); "
                "gwapbench removes only its own run folders")
    folder = find_run(root, run_id)
    foreign = foreign_files(folder)
    if foreign:
        return f"{folder} holds files gwapbench did not write ({', '.join(foreign[:5])}); it is not removed"
    owner = live_lock(folder)
    if owner is not None:
        lock = folder / "lock"
        return f"run {run_id} is in use by {owner} ({lock}): wait for it to finish{owner.removal_hint(lock)}"
    return None


def plan_removal(root: Path, run_ids: Sequence[str], unfinished: bool) -> Removal:
    """The runs to remove. Named runs: every one must qualify (else an InputError naming the first that does not,
    and nothing is removed). --unfinished: every run without metrics.json; those that do not qualify (locked,
    holding foreign files) are listed as refused."""
    if bool(run_ids) == unfinished:
        raise InputError("runs rm: give run ids or --unfinished (not both)")
    if not root.is_dir():
        raise InputError(f"--runs-dir {root}: no such folder")
    if unfinished:
        candidates = [e for e in list_runs(root) if not e.finished]
        refused = [(e.id, _refusal(root, e.id)) for e in candidates]
        return Removal(tuple(e for e, (_, why) in zip(candidates, refused) if why is None),
                       tuple((i, why) for i, why in refused if why is not None))
    for run_id in dict.fromkeys(run_ids):
        why = _refusal(root, run_id)
        if why is not None:
            raise InputError(why)
    return Removal(tuple(describe_run(root / run_id) for run_id in dict.fromkeys(run_ids)), ())


def remove_run(entry: RunEntry) -> None:
    """Delete the run's store files while holding its lock (a command starting on it meanwhile is refused, and
    one that holds it refuses this), then its folder. Deletes nothing but `STORE_FILE` names."""
    run = Run(entry.folder, entry.id)
    with run.lock():
        foreign = foreign_files(entry.folder)
        if foreign:
            raise InputError(f"{entry.folder} holds files gwapbench did not write ({', '.join(foreign[:5])}); "
                             "it is not removed")
        for path in entry.folder.iterdir():
            if path.name != "lock":
                path.unlink()
    try:
        entry.folder.rmdir()
    except OSError as err:
        raise InputError(f"{entry.folder}: emptied but not removed ({err.strerror})") from err


def human_size(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def human_age(seconds: float) -> str:
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return f"{seconds / length:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"


LIST_COLUMNS = ("id", "tables", "net", "method", "schedule", "data", "status", "headline", "size", "age")


def list_text(entries: Sequence[RunEntry]) -> str:
    """`runs list`'s table: a header of LIST_COLUMNS and one line per run."""
    return format_columns(LIST_COLUMNS, [
        (e.id, ",".join(e.tables) or "-", e.net, e.method, e.schedule, e.data, e.status_text(), e.headline or "-",
         human_size(e.size), human_age(e.age_seconds)) for e in entries])


def show_run(folder: Path, log_lines: int = 20) -> str:
    """`runs show`: the entry's status, config.json, the log's last lines and metrics.json."""
    entry = describe_run(folder)
    status = entry.status_text() + (f", {entry.headline}" if entry.headline else "")
    parts = [f"run {entry.id} ({folder})", f"status: {status}",
             f"tables: {','.join(entry.tables) or '-'}  size: {human_size(entry.size)}  "
             f"age: {human_age(entry.age_seconds)}",
             "", "config.json:", (folder / "config.json").read_text(encoding="utf-8").rstrip()]
    log = folder / "log.txt"
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.is_file() else []
    parts += ["", f"log.txt (last {min(log_lines, len(lines))} of {len(lines)} lines):", *lines[-log_lines:]]
    metrics = folder / "metrics.json"
    parts += ["", "metrics.json:" if metrics.is_file() else "metrics.json: none yet (the run is not evaluated)"]
    if metrics.is_file():
        parts.append(metrics.read_text(encoding="utf-8").rstrip())
    return "\n".join(parts) + "\n"


def removal_lines(entries: Sequence[RunEntry], dry_run: bool) -> list[str]:
    verb = "would remove" if dry_run else "removing"
    return [f"{verb} {e.folder} ({e.status_text()}, {human_size(e.size)})" for e in entries]



@dataclass(frozen=True)
class Runtime:
    """How long a run took, from its files: training seconds (the log's "trained in" lines, summed over
    resumed sessions), prediction + evaluation seconds (metrics.json's `seconds`), the training device."""

    train_seconds: float | None
    evaluate_seconds: float | None
    device: str


_TRAINED = re.compile(r"trained in ([0-9.]+) s")
_DEVICE = re.compile(r"training from iteration \d+ to \d+ on (\S+)")


def runtime(folder: Path) -> Runtime:
    log = folder / "log.txt"
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    trained = [float(s) for s in _TRAINED.findall(text)]
    devices = _DEVICE.findall(text)
    run = Run(folder, folder.name)
    seconds = run.metrics().get("seconds") if run.metrics_path.is_file() else None
    return Runtime(sum(trained) if trained else None, seconds, devices[-1] if devices else "?")
