"""The Spark engine through Spark Connect (``[store.spark] remote = "sc://…"``): an example
config runs against a Spark Connect server on 127.0.0.1 and gives DuckDB's segments and
audiences; run again, it plans zero changes (the ledger kept on the server's Spark).

The server is pyspark's own (``spark-submit`` of ``SparkConnectServer``, local mode, bound to
loopback); segsync runs in a child process, as a scheduled ``segsync run`` would: a process
holding a local Spark (the other tests') cannot open a Spark Connect session too."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_spark_runs import audiences, cli, project, sizes

from segsync.engine.spark_session import _PROXIES
from segsync.sandbox.synth import generate

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(
        os.environ.get("SEGSYNC_SPARK_TESTS") != "1",
        reason="Spark tests: set SEGSYNC_SPARK_TESTS=1",
    ),
]

STARTUP_SECONDS = 180


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on (until someone binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server on 127.0.0.1 (a free port), for this module's tests."""
    pyspark = pytest.importorskip("pyspark")
    for module in ("pyarrow", "grpc", "pandas"):  # the client's part: segsync[spark-connect]
        pytest.importorskip(module)
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17+")
    home = Path(pyspark.__file__).parent
    work = tmp_path_factory.mktemp("spark_connect")
    port = free_port()
    command = [
        str(home / "bin" / "spark-submit"),
        "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--master", "local[2]",
        "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", "spark.driver.host=127.0.0.1",
        "--conf", "spark.driver.bindAddress=127.0.0.1",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.sql.shuffle.partitions=4",
        "--conf", f"spark.sql.warehouse.dir={work / 'warehouse'}",
        "spark-internal",
    ]  # fmt: skip
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
    }
    log = (work / "server.log").open("w", encoding="utf-8")
    server = subprocess.Popen(
        command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = (work / "server.log").read_text(encoding="utf-8")[-3000:]
                pytest.fail(f"the Spark Connect server did not start on {port}:\n{tail}")
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def _run(config: Path, url: str) -> tuple[dict[str, Any], str]:
    """``segsync run`` on the Spark Connect server, in a child process: its report and
    stderr."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in _PROXIES},  # loopback, directly
        "SEGSYNC_STORE__ENGINE": "spark",
        "SEGSYNC_STORE__SPARK__REMOTE": url,
        "SEGSYNC_STORE__SPARK__DATABASE": "connect_rfm",
    }
    done = subprocess.run(
        [sys.executable, "-m", "segsync", "-c", str(config), "run", "--format", "json",
         "--as-of", "2026-06-30"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout), done.stderr


def test_an_example_through_spark_connect_gives_duckdbs_segments_and_audiences(
    connect_url: str, tmp_path: Path
) -> None:
    generate(tmp_path / "demo" / "data", seed=42, contacts=300, orders=2000)
    duck = project(tmp_path, "rfm", "duckdb")
    code, out, err = cli(duck, "run", "--format", "json", "--as-of", "2026-06-30")
    assert code == 0, err
    expected = json.loads(out)

    remote = project(tmp_path, "rfm", "connect")
    got, stderr = _run(remote, connect_url)

    assert sizes(got) == sizes(expected)
    assert any(size for size, _, _ in sizes(got).values())
    assert [(s["name"], s["adds"], s["removes"]) for s in got["syncs"]] == [
        (s["name"], s["adds"], s["removes"]) for s in expected["syncs"]
    ]
    assert audiences(remote.parent) == audiences(duck.parent)
    assert any(audiences(remote.parent).values())
    # nothing the client may not set is asked of the server, and no schema news of a store
    # made in memory for a moment
    assert "CANNOT_MODIFY_CONFIG" not in stderr, stderr[-3000:]
    assert ":memory: migrated" not in stderr, stderr[-3000:]

    again, _ = _run(remote, connect_url)
    assert all(s["adds"] == s["removes"] == 0 for s in again["syncs"]), again["syncs"]
    assert {k: v[0] for k, v in sizes(again).items()} == {k: v[0] for k, v in sizes(got).items()}
