"""gwapbench.compiled: where numba's cache goes (the package's __pycache__, or a user cache folder
when the package folder is read-only, or the user's own NUMBA_CACHE_DIR)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gwapbench.compiled import choose_numba_cache_dir, is_writable


def test_writable_package_keeps_numba_default(tmp_path):
    assert choose_numba_cache_dir(tmp_path, {"XDG_CACHE_HOME": str(tmp_path / "cache")}) is None
    assert is_writable(tmp_path / "metrics" / "__pycache__")


def test_read_only_package_falls_back_to_the_user_cache(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")  # nothing can be created below a regular file, even by root
    chosen = choose_numba_cache_dir(blocker / "gwapbench", {"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert chosen == tmp_path / "cache" / "gwapbench" / "numba"
    home_default = choose_numba_cache_dir(blocker / "gwapbench", {})
    assert home_default == Path.home() / ".cache" / "gwapbench" / "numba"


def test_user_setting_is_kept(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert choose_numba_cache_dir(blocker, {"NUMBA_CACHE_DIR": str(tmp_path)}) is None


def test_import_sets_the_fallback_before_numba_reads_it(tmp_path):
    """A copy of the module in a folder where `metrics/__pycache__` cannot be created, imported in a
    fresh interpreter: numba's own configuration must see the fallback folder."""
    package = tmp_path / "package"
    package.mkdir()
    source = Path(__file__).resolve().parents[1] / "gwapbench" / "compiled.py"
    (package / "compiled.py").write_text(source.read_text())
    (package / "metrics").write_text("a file where the cache folder would go")
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('compiled_copy', {str(package / 'compiled.py')!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "from numba.core import config\n"
        "print(config.CACHE_DIR)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == str(tmp_path / "cache" / "gwapbench" / "numba")
