"""The Spark engine's settings and its SQL rewrites (no Spark needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_spark_connect import free_port

import segsync.config
from segsync.config import load_config
from segsync.engine import parse
from segsync.engine.spark import SparkEngine, _for_spark, spark_type
from segsync.errors import ConfigError
from segsync.model.segments import split_bucket_sql
from segsync.plugins import load_plugins, reset_plugins

BASE = """
[store]
path = "data/segsync.duckdb"
{store}

[connectors.out]
type = "files"
output_dir = "out"
"""


def config(tmp_path: Path, store: str) -> segsync.config.Config:
    path = tmp_path / "segsync.toml"
    path.write_text(BASE.format(store=store), encoding="utf-8")
    reset_plugins()
    return load_config(path, load_plugins(None))


def test_duckdb_is_the_default_engine(tmp_path: Path) -> None:
    assert config(tmp_path, "").spark_options is None


def test_the_spark_settings_reach_the_engine(tmp_path: Path) -> None:
    loaded = config(
        tmp_path,
        'engine = "spark"\n[store.spark]\nmaster = "local-cluster[2,1,1024]"\n'
        'database = "crm_segments"\ntable_format = "delta"\n'
        'conf = { "spark.executor.memory" = "2g", "spark.sql.adaptive.enabled" = true }\n',
    )
    options = loaded.spark_options
    assert options is not None
    assert options.master == "local-cluster[2,1,1024]"
    assert options.local and options.native_writes
    assert options.database == "crm_segments"
    assert options.conf == {"spark.executor.memory": "2g", "spark.sql.adaptive.enabled": "true"}
    # the warehouse and metastore of local mode sit beside the store
    assert options.home == tmp_path / "data" / "segsync.duckdb.spark"
    assert options.database_location() == str(
        tmp_path / "data" / "segsync.duckdb.spark" / "warehouse" / "crm_segments.db"
    )


def test_a_spark_connect_url_is_a_secret(tmp_path: Path) -> None:
    loaded = config(
        tmp_path, 'engine = "spark"\n[store.spark]\nremote = "sc://host:443/;token=s3cr3t"\n'
    )
    assert "s3cr3t" not in repr(loaded.settings.store)
    options = loaded.spark_options
    assert options is not None and options.remote == "sc://host:443/;token=s3cr3t"
    assert not options.local
    assert options.database_location() is None  # the cluster's catalog decides


def test_a_bad_database_name_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="database"):
        config(tmp_path, 'engine = "spark"\n[store.spark]\ndatabase = "a-b; DROP"\n')


def test_duckdb_types_as_spark_keeps_them() -> None:
    assert spark_type("JSON") == "STRING"
    assert spark_type("TIMESTAMP") == "TIMESTAMP_NTZ"
    assert spark_type("VARCHAR") == "STRING"
    assert spark_type("DECIMAL(38,4)") == "DECIMAL(38, 4)"
    assert spark_type("HUGEINT") == "DECIMAL(38,0)"


def test_split_buckets_read_hex_through_conv() -> None:
    rendered = _for_spark(split_bucket_sql("seed")).sql(dialect="spark")
    assert rendered == (
        "CAST(CONV(SUBSTRING(MD5('seed:' || profile_key), 1, 8), 16, 10) AS BIGINT) % 10000"
    )
    # anything else is left as it is
    plain = parse("SELECT CAST(x AS BIGINT), CAST('1' || y AS BIGINT) FROM t")
    assert _for_spark(plain).sql(dialect="spark") == plain.sql(dialect="spark")


def test_the_engine_renders_in_the_spark_dialect() -> None:
    engine = SparkEngine.__new__(SparkEngine)
    rendered = engine.sql(parse('SELECT "a b" FROM t WHERE x IS DISTINCT FROM :v', v=1))
    assert rendered == "SELECT `a b` FROM t WHERE x IS DISTINCT FROM 1"


def test_json_objects_to_json_and_computed_intervals_are_rewritten_for_spark() -> None:
    statement = parse(
        "SELECT json_object('a', json(x), 'b', y), json_object(), to_json(CAST(s AS BIGINT)), "
        "t - INTERVAL (o) MINUTE, t - INTERVAL 3 MINUTE FROM v"
    )
    rendered = _for_spark(statement).sql(dialect="spark")
    listed_y = "TO_JSON(ARRAY(y))"
    listed_s = "TO_JSON(ARRAY(CAST(s AS BIGINT)))"
    assert rendered == (
        "SELECT CONCAT('{', '\"a\":', COALESCE(x, 'null'), ',\"b\":', "
        f"COALESCE(SUBSTRING({listed_y}, 2, LENGTH({listed_y}) - 2), 'null'), '}}'), '{{}}', "
        f"SUBSTRING({listed_s}, 2, LENGTH({listed_s}) - 2), "
        "t - INTERVAL '1' MINUTE * (o), t - INTERVAL '3' MINUTE FROM v"
    )


def test_an_unreachable_spark_connect_server_is_a_clear_error_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyspark's client retries a server that is not there for minutes, silently: a run
    says at once that nothing answers there, naming the host and port but not the token."""
    from typer.testing import CliRunner

    from segsync.cli import app
    from segsync.engine.spark_session import _PROXIES

    for name in _PROXIES:  # (behind a proxy the host is not tried)
        monkeypatch.delenv(name, raising=False)

    port = free_port()  # nothing listens on it
    path = tmp_path / "segsync.toml"
    path.write_text(
        BASE.format(store=f'engine = "spark"\n[store.spark]\nremote = "sc://127.0.0.1:{port}/'
                    ';token=s3cr3t"\n'),
        encoding="utf-8",
    )  # fmt: skip
    reset_plugins()
    result = CliRunner().invoke(app, ["-c", str(path), "run"])
    assert result.exit_code == 2, result.output
    assert f"no Spark Connect server answers at 127.0.0.1:{port}" in result.stderr
    assert "reachable from here? — nothing was run" in " ".join(result.stderr.split())
    assert "s3cr3t" not in result.output + result.stderr
    assert "Traceback" not in result.stderr


