"""The import rule of docs/architecture.md, checked on the imports of every module (function bodies included)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Layer of each part: a module may import its own part and any part of a lower layer; the parts of the
# shared base (layer 0) may also import each other.
# cli -> tables / figures -> engine -> {reference_models, data, metrics} -> the shared base.
LAYERS = {
    "gwapbench": 0,  # the package root (__version__)
    "gwapbench.errors": 0,
    "gwapbench.atomic": 0,
    "gwapbench.outdir": 0,
    "gwapbench.npz": 0,  # .npz archives read with a reason when they cannot be
    "gwapbench.compiled": 0,  # numba set-up (cache folder), shared by compiled kernels
    "reference_models": 1,
    "gwapbench.data": 1,
    "gwapbench.metrics": 1,
    "gwapbench.engine": 2,
    "gwapbench.tables": 3,
    "gwapbench.figures": 3,
    "gwapbench.regression": 3.5,  # compares produced tables with references and the paper numbers
    "gwapbench.regression_report": 3.6,  # renders what regression found
    "gwapbench.report": 3.7,  # run catalog, report page, paper printing: over tables, figures and regression
    "gwapbench.cli": 4,
    "gwapbench.__main__": 5,
}
OTHER_GWAPBENCH_MODULE = 1.5  # e.g. a config or regression module: above the libraries, below the engine


def _part(module: str) -> str:
    """The LAYERS key a dotted module name belongs to (its longest listed prefix)."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in LAYERS:
            candidate = ".".join(parts[:end])
            if candidate != "gwapbench" or len(parts) == 1:
                return candidate
    return ".".join(parts[:2])


def _layer(part: str) -> float:
    return LAYERS.get(part, OTHER_GWAPBENCH_MODULE)


def _allowed(source: str, target: str) -> bool:
    """May part `source` import part `target`?"""
    return target == source or _layer(target) < _layer(source) or _layer(target) == _layer(source) == 0


def _module_name(path: Path) -> str:
    relative = path.relative_to(REPO).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _module_name(path).split(".")
                package = package[: len(package) - node.level + (path.name == "__init__.py")]
                found.add(".".join(package + ([node.module] if node.module else [])))
            elif node.module:
                found.add(node.module)
    return {name for name in found if name.split(".")[0] in ("gwapbench", "reference_models")}


def test_imports_point_one_way():
    violations = []
    for package in ("gwapbench", "reference_models"):
        for path in sorted((REPO / package).rglob("*.py")):
            source = _part(_module_name(path))
            for target in sorted(_imports(path)):
                target_part = _part(target)
                if not _allowed(source, target_part):
                    violations.append(f"{_module_name(path)} imports {target}")
    assert violations == []


def test_the_rule_catches_upward_and_sideways_imports():
    """The checker itself, on hand-made cases."""
    assert _part("gwapbench.data.voc") == "gwapbench.data" and _part("gwapbench") == "gwapbench"
    assert _part("reference_models.pooling") == "reference_models"
    refused = [("gwapbench.metrics", "gwapbench.data"), ("reference_models", "gwapbench.data"),
               ("gwapbench.engine", "gwapbench.cli"), ("gwapbench.outdir", "gwapbench.data"),
               ("gwapbench.data", "gwapbench.config")]
    allowed = [("gwapbench.cli", "gwapbench.engine"), ("gwapbench.engine", "reference_models"),
               ("gwapbench.outdir", "gwapbench.atomic"), ("gwapbench.engine", "gwapbench.config"),
               ("gwapbench.data", "gwapbench.errors")]
    assert [_allowed(s, t) for s, t in refused] == [False] * len(refused)
    assert [_allowed(s, t) for s, t in allowed] == [True] * len(allowed)


# The CLI modules of the researcher's workflow reach the library only through gwapbench.report.
REPORT_CLI = ("gwapbench/cli/runs.py", "gwapbench/cli/report.py", "gwapbench/cli/paper.py")


def test_workflow_commands_import_only_the_report_package():
    found = {path: sorted(name for name in _imports(REPO / path) if not name.startswith("gwapbench.report"))
             for path in REPORT_CLI if (REPO / path).is_file()}
    assert found and all(names == [] for names in found.values()), found
