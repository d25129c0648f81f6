"""Phone numbers to E.164, many at a time: :func:`segsync.model.identity.normalize_phone`, fast.

``phonenumbers`` spends ~40 µs on a number, most of it on what a phone *export* never holds:
extensions, vanity letters, RFC 3966 URIs, full-width digits. :class:`PhoneBook` reads the
common shape — ASCII digits with spaces, dots, dashes and parentheses, one optional leading
``+`` — by the same steps as ``phonenumbers.parse`` followed by ``is_valid_number``, with the
library's own metadata and regular expressions (so a new ``phonenumbers`` brings its new
rules), in a few µs; any other text, and any region the library would not take as given, goes
to ``phonenumbers`` itself. The result is the same string or None in every case
(``tests/core/test_phones.py`` compares the two on every region's example numbers, mutated).

The steps, as ``phonenumbers.parse`` takes them for that shape:

1. the number starts at its first digit or ``+`` and ends at its last digit; fewer than three
   digits is no number (exactly two bare digits is one, too short to be valid later);
2. a ``+`` is followed by a country calling code; without one, the region's international
   prefix (``00``) may stand for it (not when a ``0`` follows it); failing both, digits that
   start with the region's own code are taken as that code when the rest fits the region's
   plan better (or the whole is too long for it);
3. a ``+`` followed by no known code is read again without the ``+``;
4. the national prefix (``0``, with a region's transform rule) is stripped when what remains
   has a possible length;
5. the national significant number must match the general pattern and one type's pattern of
   the region the calling code and leading digits designate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import phonenumbers
from phonenumbers import PhoneMetadata

from segsync.model.identity import normalize_phone

__all__ = ["PhoneBook"]

_SHAPE = re.compile(r"[ .()\-]*(\+?)([0-9 .()\-]*)")
_NOT_DIGIT = re.compile(r"[^0-9]")
_MAX_INPUT = 250  # phonenumbers refuses longer input as too long
_MIN_NSN, _MAX_NSN, _MAX_CC = 2, 17, 3
_NON_GEO = "001"


class _Sentinel:
    """A marker (not a result)."""


_UNSURE: Final = _Sentinel()
_INVALID_CODE: Final = _Sentinel()

# _test_number_length's verdicts that keep a number unstripped
_TOO_SHORT, _LOCAL_ONLY, _INVALID_LENGTH, _TOO_LONG, _POSSIBLE = range(5)


@dataclass(frozen=True)
class _Desc:
    lengths: tuple[int, ...]
    pattern: re.Pattern[str] | None

    def matches(self, number: str) -> bool:
        """``_is_number_matching_desc``: a possible length (when listed) and the pattern."""
        if self.lengths and len(number) not in self.lengths:
            return False
        return _matches(self.pattern, number)


def _matches(pattern: re.Pattern[str] | None, number: str) -> bool:
    """``_match_national_number`` without prefix matches: the whole number fits."""
    return pattern is not None and pattern.fullmatch(number) is not None


def _compile(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(pattern) if pattern else None


class _Plan:
    """What the fast path needs of one region's metadata, compiled once."""

    def __init__(self, meta: Any) -> None:
        general = meta.general_desc
        self.country_code: int = meta.country_code
        self.idd = re.compile(meta.international_prefix or "NonMatch")
        self.general = _compile(general.national_number_pattern if general else None)
        self.general_lengths: tuple[int, ...] = tuple(general.possible_length) if general else ()
        self.local_lengths: tuple[int, ...] = (
            tuple(general.possible_length_local_only) if general else ()
        )
        self.national_prefix = _compile(meta.national_prefix_for_parsing)
        self.transform: str | None = meta.national_prefix_transform_rule or None
        self.leading = _compile(meta.leading_digits)
        types = [
            meta.premium_rate, meta.toll_free, meta.shared_cost, meta.voip,
            meta.personal_number, meta.pager, meta.uan, meta.voicemail, meta.fixed_line,
        ]  # fmt: skip
        if not meta.same_mobile_and_fixed_line_pattern:
            types.append(meta.mobile)
        self.general_desc = _Desc(self.general_lengths, self.general) if general else None
        self.types = tuple(
            _Desc(tuple(d.possible_length), _compile(d.national_number_pattern))
            for d in types
            if d is not None
        )
        self._any_type: dict[int, re.Pattern[str] | None] = {}

    def known_type(self, nsn: str) -> bool:
        """``_number_type_helper(nsn) != UNKNOWN``: the general description and one type's
        (one alternation of the patterns of the types that take the number's length)."""
        if self.general_desc is None or not self.general_desc.matches(nsn):
            return False
        size = len(nsn)
        if size not in self._any_type:
            patterns = [
                f"(?:{d.pattern.pattern})"
                for d in self.types
                if d.pattern is not None and (not d.lengths or size in d.lengths)
            ]
            self._any_type[size] = re.compile("|".join(patterns)) if patterns else None
        union = self._any_type[size]
        return union is not None and union.fullmatch(nsn) is not None

    def length(self, number: str) -> int:
        """``_test_number_length`` for the general description."""
        if self.general_desc is None:
            return _INVALID_LENGTH
        size = len(number)
        if size in self.local_lengths:
            return _LOCAL_ONLY
        lengths = self.general_lengths
        if lengths[0] == size:
            return _POSSIBLE
        if lengths[0] > size:
            return _TOO_SHORT
        if lengths[-1] < size:
            return _TOO_LONG
        return _POSSIBLE if size in lengths[1:] else _INVALID_LENGTH

    def strip_national_prefix(self, number: str) -> str:
        """``_maybe_strip_national_prefix_carrier_code``, the number it leaves."""
        if not number or self.national_prefix is None:
            return number
        found = self.national_prefix.match(number)
        if not found:
            return number
        viable = _matches(self.general, number)
        groups = found.groups()
        if self.transform is None or not groups or groups[-1] is None:
            rest = number[found.end() :]
        else:
            rest = self.national_prefix.sub(self.transform, number, count=1)
        if viable and not _matches(self.general, rest):
            return number
        return rest


