"""Every paper table by name: the only way in for the CLI, the golden tests and `check`.

Tables are imported on first use (`table`): the ILSVRC and detection tables pull in torchvision's model
and detection modules, which take seconds to import, and `gwapbench --help` imports none of them.
`choices` gives the names a command-line option may take, from the registries that define them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gwapbench.tables.table import Table

TABLE_LOCATIONS = {
    "table1": ("gwapbench.tables.voc", "TABLE1"),
    "table2": ("gwapbench.tables.voc", "TABLE2"),
    "table3": ("gwapbench.tables.ilsvrc", "TABLE3"),
    "table4": ("gwapbench.tables.ilsvrc", "TABLE4"),
    "table5": ("gwapbench.tables.table5", "TABLE5"),
}
TABLE_NAMES = tuple(TABLE_LOCATIONS)


def table(name: str) -> Table:
    """The registered table `name` (one of TABLE_NAMES)."""
    module, attribute = TABLE_LOCATIONS[name]
    return getattr(import_module(module), attribute)


# Option values by kind: (module, attribute) of the registry that defines them.
CHOICE_LOCATIONS = {
    "cam_maps": ("gwapbench.config", "CAM_MAP_NAMES"),
    "box_methods": ("gwapbench.metrics.box_methods", "BOX_METHODS"),
    "box_conventions": ("gwapbench.metrics.box_methods", "BOX_CONVENTIONS"),
    "normalizations": ("gwapbench.metrics.heatmaps", "NORMALIZATIONS"),
    "voc_data": ("gwapbench.engine.sources", "DATA_KINDS"),
    "ilsvrc_data": ("gwapbench.engine.ilsvrc_sources", "ILSVRC_DATA"),
    "detection_data": ("gwapbench.engine.detection_sources", "DETECTION_DATA"),
    "on_bad_file": ("gwapbench.data.bad_files", "ON_BAD_FILE_CHOICES"),
    "precisions": ("gwapbench.engine.precision", "CHOICES"),
    "on_missing": ("gwapbench.evaluation.evaluate", "ON_MISSING_CHOICES"),
    "weight_map_methods": ("gwapbench.tables.table5", "WEIGHT_MAP_METHODS"),
}


def choices(kind: str) -> tuple[str, ...]:
    """The values one kind of option may take, from the registry that defines them: a key of
    CHOICE_LOCATIONS, "nets:<table>" or "schedules:<table>" (the table's backbones and schedule names)."""
    if ":" in kind:
        what, name = kind.split(":", 1)
        return tuple(getattr(table(name), what))
    module, attribute = CHOICE_LOCATIONS[kind]
    return tuple(getattr(import_module(module), attribute))
