"""The Python examples of docs/metrics-in-your-code.md run as written (so the docs cannot drift)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "metrics-in-your-code.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)


def test_the_page_has_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(index, capsys):
    exec(compile(BLOCKS[index], f"{PAGE.name} example {index + 1}", "exec"), {})
    assert capsys.readouterr().out  # every example prints what it computed
