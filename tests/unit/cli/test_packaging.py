"""The package metadata builds without deprecation warnings from setuptools."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_license_is_spdx_expression() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    requires = project["build-system"]["requires"]
    setuptools = next(r for r in requires if r.startswith("setuptools"))
    found = re.search(r">=\s*(\d+)", setuptools)
    # setuptools reads a license expression (PEP 639) from version 77 on.
    assert found is not None and int(found.group(1)) >= 77
