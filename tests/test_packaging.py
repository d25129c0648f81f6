"""The built wheel: one distribution, no top-level `core`/`connectors`, entry points wired."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (path,) = out.glob("segsync-*.whl")
    return path


def test_wheel_has_only_the_segsync_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"segsync"}
    assert "segsync/connectors/files/connector.py" in names
    assert "segsync/templates/segsync.toml" in names
    assert "segsync/py.typed" in names
    assert not any(n.startswith(("core/", "connectors/")) for n in names)


def test_wheel_declares_console_script_and_entry_points(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    (ep,) = [n for n in archive.namelist() if n.endswith("entry_points.txt")]
    text = archive.read(ep).decode()
    assert "segsync = segsync.cli:main" in text
    assert "[segsync]\nfiles = segsync.connectors.files.plugin" in text


def source_modules() -> set[str]:
    """Every module of the source tree, as its path inside the wheel."""
    roots = {"segsync": REPO / "src" / "core", "segsync/connectors": REPO / "src" / "connectors"}
    found = set()
    for prefix, folder in roots.items():
        for module in folder.rglob("*.py"):
            if "__pycache__" not in module.parts:
                found.add(f"{prefix}/{module.relative_to(folder).as_posix()}")
    return found


def test_wheel_holds_every_module_of_the_source_tree(wheel: Path) -> None:
    """pyproject.toml lists packages by hand (two source folders map onto one import
    package): a new folder must be listed there too, or installs from the wheel break."""
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(source_modules() - names)
    assert not missing, f"not in the wheel (add to [tool.setuptools] packages): {missing[:10]}"
    for template in (REPO / "src" / "core").rglob("templates/*"):
        if template.is_file():
            inside = f"segsync/{template.relative_to(REPO / 'src' / 'core').as_posix()}"
            assert inside in names, f"{inside} is not in the wheel (package-data)"
