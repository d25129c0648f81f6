"""Every test starts with no OAuth token cached (tokens are cached process-wide by token
endpoint and credential, and each test has a simulator of its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from segsync.http.auth import SHARED_TOKENS


@pytest.fixture(autouse=True)
def _no_cached_tokens() -> Iterator[None]:
    SHARED_TOKENS.clear()
    yield
    SHARED_TOKENS.clear()
