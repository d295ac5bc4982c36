"""Benchmarks run without the optional references: a missing one skips its rows with a one-line note."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_benchmark_modules_import_and_note_a_missing_reference():
    # `sys.modules[name] = None` makes `import name` raise ModuleNotFoundError, as on a plain `pip install .`
    code = (
        "import sys\n"
        "sys.modules['pycocotools'] = None\n"
        "sys.modules['cv2'] = None\n"
        f"sys.path.insert(0, {str(REPO / 'benchmarks')!r})\n"
        "import bench_detection, bench_localization, bench_readers, _timing\n"
        "bench_localization.run(quick=True)\n"
        "assert _timing.optional_reference('pycocotools', 'row X') is None\n"
        "assert _timing.optional_reference('json', 'row Y').__name__ == 'json'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "note: skipped the localization rows (OpenCV references): the reference needs cv2, not installed "
        "(pip install '.[bench]')",
        "note: skipped row X: the reference needs pycocotools, not installed (pip install '.[bench]')",
    ]
