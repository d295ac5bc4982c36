"""ILSVRC sources: the training listing against the generator's own records, the synthetic cache, run ids
unchanged by the RunConfig.model field when it is empty, and bad roots."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from gwapbench.config import DataConfig, RunConfig, run_id
from gwapbench.data.synthetic import make_synthetic_ilsvrc
from gwapbench.engine.ilsvrc_sources import read_ilsvrc_train, read_ilsvrc_val, resolve_ilsvrc_data
from gwapbench.errors import InputError


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("ilsvrc") / "data"
    return root, make_synthetic_ilsvrc(root, train_per_class=2, val_per_class=1, size=48)


def test_train_listing_matches_the_generator(generated):
    root, truth = generated
    data = resolve_ilsvrc_data("ilsvrc", root, root)
    train = read_ilsvrc_train(root, data.classes).samples
    expected = sorted(truth["train"], key=lambda s: (data.classes[int(s.positive_classes[0])], s.image_id))
    assert [s.image_id for s in train] == [s.image_id for s in expected]
    for got, want in zip(train, expected):
        np.testing.assert_array_equal(got.labels, want.labels)
        assert got.image_path == want.image_path and got.width == 0 and len(got.boxes) == 0
    val = read_ilsvrc_val(root).samples
    assert sorted(s.image_id for s in val) == sorted(s.image_id for s in truth["val"])


def test_unknown_wnid_folder_and_missing_parts(generated, tmp_path):
    root, _ = generated
    data = resolve_ilsvrc_data("ilsvrc", root, root)
    stray = root / "ILSVRC" / "Data" / "CLS-LOC" / "train" / "n99999999"
    stray.mkdir()
    try:
        with pytest.raises(InputError, match="n99999999"):
            read_ilsvrc_train(root, data.classes)
    finally:
        stray.rmdir()
    (tmp_path / "ILSVRC" / "Data" / "CLS-LOC").mkdir(parents=True)
    with pytest.raises(InputError, match="LOC_synset_mapping.txt"):
        resolve_ilsvrc_data("ilsvrc", tmp_path, tmp_path)
    with pytest.raises(InputError, match="--imagenet-root"):
        resolve_ilsvrc_data("ilsvrc", tmp_path, None)


def test_synthetic_is_generated_once_in_the_runs_dir(tmp_path):
    data = resolve_ilsvrc_data("synthetic", tmp_path, None)
    assert data.kind == "synthetic_ilsvrc" and len(data.classes) == 10
    marker = tmp_path / "_datasets" / "synthetic-ilsvrc" / "LOC_synset_mapping.txt"
    stamp = marker.stat().st_mtime_ns
    assert resolve_ilsvrc_data("synthetic", tmp_path, None) == data and marker.stat().st_mtime_ns == stamp


def test_empty_model_options_keep_old_run_ids():
    config = RunConfig(DataConfig("voc07", "somewhere", ("a", "b")), "tiny", "gap", "quick")
    identity = {"data": {"kind": "voc07", "classes": ["a", "b"], "train_split": "trainval", "test_split": "test",
                         "on_bad_file": "fail"},
                "net": "tiny", "method": "gap", "schedule": "quick", "seed": 0, "image_size": 0,
                "weights": "default", "task": "voc_classification", "overrides": []}  # the fields before `model`
    payload = json.dumps({"config": identity, "data": "fp"}, sort_keys=True, default=str)
    assert run_id(config, "fp") == "tiny-gap-" + hashlib.sha256(payload.encode()).hexdigest()[:12]
    other = RunConfig(config.data, "tiny", "gap", "quick", model=(("extra_conv", False),))
    assert run_id(other, "fp") != run_id(config, "fp")
    assert RunConfig.from_dict(json.loads(json.dumps(other.to_dict()))) == other
