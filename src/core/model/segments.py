"""Segment definitions: checked when the config loads, and turned into the queries that
compute membership (the pipeline runs them: :mod:`segsync.pipeline.segments`). No I/O here.

A segment's members are the profiles that match its ``where`` condition (all profiles when it
has none), that belong to at least one of its ``include`` segments (when it lists any), and
that belong to none of its ``exclude`` segments. Conditions are compiled by
:mod:`segsync.model.where`; the SQL around them is built as sqlglot expressions.

Some segments have *groups*, segments of their own named ``NAME.GROUP``:

- ``priority = ["vip", "loyal", …]`` — mutually exclusive groups ``NAME.vip``, ``NAME.loyal``…:
  each profile is in the group of the first listed segment it belongs to (minus ``exclude``);
  ``NAME`` is their union.
- ``split = {a = 45, b = 45}``, optional ``holdout = 10`` and ``seed`` — the segment's members
  are cut into ``NAME.a``, ``NAME.b``, ``NAME.holdout`` by a bucket 0..9999 taken from
  ``md5(seed || ':' || profile_key)`` (its first 8 hex digits, modulo 10,000); the groups take
  consecutive bucket ranges in the declared order, the holdout last. A profile's group depends
  only on the seed, its key and the percentages. A sync of ``NAME`` leaves the holdout out.

"""

from __future__ import annotations

import datetime as dt
import graphlib
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from sqlglot import exp

from segsync.config.messages import suggest
from segsync.config.schema import HOLDOUT_GROUP, NAME_RE, SegmentConfig, basis_points
from segsync.errors import ConfigError
from segsync.model.profile import AttributeType
from segsync.model.where import (
    Compared,
    check_values,
    compared_texts,
    compile_where,
    pin_clock,
    referenced_columns,
    type_problems,
)
from segsync.traits import SEGMENT_PROFILES_VIEW
from segsync.traits.notes import ValueDomain

__all__ = ["BUCKETS", "SegmentBook", "split_bucket_sql"]

BUCKETS = 10_000
"""A split assigns each profile one of this many buckets (a unit is 0.01%)."""
_NAME_HINT = "lower-case letters, digits and '_', starting with a letter"


def _pct(value: float) -> str:
    return f"{value:g}"


def _parent(name: str) -> str:
    return name.partition(".")[0]


