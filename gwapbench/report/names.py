"""Names the CLI offers as choices, importable without numpy or pandas (so that `gwapbench --help` stays light)."""

from __future__ import annotations

RUN_STATUSES = ("created", "training", "predicted", "evaluated")  # a run's state, from its files
STATUS_FILTERS = (*RUN_STATUSES, "unfinished", "running")
PAPER_TABLES = ("table1", "table2", "table3", "table4", "table5")
