"""The wheel holds every package of the source tree: pyproject.toml lists them by hand (two
source folders map onto one import package), so a new folder must be listed there too."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def source_packages() -> set[str]:
    roots = {"segsync": ROOT / "src" / "core", "segsync.connectors": ROOT / "src" / "connectors"}
    found = set()
    for name, folder in roots.items():
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder).parts
            if "__pycache__" in relative:
                continue
            found.add(".".join((name, *relative)))
    return found


def test_every_source_package_is_listed_for_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    missing = source_packages() - listed
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
    data_only = {"segsync.templates"}  # package data, no code
    assert listed - source_packages() <= data_only, "pyproject.toml lists missing packages"


def test_every_template_folder_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data = config["tool"]["setuptools"]["package-data"]
    core = ROOT / "src" / "core"
    for folder in core.rglob("templates"):
        if not folder.is_dir() or not any(f.is_file() for f in folder.iterdir()):
            continue
        owner = folder.parent
        package = ".".join(("segsync", *owner.relative_to(core).parts)).rstrip(".")
        if (owner / "__init__.py").exists() and owner != core:
            assert package in data, f"{folder} is not in [tool.setuptools.package-data]"
