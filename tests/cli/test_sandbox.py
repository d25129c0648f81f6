"""`segsync sandbox`: serves registered simulators on loopback, seeded, until interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

PLUGIN = '''
from starlette.responses import JSONResponse
from starlette.routing import Route

from segsync import hookimpl
from segsync.testing.simulator import Simulator


class DirectorySimulator(Simulator):
    """A minimal platform: GET /contacts lists what the sandbox seeded."""

    name = "directory"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.contacts = []

    def seed_contacts(self, contacts, account="default"):
        self.contacts = [{"id": c["id"], "email": c["email"]} for c in contacts]

    def routes(self):
        async def contacts(request):
            return JSONResponse({"results": self.contacts})

        return [Route("/contacts", contacts)]


@hookimpl
def register_simulators(register):
    register("directory", DirectorySimulator)
'''


def test_sandbox_serves_seeded_simulators_until_interrupted(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "directory.py").write_text(PLUGIN)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "segsync",
            "--plugins-dir",
            str(plugins),
            "sandbox",
            "--platform",
            "directory",
            "--contacts",
            "25",
            "--seed",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=os.environ.copy(),
    )
    try:
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())
        assert line["platform"] == "directory"
        assert line["base_url"].startswith("http://127.0.0.1:")
        assert line["contacts"] == 25
        token = line["credentials"]["token"]
        denied = httpx.get(line["base_url"] + "/contacts", timeout=10)
        assert denied.status_code == 401
        listed = httpx.get(
            line["base_url"] + "/contacts", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert listed.status_code == 200
        assert len(listed.json()["results"]) == 25
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_sandbox_without_simulators_says_so(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "segsync", "--plugins-dir", str(tmp_path), "sandbox"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=60,
        env={**os.environ, "SEGSYNC_PLUGINS": "files"},  # files ships no simulator
    )
    assert proc.returncode == 2
    assert "no installed connector ships a simulator" in proc.stderr
