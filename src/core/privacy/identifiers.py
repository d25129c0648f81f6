"""The identifiers a privacy request names a person by, and the salted hashes segsync keeps of
them instead.

An identifier is an **email** (normalised: trimmed, lower-case), a **phone** number (E.164,
national numbers read in ``[resolve] default_region``) or a **record** id at one connector
instance, written ``INSTANCE:ID`` (``crm:0042``, ``hubspot:101``). What segsync keeps of one is
``sha256(salt ":" kind ":" value)`` in hex, the salt being a random secret of the store
(``segsync_meta``): the same identifier hashes alike in Python (:func:`digest`) and in SQL
(:func:`digest_sql`), so stored and staged records can be matched against a hash without the
raw identifier ever being written down again.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlglot import exp

from segsync.engine import Engine, parse
from segsync.errors import InputError
from segsync.model.identity import mask_email, mask_phone, mask_text, normalize_email
from segsync.model.identity import normalize_phone as _phone

__all__ = [
    "Identifier",
    "Kind",
    "digest",
    "digest_sql",
    "parse_identifier",
    "parse_identifiers",
    "read_identifier_file",
    "store_salt",
]

Kind = Literal["email", "phone", "record"]
_PHONE_CHARS = re.compile(r"^\+?[0-9 ().\-/]+$")
_SALT_KEY = "privacy_salt"


@dataclass(frozen=True)
class Identifier:
    """One identifier, normalised. ``value`` is what records hold (``record``:
    ``instance:source_id``); ``given`` is how it was written."""

    kind: Kind
    value: str
    given: str

    def masked(self) -> str:
        """Enough to recognise it in a receipt, not to reuse it."""
        if self.kind == "email":
            return mask_email(self.value)
        if self.kind == "phone":
            return mask_phone(self.value)
        instance, _, record = self.value.partition(":")
        return f"{instance}:{mask_text(record)}"

    def digest(self, salt: str) -> str:
        return digest(salt, self.kind, self.value)


def digest(salt: str, kind: str, value: str) -> str:
    """The salted hash of one normalised identifier, in hex."""
    return hashlib.sha256(f"{salt}:{kind}:{value}".encode()).hexdigest()


def digest_sql(salt: str, kind: str, value: exp.Expr) -> exp.Expr:
    """:func:`digest` as SQL over ``value`` (NULL stays NULL)."""
    return parse("sha256(:prefix || :value)", prefix=f"{salt}:{kind}:", value=value)


def store_salt(engine: Engine, *, create: bool = True) -> str | None:
    """The store's salt, made (a random 256-bit secret) the first time it is needed; None when
    there is none yet and ``create`` is false (a dry run writes nothing)."""
    query = parse("SELECT value FROM segsync_meta WHERE key = :key", key=_SALT_KEY)
    found = engine.scalar(query)
    if found is not None or not create:
        return None if found is None else str(found)
    salt = secrets.token_hex(32)
    engine.insert_rows("segsync_meta", ("key", "value"), [(_SALT_KEY, salt)])
    return salt


def parse_identifier(text: str, *, instances: Collection[str], region: str | None) -> Identifier:
    """An identifier from how a person wrote it; :class:`InputError` (exit 2) when it is none
    of an email, a phone number, or ``INSTANCE:ID`` of a configured connector instance."""
    given = text.strip()
    if not given:
        raise InputError("an empty identifier: expected an email, a phone number or INSTANCE:ID")
    if "@" in given:
        email = normalize_email(given)
        if email is None:
            raise InputError(f"{given!r} is not a valid email address")
        return Identifier("email", email, given)
    instance, colon, record = given.partition(":")
    if colon and instance in instances:
        if not record.strip():
            raise InputError(f"{given!r}: expected {instance}:ID, the record's id at {instance}")
        return Identifier("record", f"{instance}:{record.strip()}", given)
    if _PHONE_CHARS.match(given) and any(ch.isdigit() for ch in given):
        phone = _phone(given, region)
        if phone is None:
            hint = "" if region or given.startswith("+") else " (or set [resolve] default_region)"
            raise InputError(f"{given!r} is not a valid phone number; write it as +CC…{hint}")
        return Identifier("phone", phone, given)
    known = ", ".join(sorted(instances)) or "(none configured)"
    raise InputError(
        f"{given!r} is not an email, a phone number or INSTANCE:ID (a record id at a "
        f"configured connector instance: {known})"
    )


def parse_identifiers(
    texts: Iterable[str], *, instances: Collection[str], region: str | None
) -> list[Identifier]:
    """Every identifier, each once (in the order first given); the first malformed one raises
    :class:`InputError` naming it (nothing is done then)."""
    out: dict[tuple[str, str], Identifier] = {}
    problems = []
    for text in texts:
        try:
            found = parse_identifier(text, instances=instances, region=region)
        except InputError as exc:
            problems.append(str(exc))
            continue
        out.setdefault((found.kind, found.value), found)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(f"{problems[0]}{more}; nothing was done")
    return list(out.values())


def read_identifier_file(path: Path) -> list[str]:
    """The identifiers of a request file: one a line; blank lines and ``#`` comments are
    skipped; a line ``a@x.org,+33…`` (a CSV row) gives each of its fields."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise InputError(f"{path}: cannot read it: {reason}") from None
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        out += [field.strip().strip('"') for field in line.split(",") if field.strip()]
    return out
