"""A small segsync project in a temporary folder, and ways to run the CLI on it."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from segsync.cli import app
from segsync.plugins import reset_plugins

CONTACT_COLUMNS = [
    "id",
    "email",
    "first_name",
    "country",
    "phone",
    "email_opt_in",
    "ads_opt_in",
    "updated_at",
]

BASE_CONFIG = """
[store]
path = "segsync.duckdb"

[resolve]
default_region = "FR"

[attributes]
first_name = "text"
country = "text"

[connectors.shop]
type = "files"
[connectors.shop.contacts]
path = "data/contacts.csv"
phone = "phone"
updated_at = "updated_at"
consent = {{ email_marketing = "email_opt_in", ad_user_data = "ads_opt_in", ad_personalization = "ads_opt_in" }}
[connectors.shop.events]
path = "data/orders.jsonl"
id = "order_id"
contact_id = "customer_id"
occurred_at = "ordered_at"
value = "amount"

[connectors.out]
type = "{destination_type}"
output_dir = "out"

[segments.french]
where = "country = 'FR'"

[segments.buyers]
where = "orders_count > 0"

[syncs.french_news]
segment = "french"
destination = "out"
audience = "French newsletter"
require_consent = ["email_marketing"]

[syncs.buyers]
segment = "buyers"
destination = "out"
"""


def contact(
    i: int,
    *,
    email: str | None = None,
    country: str = "FR",
    opt_in: str = "yes",
    ads: str = "yes",
    name: str | None = None,
    phone: str = "",
    updated: str = "2026-01-01T10:00:00+01:00",
) -> dict[str, str]:
    return {
        "id": f"C{i:05d}",
        "email": email if email is not None else f"person{i}@example.org",
        "first_name": name or f"Person{i}",
        "country": country,
        "phone": phone,
        "email_opt_in": opt_in,
        "ads_opt_in": ads,
        "updated_at": updated,
    }


@dataclass
class Project:
    """A segsync project on disk: config, data files, and helpers to run the CLI."""

    root: Path
    destination_type: str = "files"
    contacts: list[dict[str, str]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    extra_config: str = ""

    @property
    def config(self) -> Path:
        return self.root / "segsync.toml"

    def write(self) -> Project:
        data = self.root / "data"
        data.mkdir(parents=True, exist_ok=True)
        with (data / "contacts.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, CONTACT_COLUMNS)
            writer.writeheader()
            writer.writerows(self.contacts)
        with (data / "orders.jsonl").open("w", encoding="utf-8") as fh:
            for order in self.orders:
                fh.write(json.dumps(order) + "\n")
        text = BASE_CONFIG.format(destination_type=self.destination_type) + self.extra_config
        self.config.write_text(textwrap.dedent(text), encoding="utf-8")
        # a new mtime even within the same clock tick, so the files connector sees a change
        for path in data.iterdir():
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        return self

    def audience(self, name: str) -> set[str]:
        path = self.root / "out" / f"{name}.csv"
        with path.open(encoding="utf-8", newline="") as fh:
            return {row["email"] for row in csv.DictReader(fh)}

    def cli(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """Run the CLI in-process (fast): ``segsync -c <config> ARGS``."""
        reset_plugins()
        runner = CliRunner()
        result = runner.invoke(
            app, ["-c", str(self.config), *args], env=env, catch_exceptions=False
        )
        return Result(result.exit_code, result.stdout, result.stderr)

    def json(self, *args: str) -> tuple[int, dict[str, Any]]:
        result = self.cli(*args, "--format", "json")
        try:
            return result.code, json.loads(result.out)
        except json.JSONDecodeError:
            raise AssertionError(
                f"not JSON (exit {result.code}):\n{result.out}\n{result.err}"
            ) from None

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start the real CLI in a subprocess, taking Ctrl-C (SIGINT) as a terminal's
        foreground command does even when the suite itself runs in the background (a shell
        starts a background job with SIGINT ignored, which its children inherit, and Python
        keeps a SIGINT ignored at start-up ignored)."""
        full_env = {**os.environ, **(env or {})}
        return subprocess.Popen(
            [sys.executable, "-m", "segsync", "-c", str(self.config), *args],
            cwd=self.root,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_default_sigint,
        )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def uncomment(text: str, header: str) -> str:
    """``text`` with the commented block that starts at ``# <header>`` switched on (up to the
    first line that is not a comment): how a user turns on a section of config.example.toml."""
    lines = text.splitlines()
    start = lines.index(f"# {header}")
    end = start
    while end < len(lines) and lines[end].startswith("#"):
        end += 1
    block = ["" if line == "#" else line.removeprefix("# ") for line in lines[start:end]]
    return "\n".join(lines[:start] + block + lines[end:]) + "\n"


def demo_data(folder: Path, *, contacts: int, orders: int) -> None:
    """The demo's synthetic data (seed 42) in ``folder/demo/data``, as config.example.toml reads
    it — the same people `segsync sandbox --seed 42` serves."""
    subprocess.run(
        [sys.executable, "-m", "segsync.sandbox.synth", "--out", str(folder / "demo" / "data"),
         "--seed", "42", "--contacts", str(contacts), "--orders", str(orders)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


@contextlib.contextmanager
def sandbox(folder: Path, *platforms: str, contacts: int) -> Iterator[dict[str, dict[str, Any]]]:
    """`segsync sandbox` (seed 42) serving ``platforms`` from ``folder``: the line it announced
    for each platform (base_url, credentials, settings), by platform; stopped afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", "segsync", "sandbox",
         *(arg for name in platforms for arg in ("--platform", name)),
         "--seed", "42", "--contacts", str(contacts)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=folder,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines: dict[str, dict[str, Any]] = {}
        for _ in platforms:
            line = json.loads(process.stdout.readline())
            lines[line["platform"]] = line
        yield lines
    finally:
        process.terminate()
        process.communicate(timeout=30)


@dataclass
class Result:
    code: int
    out: str
    err: str
