"""What erasures owe destinations, done: removals through the destination role (with core's
splitting rule), then the eraser role; retries, permanent failures, stops; the ledger's
pseudonymous change log; addresses cleared once settled."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))

from fakes import FakeDestination

from segsync.connector import (
    Capabilities,
    Connector,
    ConnectorContext,
    ConnectorSettings,
    ErasureResult,
    Person,
)
from segsync.errors import AuthError, FatalError, RetryableError
from segsync.privacy.tasks import TaskRunner, finish_requests
from segsync.state.store import Store


@dataclass
class FakeEraser:
    erase_limit: int = 2
    max_in_flight: int = 1
    mode: str = "delete"
    transient: bool = False
    fatal_when_many: bool = False
    refuse: set[str] = field(default_factory=set)
    forget_result: set[str] = field(default_factory=set)
    calls: list[list[str]] = field(default_factory=list)

    async def erase(self, people: list[Person]) -> list[ErasureResult]:
        self.calls.append([p.key for p in people])
        if self.transient:
            raise RetryableError("503 Service Unavailable")
        if self.fatal_when_many and len(people) > 1:
            raise FatalError("400 one of them is invalid")
        out = []
        for p in people:
            if p.key in self.forget_result:
                continue
            if p.key in self.refuse:
                out.append(ErasureResult(p.key, "failed", "cannot be deleted", permanent=True))
            else:
                out.append(ErasureResult(p.key, "deleted" if p.record_ids else "not_found"))
        return out


class FakeConnector(Connector):
    name = "fake"
    capabilities = Capabilities(audience_kinds={"list": frozenset()}, erases=frozenset({"delete"}))

    def __init__(self, destination: FakeDestination, eraser: FakeEraser | None) -> None:
        super().__init__(ConnectorSettings(), ConnectorContext("fake", Path("."), Path(".")))
        self.destination = destination  # type: ignore[assignment]
        self.eraser = eraser  # type: ignore[assignment]


def store_with_tasks() -> Store:
    store = Store.memory()
    now = "2026-03-01 10:00:00"
    store.con.execute(
        "INSERT INTO erasures (request_id, batch_id, kind, identifier_hash, status, "
        "requested_at) VALUES ('R1', 'b', 'email', 'h1', 'pending', ?), "
        "('R2', 'b', 'email', 'h2', 'pending', ?)",
        [now, now],
    )
    tasks = [("R1", "k1"), ("R1", "k2"), ("R2", "k1"), ("R2", "k3")]
    for request_id, key in tasks:
        store.con.execute(
            "INSERT INTO erasure_tasks (request_id, task, instance, sync, audience_id, "
            "audience_kind, audience_name, member_key, person, status, attempts, updated_at) "
            "VALUES (?, 'remove', 'fake', 'news', 'id-1', 'list', 'News', ?, ?, 'pending', 0, ?)",
            [request_id, key, json.dumps({"email": f"{key}@x.org", "phone": None}), now],
        )
    for request_id in ("R1", "R2"):
        store.con.execute(
            "INSERT INTO erasure_tasks (request_id, task, instance, person, status, attempts, "
            "updated_at) VALUES (?, 'erase', 'fake', ?, 'pending', 0, ?)",
            [request_id, json.dumps({"record_ids": [f"id-{request_id}"], "emails": [],
                                     "phones": []}), now],
        )  # fmt: skip
    return store


def tasks(store: Store) -> list[tuple[Any, ...]]:
    return store.rows(
        "SELECT request_id, task, member_key, status, outcome, error, attempts, "
        "person IS NULL FROM erasure_tasks ORDER BY request_id, task, member_key"
    )


def run(store: Store, connectors: dict[str, Connector]) -> None:
    asyncio.run(TaskRunner(store.engine, connectors, "forget-1").run())


def destination(**kw: Any) -> FakeDestination:
    fake = FakeDestination(limit=2, max_in_flight=2, **kw)
    fake.audiences["News"] = {"k1", "k2", "k3", "k9"}
    fake.ids["News"] = "id-1"
    return fake


def test_removals_then_erasure_each_settled_task_loses_its_address() -> None:
    store = store_with_tasks()
    dest, eraser = destination(), FakeEraser()
    run(store, {"fake": FakeConnector(dest, eraser)})
    assert dest.audiences["News"] == {"k9"}
    assert sorted(dest.calls) == [("remove", 1), ("remove", 2)]  # k1 once, for both requests
    assert tasks(store) == [
        ("R1", "erase", None, "done", "deleted", None, 1, True),
        ("R1", "remove", None, "done", "removed", None, 1, True),
        ("R1", "remove", None, "done", "removed", None, 1, True),
        ("R2", "erase", None, "done", "deleted", None, 1, True),
        ("R2", "remove", None, "done", "removed", None, 1, True),
        ("R2", "remove", None, "done", "removed", None, 1, True),
    ]
    assert eraser.calls == [["R1", "R2"]]
    # the ledger's change log says what was removed, never who
    lines = store.rows(
        "SELECT sync, op, member_key, profile_key, ok, reason FROM change_log ORDER BY ALL"
    )
    assert lines == [
        ("news", "remove", "erased:R1", None, True, "erased (segsync forget, request R1)"),
        ("news", "remove", "erased:R1", None, True, "erased (segsync forget, request R1)"),
        ("news", "remove", "erased:R2", None, True, "erased (segsync forget, request R2)"),
    ]
    assert finish_requests(store.engine) == ["R1", "R2"]
    assert store.rows("SELECT status FROM erasures") == [("complete",), ("complete",)]


def test_a_transient_failure_stays_pending_and_the_eraser_waits_for_the_removal() -> None:
    store = store_with_tasks()
    dest, eraser = destination(transient={"k3"}), FakeEraser()
    run(store, {"fake": FakeConnector(dest, eraser)})
    pending = [t for t in tasks(store) if t[3] == "pending"]
    assert [(t[0], t[1], t[2]) for t in pending] == [("R2", "erase", None), ("R2", "remove", "k3")]
    assert pending[1][5].startswith("transient: 503") and pending[1][7] is False  # address kept
    assert eraser.calls == [["R1"]]  # R2's record waits until it is out of the audience
    assert finish_requests(store.engine) == ["R1"]
    # the next pass (a later forget or run) completes it
    dest.transient.clear()
    run(store, {"fake": FakeConnector(dest, eraser)})
    assert {t[3] for t in tasks(store)} == {"done"}
    assert eraser.calls == [["R1"], ["R2"]]
    assert dest.audiences["News"] == {"k9"}
    assert store.scalar("SELECT attempts FROM erasure_tasks WHERE request_id = 'R2' "
                        "AND task = 'remove' AND status = 'done' ORDER BY attempts DESC LIMIT 1") == 2  # fmt: skip
    assert finish_requests(store.engine) == ["R2"]


def test_a_batch_refused_whole_is_split_and_a_refused_member_fails_for_good() -> None:
    store = store_with_tasks()
    dest, eraser = destination(poison={"k2"}), FakeEraser(refuse={"R1"})
    run(store, {"fake": FakeConnector(dest, eraser)})
    rows = tasks(store)
    r1_removes = sorted((t[3], t[5], t[7]) for t in rows if t[:2] == ("R1", "remove"))
    # settled either way: the address is gone
    assert r1_removes == [
        ("done", None, True),
        ("failed", "400 Bad Request: the batch is invalid", True),
    ]
    assert {t[3] for t in rows if t[:2] == ("R2", "remove")} == {"done"}
    assert [(t[3], t[5]) for t in rows if t[:2] == ("R1", "erase")] == [
        ("failed", "cannot be deleted")
    ]
    assert dest.audiences["News"] == {"k2", "k9"}
    log = store.rows("SELECT member_key, ok, permanent FROM change_log WHERE NOT ok")
    assert log == [("erased:R1", False, True)]
    finish_requests(store.engine)
    assert dict(store.rows("SELECT request_id, status FROM erasures")) == {
        "R1": "failed", "R2": "complete"
    }  # fmt: skip


def test_an_eraser_call_refused_whole_is_retried_one_person_at_a_time() -> None:
    store = store_with_tasks()
    eraser = FakeEraser(fatal_when_many=True, refuse={"R2"})
    run(store, {"fake": FakeConnector(destination(), eraser)})
    assert eraser.calls == [["R1", "R2"], ["R1"], ["R2"]]
    outcomes = dict(store.rows("SELECT request_id, status FROM erasure_tasks WHERE task = 'erase'"))
    assert outcomes == {"R1": "done", "R2": "failed"}


@pytest.mark.parametrize("how", ["transient", "no result"])
def test_an_eraser_that_cannot_answer_leaves_people_pending(how: str) -> None:
    store = store_with_tasks()
    eraser = FakeEraser(transient=how == "transient", forget_result={"R1", "R2"})
    run(store, {"fake": FakeConnector(destination(), eraser)})
    erase = store.rows(
        "SELECT status, error, person IS NULL FROM erasure_tasks WHERE task = 'erase'"
    )
    assert {row[0] for row in erase} == {"pending"} and {row[2] for row in erase} == {False}
    assert all(("503" in row[1]) if how == "transient" else "no result" in row[1] for row in erase)


def test_an_auth_error_stops_that_instance_everything_pending_with_the_reason() -> None:
    store = store_with_tasks()
    dest = destination()

    async def refuse(batch: Any) -> Any:
        raise AuthError("401 Unauthorized: the token was revoked")

    dest.apply_batch = refuse  # type: ignore[method-assign]
    eraser = FakeEraser()
    run(store, {"fake": FakeConnector(dest, eraser)})
    assert {t[3] for t in tasks(store)} == {"pending"}
    assert {t[5] for t in tasks(store)} == {"stopped: 401 Unauthorized: the token was revoked"}
    assert eraser.calls == []


def test_an_instance_no_longer_configured_or_erasing_fails_its_tasks_for_good() -> None:
    store = store_with_tasks()
    run(store, {})
    assert {t[3] for t in tasks(store)} == {"failed"}
    assert "no longer configured" in str(tasks(store)[0][5])
    store = store_with_tasks()
    run(store, {"fake": FakeConnector(destination(), None)})
    erase = store.rows("SELECT status, error FROM erasure_tasks WHERE task = 'erase'")
    assert {e[0] for e in erase} == {"failed"} and "erase_records is off" in erase[0][1]


@dataclass
class StoppingEraser(FakeEraser):
    """Answers the first person, then the token is revoked."""

    async def erase(self, people: list[Person]) -> list[ErasureResult]:
        if self.calls:
            self.calls.append([p.key for p in people])
            raise AuthError("401 Unauthorized: the token was revoked")
        return await super().erase(people)


def test_eraser_answers_are_recorded_together_and_before_a_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorded: list[list[str]] = []
    record = TaskRunner._record

    def counting(self: TaskRunner, outcomes: Any, *, transaction: bool = True) -> None:
        if outcomes and outcomes[0].task == "erase":
            recorded.append([o.request_id for o in outcomes])
        record(self, outcomes, transaction=transaction)

    monkeypatch.setattr(TaskRunner, "_record", counting)
    store = store_with_tasks()
    eraser = FakeEraser(erase_limit=1, max_in_flight=1)
    run(store, {"fake": FakeConnector(destination(), eraser)})
    assert eraser.calls == [["R1"], ["R2"]]
    assert recorded == [["R1", "R2"]]  # one update for both calls' answers, not one a call
    assert {t[3] for t in tasks(store)} == {"done"}

    recorded.clear()
    store = store_with_tasks()
    stopping = StoppingEraser(erase_limit=1, max_in_flight=1)
    run(store, {"fake": FakeConnector(destination(), stopping)})
    assert stopping.calls == [["R1"], ["R2"]]
    assert recorded == [["R1"]]  # the answer given before the stop is kept
    erase = dict(store.rows("SELECT request_id, status FROM erasure_tasks WHERE task = 'erase'"))
    assert erase == {"R1": "done", "R2": "pending"}
