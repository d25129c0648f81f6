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
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

__all__ = ["ListMembers", "Member"]


class Member:
    """One member of a list: identifier digests, matched user (or None) and times."""

    __slots__ = ("digests", "expires_at", "uploaded_at", "user")

    def __init__(
        self, digests: list[bytes], user: int | None, uploaded_at: float, expires_at: float
    ) -> None:
        self.digests = digests
        self.user = user
        self.uploaded_at = uploaded_at
        self.expires_at = expires_at


class ListMembers:
    """The members of one list."""

    def __init__(self) -> None:
        self.by_digest: dict[bytes, Member] = {}
        self.members: set[Member] = set()
        self.user_refs: Counter[int] = Counter()
        self.matched = 0
        self.next_expiry = float("inf")

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[Member]:
        return iter(self.members)

    @property
    def size(self) -> int:
        """Distinct matched Google users."""
        return len(self.user_refs)

    def match_rate(self) -> int:
        """Matched members over members, as a whole percentage (0 for an empty list)."""
        return (100 * self.matched) // len(self.members) if self.members else 0

    def upsert(
        self, digests: Sequence[bytes], user: int | None, now: float, expires_at: float
    ) -> bool:
        """Add or refresh a member; True when it joined (False: refreshed)."""
        by_digest = self.by_digest
        existing = None
        for digest in digests:
            existing = by_digest.get(digest)
            if existing is not None:
                break
        if existing is None:
            member = Member(list(digests), user, now, expires_at)
            for digest in digests:
                by_digest[digest] = member
            self.members.add(member)
            if user is not None:
                self.user_refs[user] += 1
                self.matched += 1
            if expires_at < self.next_expiry:
                self.next_expiry = expires_at
            return True
        existing.uploaded_at = now
        existing.expires_at = expires_at
        for digest in digests:
            if digest not in by_digest:
                by_digest[digest] = existing
                existing.digests.append(digest)
        if existing.user is None and user is not None:
            existing.user = user
            self.user_refs[user] += 1
            self.matched += 1
        return False

    def _drop(self, member: Member) -> None:
        self.members.discard(member)
        for digest in member.digests:
            if self.by_digest.get(digest) is member:
                del self.by_digest[digest]
        if member.user is not None:
            self.user_refs[member.user] -= 1
            if not self.user_refs[member.user]:
                del self.user_refs[member.user]
            self.matched -= 1

    def remove(self, digests: Sequence[bytes]) -> int:
        """Remove every member known by one of ``digests``; returns how many were removed."""
        removed = 0
        for digest in digests:
            member = self.by_digest.get(digest)
            if member is not None:
                self._drop(member)
                removed += 1
        return removed

    def remove_uploaded_before(self, moment: float) -> int:
        """Remove the members last uploaded before ``moment`` (``removeAll``)."""
        gone = [m for m in self.members if m.uploaded_at < moment]
        for member in gone:
            self._drop(member)
        return len(gone)

    def expire(self, now: float) -> int:
        """Drop members whose membership ran out by ``now``; returns how many."""
        if now < self.next_expiry:
            return 0
        gone = [m for m in self.members if m.expires_at <= now]
        for member in gone:
            self._drop(member)
        self.next_expiry = min((m.expires_at for m in self.members), default=float("inf"))
        return len(gone)
