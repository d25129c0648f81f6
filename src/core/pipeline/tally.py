"""Warnings worth reading: repeated ones counted, with a few examples, logged once.

A source of 50,000 contacts with 1,600 unreadable phone numbers gives one line, not 1,600::

    crm contacts: 1,612 × phone is not a valid number; e.g. contact 0042 ('06*****12'), …

Examples never carry a raw identifier: callers pass them through
:func:`segsync.model.identity.mask_identifier`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from segsync.model.identity import shown_id

if TYPE_CHECKING:
    from segsync.report import SourceSummary

__all__ = ["HeldWarnings", "WarningTally", "note_repeated_ids"]

SAMPLES = 3


class WarningTally:
    """Counts warnings by kind and keeps the first few examples of each."""

    def __init__(self, where: str, samples: int = SAMPLES) -> None:
        self.where = where
        self.samples = samples
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}

    def add(self, kind: str, example: str = "") -> None:
        """One more warning of ``kind`` (a fixed text, e.g. "phone is not a valid number");
        ``example`` says which record (already masked)."""
        self.counts[kind] += 1
        kept = self.examples.setdefault(kind, [])
        if example and len(kept) < self.samples:
            kept.append(example)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def lines(self) -> list[str]:
        """One line per kind, most frequent first."""
        out = []
        for kind, count in self.counts.most_common():
            examples = self.examples.get(kind) or []
            more = ", …" if count > len(examples) and examples else ""
            shown = f"; e.g. {', '.join(examples)}{more}" if examples else ""
            times = f"{count:,} × " if count > 1 else ""
            out.append(f"{self.where}: {times}{kind}{shown}")
        return out

    def log(self, logger: logging.Logger) -> None:
        for line in self.lines():
            logger.warning("%s", line)


class HeldWarnings:
    """The warnings of a page staged as columns, held until its rows are written and added to
    the tally in the records' order — up to a row, when writing that row stops the source, so
    the tally holds what it would record by record. A note is ``(row, order, kind, example)``:
    ``order`` places a row's warnings as the record-by-record encoder adds them."""

    def __init__(self, tally: WarningTally) -> None:
        self.tally = tally
        self._notes: list[tuple[int, int, str, str]] = []

    def hold(self, notes: list[tuple[int, int, str, str]]) -> None:
        """The notes of the page just encoded (those of an earlier page are dropped)."""
        self._notes = sorted(notes, key=lambda n: (n[0], n[1]))

    def warn(self, through: int | None = None) -> None:
        """Add the held notes of the rows up to ``through`` (that row included; None: all)."""
        notes = self._notes
        cut = len(notes)
        if through is not None:
            cut = next((n for n, note in enumerate(notes) if note[0] > through), cut)
        for _, _, kind, example in notes[:cut]:
            self.tally.add(kind, example)
        del notes[:cut]


def note_repeated_ids(
    summary: SourceSummary,
    repeated: int,
    log: logging.Logger,
    examples: Sequence[object] = (),
) -> None:
    """``repeated`` records of a pull named an id an earlier one had (the last one won): one
    warning, counted once per repeat, naming the first ids repeated (``examples``, in the
    pull's order: the first :data:`SAMPLES`, an email address masked, and "…" past them)."""
    if not repeated:
        return
    times = f"{repeated:,} × " if repeated > 1 else ""
    noun = "contact" if summary.stream == "contacts" else "event"
    shown = [f"{noun} {shown_id(key)}" for key in examples[:SAMPLES]]
    more = ", …" if len(examples) > SAMPLES else ""
    e_g = f"; e.g. {', '.join(shown)}{more}" if shown else ""
    line = (
        f"{summary.instance} {summary.stream}: {times}a record repeated an id; the last one "
        f"won{e_g}"
    )
    summary.warnings += repeated
    summary.warning_samples.append(line)
    log.warning("%s", line)
