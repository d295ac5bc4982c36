"""Metric speed benchmarks: `python benchmarks/metrics.py [--quick]`.

Runs each metric benchmark module in turn; every row prints our time, a reference measured in
the same run, and the ratio. Real ground truth comes from ../shared/data (or
$GWAPBENCH_SHARED_DATA). Each module also runs on its own: `python benchmarks/bench_detection.py`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import print_header  # noqa: E402

MODULES = ("bench_detection", "bench_saliency", "bench_localization", "bench_max_box_acc", "bench_cam_legacy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller inputs, for a smoke run")
    args = parser.parse_args()
    print_header()
    for name in MODULES:
        importlib.import_module(name).run(quick=args.quick)


if __name__ == "__main__":
    main()
