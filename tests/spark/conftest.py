"""Tests that run a real Spark (a cluster on this machine, Java 17+: those using
``spark_session``; and ``test_spark_connect.py``, through a Spark Connect server) take
minutes: they run when asked for (``SEGSYNC_SPARK_TESTS=1``, as ``.ci/run`` does) and are
skipped otherwise, so a plain ``make test`` stays within its time. They are marked ``spark``
(``-m spark`` selects them, ``-m "not spark"`` leaves them out)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

WANTED = os.environ.get("SEGSYNC_SPARK_TESTS") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "spark_session" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.spark)
            if not WANTED:
                item.add_marker(pytest.mark.skip(reason="Spark tests: set SEGSYNC_SPARK_TESTS=1"))


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Spark for the whole session (its JVMs take seconds to start): every store opened
    in the tests uses it, each in its own database."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17+")
    from segsync.engine.spark import SparkEngine, SparkOptions

    # a real cluster on this machine: a driver and two executors, each its own JVM (1 core,
    # 1 GB), so every statement's data crosses processes as on a cluster (the whole Spark
    # suite: 310 s, against about 250 s in local[2] threads)
    master = os.environ.get("SEGSYNC_SPARK_MASTER", "local-cluster[2,1,1024]")
    options = SparkOptions(
        home=tmp_path_factory.mktemp("spark"),
        master=master,
        database="segsync_tests",
        conf={
            "spark.sql.shuffle.partitions": "4",
            "spark.ui.enabled": "false",
            # only loopback: the driver's and the executors' ports
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
        },
    )
    with pytest.MonkeyPatch.context() as patch:
        # what the executors bind, for the session (unless the caller chose)
        patch.setenv("SPARK_LOCAL_IP", os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"))
        engine = SparkEngine.open(options)
        yield engine.session
        engine.session.stop()
