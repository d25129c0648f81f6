"""Phone numbers to E.164 in SQL: :class:`~segsync.model.phones.PhoneBook`'s steps for the
common cases, with the same ``phonenumbers`` metadata and regular expressions (written for
RE2, which DuckDB uses, as much as for Python's ``re``).

What SQL reads here: the common shape (ASCII digits, spaces, dots, dashes, parentheses, one
leading ``+``) in a region whose national prefix has no transform rule —

* a national number (no ``+``) that starts with neither the region's international prefix
  nor its own calling code (both of which ``phonenumbers`` reads by heuristics);
* a ``+`` followed by a calling code of a region (not a non-geographic entity).

Each input row gets ``phone`` (E.164 or NULL) and ``decided`` (False: PhoneBook reads it, in
Python). The rows are the lane's distinct inputs, so the SQL runs once per distinct value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import phonenumbers
from phonenumbers import PhoneMetadata

from segsync.engine import Engine, parse
from segsync.model.phones import _Plan
from segsync.pipeline.bulk_sql import lit, strip

__all__ = ["PhoneSQL", "country_codes", "read_phones"]

_SHAPE = "^[ .()-]*[+]?[0-9 .()-]*$"
_PLUS = "^[ .()-]*[+]"


def _full(column: str, pattern: str) -> str:
    return f"regexp_matches({column}, {lit(f'^(?:{pattern})$')})"


def _digits(text: str) -> str:
    """The digits of a number of the common shape (its other characters removed)."""
    for char in " .-()+":
        text = f"replace({text}, {lit(char)}, '')"
    return text


def _in(column: str, values: Iterable[int]) -> str:
    listed = ", ".join(str(v) for v in sorted(set(values)))
    return f"length({column}) IN ({listed})" if listed else "FALSE"


class PhoneSQL:
    """The SQL that reads phone numbers in the regions (and calling codes) a file holds."""

    def __init__(self) -> None:
        self._plans: dict[str, _Plan | None] = {}

    def plan(self, region: str, *, parsing: bool = True) -> _Plan | None:
        """A region's plan when SQL reads its numbers (None: Python does): to check a number
        against, or also to read one in (``parsing``: no transform rule for the national
        prefix, which SQL does not apply)."""
        if region not in self._plans:
            plan = None
            if region in phonenumbers.SUPPORTED_REGIONS:
                meta = PhoneMetadata.metadata_for_region(region, None)
                if meta is not None:
                    plan = _Plan(meta)
                    if not plan.general_lengths or plan.general is None:
                        plan = None
            self._plans[region] = plan
        plan = self._plans[region]
        return None if plan is None or (parsing and plan.transform) else plan

    # -- pieces ---------------------------------------------------------------------------

    def _strip_np(self, plan: _Plan, national: str) -> str:
        """The national number with the national prefix stripped, when what is left still
        fits the general pattern (or the whole never did) and has a possible length."""
        general = plan.general.pattern if plan.general else "(?!)"
        if plan.national_prefix is None:
            return national
        prefix = f"regexp_extract({national}, {lit(f'^((?:{plan.national_prefix.pattern}))')}, 1)"
        rest = f"substr({national}, length({prefix}) + 1)"
        viable = _full(national, general)
        stripped = (
            f"CASE WHEN {prefix} = '' OR ({viable} AND NOT {_full(rest, general)}) "
            f"THEN {national} ELSE {rest} END"
        )
        return stripped

    def _keep(self, plan: _Plan, stripped: str, national: str) -> str:
        """``_test_number_length`` of the stripped number: kept unless too short, possible
        only locally, or of an impossible length."""
        lengths = plan.general_lengths
        possible = (
            f"(NOT {_in(stripped, plan.local_lengths)} AND ({_in(stripped, lengths)} "
            f"OR length({stripped}) > {max(lengths)}))"
        )
        return f"CASE WHEN {possible} THEN {stripped} ELSE {national} END"

    def _known(self, plan: _Plan, nsn: str) -> str:
        """``_number_type_helper(nsn) != UNKNOWN``: the general description and one type."""
        general = plan.general_desc
        if general is None or general.pattern is None:
            return "FALSE"
        lengths = f"{_in(nsn, general.lengths)} AND " if general.lengths else ""
        checks = [f"{lengths}{_full(nsn, general.pattern.pattern)}"]
        by_length: dict[int | None, list[str]] = {}
        for desc in plan.types:
            if desc.pattern is None:
                continue
            for size in desc.lengths or (None,):
                by_length.setdefault(size, []).append(desc.pattern.pattern)
        anywhere = by_length.pop(None, [])
        cases = " ".join(
            f"WHEN {size} THEN {_full(nsn, '|'.join(f'(?:{p})' for p in [*patterns, *anywhere]))}"
            for size, patterns in sorted(by_length.items())
        )
        otherwise = _full(nsn, "|".join(f"(?:{p})" for p in anywhere)) if anywhere else "FALSE"
        checks.append(f"CASE length({nsn}) {cases} ELSE {otherwise} END" if cases else otherwise)
        return "(" + " AND ".join(checks) + ")"

    def _valid(self, code: int, nsn: str) -> str | None:
        """``is_valid_number`` for a calling code (None: one of its regions is not read
        here)."""
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code) or ()
        plans = [self.plan(r, parsing=False) for r in regions]
        if not regions or any(p is None for p in plans):
            return None
        if len(regions) == 1:
            plan = plans[0]
            assert plan is not None
            return self._known(plan, nsn) if plan.country_code == code else "FALSE"
        branches = []
        for plan in plans:
            assert plan is not None
            claim = (
                f"regexp_matches({nsn}, {lit('^(?:' + plan.leading.pattern + ')')})"
                if plan.leading is not None
                else self._known(plan, nsn)
            )
            verdict = self._known(plan, nsn) if plan.country_code == code else "FALSE"
            branches.append(f"WHEN {claim} THEN {verdict}")
        return f"CASE {' '.join(branches)} ELSE FALSE END"

    # -- the query ------------------------------------------------------------------------

    def branch(self, key: str, number: str) -> tuple[str, str, str] | None:
        """For a branch key (a region, for numbers written without ``+``; ``+`` and a calling
        code for the others): (the national significant number, its validity check over
        ``nsn``, the calling code) — None when SQL does not read that branch."""
        if key.startswith("+"):
            code = int(key[1:])
            main = (phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code) or ("001",))[0]
            plan = self.plan(main)
        else:
            plan = self.plan(key)
            code = plan.country_code if plan is not None else 0
        if plan is None:
            return None
        valid = self._valid(code, "nsn")
        if valid is None:
            return None
        return self._keep(plan, self._strip_np(plan, number), number), valid, str(code)

    def heuristic(self, region: str, digits: str) -> str:
        """Whether ``phonenumbers`` would read a number written without ``+`` by a heuristic
        (its international prefix, or its own calling code): then Python reads it."""
        plan = self.plan(region)
        if plan is None:
            return "TRUE"
        idd = f"regexp_matches({digits}, {lit('^(?:' + plan.idd.pattern + ')')})"
        return f"({idd} OR starts_with({digits}, {lit(str(plan.country_code))}))"


def country_codes() -> dict[int, list[str]]:
    """Calling codes by their length in digits, as text."""
    out: dict[int, list[str]] = {}
    for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        out.setdefault(len(str(code)), []).append(str(code))
    return out


def read_phones(
    engine: Engine, source: str, out: str, default: str | None, *, prefix: str = "_phones"
) -> list[tuple[Any, ...]]:
    """The phone lane's SQL half: every distinct (phone, country) of ``source``'s good rows
    that SQL reads is written to ``out`` (its E.164 form and warning); the others are
    returned, for :class:`~segsync.model.phones.PhoneBook` to read. Its working tables are
    named ``<prefix>_1`` and ``<prefix>_2`` (temporary, dropped).

    Each table carries the phone's four texts (its key), so the answers need no join back to
    the phones: numbering the distinct phones for one (a window, on one thread) and joining
    twice cost more than carrying them (0.4 of 1.7 s for the demo's 800,000 phones)."""
    t_1, t_2 = f"{prefix}_1", f"{prefix}_2"
    sql = PhoneSQL()
    ids = "phone_t, phone_k, country_t, country_k"
    distinct = (
        f"(SELECT DISTINCT {ids} FROM {source} WHERE status = 'ok' AND phone_k IS NOT NULL) AS d"
    )
    fallback = lit(default) if default else "CAST(NULL AS VARCHAR)"
    supported = ", ".join(lit(r) for r in sorted(phonenumbers.SUPPORTED_REGIONS))
    codes = country_codes()
    cc = " ".join(
        f"WHEN left(digits, {size}) IN ({', '.join(lit(c) for c in sorted(codes[size]))}) "
        f"THEN left(digits, {size})"
        for size in sorted(codes)
    )
    s, cs = strip("phone_t"), strip("country_t")
    engine.create_table(
        t_1,
        parse(
            f"""SELECT {ids}, readable, plus, region, two, digits,
                (NOT viable OR (region IS NULL AND NOT plus)) AS none,
                CASE WHEN plus AND length(digits) > 2 AND left(digits, 1) <> '0'
                     THEN (CASE {cc} END) END AS cc
            FROM (SELECT {ids}, s, plus, digits, region, two,
                    shaped AND country_ok AND (region IS NULL OR region IN ({supported}))
                        AS readable,
                    (length(digits) >= 3 OR (length(digits) = 2 AND NOT plus
                        AND regexp_extract(s, '^[ .()-]*[+]?(.*)$', 1) = digits)) AS viable
                  FROM (SELECT {ids}, {s} AS s, phone_k = 'string' AND length(phone_t) <= 250
                            AND regexp_matches({s}, {lit(_SHAPE)}) AS shaped,
                        regexp_matches({s}, {lit(_PLUS)}) AS plus,
                        {_digits(s)} AS digits,
                        (country_k IS NULL OR country_k = 'null' OR (country_k = 'string'
                            AND regexp_matches(country_t, '^[\\x00-\\x7f]*$'))) AS country_ok,
                        length({cs}) = 2 AS two,
                        CASE WHEN country_k = 'string' AND length({cs}) = 2 THEN upper({cs})
                             ELSE {fallback} END AS region
                        FROM {distinct}) AS a) AS b"""
        ),
        temporary=True,
    )
    keys = [
        k
        for (k,) in engine.rows(
            parse(
                f"""SELECT DISTINCT CASE WHEN plus THEN '+' || cc ELSE region END FROM {t_1}
                WHERE readable AND NOT none AND (cc IS NOT NULL OR NOT plus)"""
            )
        )
        if k is not None
    ]
    branches = {k: b for k in keys if (b := sql.branch(k, "number")) is not None}
    national = [k for k in branches if not k.startswith("+")]
    heuristic = " ".join(f"WHEN {lit(k)} THEN {sql.heuristic(k, 'number')}" for k in national)
    known = ", ".join(lit(k) for k in branches) or "NULL"
    nsn = " ".join(f"WHEN {lit(k)} THEN {b[0]}" for k, b in branches.items())
    valid = " ".join(f"WHEN {lit(k)} THEN {b[1]}" for k, b in branches.items())
    code = " ".join(f"WHEN {lit(k)} THEN {lit(b[2])}" for k, b in branches.items())
    hint = "" if default else " (set phone_region or resolve.default_region)"
    engine.create_table(
        t_2,
        parse(
            f"""SELECT {ids}, decided, CASE WHEN NOT none AND length(nsn) BETWEEN 2 AND 17
                    AND (CASE key {valid or "WHEN NULL THEN FALSE"} END)
                    THEN '+' || (CASE key {code or "WHEN NULL THEN NULL"} END) || nsn END
                    AS phone, two
            FROM (SELECT {ids}, none, key, two,
                    coalesce(readable AND (none OR (key IN ({known}) AND NOT coalesce(CASE key
                        {heuristic or "WHEN NULL THEN FALSE"} END, FALSE))), FALSE) AS decided,
                    CASE key {nsn or "WHEN NULL THEN NULL"} END AS nsn
                  FROM (SELECT *, CASE WHEN plus THEN '+' || cc ELSE region END AS key,
                            CASE WHEN plus THEN substr(digits, length(cc) + 1) ELSE digits END
                                AS number
                        FROM {t_1}) AS k) AS v"""
        ),
        temporary=True,
    )
    engine.insert(
        out,
        parse(
            f"""SELECT {ids}, phone,
                CASE WHEN phone IS NULL THEN 'phone is not a valid number; ignored'
                    || CASE WHEN two THEN '' ELSE :hint END END, NULL
            FROM {t_2} WHERE decided""",
            hint=hint,
        ),
    )
    left = engine.rows(parse(f"SELECT {ids} FROM {t_2} WHERE NOT decided"))
    engine.drop(t_1, t_2)
    return left