@dataclass(frozen=True)
class SegmentBook:
    """The configured segments, with the columns their conditions may use.

    ``location`` (the config file) prefixes every message; ``values`` are the values the
    traits' text columns can hold (a condition comparing one with another text is refused)."""

    segments: Mapping[str, SegmentConfig]
    columns: Mapping[str, AttributeType]
    location: str = "segsync.toml"
    values: Mapping[str, ValueDomain] = dataclass_field(default_factory=dict)

    # -- names --------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Every segment name a sync or ``include``/``exclude`` may use, in the config's
        order: each segment followed by its groups (``NAME.GROUP``)."""
        return [
            n
            for name, seg in self.segments.items()
            for n in (name, *(f"{name}.{g}" for g in seg.groups()))
        ]

    def unknown(self, name: str) -> str | None:
        """Why ``name`` names no segment or group (None when it does)."""
        parent, dot, group = name.partition(".")
        segment = self.segments.get(parent)
        known = sorted(self.segments)
        if not dot:
            if segment is not None:
                return None
            return (
                f"unknown segment {name!r}{suggest(name, known)}; "
                f"defined: {', '.join(known) or '(none)'}"
            )
        if segment is None:
            return (
                f"unknown segment {parent!r} in {name!r}{suggest(parent, known)}; "
                f"defined: {', '.join(known) or '(none)'}"
            )
        groups = segment.groups()
        if not groups:
            return (
                f"segment {parent!r} has no groups (only segments with 'priority' or 'split' "
                f"have), found {name!r}"
            )
        if group not in groups:
            return (
                f"unknown group {group!r} of segment {parent!r}{suggest(group, groups)}; "
                f"its groups: {', '.join(groups)}"
            )
        return None

    def holdout_of(self, segment: str) -> str | None:
        """The holdout group a sync of ``segment`` leaves out (``NAME.holdout``), if any."""
        seg = self.segments.get(segment)
        return f"{segment}.{HOLDOUT_GROUP}" if seg is not None and seg.has_holdout else None

    def order(self) -> list[str]:
        """Segment names, each after those it includes, excludes or prioritises."""
        graph = {
            name: {
                _parent(s)
                for s in (*seg.include, *seg.exclude, *(seg.priority or []))
                if _parent(s) in self.segments and _parent(s) != name
            }
            for name, seg in sorted(self.segments.items())
        }
        return list(graphlib.TopologicalSorter(graph).static_order())

    def min_size(self, segment: str) -> tuple[int, str] | None:
        """``(min_size, min_size_action)`` of the segment ``segment`` belongs to (a group's
        parent), when it sets one."""
        seg = self.segments.get(_parent(segment))
        if seg is None or seg.min_size is None:
            return None
        return seg.min_size, seg.min_size_action

    # -- checks -------------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Every problem with the segment definitions, one line each."""
        problems: list[str] = []
        path = self.location
        conditions: dict[str, exp.Expression] = {}
        for name, segment in self.segments.items():
            key = f"segments.{name}"
            if not NAME_RE.match(name):
                problems.append(
                    f"{path}: {key}: expected a name of lower-case letters, digits and '_', "
                    f"found {name!r}"
                )
            if segment.priority is not None:
                problems.extend(self._check_priority(name, segment))
            else:
                if segment.where is None and not segment.include:
                    problems.append(
                        f"{path}: {key}: expected a 'where' condition or an 'include' list"
                    )
                problems.extend(self._check_split(name, segment))
            if segment.where is not None:
                location = self._where_at(name)
                try:
                    tree = self._where(name)
                except ConfigError as exc:
                    problems.append(str(exc))
                else:
                    found = check_values(tree, self.values, location=location)
                    problems.extend(found)
                    if not found:
                        conditions[location] = tree
            for field in ("include", "exclude"):
                for other in getattr(segment, field):
                    if other == name:
                        problems.append(f"{path}: {key}.{field}: a segment cannot {field} itself")
                    elif other.partition(".")[0] == name:
                        problems.append(
                            f"{path}: {key}.{field}: a segment cannot {field} its own group "
                            f"{other!r}"
                        )
                    else:
                        unknown = self.unknown(other)
                        if unknown is not None:
                            problems.append(f"{path}: {key}.{field}: {unknown}")
            if "min_size_action" in segment.model_fields_set and segment.min_size is None:
                problems.append(
                    f"{path}: {key}.min_size_action: expected a 'min_size' beside it, found "
                    f"min_size_action = {segment.min_size_action!r} alone"
                )
        problems.extend(self._type_problems(conditions))
        try:
            self.order()
        except graphlib.CycleError as exc:
            cycle = " -> ".join(exc.args[1])
            problems.append(f"{path}: segments: include/exclude/priority form a cycle: {cycle}")
        return problems

    def _type_problems(self, conditions: dict[str, exp.Expression]) -> list[str]:
        """The conditions that cannot run on their columns' types (``country > 5``), each
        with the types of the columns it reads."""
        problems = []
        for location, problem in type_problems(conditions, self.columns).items():
            used = sorted(referenced_columns(conditions[location]))
            kinds = ", ".join(f"{c} is {self.columns[c]}" for c in used if c in self.columns)
            problems.append(f"{location}: {problem}" + (f" ({kinds})" if kinds else ""))
        return problems

    def _where_at(self, name: str) -> str:
        """Where segment ``name``'s condition is, as messages name it."""
        return f"{self.location}: segments.{name}.where"

    def _where(self, name: str) -> exp.Expression:
        """Segment ``name``'s condition, compiled (a :class:`ConfigError` when it is not
        one)."""
        where = self.segments[name].where
        assert where is not None
        return compile_where(where, self.columns, location=self._where_at(name))

    def _check_priority(self, name: str, segment: SegmentConfig) -> list[str]:
        path, key = self.location, f"segments.{name}"
        problems: list[str] = []
        clashes = [
            k
            for k in ("where", "include", "split", "holdout", "seed")
            if getattr(segment, k) not in (None, [])
        ]
        if clashes:
            problems.append(
                f"{path}: {key}: expected 'priority' without 'where', 'include' or 'split'; "
                f"found 'priority' with {', '.join(repr(c) for c in clashes)}"
            )
        listed = segment.priority or []
        if not listed:
            problems.append(f"{path}: {key}.priority: expected at least one segment name, found []")
        seen: set[str] = set()
        for other in listed:
            if other in seen:
                problems.append(f"{path}: {key}.priority: {other!r} is listed twice")
                continue
            seen.add(other)
            if other == name:
                problems.append(f"{path}: {key}.priority: a segment cannot list itself")
            elif "." in other:
                problems.append(
                    f"{path}: {key}.priority: expected a segment, not a group, found {other!r} "
                    f"(define a segment with include = [{other!r}] and list that)"
                )
            else:
                unknown = self.unknown(other)
                if unknown is not None:
                    problems.append(f"{path}: {key}.priority: {unknown}")
        return problems

    def _check_split(self, name: str, segment: SegmentConfig) -> list[str]:
        path, key = self.location, f"segments.{name}"
        if segment.split is None:
            return [
                f"{path}: {key}.{k}: expected a 'split' beside it, found {k} = {shown} alone"
                for k, shown in (
                    ("holdout", None if segment.holdout is None else _pct(segment.holdout)),
                    ("seed", None if segment.seed is None else repr(segment.seed)),
                )
                if shown is not None
            ]
        if not segment.split:
            return [f"{path}: {key}.split: expected at least one group, found an empty table"]
        problems: list[str] = []
        for group in segment.split:
            if group == HOLDOUT_GROUP:
                problems.append(
                    f"{path}: {key}.split.{group}: the name {HOLDOUT_GROUP!r} is reserved; "
                    f"expected holdout = <percentage> beside split"
                )
            elif not NAME_RE.match(group):
                problems.append(
                    f"{path}: {key}.split: expected group names of {_NAME_HINT}, found {group!r}"
                )
        holdout = [segment.holdout] if segment.holdout is not None else []
        parts = [*segment.split.values(), *holdout]
        total = sum(basis_points(p) for p in parts)
        if total != BUCKETS:
            what = "the percentages"
            if segment.holdout is not None:
                what += " (with the holdout)"
            problems.append(
                f"{path}: {key}.split: expected {what} to sum to 100, found "
                f"{' + '.join(_pct(p) for p in parts)} = {_pct(total / 100)}"
            )
        return problems

    # -- queries ------------------------------------------------------------------------------

    def statements(
        self, name: str, members: str, *, as_of: dt.datetime | None = None
    ) -> list[exp.Select]:
        """The queries computing segment ``name`` and its groups: each ``SELECT segment,
        profile_key`` rows to append to the ``members`` table, which already holds the
        members of every segment ``name`` reads (run them in :meth:`order`). ``as_of``: see
        :meth:`query`."""
        segment = self.segments[name]
        statements = [self.query(name, members, as_of=as_of)]
        if segment.priority:
            statements.append(_priority_query(name, segment, members))
        elif segment.split:
            statements.append(_split_query(name, segment, members))
        return statements

    def compared_texts(self, name: str) -> list[Compared]:
        """Each text a profile's text column is compared with in segment ``name``'s
        condition (``country = 'FR'``, ``IN``, ``<>``, ``LIKE``), once; the columns whose
        values are known (a trait's) left out: :meth:`check` has checked those."""
        if self.segments[name].where is None:
            return []
        return [
            found
            for found in dict.fromkeys(compared_texts(self._where(name)))
            if self.columns.get(found.column) == "text" and found.column not in self.values
        ]

    def query(self, name: str, members: str, *, as_of: dt.datetime | None = None) -> exp.Select:
        """``SELECT 'name', profile_key FROM segment_profiles WHERE …`` for one segment
        (``segment_profiles``: profiles with their computed traits). For a ``priority``
        segment: the profiles in any listed segment and in no excluded one (the union of its
        groups). ``members`` holds the members of the segments it reads. With ``as_of`` (the
        run's, naive UTC), ``current_date``, ``current_timestamp`` and ``now()`` in the
        condition are that moment (:func:`segsync.model.where.pin_clock`)."""
        segment = self.segments[name]
        conditions: list[exp.Expr] = []
        if segment.where is not None:
            condition = self._where(name)
            if as_of is not None:
                condition = pin_clock(condition, as_of)
            conditions.append(exp.paren(condition))
        key = exp.column("profile_key")
        if segment.include:
            conditions.append(key.isin(query=_members_of(segment.include, members)))
        if segment.priority:
            conditions.append(key.isin(query=_members_of(segment.priority, members)))
        if segment.exclude:
            conditions.append(exp.not_(key.isin(query=_members_of(segment.exclude, members))))
        query = exp.select(exp.alias_(exp.Literal.string(name), "segment"), key).from_(
            SEGMENT_PROFILES_VIEW
        )
        if conditions:
            query = query.where(exp.and_(*conditions))
        return query


