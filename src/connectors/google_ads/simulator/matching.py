"""The "Google users" uploaded identifiers can match, so match rates are realistic and stable.

Customer Match keeps only the uploaded people it can match to Google accounts. The simulator
holds a seeded population of such accounts, keyed by the SHA-256 digest of each identifier
they are known by (normalised as :mod:`segsync.model.identity` does):

* :meth:`GoogleUsers.seed_contacts` turns contacts (``segsync sandbox``'s audience rows) into
  users: a contact **is** a Google user with probability ``match_share``; a user is known by
  the contact's email, and by its phone with probability ``phone_share``; with a given name,
  family name, country and postal code it is also known by that address.
* An uploaded identifier that is no seeded user's matches a made-up user with probability
  ``background_share`` (0 by default), for uploads of people the seed never saw.

Every draw is a keyed hash of the seed and the identifier, never a sequence of random
numbers: the same person matches whatever the order they were seeded or uploaded in.
An address matches as one identifier (given name + family name + region + postal code).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from segsync.model.identity import ad_email, ad_name, ad_phone, ad_postal_code, ad_region_code

__all__ = ["GoogleUsers", "address_key"]

_SCALE = float(2**64)


def address_key(given: bytes, family: bytes, region: str, postal: str) -> bytes:
    """The one digest an address identifier is matched by (names already SHA-256 digests)."""
    text = f"\x00{region.upper()}\x00{postal.strip()}".encode()
    return hashlib.sha256(given + family + text).digest()


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


class GoogleUsers:
    """Identifier digests → Google user ids (seeded ids count up from 1; made-up ones are
    negative)."""

    def __init__(
        self,
        *,
        seed: int = 0,
        match_share: float = 0.6,
        phone_share: float = 0.5,
        background_share: float = 0.0,
    ) -> None:
        for name, share in (("match_share", match_share), ("phone_share", phone_share),
                            ("background_share", background_share)):  # fmt: skip
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {share}")
        self.match_share = match_share
        self.phone_share = phone_share
        self.background_share = background_share
        self._key = hashlib.sha256(f"segsync-google-users-{seed}".encode()).digest()[:16]
        # identifiers arrive as SHA-256 digests, already uniform: a keyed XOR of their first
        # 8 bytes is a fast, seed-dependent draw
        self._background_key = int.from_bytes(self._key[:8], "big")
        self.by_digest: dict[bytes, int] = {}
        self.count = 0

    def _draw(self, purpose: bytes, digest: bytes) -> float:
        """A uniform number in [0, 1) fixed by the seed, the purpose and the digest."""
        h = hashlib.blake2b(purpose + digest, key=self._key, digest_size=8).digest()
        return int.from_bytes(h, "big") / _SCALE

    def add_user(self, digests: Iterable[bytes]) -> int:
        """The user known by these identifier digests: the one already known by the first
        of them that is known (the others join it), else a new one. Returns its id."""
        digests = list(digests)
        user = next((self.by_digest[d] for d in digests if d in self.by_digest), None)
        if user is None:
            self.count += 1
            user = self.count
        for digest in digests:
            self.by_digest.setdefault(digest, user)
        return user

    def seed_contacts(self, contacts: Iterable[Mapping[str, Any]]) -> int:
        """Seed users from contact rows (``email``, ``phone``, ``country``, ``first_name``,
        ``last_name``, ``postal_code``/``zip``); returns how many new Google users they made
        (rows of a person already seeded — the same email or phone — join that user)."""
        added = 0
        for row in contacts:
            country = ad_region_code(row.get("country"))
            email = ad_email(row.get("email"))
            phone = ad_phone(row.get("phone"), country)
            anchor = email or phone
            if anchor is None or self._draw(b"user", _digest(anchor)) >= self.match_share:
                continue
            digests = [] if email is None else [_digest(email)]
            if phone is not None and (
                email is None or self._draw(b"phone", _digest(phone)) < self.phone_share
            ):
                digests.append(_digest(phone))
            given, family = ad_name(row.get("first_name")), ad_name(row.get("last_name"))
            postal = ad_postal_code(row.get("postal_code") or row.get("zip"), country)
            if given and family and country and postal:
                digests.append(address_key(_digest(given), _digest(family), country, postal))
            before = self.count
            self.add_user(digests)
            added += self.count - before
        return added

    def user_for(self, digests: Sequence[bytes]) -> int | None:
        """The user the first matching identifier belongs to, or None."""
        lookup = self.by_digest.get
        for digest in digests:
            user = lookup(digest)
            if user is not None:
                return user
        if self.background_share > 0.0:
            threshold, key = self.background_share * _SCALE, self._background_key
            for digest in digests:
                head = int.from_bytes(digest[:8], "big")
                if head ^ key < threshold:
                    return -(head + 1)
        return None
