"""table1 / table2 / figures fig7 end to end on a small synthetic set: files, columns, run reuse, bad input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from skimage.filters import threshold_otsu

from gwapbench.cli import cli
from gwapbench.data.voc import read_voc
from gwapbench.figures.render import draw
from gwapbench.figures.voc import otsu_panel
from gwapbench.tables.table import COLUMNS
from gwapbench.tables.voc import TABLE1_METHODS
from tests.engine.conftest import table_args
from tests.engine.figure_checks import (
    captured_layouts,
    colorbar_kinds,
    colorbar_range,
    drawn_rectangles,
    heat_images,
    png_size,
    resized,
    unit,
)
from tests.oracle import runs as oracle


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def produced(small_voc, tmp_path_factory):
    """table1 then table2 then fig7 on the same runs; returns (folder, outputs of each invocation)."""
    base = tmp_path_factory.mktemp("tables")
    runner = CliRunner()
    outputs = {}
    for command in ("table1", "table2", "table1-again"):
        args = table_args(command.split("-")[0], small_voc, base / "runs", base / "out")
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        outputs[command] = result.output
    args = table_args("fig7", small_voc, base / "runs", base / "out", "--images", "3")
    with captured_layouts() as layouts:
        result = runner.invoke(cli, ["figures", *args])
    assert result.exit_code == 0, result.output
    outputs["fig7"] = result.output
    outputs["fig7_layout"] = layouts[0]
    return base, outputs


def test_table1_csv_columns_rows_and_per_class(produced):
    base, outputs = produced
    rows = _rows(base / "out" / "table1.csv")
    assert tuple(rows[0]) == COLUMNS
    assert [r["method"] for r in rows] == list(TABLE1_METHODS)
    per_class = _rows(base / "out" / "table1_per_class.csv")
    assert len(per_class) == len(TABLE1_METHODS) * 10
    for row in rows:
        assert row["paper"] == row["delta"] == ""  # the paper has no tiny net and no synthetic data
        metrics = json.loads((base / "runs" / row["run_id"] / "metrics.json").read_text())
        assert float(row["reproduced"]) == metrics["cls_map"]
        expected, expected_per_class = oracle.table1(base / "runs", row["run_id"])  # the devkit's VOCevalcls loop
        assert float(row["reproduced"]) == pytest.approx(expected, rel=oracle.REL), row["method"]
        printed = {r["class"]: float(r["reproduced"]) for r in per_class if r["run_id"] == row["run_id"]}
        assert printed == pytest.approx(expected_per_class, rel=oracle.REL, nan_ok=True), row["method"]
    assert "| gap |" in outputs["table1"]


def test_table2_reuses_table1_runs_and_adds_the_centre_prior(produced):
    base, outputs = produced
    rows = _rows(base / "out" / "table2.csv")
    assert [r["method"] for r in rows] == [*TABLE1_METHODS, "centre_prior"]
    assert rows[-1]["run_id"] == ""
    table1_ids = [r["run_id"] for r in _rows(base / "out" / "table1.csv")]
    assert [r["run_id"] for r in rows[:-1]] == table1_ids
    assert "finished in" in outputs["table1"]
    assert "finished in" not in outputs["table2"]  # nothing trained again
    assert "finished in" not in outputs["table1-again"]
    assert "a fraction in [0, 1] as in the paper" in outputs["table2"]  # the header says the unit (not percent)
    assert all(0 <= float(row["reproduced"]) <= 1 for row in rows)
    for row in rows:  # Otsu F over the union of boxes (tests/oracle), the centre prior from its definition
        runs = base / "runs"
        expected = (oracle.centre_prior(runs, rows[0]["run_id"]) if row["method"] == "centre_prior"
                    else oracle.table2(runs, row["run_id"]))
        assert float(row["reproduced"]) == pytest.approx(expected, rel=oracle.REL), row["method"]


def test_a_finished_table_re_renders_without_torch(produced, small_voc, tmp_path):
    """All runs finished: the rows come from metrics.json alone, in a process that never imports torch."""
    base, _ = produced
    args = table_args("table1", small_voc, base / "runs", tmp_path / "out")
    code = ("import sys\nfrom gwapbench.cli import cli\n"
            f"try:\n    cli({args!r})\nexcept SystemExit as done:\n    assert done.code == 0, done.code\n"
            "print('torch imported' if 'torch' in sys.modules else 'no torch')\n")
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=repo, check=True)
    assert done.stdout.strip().splitlines()[-1] == "no torch"
    assert "finished in" not in done.stdout
    assert _rows(tmp_path / "out" / "table1.csv") == _rows(base / "out" / "table1.csv")


def _literal_fmeasure(image_map: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, float]:
    """(Otsu mask, F with beta^2 = 0.3) as the paper words Table II: skimage's Otsu threshold of the min-max
    normalized map, foreground above it, against the union of the VOC boxes (1-based inclusive corners)."""
    normalized = unit(image_map)
    mask = normalized > threshold_otsu(normalized) if normalized.max() > 0 else np.zeros(normalized.shape, bool)
    truth = np.zeros(image_map.shape, dtype=bool)
    for x1, y1, x2, y2 in boxes.astype(int):
        truth[y1 - 1:y2, x1 - 1:x2] = True
    hits = np.count_nonzero(mask & truth)
    precision = hits / mask.sum() if mask.any() else 0.0
    recall = hits / truth.sum()
    return mask, 1.3 * precision * recall / (0.3 * precision + recall) if hits else 0.0


def test_fig7_draws_the_otsu_mask_and_f_that_table2_scores(produced, small_voc):
    """Per panel: the map drawn is the run's stored map (alpha, or the predicted-class CAM) resized to the
    image and min-max normalized, the outline is skimage's Otsu mask of it, the note its literal F."""
    base, outputs = produced
    layout = outputs["fig7_layout"]
    rows = _rows(base / "out" / "table2.csv")[:-1]  # the runs (not the centre prior)
    assert layout.columns == ("image", *(r["method"] for r in rows)) and layout.title.startswith("Fig. 7:")
    test = read_voc(small_voc, "test").samples
    for i, ((image_path, panels), sample) in enumerate(zip(layout.rows, test[:3], strict=True)):
        assert image_path == sample.image_path
        for row, panel in zip(rows, panels[1:], strict=True):
            with np.load(base / "runs" / row["run_id"] / "predictions.npz") as stored:
                names = list(stored["map_names"])
                stored_map = stored["maps"][i, names.index("alpha" if "alpha" in names else "predicted")]
            image_map = resized(stored_map, sample.height, sample.width)
            mask, f = _literal_fmeasure(image_map, sample.boxes)
            np.testing.assert_array_equal(panel.mask, mask)
            np.testing.assert_allclose(panel.heat, unit(image_map), atol=1e-6)
            assert panel.score == pytest.approx(f, abs=1e-12) and panel.note.startswith(f"F {f:.2f}, ")
            assert panel.kind == ("alpha" if row["method"] != "gap" else "cam")


