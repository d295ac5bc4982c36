"""The import rule of docs/architecture.md, checked on the imports of every module (function bodies included)."""

from __future__ import annotations

import ast
import re
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
    "gwapbench.locks": 0,
    "gwapbench.lazy": 0,  # package names imported on first use  # lock files that hold across the nodes of a shared filesystem
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
# Pairs the layers would allow but the rule refuses: the CLI reaches the engine only through tables and figures.
FORBIDDEN = {("gwapbench.cli", "gwapbench.engine")}
MAX_COMMAND_LINES = 30  # a command function, without its docstring (help text): parse, call, print


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
    if (source, target) in FORBIDDEN:
        return False
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
               ("gwapbench.data", "gwapbench.config"), ("gwapbench.cli", "gwapbench.engine")]
    allowed = [("gwapbench.cli", "gwapbench.tables"), ("gwapbench.engine", "reference_models"),
               ("gwapbench.outdir", "gwapbench.atomic"), ("gwapbench.engine", "gwapbench.config"),
               ("gwapbench.data", "gwapbench.errors")]
    assert [_allowed(s, t) for s, t in refused] == [False] * len(refused)
    assert [_allowed(s, t) for s, t in allowed] == [True] * len(allowed)


def _engine_imports(path: Path) -> list[str]:
    return sorted(t for t in _imports(path) if t == "gwapbench.engine" or t.startswith("gwapbench.engine."))


def test_the_cli_imports_nothing_from_the_engine():
    """cli -> tables / figures -> engine: every import of every CLI module (function bodies included)."""
    offenders = [f"{_module_name(path)} imports {target}" for path in sorted((REPO / "gwapbench" / "cli").rglob("*.py"))
                 for target in _engine_imports(path)]
    assert offenders == []


def _command_lengths(source: str) -> dict[str, int]:
    """{name: lines} of every click command or group function in `source` (decorated with `.command(`,
    `.group(`, `click.command` or `click.group`), from its `def` to its last line, without its docstring."""
    lengths = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef):
            continue
        decorators = [ast.unparse(d) for d in node.decorator_list]
        if not any(".command(" in d or ".group(" in d for d in decorators):
            continue
        first = node.body[0]
        docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
            first.value.value, str)
        help_lines = first.end_lineno - first.lineno + 1 if docstring else 0
        lengths[node.name] = node.end_lineno - node.lineno + 1 - help_lines
    return lengths


def test_no_command_function_is_over_30_lines():
    """The CLI only parses, calls the library and prints: a longer command holds library work."""
    long = [f"{path.name}:{name} has {lines} lines" for path in sorted((REPO / "gwapbench" / "cli").rglob("*.py"))
            for name, lines in _command_lengths(path.read_text()).items() if lines > MAX_COMMAND_LINES]
    assert long == []


def test_the_command_length_counter_on_a_hand_made_command():
    body = "\n".join(f"    x{i} = {i}" for i in range(31))
    source = f'@click.command("a")\n@click.option("--b")\ndef a(b):\n    """Help.\n\n    More help."""\n{body}\n'
    assert _command_lengths(source) == {"a": 32}  # the def line and 31 statements, not the 3 docstring lines
    assert _command_lengths("def helper():\n    return 1\n") == {}
    assert _engine_imports(Path(__file__)) == []


ARCHITECTURE_PAGE = REPO / "docs" / "architecture.md"
MODULE_PATH = re.compile(r"\b((?:gwapbench|reference_models)/[\w/]*\.py)\b")


def test_the_architecture_page_names_every_module_and_no_missing_one():
    """docs/architecture.md's module list is the code's: every .py under gwapbench/ and reference_models/ is named
    by its path, and every path it names exists."""
    named = set(MODULE_PATH.findall(ARCHITECTURE_PAGE.read_text()))
    modules = {path.relative_to(REPO).as_posix() for package in ("gwapbench", "reference_models")
               for path in (REPO / package).rglob("*.py")}
    assert sorted(modules - named) == [], "modules the page does not name"
    assert sorted(named - modules) == [], "paths the page names that are no module"


# The CLI modules of the researcher's workflow reach the library only through gwapbench.report.
REPORT_CLI = ("gwapbench/cli/runs.py", "gwapbench/cli/report.py", "gwapbench/cli/paper.py")


def test_workflow_commands_import_only_the_report_package():
    found = {path: sorted(name for name in _imports(REPO / path) if not name.startswith("gwapbench.report"))
             for path in REPORT_CLI if (REPO / path).is_file()}
    assert found and all(names == [] for names in found.values()), found