class PhoneBook:
    """``normalize_phone`` with memory: each distinct (text, region) is read once, the common
    shape by the fast path, anything else by ``phonenumbers``."""

    def __init__(self) -> None:
        self._plans: dict[str, _Plan | None] = {}
        self._nongeo: dict[int, _Plan | None] = {}
        self.fast = 0
        self.slow = 0

    def normalize(self, raw: object, region: str | None) -> str | None:
        """What :func:`~segsync.model.identity.normalize_phone` returns for ``raw``."""
        if raw is None:
            return None
        text = str(raw).strip()
        if not text:
            return None
        found = self._fast(text, region)
        if isinstance(found, _Sentinel):
            self.slow += 1
            return normalize_phone(text, region)
        self.fast += 1
        return found

    # -- the fast path --------------------------------------------------------------------

    def _plan(self, region: str) -> _Plan | None:
        if region not in self._plans:
            meta = PhoneMetadata.metadata_for_region(region, None)
            self._plans[region] = _Plan(meta) if meta is not None else None
        return self._plans[region]

    def _plan_for_code(self, code: int, region: str) -> _Plan | None:
        if region != _NON_GEO:
            return self._plan(region)
        if code not in self._nongeo:
            meta = PhoneMetadata.metadata_for_nongeo_region(code, None)
            self._nongeo[code] = _Plan(meta) if meta is not None else None
        return self._nongeo[code]

    def _fast(self, text: str, region: str | None) -> str | _Sentinel | None:
        shape = _SHAPE.fullmatch(text)
        if shape is None or len(text) > _MAX_INPUT:
            return _UNSURE
        if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
            return _UNSURE
        plus, rest = shape.group(1) == "+", shape.group(2)
        digits = _NOT_DIGIT.sub("", rest)
        if len(digits) < 3 and not (len(digits) == 2 and not plus and rest == digits):
            return None  # not a viable number
        if region is None and not plus:
            return None  # no region to read it in
        plan = self._plan(region) if region is not None else None
        extracted = self._country_code(plus, digits, plan)
        if extracted is None:
            return None
        code, national = extracted
        if code:
            main = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code][0]
            if main != region:
                plan = self._plan_for_code(code, main)
        else:
            national = digits
            if plan is None:
                return _UNSURE
            code = plan.country_code
        if len(national) < _MIN_NSN:
            return None
        if plan is not None:
            stripped = plan.strip_national_prefix(national)
            if plan.length(stripped) not in (_TOO_SHORT, _LOCAL_ONLY, _INVALID_LENGTH):
                national = stripped
        if not _MIN_NSN <= len(national) <= _MAX_NSN:
            return None
        return f"+{code}{national}" if self._valid(code, national) else None

    def _country_code(self, plus: bool, digits: str, plan: _Plan | None) -> tuple[int, str] | None:
        """``(code, national number)`` with the code 0 when none was written; None when the
        text is no number; the parse's retry without the ``+`` when no code follows it."""
        found = self._extract(plus, digits, plan)
        if not isinstance(found, _Sentinel):
            return found
        if not plus:
            return None
        again = self._extract(False, digits, plan)
        if isinstance(again, _Sentinel) or again is None or again[0] == 0:
            return None
        return again

    def _extract(
        self, plus: bool, digits: str, plan: _Plan | None
    ) -> tuple[int, str] | _Sentinel | None:
        """``_maybe_extract_country_code`` on the digits (``+`` told apart)."""
        number, international = digits, plus
        if not plus and plan is not None:
            idd = plan.idd.match(digits)
            if idd is not None:
                after = digits[idd.end() :]
                if not after.startswith("0"):
                    number, international = after, True
        if international:
            if len(number) <= _MIN_NSN:
                return None
            code, rest = _split_country_code(number)
            return (code, rest) if code else _INVALID_CODE
        if plan is not None:
            own = str(plan.country_code)
            if digits.startswith(own):
                rest = plan.strip_national_prefix(digits[len(own) :])
                if (
                    not _matches(plan.general, digits) and _matches(plan.general, rest)
                ) or plan.length(digits) == _TOO_LONG:
                    return (plan.country_code, rest)
        return (0, "")

    def _valid(self, code: int, nsn: str) -> bool:
        """``is_valid_number``: the region the code and leading digits designate knows the
        number's type."""
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code)
        if not regions:
            return False
        region: str | None = regions[0]
        if len(regions) > 1:
            region = None
            for candidate in regions:
                plan = self._plan_for_code(code, candidate)
                if plan is None:
                    continue
                if plan.leading is not None:
                    if plan.leading.match(nsn):
                        region = candidate
                        break
                elif plan.known_type(nsn):
                    region = candidate
                    break
        if region is None:
            return False
        plan = self._plan_for_code(code, region)
        if plan is None or (region != _NON_GEO and plan.country_code != code):
            return False
        return plan.known_type(nsn)


def _split_country_code(number: str) -> tuple[int, str]:
    """``_extract_country_code``: the first one to three digits naming a calling code."""
    if not number or number[0] == "0":
        return 0, number
    for size in range(1, min(len(number), _MAX_CC) + 1):
        code = int(number[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return code, number[size:]
    return 0, number
