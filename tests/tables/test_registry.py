"""The table registry, the Table interface's headline lines, and the task registry behind the one runner."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gwapbench.engine.inputs import PlannedRun
from gwapbench.tables.registry import TABLE_NAMES, choices, table
from gwapbench.tables.table import Table, TableOptions

REPO = Path(__file__).resolve().parents[2]


def test_every_paper_table_is_registered_under_its_own_name():
    assert TABLE_NAMES == ("table1", "table2", "table3", "table4", "table5")
    for name in TABLE_NAMES:
        registered = table(name)
        assert isinstance(registered, Table) and registered.name == name
        assert registered.output_files()[:2] == [f"{name}.csv", f"{name}.md"]
    assert table("table1").output_files()[2] == "table1_per_class.csv" and len(table("table2").output_files()) == 2


def test_option_choices_come_from_the_registries_that_define_them():
    from gwapbench.config import CAM_MAP_NAMES
    from gwapbench.engine.detection_schedules import DETECTION_SCHEDULES
    from gwapbench.engine.schedules import SCHEDULES
    from reference_models.backbones import _BUILDERS

    assert choices("nets:table1") == choices("nets:table3") == tuple(_BUILDERS)
    assert choices("cam_maps") == CAM_MAP_NAMES
    assert set(choices("schedules:table1")) <= set(SCHEDULES)
    assert choices("schedules:table5") == tuple(DETECTION_SCHEDULES)
    assert table("table3").schedule_aliases["paper"] in SCHEDULES
    assert choices("weight_map_methods") == ("rfcn_gwap", "rfcn_gwap_gap")  # the methods that store alpha_c


@pytest.mark.parametrize("name, metric, words", [("table3", "top1_cls_error", "classification"),
                                                 ("table4", "top1_loc_error", "localization")])
def test_the_ilsvrc_tables_print_their_own_headline(name, metric, words):
    """Table III's finished run prints its top-1 classification error, Table IV's its top-1 localization error
    (both read top1_cls_error before)."""
    from gwapbench.config import DataConfig, RunConfig

    config = RunConfig(DataConfig("synthetic_ilsvrc", "r", ("a", "b")), "tiny", "gwap", "ci")
    metrics = {"seconds": 1.0, "top1_cls_error": 11.0, "top1_loc_error": 22.0}
    line = table(name).describe(PlannedRun(config, None, "", None, "gwap"), metrics, None)
    assert line == f"tiny gwap finished in 1.0 s, top-1 {words} error {metrics[metric]:.4g} %"


def test_a_method_not_in_the_table_is_refused_before_any_data_is_read(tmp_path):
    from gwapbench.errors import InputError
    from gwapbench.tables.table import produce

    options = TableOptions(net="tiny", data=None, runs_dir=tmp_path, schedule="ci", methods=("gap", "rfcn"))
    with pytest.raises(InputError, match="--methods: rfcn not in table1"):
        produce(table("table1"), options)


def test_the_runner_has_no_branch_on_a_task_name():
    """The task names occur in engine/runner.py only as the registry's keys (TASK_MODULES)."""
    tree = ast.parse((REPO / "gwapbench" / "engine" / "runner.py").read_text())
    names = {"VOC_TASK", "ILSVRC_TASK", "DETECTION_TASK"}
    registry = next(node for node in tree.body if isinstance(node, ast.Assign)
                    and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["TASK_MODULES"])
    inside = {id(n) for n in ast.walk(registry)}
    outside = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in names and id(n) not in inside]
    assert outside == []
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in
               ("voc_classification", "ilsvrc_classification", "voc_detection")]
    assert strings == []


@pytest.mark.parametrize("task", ["voc_classification", "ilsvrc_classification", "voc_detection"])
def test_a_missing_weights_file_is_reported_without_building_a_model(monkeypatch, tmp_path, task):
    from gwapbench.config import DataConfig, RunConfig
    from gwapbench.engine import runner
    from reference_models import backbones
    from reference_models.errors import WeightsNotFoundError

    def no_model(*args, **kwargs):
        raise AssertionError("check_weights built a model")

    missing = str(tmp_path / "missing.pt")
    config = RunConfig(DataConfig("synthetic", "r", ("a",)), "tiny", "gwap" if task != "voc_detection" else "rfcn",
                       "ci", weights=missing, task=task)
    registered = runner.task_of(config)  # imported before the patch: modules that bind build_backbone keep theirs
    monkeypatch.setattr(backbones, "build_backbone", no_model)
    with pytest.raises(WeightsNotFoundError, match="missing.pt"):
        registered.check_weights(config)
    registered.check_weights(RunConfig(config.data, "tiny", config.method, "ci", weights="none", task=task))

