"""benchmarks/gpu_check.py in its CPU dry run: every step runs and reports, the tables carry each precision."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import gpu_check  # noqa: E402


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_logged_training_rate_is_the_mean_of_the_runs_last_logged_rate(tmp_path):
    runs = tmp_path / "runs"
    for run, lines in {"a": ["trained in 2.0 s (5.0 images/s)", "trained in 1.0 s (10.0 images/s)"],
                       "b": ["trained in 3.0 s (30.0 images/s)"], "c": ["predicted 4 test images"]}.items():
        (runs / run).mkdir(parents=True)
        (runs / run / "log.txt").write_text("".join(f"2026-01-01 00:00:00 {line}\n" for line in lines))
    table = tmp_path / "table1.csv"
    table.write_text("method,run_id\ngwap,a\ngap,b\ncentre_prior,\nother,c\n")
    assert gpu_check.logged_training_rate(table, runs) == (10.0 + 30.0) / 2
    table.write_text("method,run_id\nother,c\n")
    assert math.isnan(gpu_check.logged_training_rate(table, runs))


def test_dry_run_on_cpu_runs_every_step(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--dry-run",
                           "--work", str(tmp_path)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert "--precision auto resolves to fp32" in lines[0]
    table = lines[lines.index(next(line for line in lines if line.startswith("step "))) + 1:]
    timed = gpu_check.DRY.timed * gpu_check.DRY.batch_size
    for precision in ("fp32", "bf16", "fp16"):
        row = next(line.split() for line in table if line.startswith("throughput") and f" {precision} " in line)
        train, predict = float(row[row.index(precision) + 2]), float(row[row.index(precision) + 3])
        assert train > 0 and predict > 0 and math.isfinite(train) and math.isfinite(predict)
        assert f"{timed} images timed" in " ".join(row)
    for step in ("table5 tiny", "table3 tiny", "localize-error --checkpoint", "process group gloo", "torchrun"):
        assert any(step in line for line in table), step
    assert "FAILED" not in done.stdout and "skipped" not in done.stdout
    for step in ("table1 tiny", "torchrun"):  # each trained runs of its own (their logged rates)
        row = next(line.split() for line in table if line.startswith(step))
        assert float(row[row.index("auto" if step == "torchrun" else "fp32") + 2]) > 0, step
    ids = {}
    for precision in ("fp32", "bf16", "fp16"):
        rows = _rows(tmp_path / f"table1-{precision}" / "table1.csv")
        assert {r["precision"] for r in rows} == {precision}
        ids[precision] = {r["method"]: r["run_id"] for r in rows if r["run_id"]}
    assert len({ids[p]["gwap"] for p in ids}) == 3
    gwap = next(r["run_id"] for r in _rows(tmp_path / "table3" / "table3.csv") if r["method"] == "gwap")
    size = 2 * gpu_check.DRY.ilsvrc_size
    assert (tmp_path / "runs" / gwap / f"predictions-{size}.npz").is_file()  # predicted from the checkpoint
    assert (tmp_path / "localize" / "localize_error.json").is_file()
