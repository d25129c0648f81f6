"""Plugin loading: entry points, loose files, the allowlist, and contract violations."""

from __future__ import annotations

from pathlib import Path

import pytest

from segsync.errors import PluginError
from segsync.pipeline import load, open_connectors
from segsync.plugins import load_plugins, reset_plugins

GOOD = """
from segsync import hookimpl
from segsync.connector import Capabilities, Connector, ConnectorSettings

__version__ = "1.2.3"

class Echo(Connector):
    name = "echo"
    capabilities = Capabilities(audience_kinds={"list": frozenset()}, identifier="id")

@hookimpl
def register_connectors(register):
    register(Echo)

@hookimpl
def run_finished(report):
    pass
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(text)
    return folder


def test_first_party_files_connector_loads_through_entry_points() -> None:
    plugins = load_plugins(None)
    assert "files" in plugins.connectors
    info = plugins.info["files"]
    assert info.origin.startswith("entry point segsync.connectors.files.plugin")
    assert info.connectors == ["files"]
    assert info.hooks == ["register_connectors"]


def test_loose_file_plugin_loads_with_origin_and_version(tmp_path: Path) -> None:
    folder = write(tmp_path, "echo", GOOD)
    plugins = load_plugins(folder)
    assert plugins.connectors["echo"].name == "echo"
    info = plugins.info["echo"]
    assert info.origin == f"file {folder / 'echo.py'}"
    assert info.version == "1.2.3"
    assert info.hooks == ["register_connectors", "run_finished"]
    assert load_plugins(folder) is plugins  # idempotent


def test_allowlist_limits_what_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write(tmp_path, "echo", GOOD)
    monkeypatch.setenv("SEGSYNC_PLUGINS", "echo")
    plugins = load_plugins(folder)
    assert set(plugins.connectors) == {"echo"}
    reset_plugins()
    monkeypatch.setenv("SEGSYNC_PLUGINS", "")
    assert load_plugins(folder).connectors == {}


def test_misspelt_hook_fails_loudly(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        "typo",
        "from segsync import hookimpl\n\n@hookimpl\ndef register_conectors(register):\n    pass\n",
    )
    with pytest.raises(PluginError) as info:
        load_plugins(folder)
    # named as the user knows it (not a module repr), with the hook it was meant to be
    assert str(info.value).startswith(
        f"plugin 'typo' (file {folder / 'typo.py'}): unknown hook 'register_conectors' "
        "(did you mean 'register_connectors'?"
    )


def test_import_error_names_the_file(tmp_path: Path) -> None:
    folder = write(tmp_path, "broken", "import does_not_exist_anywhere\n")
    with pytest.raises(PluginError, match=r"broken\.py failed to import: ModuleNotFoundError"):
        load_plugins(folder)


def test_connector_name_clash_names_both_plugins(tmp_path: Path) -> None:
    folder = write(tmp_path, "echo", GOOD)
    write(tmp_path, "echo2", GOOD)
    with pytest.raises(PluginError, match=r"'echo' is registered twice: by 'echo' and by 'echo2'"):
        load_plugins(folder)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("register(object)", "not a segsync Connector class"),
        ("register(type('X', (Connector,), {'name': 'Bad Name'}))", "needs a `name`"),
        (
            "register(type('X', (Connector,), {'name': 'x', 'Settings': dict}))",
            "Settings must subclass ConnectorSettings",
        ),
        (
            "register(type('X', (Connector,), {'name': 'x', 'capabilities': {}}))",
            "capabilities must be a Capabilities",
        ),
        ("raise RuntimeError('boom')", "failed in register_connectors: RuntimeError: boom"),
    ],
)
def test_contract_violations_are_plugin_errors(tmp_path: Path, body: str, message: str) -> None:
    text = (
        "from segsync import hookimpl\nfrom segsync.connector import Connector\n\n"
        f"@hookimpl\ndef register_connectors(register):\n    {body}\n"
    )
    folder = write(tmp_path, "bad", text)
    with pytest.raises(PluginError, match=message):
        load_plugins(folder)


def test_a_connector_that_raises_when_it_starts_is_named(tmp_path: Path) -> None:
    # it was an internal error (exit 5, "please report it") that named no connector
    folder = write(
        tmp_path,
        "crashy",
        "from segsync import hookimpl\n"
        "from segsync.connector import Capabilities, Connector\n\n"
        "class Crashy(Connector):\n"
        "    name = 'crashy'\n"
        "    capabilities = Capabilities(audience_kinds={'list': frozenset()})\n\n"
        "    def __init__(self, settings, context):\n"
        "        super().__init__(settings, context)\n"
        "        {}['oops']\n\n"
        "@hookimpl\n"
        "def register_connectors(register):\n"
        "    register(Crashy)\n",
    )
    config = tmp_path / "segsync.toml"
    config.write_text('[store]\npath = "s.duckdb"\n\n[connectors.out]\ntype = "crashy"\n')
    with pytest.raises(PluginError) as info:
        open_connectors(load(config, plugins_dir=folder), ["out"])
    assert info.value.exit_code == 2
    assert str(info.value) == (
        "connectors.out: connector 'crashy' failed to start: KeyError: 'oops' "
        "(a bug in the plugin providing it)"
    )
