"""Salesforce record ids: 15-character case-sensitive ids and their 18-character forms.

A 15-character id is ``<key prefix:3><pod:2><reserved:1><record number:9>`` in base 62
(``0-9A-Za-z``); e.g. ``003R0000000UyrW``. Its 18-character form appends a 3-character
checksum that makes it case-insensitively unique: for each 5-character chunk, a 5-bit mask of
which characters are upper-case letters, as a letter of ``A-Z0-5``. The API accepts either form
wherever an id is expected and answers with the 18-character one.

Key prefixes used by the simulator: Contact ``003``, Lead ``00Q``, Campaign ``701``,
CampaignMember ``00v``, CampaignMemberStatus ``01Y``, Opportunity ``006``,
OpportunityContactRole ``00K``, Account ``001``, User ``005``, Organization ``00D``, Bulk API
job ``750`` and query locator ``0r8``.
"""

from __future__ import annotations

import functools
import random
import re

__all__ = ["IdFactory", "is_id", "to_18"]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_SHAPE = re.compile(r"^[0-9A-Za-z]{15}(?:[A-Z0-5]{3})?$")
_POD = "Hu"  # the instance/pod characters of every id the simulator issues


@functools.lru_cache(maxsize=65_536)
def _chunk_suffix(chunk: str) -> str:
    mask = 0
    for bit, char in enumerate(chunk):
        if "A" <= char <= "Z":
            mask |= 1 << bit
    return _SUFFIX[mask]


def _checksum(id15: str) -> str:
    return _chunk_suffix(id15[:5]) + _chunk_suffix(id15[5:10]) + _chunk_suffix(id15[10:15])


def to_18(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or None when ``value`` is not one
    (wrong length or characters, or an 18-character id whose checksum does not match)."""
    if not _SHAPE.match(value):
        return None
    suffix = _checksum(value[:15])
    if len(value) == 18 and value[15:].upper() != suffix:
        return None
    return value[:15] + suffix


def is_id(value: str, prefix: str | None = None) -> bool:
    """Whether ``value`` is a well-formed id (with key ``prefix`` when given)."""
    return to_18(value) is not None and (prefix is None or value[:3] == prefix)


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    return "".join(reversed(digits))


_PAIRS = [_base62(n, 2) for n in range(62 * 62)]
_high = functools.lru_cache(maxsize=4096)(lambda number: _base62(number, 7))


class IdFactory:
    """Issues unique 18-character ids per key prefix: sequential record numbers from a seeded
    starting point, so two simulators with one seed issue the same ids."""

    def __init__(self, seed: int | str = 0) -> None:
        self._rng = random.Random(f"salesforce-ids-{seed}")  # noqa: S311 - ids, not secrets
        self._next: dict[str, int] = {}

    def new(self, prefix: str) -> str:
        """A new id with key ``prefix`` (three base-62 characters)."""
        if len(prefix) != 3 or any(c not in _BASE62 for c in prefix):
            raise ValueError(f"a key prefix is three base-62 characters, not {prefix!r}")
        number = self._next.get(prefix)
        if number is None:
            number = self._rng.randrange(62**5, 62**6)
        self._next[prefix] = number + 1
        high, low = divmod(number, 62 * 62)
        id15 = f"{prefix}{_POD}0{_high(high)}{_PAIRS[low]}"
        return id15 + _checksum(id15)
