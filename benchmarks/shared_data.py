"""Locate the real data for benchmarks: $GWAPBENCH_SHARED_DATA, else ../shared/data beside the repo."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def shared_data(name: str) -> Path:
    root = Path(os.environ.get("GWAPBENCH_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    path = root / name
    if not path.exists():
        sys.exit(f"error: real data folder {name!r} not found under {root} (set GWAPBENCH_SHARED_DATA)")
    return path
