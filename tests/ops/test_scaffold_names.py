"""`segsync new-connector NAME`: a name that cannot make an installable plugin is refused
before anything is written, saying why and what would do."""

from __future__ import annotations

from pathlib import Path

import pytest

from segsync.errors import ConfigError
from segsync.scaffold import generate


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("my-crm", "(try 'my_crm')"),
        ("Brevo", "(try 'brevo')"),
        ("2fast", "starting with a letter;"),
        ("class", "it is a Python keyword"),
        # the distribution would be segsync-brevo-: pip refuses to install it
        ("brevo_", "it may not end with '_' (try 'brevo')"),
        # installing it would clash with the first-party connector: no command would load
        ("files", "'files' is already a plugin installed by segsync"),
    ],
)
def test_a_name_that_cannot_make_a_plugin_is_refused(tmp_path: Path, name: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        generate(name, tmp_path)
    assert says in str(info.value)
    assert not any(tmp_path.iterdir())


def test_a_plain_name_is_generated(tmp_path: Path) -> None:
    created = generate("my_crm", tmp_path)
    assert created.root == tmp_path / "segsync-my-crm"
    pyproject = (created.root / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "segsync-my-crm"' in pyproject
    assert 'my_crm = "segsync_my_crm.plugin"' in pyproject


def test_the_package_names_what_its_tests_need(tmp_path: Path) -> None:
    """The conformance suite runs under pytest, which segsync itself does not install: the
    package's ``test`` extra brings it, and its README says to install with it."""
    import tomllib

    created = generate("my_crm", tmp_path)
    project = tomllib.loads((created.root / "pyproject.toml").read_text(encoding="utf-8"))
    extra = project["project"]["optional-dependencies"]["test"]
    assert any(requirement.startswith("pytest") for requirement in extra)
    assert "pip install -e '.[test]'" in (created.root / "README.md").read_text(encoding="utf-8")