def test_fig7_mean_f_over_the_test_set_is_table2(produced, small_voc):
    """The F that fig7 draws for a map, averaged over every test image, is the Table II number of its run."""
    base, _ = produced
    test = read_voc(small_voc, "test").samples
    for row in _rows(base / "out" / "table2.csv")[:-1]:
        with np.load(base / "runs" / row["run_id"] / "predictions.npz") as stored:
            names = list(stored["map_names"])
            maps = stored["maps"][:, names.index("alpha" if "alpha" in names else "predicted")]
        drawn = [otsu_panel(maps[i], s, "alpha").score for i, s in enumerate(test)]
        literal = [_literal_fmeasure(resized(maps[i], s.height, s.width), s.boxes)[1] for i, s in enumerate(test)]
        np.testing.assert_allclose(drawn, literal, rtol=0, atol=1e-12)
        assert np.mean(drawn) == pytest.approx(float(row["reproduced"]), abs=1e-12)


def test_fig7_png_is_wide_titled_and_uses_one_colour_range_per_map_kind(produced):
    base, outputs = produced
    assert png_size(base / "out" / "fig7.png")[0] >= 1200
    layout = outputs["fig7_layout"]
    figure = draw(layout)
    assert layout.title in [text.get_text() for text in figure.texts]
    assert colorbar_kinds(figure) == ["alpha", "cam"]
    assert {colorbar_range(figure, kind) for kind in ("alpha", "cam")} == {(0.0, 1.0)}
    panel_axes = [ax for ax in figure.axes if not (ax.get_gid() or "").startswith("colorbar:")]
    heats = [image for ax in panel_axes for image in heat_images(ax)]
    assert len(heats) == 3 * (len(layout.columns) - 1)  # every map panel, none on the photo column
    assert {image.get_clim() for image in heats} == {(0.0, 1.0)}  # not each panel's own range
    shown = [panel.heat for _, panels in layout.rows for panel in panels[1:]]
    for image, heat in zip(heats, shown, strict=True):  # the min-max normalized maps, not the raw ones
        np.testing.assert_array_equal(image.get_array(), heat)
    for ax, (_, panels) in zip(np.reshape(panel_axes, (3, -1))[:, 0], layout.rows):
        expected = [tuple(map(float, b.corners)) for b in panels[0].boxes]
        assert drawn_rectangles(ax, "gt", first_pixel=1) == expected and expected