def test_a_spark_connect_url_is_checked_and_its_client_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    from segsync.engine.spark import SparkOptions
    from segsync.engine.spark_session import _PROXIES, spark_problem

    def remote_problem(url: str) -> str | None:
        return spark_problem(SparkOptions(home=Path("."), remote=url))

    for name in _PROXIES:  # (behind a proxy the host is not tried)
        monkeypatch.delenv(name, raising=False)

    for url in ("http://host:15002", "sc://", "sc://host:port"):
        assert remote_problem(url) == (
            "[store.spark] remote: not a Spark Connect URL (expected sc://host:port)"
        )
    port = free_port()  # nothing listens on it
    assert remote_problem(f"sc://127.0.0.1:{port}") is not None
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")  # gRPC's way out
    assert remote_problem(f"sc://127.0.0.1:{port}") is None
    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "pyarrow" else found(name)
    )
    assert remote_problem("sc://127.0.0.1:15002") == (
        "[store.spark] remote needs pyspark's Spark Connect client (pyarrow not installed): "
        "pip install 'segsync[spark-connect]'"
    )


def test_check_says_whether_the_spark_store_can_be_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`segsync check` asks a Spark Connect server for a connection (naming its host and
    port, never the token), and a Spark started here for pyspark and Java."""
    import socket

    from typer.testing import CliRunner

    from segsync.cli import app
    from segsync.engine.spark_session import _PROXIES

    for name in _PROXIES:
        monkeypatch.delenv(name, raising=False)

    def check(store: str) -> tuple[int, str]:
        path = tmp_path / "segsync.toml"
        path.write_text(BASE.format(store=store), encoding="utf-8")
        reset_plugins()
        result = CliRunner().invoke(app, ["-c", str(path), "check"])
        return result.exit_code, result.output

    code, out = check("")
    assert code == 0 and "store (" not in out  # DuckDB: nothing to reach
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        remote = (
            f'engine = "spark"\n[store.spark]\nremote = "sc://127.0.0.1:{port}/;token=s3cr3t"\n'
        )
        code, out = check(remote)
        assert code == 0, out
        assert f"ok store (Spark Connect at 127.0.0.1:{port}): the server accepts" in out
    code, out = check(remote)  # the server is gone
    assert code == 2
    assert f"FAILED store (Spark Connect at 127.0.0.1:{port}): " in out
    assert f"no Spark Connect server answers at 127.0.0.1:{port}" in " ".join(out.split())
    assert "s3cr3t" not in out
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    code, out = check('engine = "spark"\n[store.spark]\nmaster = "local[2]"\n')
    assert code == 2
    assert "FAILED store (Spark, master local[2]): needs Java 17 or later" in " ".join(out.split())
