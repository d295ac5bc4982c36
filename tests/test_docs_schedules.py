"""The schedule tables in the docs state what the code runs: every figure of docs/engine.md's, docs/table5.md's
and docs/ilsvrc.md's schedules is read from the page and compared with the Schedule objects."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gwapbench.engine.detection_schedules import DETECTION_SCHEDULES, IMAGE_LEVEL_PER_BOX_IMAGE
from gwapbench.engine.schedules import SCHEDULES

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _number(text: str) -> float:
    """The first number of a cell: "/10 every 20,000" -> 20000, "160 (267)" -> 160, "5e-4" -> 0.0005."""
    match = re.search(r"\d[\d,]*(?:\.\d+)?(?:e-?\d+)?", text)
    assert match, text
    return float(match.group().replace(",", ""))


def _step(decay: str) -> float:
    """The iteration of the lr step in a decay cell: "/10 every 20,000" or "x0.1 at 300" -> the number after
    "every" or "at"."""
    return _number(re.split(r"\b(?:every|at)\b", decay, maxsplit=1)[1])


def _rows(page: str) -> dict[str, list[str]]:
    """{schedule name: its cells} of the rows of a Markdown table whose first cell is a `name`."""
    rows = {}
    for line in (DOCS / page).read_text().splitlines():
        match = re.match(r"\| `(\w+)` \|(.*)\|\s*$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


@pytest.mark.parametrize("name", ["paper", "quick", "ci"])
def test_engine_page_states_the_classification_schedules(name):
    size, batch, lr, decay, iterations = _rows("engine.md")[name][:5]
    schedule = SCHEDULES[name]
    assert size == f"{schedule.image_size}x{schedule.image_size}"
    assert (_number(batch), _number(lr), _step(decay), _number(iterations)) == (
        schedule.batch_size, schedule.lr, schedule.lr_step, schedule.iterations)


@pytest.mark.parametrize("name", ["quick", "ci"])  # `paper` scales its counts with the data (stated in words)
def test_table5_page_states_the_detection_schedules(name):
    side, batch, lr, decay, iterations = _rows("table5.md")[name][:5]
    schedule = DETECTION_SCHEDULES[name].schedule
    assert (_number(side), _number(batch), _number(lr), _step(decay), _number(iterations)) == (
        schedule.image_size, schedule.batch_size, schedule.lr, schedule.lr_step, schedule.iterations)


def test_table5_page_states_the_image_level_ratio_and_k_of_each_schedule():
    text = " ".join((DOCS / "table5.md").read_text().split())
    match = re.search(r"The ratio, \*\*(\d+) image-level images? per box image\*\* \(k = (\d+) under `quick`/`ci`, "
                      r"(\d+) under `paper`", text)
    assert match, "docs/table5.md no longer states the image-level ratio in the expected sentence"
    ratio, k_cpu, k_paper = map(int, match.groups())
    assert ratio == IMAGE_LEVEL_PER_BOX_IMAGE
    for name, k in (("quick", k_cpu), ("ci", k_cpu), ("paper", k_paper)):
        assert k == IMAGE_LEVEL_PER_BOX_IMAGE * DETECTION_SCHEDULES[name].schedule.batch_size, name


def test_ilsvrc_page_states_the_ilsvrc_paper_schedule():
    text = " ".join((DOCS / "ilsvrc.md").read_text().split())
    match = re.search(r"`ilsvrc_paper`: (\d+) x \d+ inputs, mini-batch (\d+), SGD lr ([\d.]+) divided by 10 every "
                      r"([\d,]+) iterations, ([\d,]+) iterations", text)
    assert match, "docs/ilsvrc.md no longer states the ilsvrc_paper schedule in the expected sentence"
    schedule = SCHEDULES["ilsvrc_paper"]
    assert [_number(g) for g in match.groups()] == [schedule.image_size, schedule.batch_size, schedule.lr,
                                                    schedule.lr_step, schedule.iterations]
