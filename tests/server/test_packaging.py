"""web/ must ship with `pip install .` (bare `protoshell` serves it).

pyproject.toml installs it as data files, one entry per folder with a
`*.*` pattern; this test fails when a folder or an extension-less file is
added to web/ without a matching entry, which would vanish from installs.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_web_file_is_installed_as_data() -> None:
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    patterns = {dest: pats for dest, pats in table.items()}
    missing = []
    for path in (ROOT / "web").rglob("*"):
        if path.is_dir() or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(ROOT)
        dest = "share/protoshell/" + str(rel.parent)
        if not any(fnmatch.fnmatch(str(rel), pat) for pat in patterns.get(dest, [])):
            missing.append(str(rel))
    assert missing == [], f"add to [tool.setuptools.data-files] in pyproject.toml: {missing}"