def _members_of(names: list[str], members: str) -> exp.Select:
    return (
        exp.select("profile_key")
        .from_(members)
        .where(exp.column("segment").isin(*(exp.Literal.string(n) for n in names)))
    )


def _priority_query(name: str, segment: SegmentConfig, members: str) -> exp.Select:
    """``SELECT 'name.<first listed segment>', profile_key`` over the parent's members."""
    listed = segment.priority or []
    rank = exp.Case(
        ifs=[
            exp.If(this=exp.column("segment").eq(exp.Literal.string(s)), true=exp.Literal.number(i))
            for i, s in enumerate(listed)
        ]
    )
    ranked = (
        exp.select(exp.column("profile_key"), exp.alias_(exp.func("min", rank), "rank"))
        .from_(members)
        .where(exp.column("segment").isin(*(exp.Literal.string(s) for s in listed)))
        .group_by(exp.column("profile_key"))
    )
    group = exp.Case(
        ifs=[
            exp.If(
                this=exp.column("rank").eq(exp.Literal.number(i)),
                true=exp.Literal.string(f"{name}.{s}"),
            )
            for i, s in enumerate(listed)
        ]
    )
    return (
        exp.select(exp.alias_(group, "segment"), exp.column("profile_key"))
        .from_(ranked.subquery("r"))
        .where(exp.column("profile_key").isin(query=_members_of([name], members)))
    )


