"""The API reference builds from the docstrings with every cross-reference resolved."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api"


def test_api_reference_builds_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    source = tmp_path / "source"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("generated"))
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    result = subprocess.run(
        [*command, str(source), str(tmp_path / "html")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    pages = {p.name for p in (tmp_path / "html" / "generated").glob("*.html")}
    for module in ("asrl.losses", "asrl.core.rules", "asrl.xgboost", "asrl.torch", "asrl.dask"):
        assert f"{module}.html" in pages
    text = (tmp_path / "html" / "generated" / "asrl.core.rules.html").read_text()
    assert "THRESHOLD_RULES" in text
