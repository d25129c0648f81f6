"""The receipt of ``segsync forget``: per request, what was found, what was erased, and what
every destination answered — built from the erasure record, so it holds no personal data
beyond the masked identifier the operator typed (and none at all for a resumed request).

``--format json`` prints :class:`ForgetReceipt`; its shape is part of segsync's interface
(fields are only ever added).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field
from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["DestinationLine", "ForgetReceipt", "RequestReceipt", "print_receipt"]

Status = Literal["complete", "pending", "failed", "not_found", "started", "dry_run"]


class DestinationLine(BaseModel):
    """What one destination (or eraser) did for one request."""

    instance: str
    connector: str
    action: Literal["remove", "erase", "none"]
    """``remove`` from an audience, ``erase`` the record, ``none``: never delivered there."""
    sync: str | None = None
    audience: str | None = None
    kind: str | None = None
    status: Literal["done", "pending", "failed", "not_delivered", "would_do", "not_known"]
    outcome: str | None = None
    """``removed``; ``deleted`` / ``anonymised`` / ``not_found`` for an erase."""
    error: str | None = None
    attempts: int = 0


class RequestReceipt(BaseModel):
    request_id: str
    identifier: str
    """Masked (``a***@example.org``), or the hash's start for a resumed request."""
    kind: str
    hash_prefix: str | None
    """The start of the identifier's salted hash, as the store records it; None in a dry run
    before the first erasure (the store's salt, which the hash depends on, is made then)."""
    status: Status
    requested_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    found: dict[str, int] = Field(default_factory=dict)
    """``records``, ``events``, ``profiles``, ``deliveries``."""
    suppressed: bool = False
    destinations: list[DestinationLine] = Field(default_factory=list)


class ForgetReceipt(BaseModel):
    batch_id: str
    dry_run: bool = False
    status: Literal["ok", "pending", "failed", "dry_run"] = "ok"
    exit_code: int = 0
    requests: list[RequestReceipt] = Field(default_factory=list)
    resumed: list[RequestReceipt] = Field(default_factory=list)
    """Earlier requests this invocation worked on (left pending by a failure or a kill)."""
    store: dict[str, int] = Field(default_factory=dict)
    """Rows erased per table (and reports, rejects lines) by this invocation."""
    errors: list[str] = Field(default_factory=list)

    def finish(self) -> None:
        """Status and exit code: 1 while anything is pending or failed for good (as a run
        with failed records), else 0."""
        every = [*self.requests, *self.resumed]
        if self.dry_run:
            self.status, self.exit_code = "dry_run", 0
        elif any(r.status in ("pending", "started") for r in every):
            self.status, self.exit_code = "pending", 1
        elif any(r.status == "failed" for r in every):
            self.status, self.exit_code = "failed", 1
        else:
            self.status, self.exit_code = "ok", 0


def destination_lines(
    tasks: Sequence[Mapping[str, Any]],
    destinations: Mapping[str, str],
    erasers: Mapping[str, str],
) -> list[DestinationLine]:
    """One request's lines: each task, then each configured destination (instance → connector
    type) it has no task at (``not_delivered``), and each eraser it is not known at."""
    lines = []
    seen_remove: set[str] = set()
    seen_erase: set[str] = set()
    for t in tasks:
        instance = str(t["instance"])
        action = str(t["task"])
        (seen_remove if action == "remove" else seen_erase).add(instance)
        status = str(t["status"])
        lines.append(
            DestinationLine(
                instance=instance,
                connector=destinations.get(instance) or erasers.get(instance) or "?",
                action="remove" if action == "remove" else "erase",
                sync=t.get("sync"),
                audience=t.get("audience_name"),
                kind=t.get("audience_kind"),
                status="pending" if status == "pending" else "failed" if status == "failed"
                else "would_do" if status == "would_do" else "done",
                outcome=t.get("outcome"),
                error=t.get("error"),
                attempts=int(t.get("attempts") or 0),
            )
        )  # fmt: skip
    for instance, connector in sorted(destinations.items()):
        if instance not in seen_remove:
            lines.append(
                DestinationLine(
                    instance=instance, connector=connector, action="none", status="not_delivered"
                )
            )
    for instance, connector in sorted(erasers.items()):
        if instance not in seen_erase:
            lines.append(
                DestinationLine(
                    instance=instance, connector=connector, action="erase", status="not_known"
                )
            )
    return lines


_STYLE = {"done": "green", "pending": "yellow", "failed": "red", "would_do": "cyan"}
_WORDS = {
    "not_delivered": "never delivered there",
    "not_known": "not known there (nothing to erase)",
    "would_do": "would do",
}


def print_receipt(receipt: ForgetReceipt, console: Console) -> None:
    """The receipt for people."""
    title = "Dry run: nothing was changed" if receipt.dry_run else f"Erasure {receipt.batch_id}"
    console.print(f"[bold]{escape(title)}[/]")
    for request in [*receipt.requests, *receipt.resumed]:
        found = request.found
        what = (
            f"{found.get('profiles', 0)} profile(s), {found.get('records', 0)} record(s), "
            f"{found.get('events', 0)} event(s), {found.get('deliveries', 0)} delivery(ies)"
        )
        status = request.status.replace("_", " ")
        style = {"complete": "green", "not_found": "green", "pending": "yellow"}.get(
            request.status, "red"
        )
        hashed = (
            f"hash {request.hash_prefix}…"
            if request.hash_prefix is not None
            else "no hash yet: the first erasure makes the salt it depends on"
        )
        console.print(
            f"\n{escape(request.request_id)}  {escape(request.identifier)} ({request.kind}, "
            f"{hashed})  [{style}]{status}[/]"
        )
        if request.status == "not_found":
            console.print(
                "  not found: segsync holds nothing about them"
                + ("; suppressed, so no later pull brings them in" if request.suppressed else "")
            )
        else:
            verb = "would erase" if receipt.dry_run else "erased from the store"
            console.print(f"  {verb}: {what}")
            if request.suppressed:
                console.print("  suppressed: a later pull never brings them back")
        table = Table(show_edge=False, pad_edge=False, box=None)
        for column in ("destination", "what", "result"):
            table.add_column(column)
        for line in request.destinations:
            if line.action == "remove":
                what = f"remove from {line.kind} {line.audience!r} ({line.sync})"
            elif line.action == "erase":
                what = "erase the record"
            else:
                what = "-"
            result = _WORDS.get(line.status, line.status)
            if line.outcome and line.status == "done":
                result = line.outcome.replace("_", " ")
            if line.error and line.status in ("pending", "failed"):
                result += f": {line.error}"
            color = _STYLE.get(line.status)
            shown = f"[{color}]{escape(result)}[/]" if color else escape(result)
            table.add_row(f"{line.instance} ({line.connector})", escape(what), shown)
        if request.destinations:
            console.print(table)
    if receipt.store:
        erased = ", ".join(f"{k} {v:,}" for k, v in sorted(receipt.store.items()) if v)
        console.print(f"\nstore: {erased or 'nothing to erase'}")
    for error in receipt.errors:
        console.print(f"[red]error[/]: {escape(error)}")


def as_json(receipt: ForgetReceipt) -> str:
    return json.dumps(receipt.model_dump(mode="json"), indent=2)
