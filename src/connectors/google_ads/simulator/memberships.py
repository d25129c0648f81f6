"""Who is on a Customer Match list: members, their upload time and their expiry.

An uploaded audience member is known by the digests of its identifiers. Uploading a member
that shares an identifier with one already on the list refreshes that member (its upload time,
its expiry, any new identifiers); otherwise it joins. Removing a member removes every member
that shares one of its identifiers. A member expires ``membershipDuration`` after its last
upload (at most 540 days, reference §4.9), so a list shrinks unless members are re-uploaded.

A member is *matched* when one of its identifiers belongs to a Google user
(:mod:`.matching`). The list's size is the number of distinct matched users among its
unexpired members; its match rate is matched members over members. Counts are kept
incrementally, so reading them is O(1); expiry is swept lazily, only once the clock has passed
the earliest expiry.

Members are stored as plain tuples in dicts of bytes and ints, which Python's cyclic garbage
collector does not track: a list of a million members costs the collector nothing, so
ingestion stays as fast at the millionth member as at the first.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

__all__ = ["ListMembers", "Member"]


class Member(NamedTuple):
    """One member of a list: identifier digests, matched user (or None) and times."""

    digests: tuple[bytes, ...]
    user: int | None
    uploaded_at: float
    expires_at: float


# a member as stored: (digests, user, uploaded_at, expires_at)
_Row = tuple[tuple[bytes, ...], int | None, float, float]


class ListMembers:
    """The members of one list."""

    def __init__(self) -> None:
        self.by_digest: dict[bytes, int] = {}  # identifier digest → member id
        self.rows: dict[int, _Row] = {}  # member id → member
        self.user_refs: dict[int, int] = {}  # matched user → members matched to it
        self.matched = 0
        self.next_expiry = float("inf")
        self._next_id = 0

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Member]:
        return (Member(*row) for row in self.rows.values())

    @property
    def size(self) -> int:
        """Distinct matched Google users."""
        return len(self.user_refs)

    def match_rate(self) -> int:
        """Matched members over members, as a whole percentage (0 for an empty list)."""
        return (100 * self.matched) // len(self.rows) if self.rows else 0

    def has_any(self, digests: Sequence[bytes]) -> bool:
        by_digest = self.by_digest
        return any(d in by_digest for d in digests)

    def upsert(
        self, digests: Sequence[bytes], user: int | None, now: float, expires_at: float
    ) -> bool:
        """Add or refresh a member; True when it joined (False: refreshed)."""
        by_digest = self.by_digest
        member_id = None
        for digest in digests:
            member_id = by_digest.get(digest)
            if member_id is not None:
                break
        if member_id is None:
            member_id = self._next_id
            self._next_id += 1
            self.rows[member_id] = (tuple(digests), user, now, expires_at)
            for digest in digests:
                by_digest[digest] = member_id
            if user is not None:
                self.user_refs[user] = self.user_refs.get(user, 0) + 1
                self.matched += 1
            if expires_at < self.next_expiry:
                self.next_expiry = expires_at
            return True
        known, known_user, _, _ = self.rows[member_id]
        added = tuple(d for d in digests if d not in by_digest)
        for digest in added:
            by_digest[digest] = member_id
        if known_user is None and user is not None:
            known_user = user
            self.user_refs[user] = self.user_refs.get(user, 0) + 1
            self.matched += 1
        self.rows[member_id] = (known + added, known_user, now, expires_at)
        return False

    def _drop(self, member_id: int) -> None:
        digests, user, _, _ = self.rows.pop(member_id)
        for digest in digests:
            if self.by_digest.get(digest) == member_id:
                del self.by_digest[digest]
        if user is not None:
            left = self.user_refs[user] - 1
            if left:
                self.user_refs[user] = left
            else:
                del self.user_refs[user]
            self.matched -= 1

    def remove(self, digests: Sequence[bytes]) -> int:
        """Remove every member known by one of ``digests``; returns how many were removed."""
        removed = 0
        for digest in digests:
            member_id = self.by_digest.get(digest)
            if member_id is not None:
                self._drop(member_id)
                removed += 1
        return removed

    def remove_uploaded_before(self, moment: float) -> int:
        """Remove the members last uploaded before ``moment`` (``removeAll``)."""
        gone = [mid for mid, row in self.rows.items() if row[2] < moment]
        for member_id in gone:
            self._drop(member_id)
        return len(gone)

    def expire(self, now: float) -> int:
        """Drop members whose membership ran out by ``now``; returns how many."""
        if now < self.next_expiry:
            return 0
        gone = [mid for mid, row in self.rows.items() if row[3] <= now]
        for member_id in gone:
            self._drop(member_id)
        self.next_expiry = min((row[3] for row in self.rows.values()), default=float("inf"))
        return len(gone)
