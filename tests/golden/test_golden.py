"""The golden commands reproduce tests/golden/*.csv under `gwapbench check`, and a deliberate change to a
pooling head makes the check fail.

Both run the table commands in fresh processes pinned to golden.THREADS threads (see README.md here),
into temporary folders: the golden tables in full, the changed head for its one method.
"""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from gwapbench.cli import cli
from tests.golden.golden import GOLDEN_TABLES, golden_table, run_gwapbench

# GWAP's score function with a doubled temperature: M = exp(2 sigmoid(s)) instead of exp(sigmoid(s)).
CHANGED_GWAP_HEAD = """
import torch
from reference_models import pooling
pooling.GWAP_SCORE_FUNCTIONS["sigmoid_exp"] = lambda s: pooling._spatial_softmax(2 * torch.sigmoid(s))
"""


@pytest.fixture(scope="module")
def produced(golden_store):
    return {table.name: golden_store / "out" / f"{table.name}.csv" for table in GOLDEN_TABLES}


@pytest.mark.parametrize("table", [table.name for table in GOLDEN_TABLES])
def test_golden_command_reproduces_its_file(produced, table):
    result = CliRunner().invoke(cli, golden_table(table).check_args(produced[table]))
    assert result.exit_code == 0, result.output
    assert "PASSED" in result.output


def _rows_of_method(path, method, out):
    with open(path, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["method"] == method]
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


def test_a_changed_gwap_head_fails_the_check(tmp_path):
    table = golden_table("table1")
    args = table.table_args(tmp_path / "runs", tmp_path / "out", "--methods", "gwap")
    result = run_gwapbench(args, preamble=CHANGED_GWAP_HEAD)
    assert result.returncode == 0, result.stdout + result.stderr
    reference = _rows_of_method(table.reference, "gwap", tmp_path / "gwap_reference.csv")
    check = CliRunner().invoke(cli, table.check_args(tmp_path / "out" / "table1.csv", reference))
    assert check.exit_code == 1, check.output
    failing = [line for line in check.output.splitlines() if "FAIL" in line and " gwap " in line]
    assert len(failing) == 1 and "outside tolerance" in failing[0], check.output
