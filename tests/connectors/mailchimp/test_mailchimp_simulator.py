"""The Mailchimp Marketing API v3 simulator: auth, members, upserts, tags, segments, orders."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
import pytest

from segsync.connectors.mailchimp.simulator import (
    DEFAULT_API_KEY,
    MailchimpSimulator,
    subscriber_hash,
)
from segsync.testing.simulator import Faults

KEY = "0123456789abcdef0123456789abcdef-us21"
BASE = "https://us21.api.mailchimp.test"
PROBLEM_CT = "application/problem+json; charset=utf-8"
PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}
JAN_1 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class WallClock:
    def __init__(self) -> None:
        self.now = JAN_1

    def __call__(self) -> float:
        return self.now


def make(**kwargs: Any) -> MailchimpSimulator:
    kwargs.setdefault("wall_clock", WallClock())
    sim = MailchimpSimulator(**kwargs)
    sim.add_credential(KEY)
    return sim


def client(
    sim: MailchimpSimulator, key: str | None = KEY, base: str = BASE, **kwargs: Any
) -> httpx.AsyncClient:
    auth = None if key is None else ("anystring", key)
    return httpx.AsyncClient(transport=sim.transport(), base_url=base, auth=auth, **kwargs)


def assert_problem(r: httpx.Response, status: int, title: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM_CT
    body: dict[str, Any] = r.json()
    assert set(body) >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert body["type"] == "https://mailchimp.com/developer/marketing/docs/errors/"
    assert body["instance"] == r.headers["X-Request-Id"]
    if title is not None:
        assert body["title"] == title
    return body


def email(i: int) -> str:
    return f"user{i}@example.com"


@pytest.fixture
def sim() -> MailchimpSimulator:
    s = make()
    s.seed_members(
        s.create_list("Main"),
        [{"email": email(i), "first_name": f"U{i}", "last_name": "L"} for i in range(25)],
    )
    return s


def members_path(sim: MailchimpSimulator) -> str:
    return f"/3.0/lists/{sim.default_list_id()}/members"


# -- auth and errors ---------------------------------------------------------------------------


async def test_basic_auth_any_username_bearer_and_plain_hosts(sim: MailchimpSimulator) -> None:
    async with client(sim) as c:
        r = await c.get("/3.0/ping")
        other_user = await c.get("/3.0/lists", auth=("someone-else", KEY))
    async with client(sim, base="http://127.0.0.1:8082") as c:
        loopback = await c.get("/3.0/lists")
    async with client(sim, key=None, headers={"Authorization": f"Bearer {KEY}"}) as c:
        bearer = await c.get("/3.0/lists")
    assert r.status_code == 200
    assert r.json() == {"health_status": "Everything's Chimpy!"}
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert "X-Request-Id" in r.headers
    assert other_user.status_code == loopback.status_code == bearer.status_code == 200
    assert not any(h.lower().startswith(("x-ratelimit", "retry-after")) for h in r.headers)


async def test_wrong_datacenter_is_401(sim: MailchimpSimulator) -> None:
    async with client(sim, base="https://us6.api.mailchimp.com") as c:
        r = await c.get("/3.0/lists")
    body = assert_problem(r, 401, "API Key Invalid")
    assert "wrong datacenter" in body["detail"]
    assert 'rel="describedBy"' in r.headers["Link"]
    relaxed = make(check_datacenter=False)
    async with client(relaxed, base="https://us6.api.mailchimp.com") as c:
        assert (await c.get("/3.0/lists")).status_code == 200


async def test_missing_and_bad_keys_are_401(sim: MailchimpSimulator) -> None:
    async with client(sim, key=None) as c:
        missing = await c.get("/3.0/lists")
        garbage = await c.get("/3.0/lists", headers={"Authorization": "Basic !!!"})
        unknown = await c.get("/3.0/lists", auth=("u", "ffffffffffffffff-us21"))
    assert_problem(missing, 401, "API Key Missing")
    assert_problem(garbage, 401, "API Key Invalid")
    assert_problem(unknown, 401, "API Key Invalid")
    assert sim.stats()["faults"] == {"auth": 3}


async def test_unknown_route_404_and_wrong_method_405(sim: MailchimpSimulator) -> None:
    async with client(sim) as c:
        missing = await c.get("/3.0/nothing/here")
        no_list = await c.get("/3.0/lists/nope/members")
        wrong = await c.delete("/3.0/lists")
    body = assert_problem(missing, 404, "Resource Not Found")
    assert body["detail"] == "The requested resource could not be found."
    assert_problem(no_list, 404, "Resource Not Found")
    assert_problem(wrong, 405, "Method Not Allowed")


async def test_every_error_is_problem_json(sim: MailchimpSimulator) -> None:
    lid = sim.default_list_id()
    h = subscriber_hash(email(0))
    async with client(sim) as c:
        answers = [
            await c.get(f"/3.0/lists/{lid}/members", params={"count": 5000}),
            await c.get(f"/3.0/lists/{lid}/members", params={"offset": "x"}),
            await c.get(f"/3.0/lists/{lid}/members", params={"since_last_changed": "soon"}),
            await c.put(f"/3.0/lists/{lid}/members/{h}", json={}),
            await c.put(f"/3.0/lists/{lid}/members/{h}", content=b"{not json"),
            await c.post(f"/3.0/lists/{lid}/members/{h}/tags", json={"tags": [{"name": "x"}]}),
            await c.post(f"/3.0/lists/{lid}/segments", json={}),
            await c.get(f"/3.0/lists/{lid}/segments/999"),
            await c.get(f"/3.0/lists/{lid}/segments/abc/members"),
            await c.get("/3.0/ecommerce/stores/nope/orders"),
            await c.get(f"/3.0/lists/{lid}/members/{'0' * 32}"),
        ]
    for r in answers:
        assert r.status_code in (400, 404), r.text
        assert_problem(r, r.status_code)
    assert answers[4].json()["title"] == "JSON Parse Error"


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_injected_errors_are_problem_documents(status: int) -> None:
    sim = make(faults=Faults(error_rate=1.0, error_statuses=(status,)))
    async with client(sim) as c:
        r = await c.get("/3.0/lists")
    assert_problem(r, status)


async def test_bare_403_truncated_json_and_dropped_connections() -> None:
    sim = make(faults=Faults(error_rate=1.0, error_statuses=(403,)))
    async with client(sim) as c:
        bare = await c.get("/3.0/lists")
        sim.set_faults(Faults(malformed_rate=1.0))
        truncated = await c.get("/3.0/lists")
        sim.set_faults(Faults(drop_rate=1.0))
        with pytest.raises(httpx.RemoteProtocolError):
            await c.get("/3.0/lists")
    assert bare.status_code == 403 and bare.content == b""
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        truncated.json()


async def test_concurrency_cap_answers_429() -> None:
    sim = make(concurrency=10, faults=Faults(latency=0.1))
    async with client(sim) as c:
        answers = await asyncio.gather(*(c.get("/3.0/ping") for _ in range(11)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 10 + [429]
    rejected = next(r for r in answers if r.status_code == 429)
    body = assert_problem(rejected, 429, "Too Many Requests")
    assert body["detail"] == "You have exceeded the limit of 10 simultaneous connections."
    assert "Retry-After" not in rejected.headers
    assert sim.stats()["faults"] == {"concurrency": 1}
    assert sim.stats()["max_concurrency"] == {"default": 11}


# -- audiences and members ---------------------------------------------------------------------


async def test_lists_and_list_stats(sim: MailchimpSimulator) -> None:
    lid = sim.default_list_id()
    sim.seed_members(lid, [{"email": "gone@example.com", "status": "unsubscribed"}])
    async with client(sim) as c:
        lists = (await c.get("/3.0/lists")).json()
        one = (await c.get(f"/3.0/lists/{lid}")).json()
    assert lists["total_items"] == 1 and lists["lists"][0]["id"] == lid
    assert one["name"] == "Main"
    assert one["stats"]["member_count"] == 25
    assert one["stats"]["unsubscribe_count"] == 1


async def test_members_paging_with_offset_and_total_items(sim: MailchimpSimulator) -> None:
    seen: list[str] = []
    async with client(sim) as c:
        default = (await c.get(members_path(sim))).json()
        offset = 0
        while True:
            page = (await c.get(members_path(sim), params={"count": 10, "offset": offset})).json()
            seen += [m["email_address"] for m in page["members"]]
            offset += 10
            if offset >= page["total_items"]:
                break
    assert len(default["members"]) == 10
    assert default["total_items"] == 25 and default["list_id"] == sim.default_list_id()
    assert seen == [email(i) for i in range(25)]


async def test_count_max_is_1000_and_clamp_option() -> None:
    strict, clamped = make(), make(count_over_max="clamp")
    rows = [{"email": email(i)} for i in range(1003)]
    for s in (strict, clamped):
        s.seed_members(s.create_list("Big"), rows)
    async with client(strict) as c:
        full = await c.get(members_path(strict), params={"count": 1000})
        too_many = await c.get(members_path(strict), params={"count": 1001})
    async with client(clamped) as c:
        capped = await c.get(members_path(clamped), params={"count": 5000})
    assert len(full.json()["members"]) == 1000
    body = assert_problem(too_many, 400, "Invalid Resource")
    assert body["errors"][0]["field"] == "count"
    assert len(capped.json()["members"]) == 1000


async def test_member_shape_and_addressing(sim: MailchimpSimulator) -> None:
    h = hashlib.md5(b"user3@example.com").hexdigest()
    async with client(sim) as c:
        by_hash = await c.get(f"{members_path(sim)}/{h}")
        by_email = await c.get(f"{members_path(sim)}/USER3@example.com")
    m = by_hash.json()
    assert by_email.json()["id"] == m["id"] == h == subscriber_hash("User3@Example.com ")
    assert m["email_address"] == "user3@example.com"
    assert m["status"] == "subscribed"
    assert len(m["unique_email_id"]) == 10
    assert m["merge_fields"] == {
        "FNAME": "U3",
        "LNAME": "L",
        "ADDRESS": "",
        "PHONE": "",
        "BIRTHDAY": "",
    }
    assert m["stats"] == {"avg_open_rate": 0, "avg_click_rate": 0}
    assert m["tags"] == [] and m["tags_count"] == 0
    assert m["last_changed"] == m["timestamp_opt"] == "2026-01-01T00:00:00+00:00"
    assert m["list_id"] == sim.default_list_id()


async def test_since_last_changed_is_strictly_after() -> None:
    wall = WallClock()
    sim = make(wall_clock=wall)
    lid = sim.create_list("L")
    sim.seed_members(lid, [{"email": email(i)} for i in range(5)])
    wall.now += 3600
    async with client(sim) as c:
        await c.patch(
            f"{members_path(sim)}/{subscriber_hash(email(2))}",
            json={"merge_fields": {"FNAME": "Changed"}},
        )
        since = await c.get(
            members_path(sim), params={"since_last_changed": "2026-01-01T00:30:00+00:00"}
        )
        at = {"since_last_changed": "2026-01-01T01:00:00Z"}
        boundary = await c.get(members_path(sim), params=at)
        before = await c.get(
            members_path(sim), params={"before_last_changed": "2026-01-01T00:30:00+00:00"}
        )
    assert [m["email_address"] for m in since.json()["members"]] == [email(2)]
    assert since.json()["total_items"] == 1
    assert boundary.json()["total_items"] == 0
    assert before.json()["total_items"] == 4
    inclusive = make(wall_clock=wall, since_inclusive=True)
    inclusive.seed_members(inclusive.create_list("L"), [{"email": "a@example.com"}])
    async with client(inclusive) as c:
        r = await c.get(members_path(inclusive), params=at)
    assert r.json()["total_items"] == 1


async def test_status_filter_and_archived(sim: MailchimpSimulator) -> None:
    lid = sim.default_list_id()
    sim.seed_members(
        lid,
        [
            {"email": "u@example.com", "status": "unsubscribed"},
            {"email": "c@example.com", "status": "cleaned"},
            {"email": "t@example.com", "status": "transactional"},
        ],
    )
    async with client(sim) as c:
        unsub = (await c.get(members_path(sim), params={"status": "unsubscribed"})).json()
        everyone = (await c.get(members_path(sim), params={"count": 0})).json()
        deleted = await c.delete(f"{members_path(sim)}/{subscriber_hash(email(0))}")
        after = (await c.get(members_path(sim), params={"count": 0})).json()
        archived = (await c.get(members_path(sim), params={"status": "archived"})).json()
        bad = await c.get(members_path(sim), params={"status": "gone"})
    assert [m["email_address"] for m in unsub["members"]] == ["u@example.com"]
    assert everyone["total_items"] == 28 and everyone["members"] == []
    assert deleted.status_code == 204
    assert after["total_items"] == 27
    assert [m["email_address"] for m in archived["members"]] == [email(0)]
    assert_problem(bad, 400, "Invalid Resource")


async def test_fields_and_exclude_fields(sim: MailchimpSimulator) -> None:
    fields = "members.email_address,members.merge_fields.FNAME,total_items"
    async with client(sim) as c:
        only = (await c.get(members_path(sim), params={"fields": fields, "count": 2})).json()
        minus = await c.get(
            members_path(sim),
            params={"exclude_fields": "members._links,members.stats,_links", "count": 1},
        )
    assert only == {
        "members": [
            {"email_address": email(0), "merge_fields": {"FNAME": "U0"}},
            {"email_address": email(1), "merge_fields": {"FNAME": "U1"}},
        ],
        "total_items": 25,
    }
    body = minus.json()
    assert "_links" not in body and "total_items" in body
    member = body["members"][0]
    assert "stats" not in member and "_links" not in member and "merge_fields" in member


# -- upserts -----------------------------------------------------------------------------------


async def test_put_upsert_requires_email_and_status_if_new(sim: MailchimpSimulator) -> None:
    new = "New.Person@Example.com"
    url = f"{members_path(sim)}/{subscriber_hash(new)}"
    async with client(sim) as c:
        missing = await c.put(url, json={"email_address": new})
        created = await c.put(
            url,
            json={
                "email_address": new,
                "status_if_new": "pending",
                "merge_fields": {"FNAME": "New"},
            },
        )
        updated = await c.put(
            url,
            json={
                "email_address": new,
                "status_if_new": "subscribed",
                "merge_fields": {"LNAME": "Person"},
            },
        )
        resub = await c.put(
            url, json={"email_address": new, "status_if_new": "pending", "status": "subscribed"}
        )
        mismatch = await c.put(
            f"{members_path(sim)}/{subscriber_hash(email(1))}",
            json={"email_address": new, "status_if_new": "subscribed"},
        )
        bad_status = await c.put(url, json={"email_address": new, "status_if_new": "maybe"})
    body = assert_problem(missing, 400, "Invalid Resource")
    assert body["errors"] == [
        {"field": "status_if_new", "message": "This value should not be blank."}
    ]
    assert created.status_code == 200
    assert created.json()["status"] == "pending" and created.json()["id"] == subscriber_hash(new)
    assert updated.json()["status"] == "pending"  # status_if_new applies to new members only
    assert updated.json()["merge_fields"]["FNAME"] == "New"
    assert updated.json()["merge_fields"]["LNAME"] == "Person"
    assert resub.json()["status"] == "subscribed"
    assert_problem(mismatch, 400, "Invalid Resource")
    assert_problem(bad_status, 400, "Invalid Resource")
    member = sim.member(sim.default_list_id(), new)
    assert member is not None and member["status"] == "subscribed"


async def test_merge_field_validation_and_skip(sim: MailchimpSimulator) -> None:
    lid = sim.default_list_id()
    sim.add_merge_field(lid, "SCORE", "Score", "number")
    url = f"{members_path(sim)}/{subscriber_hash(email(0))}"
    body = {"email_address": email(0), "status_if_new": "subscribed"}
    async with client(sim) as c:
        unknown = await c.put(url, json={**body, "merge_fields": {"NOPE": "x"}})
        not_number = await c.patch(url, json={"merge_fields": {"SCORE": "high"}})
        skipped = await c.put(
            url,
            params={"skip_merge_validation": "true"},
            json={**body, "merge_fields": {"NOPE": "x"}},
        )
        number = await c.patch(url, json={"merge_fields": {"SCORE": 7}})
        fields = (await c.get(f"/3.0/lists/{lid}/merge-fields")).json()
    assert assert_problem(unknown, 400)["errors"][0]["field"] == "NOPE"
    assert assert_problem(not_number, 400)["errors"][0]["field"] == "SCORE"
    assert skipped.status_code == 200
    assert number.json()["merge_fields"]["SCORE"] == 7
    tags = [f["tag"] for f in fields["merge_fields"]]
    assert tags == ["FNAME", "LNAME", "ADDRESS", "PHONE", "BIRTHDAY", "SCORE"]
    assert fields["total_items"] == 6 and fields["list_id"] == lid
    assert fields["merge_fields"][0]["type"] == "text"
    assert fields["merge_fields"][5]["type"] == "number"


async def test_create_member_conflict(sim: MailchimpSimulator) -> None:
    async with client(sim) as c:
        dup = await c.post(
            members_path(sim), json={"email_address": email(0), "status": "subscribed"}
        )
        ok = await c.post(
            members_path(sim),
            json={"email_address": "x@example.com", "status": "subscribed", "tags": ["vip"]},
        )
    assert_problem(dup, 400, "Member Exists")
    assert ok.status_code == 200 and ok.json()["tags"][0]["name"] == "vip"


async def test_batch_subscribe_results_and_errors(sim: MailchimpSimulator) -> None:
    lid = sim.default_list_id()
    members = [
        {
            "email_address": "fresh@example.com",
            "status": "subscribed",
            "merge_fields": {"FNAME": "Fresh"},
        },
        {"email_address": email(0), "status": "unsubscribed"},
        {"email_address": "not-an-email", "status": "subscribed"},
        {"email_address": "nostatus@example.com"},
    ]
    async with client(sim) as c:
        r = await c.post(f"/3.0/lists/{lid}", json={"members": members, "update_existing": False})
        again = await c.post(
            f"/3.0/lists/{lid}", json={"members": members[1:2], "update_existing": True}
        )
    body = r.json()
    assert r.status_code == 200
    assert [m["email_address"] for m in body["new_members"]] == ["fresh@example.com"]
    assert body["updated_members"] == []
    assert body["total_created"] == 1 and body["total_updated"] == 0
    assert body["error_count"] == 3
    errors = {e["email_address"]: e for e in body["errors"]}
    assert errors[email(0)]["error_code"] == "ERROR_CONTACT_EXISTS"
    assert errors["not-an-email"]["error_code"] == "ERROR_GENERIC"
    assert errors["not-an-email"]["field"] == "email_address"
    assert errors["nostatus@example.com"]["field"] == "status"
    assert set(errors[email(0)]) == {
        "email_address",
        "error",
        "error_code",
        "field",
        "field_message",
    }
    assert again.json()["total_updated"] == 1
    assert again.json()["updated_members"][0]["status"] == "unsubscribed"


async def test_batch_subscribe_size_limit() -> None:
    sim = make(batch_subscribe_max=3)
    lid = sim.create_list("L")
    rows = [{"email_address": email(i), "status": "subscribed"} for i in range(4)]
    async with client(sim) as c:
        r = await c.post(f"/3.0/lists/{lid}", json={"members": rows})
        ok = await c.post(f"/3.0/lists/{lid}", json={"members": rows[:3]})
    assert_problem(r, 400, "Invalid Resource")
    assert ok.json()["total_created"] == 3
    assert MailchimpSimulator().batch_subscribe_max == 500


# -- tags and segments -------------------------------------------------------------------------


async def test_member_tags_204_and_listing(sim: MailchimpSimulator) -> None:
    lid = sim.default_list_id()
    url = f"{members_path(sim)}/{subscriber_hash(email(1))}/tags"
    async with client(sim) as c:
        r = await c.post(
            url,
            json={
                "tags": [
                    {"name": "vip", "status": "active"},
                    {"name": "old", "status": "inactive"},
                ],
                "is_syncing": True,
            },
        )
        tags = (await c.get(url)).json()
        off = await c.post(url, json={"tags": [{"name": "vip", "status": "inactive"}]})
        unknown = await c.post(
            f"{members_path(sim)}/{'f' * 32}/tags",
            json={"tags": [{"name": "vip", "status": "active"}]},
        )
    assert r.status_code == 204 and r.content == b""
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert tags["total_items"] == 1
    assert tags["tags"][0]["name"] == "vip" and tags["tags"][0]["id"] == sim.segment_id(lid, "vip")
    assert "date_added" in tags["tags"][0]
    assert sim.segment_id(lid, "old") is None  # an inactive unknown tag is not created
    assert off.status_code == 204
    assert sim.tag_members(lid, "vip") == set()
    assert_problem(unknown, 404, "Resource Not Found")


async def test_segment_create_duplicate_list_and_tag_search(sim: MailchimpSimulator) -> None:
    lid = sim.default_list_id()
    seg = f"/3.0/lists/{lid}/segments"
    async with client(sim) as c:
        created = await c.post(seg, json={"name": "segsync: VIP", "static_segment": []})
        dup = await c.post(seg, json={"name": "segsync: VIP", "static_segment": []})
        await c.post(seg, json={"name": "segsync: churn", "static_segment": [email(0)]})
        await c.post(seg, json={"name": "other", "static_segment": []})
        both = await c.post(seg, json={"name": "x", "static_segment": [], "options": {}})
        saved = await c.post(seg, json={"name": "rule", "options": {"match": "any"}})
        static = (await c.get(seg, params={"type": "static", "count": 2, "offset": 1})).json()
        search = (await c.get(f"/3.0/lists/{lid}/tag-search", params={"name": "SEGSYNC"})).json()
    s = created.json()
    assert created.status_code == 200
    assert s["type"] == "static" and s["member_count"] == 0 and s["list_id"] == lid
    assert {"id", "name", "created_at", "updated_at"} <= set(s)
    assert_problem(dup, 400, "Invalid Resource")
    assert_problem(both, 400)
    assert saved.json()["type"] == "saved"
    assert static["total_items"] == 3
    assert [x["name"] for x in static["segments"]] == ["segsync: churn", "other"]
    assert static["segments"][0]["member_count"] == 1
    assert search == {
        "tags": [
            {"id": s["id"], "name": "segsync: VIP"},
            {"id": sim.segment_id(lid, "segsync: churn"), "name": "segsync: churn"},
        ],
        "total_items": 2,
    }


async def test_segment_bulk_add_remove_ignores_unknown_emails(sim: MailchimpSimulator) -> None:
    lid = sim.default_list_id()
    async with client(sim) as c:
        sid = (
            await c.post(f"/3.0/lists/{lid}/segments", json={"name": "vip", "static_segment": []})
        ).json()["id"]
        url = f"/3.0/lists/{lid}/segments/{sid}"
        add = await c.post(
            url,
            json={
                "members_to_add": [email(0), email(1), "USER2@example.com", "stranger@example.com"]
            },
        )
        both = await c.post(
            url,
            json={
                "members_to_add": [email(0), email(3)],
                "members_to_remove": [email(1), "who@example.com"],
            },
        )
        member = (await c.get(f"{members_path(sim)}/{subscriber_hash(email(3))}")).json()
    body = add.json()
    assert add.status_code == 200
    assert body["total_added"] == 3 and body["total_removed"] == 0
    assert body["errors"] == [] and body["error_count"] == 0
    assert [m["email_address"] for m in body["members_added"]] == [email(0), email(1), email(2)]
    assert both.json()["total_added"] == 1  # email(0) already had the tag
    assert [m["email_address"] for m in both.json()["members_removed"]] == [email(1)]
    assert sim.tag_members(lid, "vip") == {email(0), email(2), email(3)}
    assert member["tags"] == [{"id": sid, "name": "vip"}]


async def test_segment_bulk_limits_and_reporting_unknown_emails() -> None:
    sim = make(segment_members_max=2, report_unknown_segment_emails=True)
    lid = sim.create_list("L")
    sim.seed_members(lid, [{"email": email(0), "tags": ["vip"]}])
    url = f"/3.0/lists/{lid}/segments/{sim.segment_id(lid, 'vip')}"
    async with client(sim) as c:
        too_many_add = await c.post(url, json={"members_to_add": [email(0)] * 3})
        too_many_remove = await c.post(url, json={"members_to_remove": [email(0)] * 3})
        reported = await c.post(url, json={"members_to_add": ["nobody@example.com"]})
    assert_problem(too_many_add, 400, "Invalid Resource")
    assert_problem(too_many_remove, 400, "Invalid Resource")
    body = reported.json()
    assert body["error_count"] == 1
    assert body["errors"][0]["email_addresses"] == ["nobody@example.com"]
    assert MailchimpSimulator().segment_members_max == 500


async def test_segment_members_paging_and_status_inclusion(sim: MailchimpSimulator) -> None:
    lid = sim.default_list_id()
    sim.seed_members(lid, [{"email": email(i), "tags": ["vip"]} for i in range(12)])
    sim.seed_members(lid, [{"email": "u@example.com", "status": "unsubscribed", "tags": ["vip"]}])
    url = f"/3.0/lists/{lid}/segments/{sim.segment_id(lid, 'vip')}/members"
    async with client(sim) as c:
        first = (await c.get(url, params={"count": 5})).json()
        last = (await c.get(url, params={"count": 5, "offset": 10})).json()
        with_unsub = (await c.get(url, params={"include_unsubscribed": "true"})).json()
    assert first["total_items"] == 12
    assert [m["email_address"] for m in first["members"]] == [email(i) for i in range(5)]
    assert [m["email_address"] for m in last["members"]] == [email(10), email(11)]
    assert with_unsub["total_items"] == 13
    assert len(sim.tag_members(lid, "vip")) == 13


async def test_segment_rename_replace_delete_and_permanent_delete(sim: MailchimpSimulator) -> None:
    lid = sim.default_list_id()
    sim.seed_members(
        lid, [{"email": email(0), "tags": ["a", "b"]}, {"email": email(1), "tags": ["a"]}]
    )
    a, b = sim.segment_id(lid, "a"), sim.segment_id(lid, "b")
    seg = f"/3.0/lists/{lid}/segments"
    async with client(sim) as c:
        taken = await c.patch(f"{seg}/{a}", json={"name": "b"})
        renamed = await c.patch(f"{seg}/{a}", json={"name": "gold", "static_segment": [email(1)]})
        deleted = await c.delete(f"{seg}/{b}")
        gone = await c.get(f"{seg}/{b}")
        purged = await c.post(
            f"{members_path(sim)}/{subscriber_hash(email(1))}/actions/delete-permanent"
        )
        missing = await c.get(f"{members_path(sim)}/{subscriber_hash(email(1))}")
    assert_problem(taken, 400, "Invalid Resource")
    assert renamed.json()["name"] == "gold" and renamed.json()["member_count"] == 1
    assert deleted.status_code == 204
    assert_problem(gone, 404)
    assert purged.status_code == 204
    assert_problem(missing, 404)
    assert sim.tag_members(lid, "gold") == set()
    member = sim.member(lid, email(0))
    assert member is not None and member["tags"] == []


async def test_tag_changes_move_last_changed_only_when_configured() -> None:
    for bump in (False, True):
        wall = WallClock()
        sim = make(wall_clock=wall, tag_changes_bump_last_changed=bump)
        lid = sim.create_list("L")
        sim.seed_members(lid, [{"email": email(0)}])
        wall.now += 60
        async with client(sim) as c:
            await c.post(
                f"{members_path(sim)}/{subscriber_hash(email(0))}/tags",
                json={"tags": [{"name": "vip", "status": "active"}]},
            )
            r = await c.get(
                members_path(sim), params={"since_last_changed": "2026-01-01T00:00:30Z"}
            )
        assert r.json()["total_items"] == (1 if bump else 0)


async def test_patch_changes_email_and_keeps_tags(sim: MailchimpSimulator) -> None:
    lid = sim.default_list_id()
    sim.seed_members(lid, [{"email": email(0), "tags": ["vip"]}])
    async with client(sim) as c:
        r = await c.patch(
            f"{members_path(sim)}/{subscriber_hash(email(0))}",
            json={"email_address": "renamed@example.com", "status": "unsubscribed"},
        )
        taken = await c.patch(
            f"{members_path(sim)}/{subscriber_hash(email(1))}", json={"email_address": email(2)}
        )
    assert r.json()["id"] == subscriber_hash("renamed@example.com")
    assert r.json()["status"] == "unsubscribed"
    assert sim.tag_members(lid, "vip") == {"renamed@example.com"}
    assert sim.member(lid, email(0)) is None
    assert_problem(taken, 400, "Member Exists")


# -- e-commerce --------------------------------------------------------------------------------


async def test_stores_and_orders_paging(sim: MailchimpSimulator) -> None:
    ids = sim.seed_orders(
        "shop",
        [
            {
                "id": f"O{i}",
                "email": email(i % 3),
                "amount": "10.50",
                "currency_code": "EUR",
                "processed_at": f"2026-02-{i + 1:02d}T10:00:00Z",
            }
            for i in range(12)
        ],
    )
    collected: list[dict[str, Any]] = []
    async with client(sim) as c:
        stores = (await c.get("/3.0/ecommerce/stores")).json()
        offset = 0
        while True:
            page = (
                await c.get(
                    "/3.0/ecommerce/stores/shop/orders", params={"count": 5, "offset": offset}
                )
            ).json()
            collected += page["orders"]
            offset += 5
            if offset >= page["total_items"]:
                break
        by_customer = await c.get(
            "/3.0/ecommerce/orders", params={"customer_id": subscriber_hash(email(0))}
        )
    assert ids == [f"O{i}" for i in range(12)]
    assert stores["total_items"] == 1
    assert stores["stores"][0]["id"] == "shop"
    assert stores["stores"][0]["list_id"] == sim.default_list_id()
    assert [o["id"] for o in collected] == ids
    first = collected[0]
    assert first["customer"]["email_address"] == email(0)
    assert first["customer"]["orders_count"] == 4
    assert first["order_total"] == 10.5 and first["currency_code"] == "EUR"
    assert first["processed_at_foreign"] == "2026-02-01T10:00:00+00:00"
    assert by_customer.json()["total_items"] == 4


# -- helpers, determinism, sandbox -------------------------------------------------------------


def test_seed_helpers_and_inspection() -> None:
    sim = make()
    lid = sim.create_list("A")
    hashes = sim.seed_members(
        lid,
        [
            {
                "email": " Ann@Example.org ",
                "status": "pending",
                "merge_fields": {"PHONE": "+491"},
                "first_name": "Ann",
                "tags": ["vip", "de"],
                "avg_open_rate": 0.5,
            },
            {"email": ""},
        ],
    )
    assert hashes == [subscriber_hash("ann@example.org")]
    ann = sim.member(lid, "ANN@example.org")
    assert ann is not None
    assert ann["status"] == "pending" and ann["stats"]["avg_open_rate"] == 0.5
    assert ann["merge_fields"]["FNAME"] == "Ann" and ann["merge_fields"]["PHONE"] == "+491"
    assert [t["name"] for t in ann["tags"]] == ["vip", "de"]
    assert sim.tag_members(lid, "de") == {"ann@example.org"}
    assert sim.tag_members(lid, "none") == set()
    assert sim.member(lid, "nobody@example.org") is None
    assert sim.list_id("A") == lid
    assert sim.state()["lists"][lid] == {"name": "A", "members": 1, "segments": 2}


def test_ids_are_deterministic_per_seed() -> None:
    def build(seed: int) -> tuple[str, int | None, str]:
        sim = make(seed=seed)
        lid = sim.create_list("A")
        sim.seed_members(lid, [{"email": "a@example.org", "tags": ["t"]}])
        member = sim.member(lid, "a@example.org")
        assert member is not None
        return lid, sim.segment_id(lid, "t"), member["unique_email_id"]

    assert build(1) == build(1)
    assert build(1) != build(2)


async def test_sandbox_credentials_and_seed_contacts() -> None:
    sim = MailchimpSimulator()
    creds = sim.credentials_for_sandbox()
    assert creds == {"api_key": DEFAULT_API_KEY, "server": "us1"}
    sim.seed_contacts(
        [
            {
                "id": "C1",
                "email": "a@example.org",
                "first_name": "A",
                "last_name": "Z",
                "email_opt_in": "yes",
                "birth_date": "1990-04-02",
            },
            {"id": "C2", "email": "b@example.org", "first_name": "B", "email_opt_in": "no"},
            {"id": "C3", "email": "c@example.org", "first_name": "C", "email_opt_in": ""},
        ]
    )
    lid = sim.default_list_id()
    assert sim.member_emails(lid, "subscribed") == {"a@example.org"}
    assert sim.member_emails(lid, "unsubscribed") == {"b@example.org"}
    assert sim.member_emails(lid, "transactional") == {"c@example.org"}
    a = sim.member(lid, "a@example.org")
    assert a is not None and a["merge_fields"]["BIRTHDAY"] == "04/02"
    async with client(sim, key=creds["api_key"], base="https://us1.api.mailchimp.com") as c:
        r = await c.get(f"/3.0/lists/{lid}/members")
    assert r.status_code == 200 and r.json()["total_items"] == 3


async def test_served_on_loopback(sim: MailchimpSimulator) -> None:
    with sim.serve() as served:
        async with httpx.AsyncClient(base_url=served.base_url, auth=("u", KEY)) as c:
            r = await c.get(members_path(sim), params={"count": 1})
    assert r.status_code == 200 and r.json()["total_items"] == 25


# -- trailing slashes, kept query results, trimmed rendering -----------------------------------


async def test_paths_answer_with_and_without_a_trailing_slash(sim: MailchimpSimulator) -> None:
    path = members_path(sim)
    async with client(sim) as c:
        plain = await c.get(path, params={"count": 5})
        slashed = await c.get(f"{path}/", params={"count": 5})
        root, root_slashed = await c.get("/3.0"), await c.get("/3.0/")
        ping = await c.get("/3.0/ping/")
        wrong = await c.delete(f"{path}/")
    assert plain.json()["members"] == slashed.json()["members"]
    assert root.json()["account_name"] == root_slashed.json()["account_name"] == "segsync"
    assert ping.json() == {"health_status": "Everything's Chimpy!"}
    assert_problem(wrong, 405, "Method Not Allowed")


async def test_member_pages_see_every_change_between_them(sim: MailchimpSimulator) -> None:
    path, list_id = members_path(sim), sim.default_list_id()
    params = {"count": 10, "status": "subscribed", "fields": "members.email_address,total_items"}
    async with client(sim) as c:
        first = (await c.get(path, params=params)).json()
        await c.patch(f"{path}/{subscriber_hash(email(0))}", json={"status": "unsubscribed"})
        after_patch = (await c.get(path, params=params)).json()
        await c.delete(f"{path}/{subscriber_hash(email(1))}")
        after_archive = (await c.get(path, params=params)).json()
        sim.seed_members(list_id, [{"email": "late@example.com"}])
        after_seed = (await c.get(path, params={**params, "offset": 20})).json()
        stats = (await c.get(f"/3.0/lists/{list_id}")).json()["stats"]
    assert first["total_items"] == 25
    assert first["members"][0] == {"email_address": email(0)}
    assert after_patch["total_items"] == 24
    assert after_patch["members"][0] == {"email_address": email(1)}
    assert after_archive["total_items"] == 23
    assert after_seed["members"][-1] == {"email_address": "late@example.com"}
    assert (stats["member_count"], stats["unsubscribe_count"], stats["total_contacts"]) == (
        24,
        1,
        25,
    )


async def test_segment_members_and_counts_follow_tag_changes(sim: MailchimpSimulator) -> None:
    list_id = sim.default_list_id()
    seg = f"/3.0/lists/{list_id}/segments"
    async with client(sim) as c:
        tag = (await c.post(seg, json={"name": "vip", "static_segment": [email(0)]})).json()
        before = (await c.get(f"{seg}/{tag['id']}/members")).json()
        await c.post(f"{seg}/{tag['id']}", json={"members_to_add": [email(1), email(2)]})
        await c.post(f"/3.0/lists/{list_id}/members/{subscriber_hash(email(0))}/tags",
                     json={"tags": [{"name": "vip", "status": "inactive"}]})  # fmt: skip
        after = (await c.get(f"{seg}/{tag['id']}/members")).json()
        count = (await c.get(f"{seg}/{tag['id']}")).json()["member_count"]
    assert [m["email_address"] for m in before["members"]] == [email(0)]
    assert [m["email_address"] for m in after["members"]] == [email(1), email(2)]
    assert count == 2


async def test_fields_trim_the_same_answer_the_full_rendering_gives(
    sim: MailchimpSimulator,
) -> None:
    list_id = sim.default_list_id()
    sim.tag_api.tag(list_id, subscriber_hash(email(3)), "vip", True)
    path = members_path(sim)
    async with client(sim) as c:
        full = (await c.get(path, params={"count": 5, "offset": 2})).json()
        for fields in (
            "members.email_address,members.tags_count,total_items",
            "members.id,members._links,members.location.country_code",
            "members.merge_fields.FNAME,members.tags.name",
            "list_id",
        ):
            got = (await c.get(path, params={"count": 5, "offset": 2, "fields": fields})).json()
            assert got == trim(full, fields), fields
        tagged = await c.post(
            f"/3.0/lists/{list_id}/segments/{sim.segment_id(list_id, 'vip')}",
            params={"fields": "members_added.id,members_added.email_address,errors"},
            json={"members_to_add": [email(4)]},
        )
    assert tagged.json() == {
        "members_added": [{"id": subscriber_hash(email(4)), "email_address": email(4)}],
        "errors": [],
    }
    assert full["members"][1]["tags"][0]["name"] == "vip"


def trim(value: Any, fields: str) -> Any:
    """``fields`` applied by hand: keep only the dotted paths (lists walked through)."""
    paths = [f.split(".") for f in fields.split(",")]

    def keep(node: Any, rest: list[list[str]]) -> Any:
        if any(not p for p in rest):
            return node
        if isinstance(node, list):
            return [keep(n, rest) for n in node]
        if not isinstance(node, dict):
            return node
        return {k: keep(v, [p[1:] for p in rest if p[0] == k]) for k, v in node.items()
                if any(p[0] == k for p in rest)}  # fmt: skip

    return keep(value, paths)
