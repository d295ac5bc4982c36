"""docs/ci.md stays true: its `gwapbench check` command lines parse, its Python example runs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from gwapbench.cli.check import check_command

DOC = Path(__file__).resolve().parents[1] / "docs" / "ci.md"


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
