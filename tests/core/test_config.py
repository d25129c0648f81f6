"""Config loading: env overrides, secrets from files, and validation of connector settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from segsync.config import load_config
from segsync.connector import Capabilities, Connector, ConnectorSettings
from segsync.errors import ConfigError
from segsync.plugins import Plugins, get_plugin_manager, load_plugins, reset_plugins


class TokenSettings(ConnectorSettings):
    api_token: SecretStr
    base_url: str = "http://127.0.0.1:1"


class TokenConnector(Connector):
    name = "tokened"
    Settings = TokenSettings
    capabilities = Capabilities(audience_kinds={"list": frozenset()})


@pytest.fixture
def plugins() -> Plugins:
    reset_plugins()
    loaded = load_plugins(None)
    return Plugins(
        pm=get_plugin_manager(),
        info=loaded.info,
        connectors={**loaded.connectors, "tokened": TokenConnector},
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "segsync.toml"
    path.write_text(text)
    return path


def test_env_overrides_file_with_nesting(
    tmp_path: Path, plugins: Plugins, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        '[store]\npath = "a.duckdb"\n[connectors.crm]\ntype = "tokened"\napi_token = "from-file"\n',
    )
    monkeypatch.setenv("SEGSYNC_STORE__PATH", "b.duckdb")
    monkeypatch.setenv("SEGSYNC_CONNECTORS__CRM__API_TOKEN", "from-env")
    config = load_config(path, plugins)
    assert config.store_path == tmp_path / "b.duckdb"
    settings = config.connectors["crm"].settings
    assert isinstance(settings, TokenSettings)
    assert settings.api_token.get_secret_value() == "from-env"
    assert "from-env" not in repr(settings) and "from-env" not in str(config.connectors["crm"])


def test_secret_from_file(tmp_path: Path, plugins: Plugins) -> None:
    secret = tmp_path / "token"
    secret.write_text("tok-123\n")
    path = write(tmp_path, f'[connectors.crm]\ntype = "tokened"\napi_token_file = "{secret}"\n')
    settings = load_config(path, plugins).connectors["crm"].settings
    assert settings.api_token.get_secret_value() == "tok-123"  # type: ignore[attr-defined]


def test_unreadable_secret_file_is_named(tmp_path: Path, plugins: Plugins) -> None:
    path = write(
        tmp_path, '[connectors.crm]\ntype = "tokened"\napi_token_file = "/nonexistent/token"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, plugins)
    assert "connectors.crm" in str(info.value)
    assert "cannot read secret file '/nonexistent/token'" in str(info.value)


def test_missing_secret_says_which_key_and_env_var(tmp_path: Path, plugins: Plugins) -> None:
    path = write(tmp_path, '[connectors.crm]\ntype = "tokened"\n')
    with pytest.raises(ConfigError, match=r"connectors\.crm\.api_token: missing") as info:
        load_config(path, plugins)
    assert "SEGSYNC_CONNECTORS__CRM__API_TOKEN" in str(info.value)
    assert 'api_token_file = "/path/to/file"' in str(info.value)


def test_sync_kind_defaults_to_the_only_kind_and_consent_is_unioned(
    tmp_path: Path, plugins: Plugins
) -> None:
    path = write(
        tmp_path,
        '[connectors.crm]\ntype = "tokened"\napi_token = "x"\n'
        '[segments.all]\nwhere = "TRUE"\n'
        '[syncs.s]\nsegment = "all"\ndestination = "crm"\nrequire_consent = ["email_marketing"]\n',
    )
    config = load_config(path, plugins)
    sync = config.syncs["s"]
    assert config.sync_kind(sync) == "list"
    assert {p.value for p in config.required_purposes(sync)} == {"email_marketing"}
