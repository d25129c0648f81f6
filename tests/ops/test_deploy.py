"""The scheduling recipes of docs/deploy.md: each file is shown verbatim in the doc, and each
is checked as far as this machine allows — the cron lines' fields, the systemd units with
`systemd-analyze verify` (skipped where it is absent), the Kubernetes CronJob's structure, the
Airflow DAG imported against a stub of the four Airflow names it uses (Airflow itself is too
heavy to install for a test) and its task run for real, the Dockerfile's essentials (no
docker build here)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from projectkit import Project

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
RECIPES = [
    "cron/segsync.cron",
    "systemd/segsync.service",
    "systemd/segsync.timer",
    "kubernetes/cronjob.yaml",
    "airflow/segsync_dag.py",
    "docker/Dockerfile",
]


@pytest.mark.parametrize("recipe", RECIPES)
def test_each_recipe_is_in_the_deploy_guide_verbatim(recipe: str) -> None:
    guide = (REPO / "docs" / "deploy.md").read_text()
    text = (DEPLOY / recipe).read_text().strip()
    assert text in guide, f"docs/deploy.md does not show deploy/{recipe} as it is"


def _field_ok(text: str, low: int, high: int) -> bool:
    for part in text.split(","):
        base, _, step = part.partition("/")
        if step and not step.isdigit():
            return False
        if base == "*":
            continue
        bounds = base.split("-")
        if not all(b.isdigit() and low <= int(b) <= high for b in bounds):
            return False
    return True


def test_cron_lines_are_valid() -> None:
    lines = [
        line
        for line in (DEPLOY / "cron" / "segsync.cron").read_text().splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(lines) == 2
    for line in lines:
        fields = line.split(None, 6)
        ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
        assert all(_field_ok(f, lo, hi) for f, (lo, hi) in zip(fields[:5], ranges, strict=True))
        assert fields[5] == "segsync"  # /etc/cron.d lines name the user
        assert "segsync" in fields[6]
    assert "run --report" in lines[0] and "--log-format json" in lines[0]
    assert "status --max-age 26h" in lines[1]


def test_systemd_units_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not available here")
    segsync = Path(sys.executable).with_name("segsync")
    service = (DEPLOY / "systemd" / "segsync.service").read_text()
    assert "Type=oneshot" in service and "SuccessExitStatus=1 3" in service
    (tmp_path / "segsync.service").write_text(
        service.replace("/opt/segsync/bin/segsync", str(segsync))
    )
    shutil.copy(DEPLOY / "systemd" / "segsync.timer", tmp_path / "segsync.timer")
    done = subprocess.run(
        ["systemd-analyze", "verify", "segsync.service", "segsync.timer"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "segsync.service" not in done.stderr and "segsync.timer" not in done.stderr


def test_kubernetes_cronjob_structure() -> None:
    doc = yaml.safe_load((DEPLOY / "kubernetes" / "cronjob.yaml").read_text())
    assert (doc["apiVersion"], doc["kind"]) == ("batch/v1", "CronJob")
    spec = doc["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert len(spec["schedule"].split()) == 5
    job = spec["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and job["backoffLimit"] == 0
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["args"][-3:] == ["run", "--report", "/data/reports/latest.html"]
    assert {"secretRef": {"name": "segsync-secrets"}} in container["envFrom"]
    assert not any("TOKEN" in e["name"] or "KEY" in e["name"] for e in container["env"])
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "segsync-data"
    store = next(e["value"] for e in container["env"] if e["name"] == "SEGSYNC_STORE__PATH")
    assert store.startswith(mounts["data"] + "/")


class _Dag:
    current: _Dag | None = None

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.tasks: list[Any] = []

    def __enter__(self) -> _Dag:
        _Dag.current = self
        return self

    def __exit__(self, *exc: object) -> None:
        _Dag.current = None


class _PythonOperator:
    def __init__(self, *, task_id: str, python_callable: Any) -> None:
        self.task_id, self.python_callable = task_id, python_callable
        assert _Dag.current is not None, "operator made outside the DAG"
        _Dag.current.tasks.append(self)


class _AirflowException(Exception):
    pass


def _stub_airflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """The four names the DAG uses, as Airflow 2.x spells them."""
    modules = {
        "airflow": types.ModuleType("airflow"),
        "airflow.exceptions": types.ModuleType("airflow.exceptions"),
        "airflow.operators": types.ModuleType("airflow.operators"),
        "airflow.operators.python": types.ModuleType("airflow.operators.python"),
    }
    modules["airflow"].DAG = _Dag  # type: ignore[attr-defined]
    modules["airflow.exceptions"].AirflowException = _AirflowException  # type: ignore[attr-defined]
    modules["airflow.operators.python"].PythonOperator = _PythonOperator  # type: ignore[attr-defined]
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)


def test_airflow_dag_imports_and_its_task_runs_segsync(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stub_airflow(monkeypatch)
    monkeypatch.setenv("SEGSYNC_CONFIG", str(project.config))
    spec = importlib.util.spec_from_file_location(
        "segsync_dag", DEPLOY / "airflow" / "segsync_dag.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag
    assert dag.kwargs["max_active_runs"] == 1 and dag.kwargs["catchup"] is False
    (task,) = dag.tasks
    summary = task.python_callable()
    assert summary["exit_code"] == 0
    assert summary["syncs"]["french_news"] == {"added": 2, "removed": 0, "status": "ok"}
    # a guard fails the task, naming it
    project.contacts = [c for c in project.contacts if c["country"] != "FR"]
    project.write()
    with pytest.raises(_AirflowException, match="blocked"):
        task.python_callable()


def test_dockerfile_essentials() -> None:
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms and all(":" in f and not f.endswith(":latest") for f in froms)
    assert re.search(r"^USER (?!root)\S+", text, re.M), "runs as root"
    assert re.search(r'^ENTRYPOINT \["segsync"\]', text, re.M), "ENTRYPOINT not in exec form"
    assert re.search(r"^VOLUME \[\"/data\"\]", text, re.M)
    assert "pip install --no-cache-dir" in text
    assert not re.search(r"^ADD ", text, re.M)
    assert not re.search(r"(TOKEN|API_KEY|PASSWORD)=", text), "a secret baked into the image"
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M)
    for sources in copied:
        for source in sources.split():
            assert (REPO / source).exists(), f"COPY {source}: not in the repository"
