"""A source that breaks the page contract (yields something other than a ``Page``, or a page
whose records are not a sequence) fails with a message naming the instance, the stream and
what it yielded — not an internal error about an attribute."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from segsync.connector import (
    Capabilities,
    Connector,
    ConnectorContext,
    Contact,
    Event,
    Page,
    SourceSettings,
)
from segsync.pipeline import load
from segsync.pipeline.pull import StagedSource, stage_source
from segsync.state.workspace import StorePaths

PULLED = dt.datetime(2026, 6, 1, 12, 0)
CONFIG = """
[store]
path = "store.duckdb"

[connectors.out]
type = "files"
output_dir = "out"
"""


class _Source:
    def __init__(self, yielded: Any) -> None:
        self.yielded = yielded

    def streams(self) -> tuple[str, ...]:
        return ("contacts",)

    async def contacts(self, cursor: str | None) -> AsyncIterator[Page[Contact]]:
        yield self.yielded

    async def events(self, cursor: str | None) -> AsyncIterator[Page[Event]]:
        return
        yield


class _Broken(Connector):
    name = "broken"
    Settings = SourceSettings
    capabilities = Capabilities(contacts=True)


def _stage(tmp_path: Path, source: _Source) -> StagedSource:
    """Stage instance ``shop`` of a connector whose source is ``source``."""
    (tmp_path / "segsync.toml").write_text(CONFIG, encoding="utf-8")
    config = load(tmp_path / "segsync.toml")
    context = ConnectorContext(instance="shop", base_dir=tmp_path, work_dir=tmp_path / "w")
    connector = _Broken(SourceSettings(), context)
    connector.source = source
    return asyncio.run(
        stage_source(
            config,
            connector,
            paths=StorePaths(tmp_path / "store.duckdb"),
            cursors={},
            pulled_at=PULLED,
        )
    )


@pytest.mark.parametrize(
    ("yielded", "expected"),
    [
        ([Contact(source_id="1")], "shop: the contacts stream yielded list, expected a Page"),
        (None, "shop: the contacts stream yielded NoneType, expected a Page"),
        (Page(None), "shop: a contacts page's records are NoneType, expected a sequence"),  # type: ignore[arg-type]
    ],
)
def test_a_source_breaking_the_page_contract_fails_naming_it(
    tmp_path: Path, yielded: Any, expected: str
) -> None:
    staged = _stage(tmp_path, _Source(yielded))
    (stream,) = staged.streams
    assert stream.summary.error is not None and expected in stream.summary.error
    assert staged.failed


class _Raising(_Source):
    """A source whose second page raises what a plugin's bug raises."""

    async def contacts(self, cursor: str | None) -> AsyncIterator[Page[Contact]]:
        yield Page([Contact(source_id="1", email="a@example.com")])
        raise self.yielded


@pytest.mark.parametrize("error", [ValueError("zzz"), KeyError("properties")])
def test_a_source_raising_a_plugin_bug_fails_that_source_naming_it(
    tmp_path: Path, error: Exception
) -> None:
    """Not an "internal error" that stops the run and blames segsync: the source fails, as
    one whose platform failed does, named, and not to be retried as if transient."""
    staged = _stage(tmp_path, _Raising(error))
    (stream,) = staged.streams
    expected = f"shop: the contacts stream failed: {type(error).__name__}: {error} (a bug in"
    assert stream.summary.error is not None and expected in stream.summary.error
    assert not stream.summary.transient
    assert staged.failed
