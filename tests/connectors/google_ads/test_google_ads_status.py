"""requestStatus:retrieve, matching, list sizes and membership expiry."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from gads_kit import (
    ACCOUNT,
    DAY,
    LISTS,
    MANAGER,
    OTHER,
    PROJECT,
    client,
    destination,
    email,
    google_error,
    ingest_body,
    make,
    member,
    phone,
    reasons,
    remove_body,
    sha,
)

from segsync.connectors.google_ads.simulator import DataManagerSimulator
from segsync.connectors.google_ads.simulator.matching import GoogleUsers
from segsync.connectors.google_ads.simulator.status import match_rate_range

INGEST, RETRIEVE = "/v1/audienceMembers:ingest", "/v1/requestStatus:retrieve"


def seeded(n: int, **kwargs: Any) -> DataManagerSimulator:
    """A simulator whose Google users are exactly emails 0..n-1."""
    sim = make(**kwargs)
    for i in range(n):
        sim.add_google_user(emails=[email(i)])
    return sim


async def status(c: httpx.AsyncClient, request_id: str) -> list[dict[str, Any]]:
    r = await c.get(RETRIEVE, params={"requestId": request_id})
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["requestStatusPerDestination"]
    return entries


async def ingest(c: httpx.AsyncClient, body: dict[str, Any]) -> str:
    r = await c.post(INGEST, json=body)
    assert r.status_code == 200, r.text
    request_id: str = r.json()["requestId"]
    return request_id


async def test_processing_for_the_configured_polls_then_success() -> None:
    sim = seeded(10, processing_polls=2)
    list_id = sim.create_list(ACCOUNT, "l")
    async with client(sim) as c:
        rid = await ingest(c, ingest_body(list_id, [member(email(i)) for i in range(10)]))
        for _ in range(2):
            (entry,) = await status(c, rid)
            assert entry["requestStatus"] == "PROCESSING"
            assert "errorInfo" not in entry and "warningInfo" not in entry
            ingested = entry["audienceMembersIngestionStatus"]["userDataIngestionStatus"]
            assert "uploadMatchRateRange" not in ingested
        (entry,) = await status(c, rid)
    assert entry == {
        "destination": {
            "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": ACCOUNT},
            "productDestinationId": list_id,
        },
        "requestStatus": "SUCCESS",
        "warningInfo": {"warningCounts": []},
        "audienceMembersIngestionStatus": {
            "userDataIngestionStatus": {
                "recordCount": "10",
                "userIdentifierCount": "10",
                "uploadMatchRateRange": "MATCH_RATE_RANGE_91_TO_100",
            }
        },
    }


async def test_processing_seconds_delays_members_and_status() -> None:
    sim = seeded(3, processing_polls=0, processing_seconds=1800)
    list_id = sim.create_list(ACCOUNT, "l")
    async with client(sim) as c:
        rid = await ingest(c, ingest_body(list_id, [member(email(i)) for i in range(3)]))
        assert sim.list_members(list_id) == []
        (entry,) = await status(c, rid)
        assert entry["requestStatus"] == "PROCESSING"
        assert entry["audienceMembersIngestionStatus"] == {"userDataIngestionStatus": {}}
        sim.advance(1799)
        assert sim.state()["uploads"]["pending"] == 1
        sim.advance(1)
        assert len(sim.list_members(list_id)) == 3
        (entry,) = await status(c, rid)
        assert entry["requestStatus"] == "SUCCESS"
    uploaded = {m["uploaded_at"] for m in sim.list_members(list_id)}
    assert uploaded == {sim.now()}  # processed at accept time + processing_seconds


async def test_denied_consent_is_a_partial_success_with_counts() -> None:
    sim = seeded(100, processing_polls=0)
    list_id = sim.create_list(ACCOUNT, "l")
    members = [member(email(i)) for i in range(100)]
    for i in range(10):
        members[i]["consent"] = {"adUserData": "CONSENT_DENIED"}
    members[10]["consent"] = {"adUserData": "CONSENT_STATUS_UNSPECIFIED",
                              "adPersonalization": "CONSENT_STATUS_UNSPECIFIED"}  # fmt: skip
    async with client(sim) as c:
        body = ingest_body(list_id, members)
        body["consent"] = {"adUserData": "CONSENT_GRANTED"}  # adPersonalization unknown
        for m in members[11:]:
            m["consent"] = {"adPersonalization": "CONSENT_GRANTED"}
        rid = await ingest(c, body)
        (entry,) = await status(c, rid)
    assert entry["requestStatus"] == "PARTIAL_SUCCESS"
    assert entry["errorInfo"] == {"errorCounts": [
        {"recordCount": "10", "reason": "PROCESSING_ERROR_REASON_DENIED_CONSENT"},
        {"recordCount": "1", "reason": "PROCESSING_ERROR_REASON_UNKNOWN_CONSENT"},
    ]}  # fmt: skip
    ingested = entry["audienceMembersIngestionStatus"]["userDataIngestionStatus"]
    assert ingested["recordCount"] == "100"
    assert ingested["uploadMatchRateRange"] == "MATCH_RATE_RANGE_91_TO_100"  # 89 of 89 kept
    assert len(sim.list_members(list_id)) == 89


@pytest.mark.parametrize("configured", ["FAILED", "PARTIAL_SUCCESS"])
async def test_all_records_dropped(configured: str) -> None:
    sim = make(processing_polls=0, all_failed_status=configured)
    list_id = sim.create_list(ACCOUNT, "l")
    async with client(sim) as c:
        body = ingest_body(list_id, [member(email(1)), member(email(2))])
        del body["consent"]
        (entry,) = await status(c, await ingest(c, body))
    assert entry["requestStatus"] == configured
    assert entry["errorInfo"]["errorCounts"] == [
        {"recordCount": "2", "reason": "PROCESSING_ERROR_REASON_NO_CONSENT"}
    ]
    ingested = entry["audienceMembersIngestionStatus"]["userDataIngestionStatus"]
    assert ingested["uploadMatchRateRange"] == "MATCH_RATE_RANGE_NOT_ELIGIBLE"


def test_match_rate_buckets() -> None:
    assert match_rate_range(0, 0, 1) == "MATCH_RATE_RANGE_NOT_ELIGIBLE"
    assert match_rate_range(5, 50, 100) == "MATCH_RATE_RANGE_NOT_ELIGIBLE"
    cases = {0: "LESS_THAN_20", 19: "LESS_THAN_20", 20: "20_TO_30", 30: "20_TO_30",
             31: "31_TO_40", 45: "41_TO_50", 51: "51_TO_60", 60: "51_TO_60", 61: "61_TO_70",
             75: "71_TO_80", 81: "81_TO_90", 90: "81_TO_90", 91: "91_TO_100", 100: "91_TO_100"}  # fmt: skip
    for percent, bucket in cases.items():
        assert match_rate_range(percent, 100, 1) == f"MATCH_RATE_RANGE_{bucket}"


async def test_list_size_match_rate_and_eligibility_move_as_members_match() -> None:
    sim = seeded(150, processing_polls=0)
    async with client(sim) as c:
        r = await c.post(LISTS, json={"displayName": "grow", "ingestedUserListInfo": {
            "uploadKeyTypes": ["CONTACT_ID"]}})  # fmt: skip
        list_id = r.json()["id"]
        # 99 matched of 120 uploaded: below the serving size
        members = [member(email(i)) for i in range(99)]
        members += [member(f"nobody{i}@example.com") for i in range(21)]
        await ingest(c, ingest_body(list_id, members))
        got = (await c.get(f"{LISTS}/{list_id}")).json()
        assert got["sizeInfo"] == {"displayNetworkMembersCount": "99",
                                   "searchNetworkMembersCount": "99"}  # fmt: skip
        assert got["targetNetworkInfo"] == {"eligibleForSearch": False}
        assert got["ingestedUserListInfo"]["contactIdInfo"]["matchRatePercentage"] == 82
        # one more matched member: eligible
        await ingest(c, ingest_body(list_id, [member(email(99))]))
        got = (await c.get(f"{LISTS}/{list_id}")).json()
        assert got["sizeInfo"]["displayNetworkMembersCount"] == "100"
        assert got["targetNetworkInfo"] == {"eligibleForDisplay": True, "eligibleForSearch": True}
        # removing members shrinks it again
        await c.post("/v1/audienceMembers:remove", json=remove_body(list_id, [member(email(0))]))
        assert sim.list_info(list_id)["sizeInfo"]["displayNetworkMembersCount"] == "99"


async def test_size_counts_google_users_not_uploads() -> None:
    sim = make(processing_polls=0, search_share=0.5, min_display_size=1, min_search_size=2)
    sim.add_google_user(emails=[email(1)], phones=[phone(1)])
    list_id = sim.create_list(ACCOUNT, "l")
    async with client(sim) as c:
        # the same person uploaded as two members (by email, then by phone) is one user
        await ingest(c, ingest_body(list_id, [member(email(1)), member(phones=(phone(1),))]))
    info = sim.list_info(list_id)
    assert len(sim.list_members(list_id)) == 2
    assert info["sizeInfo"] == {"displayNetworkMembersCount": "1"}  # search: 0, left out
    assert info["targetNetworkInfo"] == {"eligibleForDisplay": True, "eligibleForSearch": False}


async def test_reupload_with_a_shared_identifier_refreshes_one_member() -> None:
    sim = seeded(1, processing_polls=0)
    list_id = sim.create_list(ACCOUNT, "l", membership_days=10)
    async with client(sim) as c:
        await ingest(c, ingest_body(list_id, [member(email(0))]))
        sim.advance(5 * DAY)
        await ingest(c, ingest_body(list_id, [member(email(0), phones=(phone(0),))]))
    (m,) = sim.list_members(list_id)
    assert m["identifiers"] == [sha(email(0)), sha(phone(0))]
    assert m["expires_at"] == sim.now() + 10 * DAY and m["user"] == 1


async def test_members_expire_after_the_membership_duration_unless_reuploaded() -> None:
    sim = seeded(2, processing_polls=0, min_display_size=1)
    list_id = sim.create_list(ACCOUNT, "l", membership_days=540)
    async with client(sim) as c:
        await ingest(c, ingest_body(list_id, [member(email(0)), member(email(1))]))
        sim.advance(539 * DAY)
        await ingest(c, ingest_body(list_id, [member(email(1))]))  # refreshed
        sim.advance(DAY)
        got = (await c.get(f"{LISTS}/{list_id}")).json()
    assert [m["identifiers"] for m in sim.list_members(list_id)] == [[sha(email(1))]]
    assert got["sizeInfo"]["displayNetworkMembersCount"] == "1"
    sim.advance(539 * DAY)
    assert sim.list_members(list_id) == []
    assert sim.list_info(list_id)["sizeInfo"] == {}


async def test_the_list_duration_at_upload_time_applies() -> None:
    sim = make(processing_polls=0)
    list_id = sim.create_list(ACCOUNT, "l", membership_days=30)
    async with client(sim) as c:
        await ingest(c, ingest_body(list_id, [member(email(0))]))
        r = await c.patch(f"{LISTS}/{list_id}", params={"updateMask": "membershipDuration"},
                          json={"membershipDuration": f"{90 * DAY}s"})  # fmt: skip
        assert r.status_code == 200
        await ingest(c, ingest_body(list_id, [member(email(1))]))
    sim.advance(30 * DAY)
    assert [m["identifiers"] for m in sim.list_members(list_id)] == [[sha(email(1))]]


async def test_remove_and_remove_all_statuses() -> None:
    sim = make(processing_polls=0)
    list_id = sim.create_list(ACCOUNT, "l")
    async with client(sim) as c:
        await ingest(c, ingest_body(list_id, [member(email(0))]))
        r = await c.post("/v1/audienceMembers:remove",
                         json=remove_body(list_id, [member(email(0), phones=(phone(0),))]))  # fmt: skip
        (entry,) = await status(c, r.json()["requestId"])
        assert entry["requestStatus"] == "SUCCESS"
        assert entry["audienceMembersRemovalStatus"] == {
            "userDataRemovalStatus": {"recordCount": "1", "userIdentifierCount": "2"}
        }
        r = await c.post(
            "/v1/audienceMembers:removeAll", json={"destinations": [destination(list_id)]}
        )
        (entry,) = await status(c, r.json()["requestId"])
        assert entry["requestStatus"] == "SUCCESS"
        assert entry["removeAllAudienceMembersStatus"] == {}


async def test_statuses_follow_the_destination_order_and_references() -> None:
    sim = seeded(4, processing_polls=0)
    first = sim.create_list(ACCOUNT, "first")
    second = sim.create_list(ACCOUNT, "second")
    dests = [destination(second, reference="b"), destination(first, reference="a")]
    members = [{**member(email(0)), "destinationReferences": ["a"]}, member(email(1)),
               member("stranger@example.com")]  # fmt: skip
    async with client(sim) as c:
        entries = await status(c, await ingest(c, ingest_body(first, members, destinations=dests)))
    assert [e["destination"]["productDestinationId"] for e in entries] == [second, first]
    assert entries[0]["destination"]["reference"] == "b"
    counts = [e["audienceMembersIngestionStatus"]["userDataIngestionStatus"] for e in entries]
    assert [c["recordCount"] for c in counts] == ["2", "3"]
    assert [c["uploadMatchRateRange"] for c in counts] == [
        "MATCH_RATE_RANGE_41_TO_50",  # 1 of 2
        "MATCH_RATE_RANGE_61_TO_70",  # 2 of 3
    ]


async def test_a_list_deleted_before_processing_counts_as_errors() -> None:
    sim = make(processing_polls=0, processing_seconds=60)
    list_id = sim.create_list(ACCOUNT, "l")
    async with client(sim) as c:
        rid = await ingest(c, ingest_body(list_id, [member(email(0))]))
        assert (await c.delete(f"{LISTS}/{list_id}")).status_code == 200
        sim.advance(60)
        (entry,) = await status(c, rid)
    assert entry["requestStatus"] == "FAILED"
    assert (
        entry["errorInfo"]["errorCounts"][0]["reason"] == "PROCESSING_ERROR_REASON_INTERNAL_ERROR"
    )


async def test_a_closed_list_takes_no_new_members() -> None:
    sim = make(processing_polls=0)
    list_id = sim.create_list(ACCOUNT, "l")
    async with client(sim) as c:
        await ingest(c, ingest_body(list_id, [member(email(0))]))
        await c.patch(f"{LISTS}/{list_id}", params={"updateMask": "membershipStatus"},
                      json={"membershipStatus": "CLOSED"})  # fmt: skip
        sim.advance(DAY)
        await ingest(c, ingest_body(list_id, [member(email(0)), member(email(1))]))
    (m,) = sim.list_members(list_id)
    assert m["identifiers"] == [sha(email(0))] and m["uploaded_at"] == sim.now()


async def test_retrieve_errors_and_access() -> None:
    sim = make(processing_polls=0)
    list_id = sim.create_list(ACCOUNT, "l")
    sim.add_access_token("stranger", principal="someone@else.com", project=PROJECT)
    async with client(sim) as c:
        rid = await ingest(c, ingest_body(list_id, [member(email(0))]))
        assert reasons(await c.get(RETRIEVE)) == [("request_id", "REQUIRED_FIELD_MISSING")]
        r = await c.get(RETRIEVE, params={"requestId": "nope"})
        assert reasons(r) == [("request_id", "INVALID_REQUEST_ID")]
        r = await c.get(RETRIEVE, params={"requestId": "00000000-0000-4000-8000-000000000000"})
        google_error(r, 404, "NOT_FOUND", "NOT_FOUND")
        assert len(await status(c, rid.upper())) == 1
    async with client(sim, token="stranger") as c:
        google_error(await c.get(RETRIEVE, params={"requestId": rid}), 403, "PERMISSION_DENIED")
    sim.directory.grant("someone@else.com", MANAGER)  # not the uploader's access path
    async with client(sim, token="stranger") as c:
        google_error(await c.get(RETRIEVE, params={"requestId": rid}), 403, "PERMISSION_DENIED")
    sim.directory.grant("someone@else.com", ACCOUNT)  # the uploader's: directly
    async with client(sim, token="stranger") as c:
        assert (await c.get(RETRIEVE, params={"requestId": rid})).status_code == 200
    assert OTHER not in {a for u in sim.statuses.uploads.values() for a, _ in u.access}


# -- matching ----------------------------------------------------------------------------------


def test_seeding_is_deterministic_and_near_the_share() -> None:
    rows = [{"email": f"Person.{i}@Example.com", "phone": f"06 12 34 {i // 100:02d} {i % 100:02d}",
             "country": "FR", "first_name": "Ann", "last_name": "Lee"} for i in range(2000)]  # fmt: skip
    one, two = GoogleUsers(seed=7, match_share=0.6), GoogleUsers(seed=7, match_share=0.6)
    assert one.seed_contacts(rows) == two.seed_contacts(list(reversed(rows)))
    assert set(one.by_digest) == set(two.by_digest)
    assert 0.55 < one.count / 2000 < 0.65
    other_seed = GoogleUsers(seed=8, match_share=0.6)
    other_seed.seed_contacts(rows)
    assert set(other_seed.by_digest) != set(one.by_digest)
    # emails are normalised before hashing; about half the users are known by phone too
    import hashlib

    known = sum(hashlib.sha256(f"person.{i}@example.com".encode()).digest() in one.by_digest
                for i in range(2000))  # fmt: skip
    assert known == one.count
    phones = len(one.by_digest) - one.count
    assert 0.4 * one.count < phones < 0.6 * one.count


def test_background_share_matches_unseeded_identifiers_deterministically() -> None:
    import hashlib

    users = GoogleUsers(seed=1, background_share=0.3)
    digests = [hashlib.sha256(f"x{i}".encode()).digest() for i in range(5000)]
    matched = [users.user_for([d]) for d in digests]
    assert 0.27 < sum(m is not None for m in matched) / 5000 < 0.33
    assert matched == [users.user_for([d]) for d in digests]
    assert all(m is None or m < 0 for m in matched)
    with pytest.raises(ValueError, match="match_share"):
        GoogleUsers(match_share=1.5)


def test_sandbox_seeding_gives_a_realistic_match_rate() -> None:
    from segsync.sandbox.serve import sandbox_audience

    audience = sandbox_audience(seed=42, contacts=300)
    sim = DataManagerSimulator(seed=42)
    sim.seed_contacts(audience)
    assert 0.5 < sim.state()["google_users"] / 300 < 0.7
