"""Beyond one machine (docs/multinode.md): two `torchrun --nnodes 2` launches meeting at a c10d rendezvous on
localhost (gloo, one CPU process each, one run store as on a shared filesystem) predict exactly what one
process predicts; and each rank of a CUDA job makes its own GPU the current device before NCCL starts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gwapbench.engine import distributed
from tests.engine.conftest import table_args, trained_runs_to_predict
from tests.engine.test_distributed import _run

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def single(small_voc, tmp_path_factory) -> Path:
    """One process trains and predicts the gwap run."""
    base = tmp_path_factory.mktemp("single")
    _run(table_args("table1", small_voc, base / "runs", base / "out", "--methods", "gwap"), 1)
    return base


def test_two_nodes_predict_exactly_what_one_process_predicts(small_voc, single, tmp_path):
    trained_runs_to_predict(single, tmp_path / "runs")
    endpoint = f"127.0.0.1:{_free_port()}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
               "--rdzv_backend", "c10d", "--rdzv_endpoint", endpoint, "--rdzv_id", "gwapbench-test",
               "--local_addr", "127.0.0.1", "-m", "gwapbench",
               *table_args("table1", small_voc, tmp_path / "runs", tmp_path / "out", "--methods", "gwap")]
    nodes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outputs = [node.communicate(timeout=300)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(outputs)
    assert sum("wrote" in output for output in outputs) == 1  # global rank 0 alone writes the table
    predicted = list((tmp_path / "runs").glob("tiny-*/predictions.npz"))
    assert [path.parent.name.split("-")[1] for path in predicted] == ["gwap"]
    with np.load(single / "runs" / predicted[0].parent.name / "predictions.npz") as one, np.load(predicted[0]) as two:
        for key in one.files:
            assert np.array_equal(one[key], two[key]), key


def test_each_cuda_rank_sets_its_device_before_the_process_group(monkeypatch):
    """NCCL's object collectives and barrier run on the current CUDA device: without set_device every rank would
    use cuda:0 (docs/multinode.md)."""
    calls = []
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: calls.append(("set_device", index)))
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda backend: calls.append(("init", backend)))
    monkeypatch.setattr(distributed.dist, "get_rank", lambda: 3)
    monkeypatch.setattr(distributed.dist, "get_world_size", lambda: 4)
    assert distributed.init(torch.device("cuda")) == distributed.Dist(3, 4, 1)
    assert calls == [("set_device", 1), ("init", "nccl")]
    calls.clear()
    distributed.init(torch.device("cpu"))
    assert calls == [("init", "gloo")]
