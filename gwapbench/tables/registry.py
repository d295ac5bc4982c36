"""Every table spec by name (the CLI looks them up here).

Specs are imported on first use: the ILSVRC and detection specs pull in torchvision's model and
detection modules, which take seconds to import, and a finished Table I should re-render without them.
"""

from __future__ import annotations

from importlib import import_module

from gwapbench.tables.spec import TableSpec

SPEC_LOCATIONS = {
    "table1": ("gwapbench.tables.table1", "TABLE1"),
    "table2": ("gwapbench.tables.table2", "TABLE2"),
    "table3": ("gwapbench.tables.ilsvrc", "TABLE3"),
    "table4": ("gwapbench.tables.ilsvrc", "TABLE4"),
}


def table_spec(name: str) -> TableSpec:
    """The spec of table `name` (a key of SPEC_LOCATIONS)."""
    module, attribute = SPEC_LOCATIONS[name]
    return getattr(import_module(module), attribute)
