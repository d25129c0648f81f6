"""How much memory the store's engine may use when ``[store] memory_limit`` says ``"auto"``.

DuckDB's own default is 80 % of the machine's memory, and it keeps what it has read (table
blocks, intermediate results) cached up to its limit: a run's peak memory follows the limit,
not the work — with segsync's former default of 1.5 GB a pull of a million HubSpot contacts
peaked at 962 MiB, at 256 MiB at 425 MiB, at 128 MiB (the default now) at 282 MiB. segsync
shares its host (a scheduler, other jobs, a small container), so ``"auto"`` gives DuckDB a
fraction of the memory the process may use (:func:`available_memory`: the machine's, or the
container's cgroup limit when lower), between a floor below which DuckDB cannot work and a
cap past which more memory buys little for segsync's work (the sizing figures are in
docs/user-guide.md, "Throughput and memory").
Past the limit DuckDB spills to ``<store>.work/spill/`` instead of growing.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = [
    "AUTO_CAP",
    "AUTO_FLOOR",
    "AUTO_FRACTION",
    "BULK_CAP",
    "auto_memory_limit",
    "available_memory",
]

MIB = 1 << 20
AUTO_FRACTION = 0.125
"""The share of :func:`available_memory` that ``"auto"`` gives DuckDB."""
AUTO_FLOOR = 64 * MIB
"""Never less than this (DuckDB needs a few buffers per thread to work at all)."""
AUTO_CAP = 128 * MIB
"""Never more than this by default: DuckDB spills past it, and what segsync asks of it is
shaped to work within it (small reader buffers; resolve ranks, groups and sorts in passes).
A run's peak is about 150 MiB (Python, the libraries, the open store) plus this limit: a
million HubSpot contacts peak at 282 MiB, a million contacts with 6,000,000 orders from files
at 334 MiB (at 96 MiB, reading either ran out of memory). Set ``memory_limit`` to give DuckDB
more where memory is plentiful (large loads and recomputes spill less) or less on a small
host."""

BULK_CAP = 256 * MIB
"""The cap of ``"auto"`` while a pull reads sources' files (or tables) in bulk and loads them:
whole files read a column at a time into temporary tables, which at :data:`AUTO_CAP` spill to
disk (a million contacts with 6,000,000 orders took 26 % longer to ingest at 128 MiB than at
256 MiB, at a peak of 304 against 478 MiB). The same pull's recompute (resolve, traits,
segments, KPIs) keeps it: the read has set the run's peak already, and ``segsync pull`` of those
files took 39.3-40.2 s against 45.1 s with the recompute at :data:`AUTO_CAP`, at the same peak
(470-489 MiB). Pulls that page an API, and the plans and pushes after, stay at
:data:`AUTO_CAP`."""

_CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),  # cgroup v2
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),  # cgroup v1
)


def available_memory() -> int | None:
    """Bytes of memory this process may use: the machine's physical memory, or the cgroup's
    limit (a container's) when that is lower; None when neither can be read."""
    sizes: list[int] = []
    with contextlib.suppress(AttributeError, OSError, ValueError):  # not on every platform
        sizes.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    for path in _CGROUP_LIMITS:
        try:
            text = path.read_text("ascii").strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < 1 << 60:  # "max" or a huge number: no limit
            sizes.append(int(text))
    return min(sizes) if sizes else None


def auto_memory_limit(available: int | None = None, *, bulk: bool = False) -> str:
    """``"auto"`` as a DuckDB ``memory_limit``: :data:`AUTO_FRACTION` of ``available`` (default
    :func:`available_memory`) within [:data:`AUTO_FLOOR`, :data:`AUTO_CAP`] — or, for a
    ``bulk`` read of files, within [:data:`AUTO_FLOOR`, :data:`BULK_CAP`] — in MiB."""
    total = available if available is not None else available_memory()
    cap = BULK_CAP if bulk else AUTO_CAP
    share = cap if total is None else int(total * AUTO_FRACTION)
    return f"{max(AUTO_FLOOR, min(cap, share)) // MIB}MiB"