def test_missing_dataset_says_where_it_looked(tmp_path):
    result = CliRunner().invoke(cli, ["table1", "--net", "tiny", "--data", "voc07", "--voc-root",
                                      str(tmp_path / "nowhere"), "--runs-dir", str(tmp_path / "runs"),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "nowhere" in lines[0] and "--data synthetic" in lines[0]
    assert not (tmp_path / "out").exists()  # created after the --out check, removed when the command failed


def test_a_failed_table_command_keeps_an_existing_out_folder(tmp_path):
    empty, user = tmp_path / "empty", tmp_path / "user"
    empty.mkdir()
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    for out in (empty, user, tmp_path / "new" / "nested"):
        result = CliRunner().invoke(cli, ["table1", "--net", "tiny", "--data", "voc", "--voc-root",
                                          str(tmp_path / "nowhere"), "--runs-dir", str(tmp_path / "runs"),
                                          "--out", str(out)])
        assert result.exit_code == 2, result.output
    assert empty.is_dir() and (user / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in user.iterdir()) == ["notes.txt"]  # a user's folder gets no marker
    assert not (tmp_path / "new").exists()


def test_bad_arguments_exit_2_before_anything_is_written(small_voc, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cases = {
        "--out": table_args("table1", small_voc, tmp_path / "runs", blocker / "sub"),
        "--methods": table_args("table1", small_voc, tmp_path / "runs", tmp_path / "out", "--methods", "gap,nope"),
        "--override": table_args("table1", small_voc, tmp_path / "runs", tmp_path / "out", "--override", "lr"),
        "schedule field": table_args("table1", small_voc, tmp_path / "runs", tmp_path / "out",
                                     "--override", "warmup=3"),
    }
    for name, args in cases.items():
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, (name, result.output)
        assert len(result.output.strip().splitlines()) == 1, (name, result.output)
        assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").glob("tiny-*")), name
    result = CliRunner().invoke(cli, ["table1", "--net", "resnet18", "--data", "synthetic"])
    assert result.exit_code == 2 and "resnet18" in result.output


def test_missing_imagenet_weights_fail_in_one_line_before_training(small_voc, tmp_path, monkeypatch):
    import torch

    def no_network(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    args = table_args("table1", small_voc, tmp_path / "runs", tmp_path / "out")
    args[args.index("tiny")] = "caffenet"
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert "alexnet-owt-7be5be79.pth" in line and str(tmp_path / "hub") in line
    assert not list((tmp_path / "runs").glob("*/checkpoint.pt"))


def _one_line_exit_2(result, *fragments: str) -> str:
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and all(f in lines[0] for f in fragments), result.stderr
    return lines[0]


SYNTHETIC = {"table1": ["table1", "--net", "tiny", "--data", "synthetic"],
             "table3": ["table3", "--net", "tiny", "--data", "synthetic"],
             "table5": ["table5", "--net", "tiny", "--data", "synthetic"]}


@pytest.mark.parametrize("override, key", [
    ("iterations=1.5", "iterations"), ("iterations=1e3", "iterations"), ("checkpoint_every=0", "checkpoint_every"),
    ("lr=nan", "lr"), ("lr=-1", "lr"), ("lr=inf", "lr"), ("flip_probability=5", "flip_probability"),
    ("image_size=8", "image_size"), ("momentum=1", "momentum"), ("batch_size=0", "batch_size")])
@pytest.mark.parametrize("command", sorted(SYNTHETIC))
def test_overrides_are_checked_before_any_data_or_run_folder(tmp_path, command, override, key):
    runs = tmp_path / "runs"
    result = CliRunner().invoke(cli, [*SYNTHETIC[command], "--override", override, "--runs-dir", str(runs),
                                      "--out", str(tmp_path / "out"), "--device", "cpu"])
    _one_line_exit_2(result, "--override", key)
    assert not runs.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
@pytest.mark.parametrize("command", sorted(SYNTHETIC))
def test_one_seed_rule_for_every_table(tmp_path, command, seed):
    runs = tmp_path / "runs"
    result = CliRunner().invoke(cli, [*SYNTHETIC[command], "--seed", seed, "--runs-dir", str(runs),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "--seed" in result.output, result.output
    assert not runs.exists()


@pytest.mark.parametrize("command, methods", [("table1", "gap,gap"), ("table3", "gap,gwap,gap"),
                                              ("table5", "rfcn,rfcn")])
def test_a_method_given_twice_is_refused(tmp_path, command, methods):
    runs = tmp_path / "runs"
    result = CliRunner().invoke(cli, [*SYNTHETIC[command], "--methods", methods, "--runs-dir", str(runs),
                                      "--out", str(tmp_path / "out")])
    _one_line_exit_2(result, "--methods", "twice")
    assert not runs.exists()


@pytest.mark.parametrize("command", sorted(SYNTHETIC))
def test_unusable_runs_dir_is_one_line_with_synthetic_data(tmp_path, command, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    for runs in (blocker, blocker / "sub"):
        result = CliRunner().invoke(cli, [*SYNTHETIC[command], "--runs-dir", str(runs), "--out", str(tmp_path / "o")])
        _one_line_exit_2(result, "--runs-dir", str(blocker))
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if os.geteuid() == 0:  # root writes into read-only folders: refuse the write probe as the mount would
        import tempfile

        real = tempfile.mkstemp

        def refuse(*args, dir=None, **kwargs):
            if dir is not None and Path(dir) == locked:
                raise PermissionError(13, "Permission denied")
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    result = CliRunner().invoke(cli, [*SYNTHETIC[command], "--runs-dir", str(locked / "runs"),
                                      "--out", str(tmp_path / "o")])
    _one_line_exit_2(result, "--runs-dir", str(locked), "not writable")
    assert not (locked / "runs").exists()


def test_every_schedule_field_has_a_rule_that_the_named_schedules_keep():
    from gwapbench.engine.detection_schedules import DETECTION_SCHEDULES
    from gwapbench.engine.schedules import FIELD_RULES, OVERRIDABLE, SCHEDULES, check_overrides

    assert set(FIELD_RULES) == set(OVERRIDABLE)
    for schedule in [*SCHEDULES.values(), *(d.schedule for d in DETECTION_SCHEDULES.values())]:
        check_overrides(tuple((name, getattr(schedule, name)) for name in OVERRIDABLE))
