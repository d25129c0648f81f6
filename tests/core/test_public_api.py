"""Pin the public names, and keep the docs honest about hooks and settings."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import segsync
from segsync import collector, connector, errors, hookspecs

REPO = Path(__file__).resolve().parents[2]


def test_top_level_names() -> None:
    assert set(segsync.__all__) == {"RunReport", "__version__", "hookimpl", "run"}
    assert callable(segsync.run)
    assert segsync.hookimpl is hookspecs.hookimpl


def test_collector_pause_names_and_restores() -> None:
    import gc

    assert collector.__all__ == ["paused"]
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
        with collector.paused():  # nested: the outer pause stays
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_connector_contract_names() -> None:
    assert set(connector.__all__) == {
        "AudienceRef",
        "AudienceSpec",
        "AudienceStats",
        "Batch",
        "BulkFile",
        "BulkRead",
        "BulkSource",
        "Capabilities",
        "CheckResult",
        "Connector",
        "ConnectorContext",
        "ConnectorSettings",
        "Contact",
        "ContactBatch",
        "ContactColumns",
        "Destination",
        "Eraser",
        "ErasureResult",
        "Event",
        "EventColumns",
        "Member",
        "NEW_MEMBER_PREFIX",
        "Page",
        "Person",
        "Purpose",
        "RecordResult",
        "Reject",
        "Source",
        "SourceSettings",
        "TableRef",
        "default_refresh_days",
    }


def test_ad_identity_names() -> None:
    """Normalising and hashing identifiers for ad platforms is public: ad connectors written
    as plugins import it from ``segsync.model.identity`` (docs/architecture.md)."""
    from segsync.model import identity

    public = {
        "BASE64_ENCODING", "HEX_ENCODING", "Normalized", "Unusable", "ad_email", "ad_name",
        "ad_phone", "ad_postal_code", "ad_region_code", "check_email", "check_name",
        "check_phone", "check_postal_code", "check_region_code", "hashed_email", "hashed_name",
        "hashed_phone", "sha256_base64", "sha256_hex",
    }  # fmt: skip
    assert public <= set(identity.__all__)
    for name in public:
        assert name.isupper() or getattr(identity, name).__module__ == "segsync.model.identity"
    documented = (REPO / "docs" / "architecture.md").read_text()
    for name in public:
        assert f"`{name}`" in documented, f"{name} is not listed in docs/architecture.md"


def test_simulator_base_names() -> None:
    from segsync.testing import simulator

    assert set(simulator.__all__) == {
        "Faults",
        "IdSource",
        "InputError",
        "PlatformError",
        "RateLimit",
        "RequestRecord",
        "ServedSimulator",
        "SimulatedDisconnect",
        "Simulator",
        "SortedIds",
        "offset_page",
        "parse_json",
        "query_bool",
        "query_csv",
        "query_int",
        "query_param",
        "json_body",
    }
    for name in simulator.__all__:
        assert getattr(simulator, name).__module__.startswith("segsync.testing.simulator.")


def test_error_tree_is_drawn_in_the_module_docstring() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        assert name in doc, f"{name} missing from the drawing in errors.py"
        cls = getattr(errors, name)
        assert issubclass(cls, errors.SegsyncError)


def hook_names() -> list[str]:
    return [
        name
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, "segsync_spec")
    ]


def test_every_hook_is_documented_in_the_plugin_guide() -> None:
    guide = (REPO / "docs" / "plugin-guide.md").read_text()
    names = hook_names()
    assert set(names) == {
        "register_connectors",
        "register_simulators",
        "register_commands",
        "register_trait_kinds",
        "run_finished",
    }
    for name in names:
        assert f"`{name}(" in guide, f"hook {name} is not documented in docs/plugin-guide.md"


def test_every_hook_is_exercised_by_a_test() -> None:
    tests = "\n".join(p.read_text() for p in (REPO / "tests").rglob("test_*.py"))
    plugin = (REPO / "plugins" / "segsync-audit" / "segsync_audit.py").read_text()
    for name in hook_names():
        assert f"def {name}(" in plugin or f"def {name}(" in tests, name


def test_every_sync_and_segment_setting_is_in_the_example_config() -> None:
    from segsync.config import SegmentConfig, SegsyncSettings, StoreConfig, SyncConfig
    from segsync.connector import SourceSettings

    example = (REPO / "config.example.toml").read_text()
    for model in (SegsyncSettings, SyncConfig, SegmentConfig, StoreConfig, SourceSettings):
        for field, info in model.model_fields.items():
            alias = info.validation_alias  # [segments] as_of is the field segments_as_of
            name = alias.rpartition(".")[2] if isinstance(alias, str) else field
            assert re.search(rf"(^|[\s#\[]){name}\b", example, re.M), (
                f"{name} not in config.example.toml"
            )


def test_every_setting_of_the_newer_trait_kinds_is_in_the_example_config() -> None:
    from segsync.traits.cluster import ClusterSettings
    from segsync.traits.clv import ClvSettings
    from segsync.traits.propensity import FeatureSpec, PropensitySettings
    from segsync.traits.rfm import RfmSettings
    from segsync.traits.tenure import TenureSettings

    example = (REPO / "config.example.toml").read_text()
    for model in (
        ClvSettings, PropensitySettings, FeatureSpec, TenureSettings, RfmSettings, ClusterSettings
    ):  # fmt: skip
        for field in model.model_fields:
            assert re.search(rf"(^|[\s#\[{{]){field}\b", example, re.M), (
                f"{model.__name__}.{field} not in config.example.toml"
            )


def test_exit_codes_in_readme_match_the_code() -> None:
    from segsync.report import EXIT_CODES

    readme = (REPO / "README.md").read_text()
    for code in EXIT_CODES:
        assert f"| {code} |" in readme
