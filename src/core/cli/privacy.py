"""Privacy commands: ``forget`` (erasure), ``erasures`` (the erasure records), ``suppressions``
(``list``, ``remove``) and ``export-person`` (access)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from segsync.errors import ConfigError, InputError
from segsync.privacy import erasure_receipts, export_person, forget, print_receipt
from segsync.privacy.forget import destination_types
from segsync.privacy.identifiers import (
    parse_identifiers,
    read_identifier_file,
    store_salt,
)
from segsync.privacy.receipt import ForgetReceipt
from segsync.privacy.suppression import Suppressions

from .app import Format, FormatOpt, app, command_group, err, errors, load_config_, out
from .history import open_store

__all__ = ["suppressions_app"]

suppressions_app = command_group(
    "People never to profile or push again (salted hashes only).", no_args_is_help=True
)
app.add_typer(suppressions_app, name="suppressions")


@app.command("forget")
def forget_command(
    identifiers: Annotated[
        list[str] | None,
        typer.Argument(
            help="Emails, phone numbers, or INSTANCE:ID record ids (crm:0042); none: finish "
            "the erasures still pending",
            show_default=False,
        ),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from-file", help="Read identifiers from this file (one a line; # comments)"
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be erased where; change nothing")
    ] = False,
    fmt: FormatOpt = Format.text,
) -> None:
    """Erase people everywhere segsync put them: removed from every audience the ledger says
    they were delivered to, their records erased at platforms whose erase_records is on, every
    trace deleted from the store, and their identifiers suppressed (salted hashes) so no later
    pull brings them back. Prints a receipt. Exit 0 done (or not found), 1 a destination is
    pending (later forget and run invocations finish it), 2 a malformed identifier."""
    with errors(fmt):
        texts = list(identifiers or [])
        if from_file is not None:
            texts += read_identifier_file(from_file)
            if not texts:
                raise InputError(f"{from_file}: holds no identifier")
        if dry_run and not texts:
            raise InputError("--dry-run needs identifiers (or --from-file)")
        config = load_config_()
        receipt = asyncio.run(forget(config, texts, dry_run=dry_run))
    _emit(receipt, fmt)


def _emit(receipt: ForgetReceipt, fmt: Format) -> None:
    if fmt is Format.json:
        sys.stdout.write(receipt.model_dump_json(indent=2) + "\n")
    else:
        if not receipt.requests and not receipt.resumed:
            out.print("nothing pending: every erasure is complete")
        else:
            print_receipt(receipt, out)
    raise typer.Exit(receipt.exit_code)


@app.command("erasures")
def erasures_command(fmt: FormatOpt = Format.text) -> None:
    """The erasure records: every forget request, when, its hashed identifier, what was
    erased and what each destination answered. They hold no personal data."""
    with errors(fmt):
        config = load_config_()
        with open_store(config, "erasures") as store:
            receipts = erasure_receipts(store.engine, None, destination_types(config), {}, {})
    if fmt is Format.json:
        payload = [r.model_dump(mode="json") for r in receipts]
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    if not receipts:
        out.print("no erasure requests yet")
        return
    table = Table(title="Erasure requests (oldest first)", title_justify="left")
    for column in ("request", "requested", "kind", "hash", "status", "found", "destinations"):
        table.add_column(column)
    for r in receipts:
        done = [d for d in r.destinations if d.action != "none"]
        summary = ", ".join(
            f"{d.instance} {d.action} {d.outcome or d.status}" for d in done
        )  # fmt: skip
        found = r.found
        table.add_row(
            r.request_id,
            f"{r.requested_at:%Y-%m-%d %H:%M} UTC" if r.requested_at else "-",
            r.kind,
            r.hash_prefix or "-",
            r.status.replace("_", " "),
            f"{found.get('profiles', 0)} profiles, {found.get('records', 0)} records",
            escape(summary or "-"),
        )
    out.print(table)


@suppressions_app.command("list")
def suppressions_list(fmt: FormatOpt = Format.text) -> None:
    """Suppressed identifiers: the start of each salted hash, its kind, where it came from
    (forget, with its request id; or the suppression file) and when."""
    with errors(fmt):
        config = load_config_()
        with open_store(config, "suppressions") as store:
            entries = Suppressions(store.engine).entries()
    if fmt is Format.json:
        sys.stdout.write(json.dumps(entries, indent=2, default=str) + "\n")
        return
    if not entries:
        out.print("no suppressions")
        return
    table = Table(title=f"Suppressions ({len(entries):,})", title_justify="left")
    for column in ("hash", "kind", "origin", "request", "added"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            e["hash"][:16],
            e["kind"],
            e["origin"],
            e["request_id"] or "-",
            f"{e['added_at']:%Y-%m-%d %H:%M}",
        )
    out.print(table)


@suppressions_app.command("remove")
def suppressions_remove(
    which: Annotated[
        list[str],
        typer.Argument(
            help="Identifiers (email, phone, INSTANCE:ID) or the start of a hash (8+ hex "
            "digits, as 'suppressions list' shows it)",
            show_default=False,
        ),
    ],
    fmt: FormatOpt = Format.text,
) -> None:
    """Lift suppressions: the people may be profiled and pushed again once a pull brings
    them back (a full pull: their records were erased). Entries from the suppression file
    come back at the next run unless removed from the file."""
    with errors(fmt):
        config = load_config_()
        with open_store(config, "suppressions-remove") as store:
            engine = store.engine
            suppressions = Suppressions(engine)
            salt = store_salt(engine, create=False)
            hashes, unmatched = _hashes(which, suppressions, salt, config)
            with engine.transaction():
                removed = suppressions.remove(hashes)
    result: dict[str, Any] = {"removed": removed, "not_suppressed": unmatched}
    if fmt is Format.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    out.print(f"{removed} suppression(s) removed")
    for text in unmatched:
        err.print(f"[yellow]not suppressed[/]: {escape(text)}")


def _hashes(
    which: list[str], suppressions: Suppressions, salt: str | None, config: Any
) -> tuple[set[str], list[str]]:
    hashes: set[str] = set()
    unmatched: list[str] = []
    region = config.settings.resolve.default_region
    for text in which:
        candidate = text.strip().lower()
        if len(candidate) >= 8 and all(c in "0123456789abcdef" for c in candidate):
            found = suppressions.matching(candidate)
            if len(found) > 1:
                raise ConfigError(
                    f"{text!r} starts {len(found)} hashes; give more of it"
                )  # fmt: skip
            if found:
                hashes.add(found[0]["hash"])
                continue
        (identifier,) = parse_identifiers([text], instances=list(config.connectors), region=region)
        if salt is None:
            unmatched.append(text)
            continue
        digest = identifier.digest(salt)
        if suppressions.matching(digest):
            hashes.add(digest)
        else:
            unmatched.append(text)
    return hashes, unmatched


@app.command("export-person")
def export_person_command(
    identifier: Annotated[
        str, typer.Argument(help="An email, a phone number or INSTANCE:ID", show_default=False)
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the JSON to this file")
    ] = None,
) -> None:
    """Everything segsync holds about a person, as JSON (the right of access): their staged
    records, profile and traits, events, segments, where they were delivered, failures and
    change-log lines, and whether they are suppressed. Exit 0 (found or not: see "found")."""
    with errors(Format.json):
        config = load_config_()
        data = export_person(config, identifier)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"written to {output}")