def split_bucket_sql(seed: str) -> exp.Expr:
    """``CAST('0x' || substr(md5(seed || ':' || profile_key), 1, 8) AS BIGINT) % 10000``."""
    digest = exp.func(
        "md5",
        exp.DPipe(
            this=exp.Literal.string(f"{seed}:"), expression=exp.column("profile_key"), safe=True
        ),
    )
    hex8 = exp.DPipe(
        this=exp.Literal.string("0x"),
        expression=exp.func("substr", digest, exp.Literal.number(1), exp.Literal.number(8)),
        safe=True,
    )
    return exp.Mod(
        this=exp.cast(hex8, exp.DataType.Type.BIGINT), expression=exp.Literal.number(BUCKETS)
    )


def _split_query(name: str, segment: SegmentConfig, members: str) -> exp.Select:
    """``SELECT 'name.<group>', profile_key`` for the members of ``name``, by bucket."""
    bounds: list[tuple[str, int]] = []
    upper = 0
    parts = [*(segment.split or {}).items()]
    if segment.holdout is not None:
        parts.append((HOLDOUT_GROUP, segment.holdout))
    for group, percentage in parts:
        width = basis_points(percentage)
        if width:
            upper += width
            bounds.append((group, upper))
    group_expr = exp.Case(
        ifs=[
            exp.If(
                this=exp.LT(this=exp.column("bucket"), expression=exp.Literal.number(bound)),
                true=exp.Literal.string(f"{name}.{group}"),
            )
            for group, bound in bounds
        ]
    )
    buckets = (
        exp.select(
            exp.column("profile_key"),
            exp.alias_(split_bucket_sql(segment.seed or name), "bucket"),
        )
        .from_(members)
        .where(exp.column("segment").eq(exp.Literal.string(name)))
    )
    return exp.select(exp.alias_(group_expr, "segment"), exp.column("profile_key")).from_(
        buckets.subquery("b")
    )
