"""The machine a report is made on: versions, the device and the thread count, as (name, value) lines."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from gwapbench import __version__


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo's `model name` on Linux, else platform.processor())."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def environment() -> list[tuple[str, str]]:
    """gwapbench, Python, torch and CUDA versions, the GPUs (else the CPU model), the core and thread counts."""
    import torch

    cuda = torch.version.cuda or "none (CPU-only torch build)"
    if torch.cuda.is_available():
        devices = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        device = ("GPU", devices)
    else:
        cuda += "" if torch.version.cuda is None else " (no GPU visible)"
        device = ("CPU", cpu_model())
    threads = f"{torch.get_num_threads()} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})"
    return [("gwapbench", __version__), ("Python", platform.python_version()), ("torch", torch.__version__),
            ("CUDA", cuda), device, ("CPU cores", str(os.cpu_count())),
            ("torch threads", threads),
            ("platform", f"{platform.system()} {platform.release()}, {sys.platform}")]
