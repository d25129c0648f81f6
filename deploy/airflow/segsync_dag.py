"""An Airflow DAG running segsync every 30 minutes through its Python API, ``segsync.run()``.

Put this file in the DAGs folder of a worker where segsync is installed, with the config at
``SEGSYNC_CONFIG`` (default below) and secrets in the worker's environment. One run at a time
(``max_active_runs=1``; segsync's own lock refuses a second run anyway). Exit codes map to the
task's outcome: 0 ok; 1 (some records failed, work deferred: retried by the next run) ok with a
warning; 3 (a guard blocked: review with ``segsync plan``) and 2/5 fail the task.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

from airflow import DAG
from airflow.exceptions import AirflowException
from airflow.operators.python import PythonOperator

CONFIG = os.environ.get("SEGSYNC_CONFIG", "/srv/segsync/segsync.toml")
log = logging.getLogger(__name__)


def sync_audiences(**context: Any) -> dict[str, Any]:
    """Run segsync once; return a summary (pushed to XCom); fail on errors and guards."""
    import segsync

    report = segsync.run(CONFIG)
    summary = {
        "run_id": report.run_id,
        "status": report.status,
        "exit_code": report.exit_code,
        "syncs": {s.name: {"added": s.applied_adds, "removed": s.applied_removes,
                           "status": s.status} for s in report.syncs},
    }  # fmt: skip
    if report.exit_code == 1:
        log.warning("segsync %s: %s; the next run retries", report.run_id, report.status)
    elif report.exit_code != 0:
        raise AirflowException(
            f"segsync run {report.run_id} ended {report.status} (exit {report.exit_code}): "
            + "; ".join(
                [s.blocked or s.error or "" for s in report.syncs if s.blocked or s.error]
                + report.errors
            )
        )
    return summary


with DAG(
    dag_id="segsync",
    description="Pull contacts, compute segments, push audiences",
    schedule="*/30 * * * *",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 0, "execution_timeout": dt.timedelta(hours=4)},
    tags=["segsync"],
) as dag:
    PythonOperator(task_id="sync_audiences", python_callable=sync_audiences)
