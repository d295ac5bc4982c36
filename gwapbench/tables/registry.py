"""Every table spec by name (the CLI looks them up here)."""

from __future__ import annotations

from gwapbench.tables.ilsvrc import TABLE3, TABLE4
from gwapbench.tables.spec import TableSpec
from gwapbench.tables.table1 import TABLE1
from gwapbench.tables.table2 import TABLE2

SPECS: dict[str, TableSpec] = {spec.name: spec for spec in (TABLE1, TABLE2, TABLE3, TABLE4)}
