"""docs/ci.md stays true: its `gwapbench check` command lines parse, its Python example runs, its sample rows
are the golden file's, and its CI workflow passes on the golden tables."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from click.testing import CliRunner

from gwapbench.cli import cli
from gwapbench.cli.check import check_command

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "ci.md"


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


def test_check_command_lines_parse():
    text = "\n".join(code_blocks("bash") + code_blocks("yaml")).replace("\\\n", " ")
    commands = re.findall(r"gwapbench check [^\n]*(?:\n\s+--[^\n]*)*", text)
    assert len(commands) >= 3  # usage example, --against-paper example, the workflow step
    for command in commands:
        args = shlex.split(command)[2:]
        context = check_command.make_context("check", args)  # raises on an unknown option or a missing argument
        assert context.params["produced"].name == "table1.csv"


def test_python_example_runs(tmp_path, monkeypatch, capsys):
    header = "table,net,method,setting,metric,reproduced,paper,delta,run_id\n"
    (tmp_path / "out").mkdir()
    (tmp_path / "tests" / "golden").mkdir(parents=True)
    (tmp_path / "out" / "table1.csv").write_text(header + "table1,tiny,gwap,,synthetic_cls_map,32.95,,,r1\n")
    golden = tmp_path / "tests" / "golden" / "table1.csv"
    golden.write_text(header + "table1,tiny,gwap,,synthetic_cls_map,33.1,,,r1\n")
    monkeypatch.chdir(tmp_path)
    (example,) = code_blocks("python")
    exec(compile(example, str(DOC), "exec"), {})
    assert capsys.readouterr().out.splitlines() == [
        "table1 tiny gwap synthetic_cls_map 33.1 32.95 -0.15 outside tolerance",
        "FAILED: 0 of 1 rows hold",
    ]


def test_sample_rows_are_the_golden_files_first_rows():
    block = re.search(r"<!-- golden:table1 -->\n```\n(.*?)```", DOC.read_text(), flags=re.S)
    assert block, "docs/ci.md lost its golden sample block"
    golden = (REPO / "tests" / "golden" / "table1.csv").read_text().splitlines()
    assert block.group(1).splitlines() == golden[:3]


def _workflow_commands() -> list[list[str]]:
    """The `gwapbench ...` command lines of the workflow's `run:` steps, as argument lists."""
    (workflow,) = code_blocks("yaml")
    commands = []
    for match in re.finditer(r"run: (>-\n(?:\s{10,}.*\n)+|gwapbench .*\n)", workflow):
        text = " ".join(match.group(1).removeprefix(">-").split())
        if text.startswith("gwapbench "):
            commands.append(shlex.split(text)[1:])
    return commands


def test_the_documented_ci_commands_pass_on_the_golden_tables(golden_store, tmp_path, monkeypatch):
    """The workflow's table command is the golden Table I command (so the golden store's table1.csv is what
    it produces), and its check command, run as written, passes against the golden file and its tolerances."""
    from tests.golden.golden import golden_table

    table_command, check = _workflow_commands()
    golden = golden_table("table1").table_args(tmp_path / "runs", tmp_path / "out")
    documented = cli.get_command(None, "table1").make_context("table1", table_command[1:]).params
    expected = cli.get_command(None, "table1").make_context("table1", golden[1:]).params
    assert {k: v for k, v in documented.items() if k not in ("runs_dir", "out")} == \
        {k: v for k, v in expected.items() if k not in ("runs_dir", "out")}
    (tmp_path / "out").mkdir()
    shutil.copy(golden_store / "out" / "table1.csv", tmp_path / "out" / "table1.csv")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "golden").symlink_to(REPO / "tests" / "golden")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, check)
    assert result.exit_code == 0, result.output
    assert "table1.tolerances.csv" in result.output and "PASSED" in result.output
    assert (tmp_path / "out" / "check.md").is_file() and (tmp_path / "out" / "check.xml").is_file()
