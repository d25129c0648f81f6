"""audienceMembers:ingest / :remove / :removeAll: fast-fail validation, limits, consent."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import httpx
import pytest
from gads_kit import (
    ACCOUNT,
    ALT,
    MANAGER,
    OTHER,
    client,
    create_list,
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
    violations,
)

from segsync.connectors.google_ads.simulator import DataManagerSimulator

INGEST, REMOVE = "/v1/audienceMembers:ingest", "/v1/audienceMembers:remove"
REMOVE_ALL = "/v1/audienceMembers:removeAll"
M0 = "audience_members.audience_members[0]"


async def setup(sim: DataManagerSimulator) -> tuple[httpx.AsyncClient, str]:
    return client(sim), sim.create_list(ACCOUNT, "segsync: VIP")


async def test_ingest_answers_a_request_id_and_members_join() -> None:
    sim = make()
    c, list_id = await setup(sim)
    async with c:
        r = await c.post(INGEST, json=ingest_body(list_id, [member(email(1)), member(email(2))]))
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"requestId"}
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        r.json()["requestId"])  # fmt: skip
    members = sim.list_members(list_id)
    assert sorted(m["identifiers"][0] for m in members) == sorted([sha(email(1)), sha(email(2))])


async def test_the_official_clients_integer_encoding_is_accepted() -> None:
    sim = make()
    c, list_id = await setup(sim)
    body = {
        "destinations": [{"operatingAccount": {"accountType": 1, "accountId": ACCOUNT},
                          "loginAccount": {"accountType": 1, "accountId": MANAGER},
                          "productDestinationId": list_id}],
        "audienceMembers": [member(email(1), consent={"adUserData": 1, "adPersonalization": 1})],
        "consent": {"adUserData": 1, "adPersonalization": 2},
        "encoding": 1,
        "termsOfService": {"customerMatchTermsOfServiceStatus": 1},
        "validateOnly": False,
    }  # fmt: skip
    async with c:
        r = await c.post(INGEST, params=ALT, json=body)
        assert r.status_code == 200, r.text
        status = await c.get(
            "/v1/requestStatus:retrieve/", params={"requestId": r.json()["requestId"]}
        )
    dest = status.json()["requestStatusPerDestination"][0]["destination"]
    assert dest["operatingAccount"] == {"accountType": "GOOGLE_ADS", "accountId": ACCOUNT}
    assert len(sim.list_members(list_id)) == 1  # member-level consent overrode the request's


async def test_trailing_slash_routes_identically() -> None:
    sim = make()
    c, list_id = await setup(sim)
    async with c:
        r = await c.post(INGEST + "/", json=ingest_body(list_id, [member(email(1))]))
        assert r.status_code == 200
        r = await c.post(REMOVE + "/", json=remove_body(list_id, [member(email(1))]))
        assert r.status_code == 200
        r = await c.post(REMOVE_ALL + "/", json={"destinations": [destination(list_id)]})
        assert r.status_code == 200


async def test_validate_only_answers_empty_and_applies_nothing() -> None:
    sim = make()
    c, list_id = await setup(sim)
    async with c:
        r = await c.post(INGEST, json=ingest_body(list_id, [member(email(1))], validateOnly=True))
        assert r.status_code == 200 and r.json() == {}
        r = await c.post(INGEST, json=ingest_body(list_id, [member("x")], validateOnly=True))
        assert r.status_code == 200  # a well-formed hash of anything
        r = await c.post(INGEST, json=ingest_body(list_id, [{"userData": {"userIdentifiers": [
            {"emailAddress": "plain@example.com"}]}}], validateOnly=True))  # fmt: skip
        assert reasons(r) == [(f"{M0}.user_data.user_identifiers[0]", "INVALID_HEX_ENCODING")]
    assert sim.list_members(list_id) == [] and sim.state()["uploads"]["total"] == 0


# -- fast fail -----------------------------------------------------------------------------------


async def test_one_bad_member_fails_the_whole_request_with_every_violation() -> None:
    sim = make()
    c, list_id = await setup(sim)
    members = [member(email(i)) for i in range(5)]
    members[1] = {"userData": {"userIdentifiers": [{"emailAddress": "not-a-hash"}]}}
    members[3] = {"userData": {"userIdentifiers": [{"emailAddress": sha("a")},
                                                   {"phoneNumber": "ab" * 31}]}}  # fmt: skip
    async with c:
        r = await c.post(INGEST, json=ingest_body(list_id, members))
    assert reasons(r) == [
        ("audience_members.audience_members[1].user_data.user_identifiers[0]", "INVALID_HEX_ENCODING"),
        ("audience_members.audience_members[3].user_data.user_identifiers[1]", "INVALID_SHA256_FORMAT"),
    ]  # fmt: skip
    assert violations(r)[0]["description"] == "The HEX encoded value is malformed."
    assert sim.list_members(list_id) == [] and sim.state()["uploads"]["total"] == 0


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("g" * 64, "INVALID_HEX_ENCODING"),
        ("ab" * 31 + "a", "INVALID_HEX_ENCODING"),  # odd length
        ("ab" * 16 + " " + "ab" * 15 + "a", "INVALID_HEX_ENCODING"),  # whitespace inside
        ("ab" * 31, "INVALID_SHA256_FORMAT"),  # 31 bytes
        ("ab" * 33, "INVALID_SHA256_FORMAT"),
        ("", "INVALID_SHA256_FORMAT"),
    ],
)
async def test_hex_hashes(value: str, reason: str) -> None:
    sim = make()
    c, list_id = await setup(sim)
    body = ingest_body(list_id, [{"userData": {"userIdentifiers": [{"emailAddress": value}]}}])
    async with c:
        r = await c.post(INGEST, json=body)
    assert reasons(r) == [(f"{M0}.user_data.user_identifiers[0]", reason)]


async def test_upper_case_hex_is_configurable() -> None:
    upper = sha(email(1)).upper()
    for accept, status in ((True, 200), (False, 400)):
        sim = make(accept_uppercase_hex=accept)
        c, list_id = await setup(sim)
        body = ingest_body(list_id, [{"userData": {"userIdentifiers": [{"emailAddress": upper}]}}])
        async with c:
            assert (await c.post(INGEST, json=body)).status_code == status


async def test_base64_hashes() -> None:
    sim = make()
    c, list_id = await setup(sim)
    good = base64.b64encode(hashlib.sha256(b"cloudysanfrancisco@gmail.com").digest()).decode()
    assert good == "Ij69pvaImxSUVRupAtnTgdry9kK64FWIjpY0PVPp+cQ="
    urlsafe = good.replace("+", "-")
    short = base64.b64encode(b"x" * 31).decode()
    ids = [{"emailAddress": good}, {"emailAddress": urlsafe}, {"phoneNumber": short},
           {"phoneNumber": "%%%"}]  # fmt: skip
    async with c:
        r = await c.post(INGEST, json=ingest_body(list_id, [{"userData": {"userIdentifiers": ids}}],
                                                  encoding="BASE64"))  # fmt: skip
        assert reasons(r) == [
            (f"{M0}.user_data.user_identifiers[1]", "INVALID_BASE64_ENCODING"),
            (f"{M0}.user_data.user_identifiers[2]", "INVALID_SHA256_FORMAT"),
            (f"{M0}.user_data.user_identifiers[3]", "INVALID_BASE64_ENCODING"),
        ]
        body = ingest_body(list_id, [{"userData": {"userIdentifiers": ids[:1]}}], encoding=2)
        assert (await c.post(INGEST, json=body)).status_code == 200
    # the Base64 digest is the same member as its hex form
    assert sim.list_members(list_id)[0]["identifiers"] == [
        "223ebda6f6889b1494551ba902d9d381daf2f642bae055888e96343d53e9f9c4"
    ]


async def test_encoding_is_required() -> None:
    sim = make()
    c, list_id = await setup(sim)
    async with c:
        body = ingest_body(list_id, [member(email(1))])
        del body["encoding"]
        assert reasons(await c.post(INGEST, json=body)) == [("encoding", "REQUIRED_FIELD_MISSING")]
        body["encoding"] = "ENCODING_UNSPECIFIED"
        assert reasons(await c.post(INGEST, json=body)) == [("encoding", "REQUIRED_FIELD_MISSING")]
        body["encoding"] = "ROT13"
        assert violations(await c.post(INGEST, json=body))[0]["field"] == "encoding"


async def test_terms_of_service_must_be_accepted_for_ingest() -> None:
    sim = make()
    c, list_id = await setup(sim)
    field = "terms_of_service.customer_match_terms_of_service_status"
    async with c:
        for terms in (None, {}, {"customerMatchTermsOfServiceStatus": "REJECTED"}):
            body = ingest_body(list_id, [member(email(1))])
            if terms is None:
                del body["termsOfService"]
            else:
                body["termsOfService"] = terms
            r = await c.post(INGEST, json=body)
            assert reasons(r) == [(field, "TERMS_AND_CONDITIONS_NOT_SIGNED")]


async def test_remove_takes_no_consent_and_no_terms() -> None:
    sim = make()
    c, list_id = await setup(sim)
    async with c:
        for extra in ({"consent": {"adUserData": "CONSENT_GRANTED"}},
                      {"termsOfService": {"customerMatchTermsOfServiceStatus": "ACCEPTED"}}):  # fmt: skip
            r = await c.post(REMOVE, json=remove_body(list_id, [member(email(1))], **extra))
            error = google_error(r, 400, "INVALID_ARGUMENT")
            assert error["message"].startswith("Invalid JSON payload received. Unknown name")
        assert (
            await c.post(REMOVE, json=remove_body(list_id, [member(email(1))]))
        ).status_code == 200


async def test_request_limits_are_the_documented_ones_and_configurable() -> None:
    sim = make()
    c, list_id = await setup(sim)
    async with c:
        ok = [member(email(i)) for i in range(10_000)]
        assert (await c.post(INGEST, json=ingest_body(list_id, ok))).status_code == 200
        r = await c.post(INGEST, json=ingest_body(list_id, [*ok, member(email(10_001))]))
        assert reasons(r) == [("audience_members", "TOO_MANY_AUDIENCE_MEMBERS")]
        r = await c.post(REMOVE, json=remove_body(list_id, [*ok, member(email(10_001))]))
        assert reasons(r) == [("audience_members", "TOO_MANY_AUDIENCE_MEMBERS")]
        ten = member(*[email(i) for i in range(10)])
        eleven = member(*[email(i) for i in range(11)])
        r = await c.post(INGEST, json=ingest_body(list_id, [ten, eleven]))
        assert reasons(r) == [
            ("audience_members.audience_members[1].user_data.user_identifiers",
             "TOO_MANY_USER_IDENTIFIERS")
        ]  # fmt: skip
        dests = [destination(list_id) for _ in range(11)]
        r = await c.post(INGEST, json=ingest_body(list_id, [member(email(1))], destinations=dests))
        assert reasons(r) == [("destinations", "TOO_MANY_DESTINATIONS")]
        r = await c.post(INGEST, json=ingest_body(list_id, []))
        assert reasons(r) == [("audience_members", "REQUIRED_FIELD_MISSING")]
        r = await c.post(INGEST, json=ingest_body(list_id, [member(email(1))], destinations=[]))
        assert reasons(r) == [("destinations", "REQUIRED_FIELD_MISSING")]
    small = make(max_members_per_request=2, max_identifiers_per_member=1,
                 max_destinations_per_request=1)  # fmt: skip
    c, list_id = await setup(small)
    async with c:
        r = await c.post(INGEST, json=ingest_body(list_id, [member(email(i)) for i in range(3)]))
        assert reasons(r) == [("audience_members", "TOO_MANY_AUDIENCE_MEMBERS")]
        r = await c.post(INGEST, json=ingest_body(list_id, [member(email(1), email(2))]))
        assert reasons(r)[0][1] == "TOO_MANY_USER_IDENTIFIERS"


async def test_destinations_are_checked() -> None:
    sim = make()
    c, list_id = await setup(sim)
    mobile = sim.create_list(ACCOUNT, "mobile", upload_key_type="MOBILE_ID")

    async def check(dest: dict[str, Any]) -> list[tuple[str, str]]:
        r = await c.post(INGEST, json=ingest_body(list_id, [member(email(1))], destinations=[dest]))
        return reasons(r)

    async with c:
        assert await check({"productDestinationId": list_id}) == [
            ("destinations[0].operating_account", "REQUIRED_FIELD_MISSING")
        ]
        assert await check(destination(list_id, account="12-34")) == [
            ("destinations[0].operating_account.account_id", "INVALID_NUMBER_FORMAT")
        ]
        bad_login = destination(
            list_id, loginAccount={"accountType": "GOOGLE_ADS", "accountId": "x1"}
        )
        assert await check(bad_login) == [
            ("destinations[0].login_account.account_id", "INVALID_NUMBER_FORMAT")
        ]
        assert await check({"operatingAccount": {"accountId": ACCOUNT}, "productDestinationId": list_id}) == [
            ("destinations[0].operating_account.account_type", "REQUIRED_FIELD_MISSING")
        ]  # fmt: skip
        deprecated = {"operatingAccount": {"product": "GOOGLE_ADS", "accountId": ACCOUNT},
                      "productDestinationId": list_id}  # fmt: skip
        r = await c.post(
            INGEST, json=ingest_body(list_id, [member(email(1))], destinations=[deprecated])
        )
        assert r.status_code == 200, r.text
        mismatch = {"operatingAccount": {"product": "GOOGLE_ADS", "accountType": "DATA_PARTNER",
                                         "accountId": ACCOUNT}, "productDestinationId": list_id}  # fmt: skip
        assert await check(mismatch) == [
            ("destinations[0].operating_account.account_type", "MISMATCHED_ACCOUNT_TYPE")
        ]
        assert await check(destination("")) == [
            ("destinations[0].product_destination_id", "REQUIRED_FIELD_MISSING")
        ]
        assert await check(destination("abc")) == [
            ("destinations[0].product_destination_id", "INVALID_USER_LIST_ID")
        ]
        assert await check(destination("9999999999")) == [
            ("destinations[0].product_destination_id", "INVALID_USER_LIST_ID")
        ]
        assert await check(destination(mobile)) == [
            ("destinations[0].product_destination_id", "INVALID_USER_LIST_TYPE")
        ]
        linked = destination(list_id, linkedAccount={"accountType": "GOOGLE_ADS", "accountId": "1"})
        assert await check(linked) == [
            ("destinations[0].linked_account",
             "LINKED_ACCOUNT_ONLY_ALLOWED_WITH_DATA_PARTNER_LOGIN_ACCOUNT")
        ]  # fmt: skip
        twice = [destination(list_id, reference="a"), destination(list_id, reference="a")]
        r = await c.post(INGEST, json=ingest_body(list_id, [member(email(1))], destinations=twice))
        assert reasons(r) == [("destinations[1].reference", "DUPLICATE_DESTINATION_REFERENCE")]
        r = await c.post(INGEST, json=ingest_body(list_id, [member(email(1))],
                                                  destinations=[destination(list_id, account=OTHER)]))  # fmt: skip
        google_error(r, 403, "PERMISSION_DENIED", "PERMISSION_DENIED")


async def test_a_list_of_another_account_is_not_found_there() -> None:
    sim = make()
    sim.directory.grant("me@example.com", OTHER)
    other_list = sim.create_list(OTHER, "theirs")
    c, _ = await setup(sim)
    async with c:
        r = await c.post(INGEST, json=ingest_body(other_list, [member(email(1))]))
    assert reasons(r) == [("destinations[0].product_destination_id", "INVALID_USER_LIST_ID")]


async def test_members_through_a_manager_login_account() -> None:
    sim = make()
    sim.add_account("4444444444", manager_id=MANAGER)  # USER: a user of the manager only
    target = sim.create_list("4444444444", "client list")
    login = {"accountType": "GOOGLE_ADS", "accountId": MANAGER}
    c = client(sim)
    async with c:
        direct = ingest_body(target, [member(email(1))],
                             destinations=[destination(target, account="4444444444")])  # fmt: skip
        google_error(await c.post(INGEST, json=direct), 403, "PERMISSION_DENIED")
        via = ingest_body(target, [member(email(1))], destinations=[
            destination(target, account="4444444444", loginAccount=login)])  # fmt: skip
        assert (await c.post(INGEST, json=via)).status_code == 200
    assert len(sim.list_members(target)) == 1


async def test_eu_political_ads_declaration_is_required() -> None:
    sim = make()
    sim.add_account(ACCOUNT, manager_id=MANAGER, users=["me@example.com"],
                    eu_political_ads_declared=False)  # fmt: skip
    c, list_id = await setup(sim)
    async with c:
        r = await c.post(INGEST, json=ingest_body(list_id, [member(email(1))]))
    assert reasons(r) == [
        ("destinations[0].operating_account", "EU_POLITICAL_ADVERTISING_DECLARATION_REQUIRED")
    ]


async def test_member_shapes() -> None:
    sim = make()
    c, list_id = await setup(sim)

    async def post(members: list[Any]) -> httpx.Response:
        return await c.post(INGEST, json=ingest_body(list_id, members))

    async with c:
        assert reasons(await post([{}])) == [(M0, "INVALID_AUDIENCE_MEMBER")]
        assert reasons(await post([{"userData": {"userIdentifiers": []}}])) == [
            (f"{M0}.user_data.user_identifiers", "NO_IDENTIFIERS_PROVIDED")
        ]
        assert reasons(await post([{"userData": {"userIdentifiers": [{}]}}])) == [
            (f"{M0}.user_data.user_identifiers[0]", "REQUIRED_FIELD_MISSING")
        ]
        two = {"emailAddress": sha("a"), "phoneNumber": sha("b")}
        r = await post([{"userData": {"userIdentifiers": [two]}}])
        assert (
            "Oneof field 'identifier' is already set"
            in google_error(r, 400, "INVALID_ARGUMENT")["message"]
        )
        r = await post([{"userData": {"userIdentifiers": [{"fax": "1"}]}}])
        assert 'Unknown name "fax"' in google_error(r, 400, "INVALID_ARGUMENT")["message"]
        r = await post([{"userData": {"userIdentifiers": [{"emailAddress": 7}]}}])
        assert (
            violations(r)[0]["field"]
            == "audience_members[0].user_data.user_identifiers[0].email_address"
        )
        r = await post([{**member(email(1)), "mobileData": {"mobileIds": ["a"]}}])
        assert (
            "Oneof field 'data' is already set"
            in google_error(r, 400, "INVALID_ARGUMENT")["message"]
        )
        r = await post([member(email(1)), {"mobileData": {"mobileIds": ["a"]}}])
        assert reasons(r) == [
            ("audience_members.audience_members[1]", "MULTIPLE_DATA_TYPES_NOT_ALLOWED")
        ]
        r = await post([{"mobileData": {"mobileIds": ["a"]}}])  # to a CONTACT_ID list
        assert reasons(r) == [("destinations[0].product_destination_id", "INVALID_USER_LIST_TYPE")]
        r = await post(["x"])
        assert violations(r)[0]["field"] == "audience_members[0]"
        snake = {"user_data": {"user_identifiers": [{"email_address": sha(email(9))}]}}
        assert (await post([snake])).status_code == 200
        composite = {
            "compositeData": {"userData": {"userIdentifiers": [{"emailAddress": sha(email(8))}]}}
        }
        assert (await post([composite])).status_code == 200, (await post([composite])).text
    assert len(sim.list_members(list_id)) == 2


async def test_addresses() -> None:
    sim = make()
    c, list_id = await setup(sim)
    good = {"givenName": sha("jane"), "familyName": sha("doe"), "regionCode": "US",
            "postalCode": "94045"}  # fmt: skip

    async def post(address: dict[str, Any]) -> httpx.Response:
        body = ingest_body(list_id, [{"userData": {"userIdentifiers": [{"address": address}]}}])
        return await c.post(INGEST, json=body)

    a0 = f"{M0}.user_data.user_identifiers[0].address"
    async with c:
        assert (await post(good)).status_code == 200
        assert (await post({**good, "postalCode": "94043-1351", "city": "x"})).status_code == 200
        assert (await post({**good, "regionCode": "FR", "postalCode": "75011"})).status_code == 200
        assert reasons(await post({**good, "postalCode": "9404"})) == [
            (f"{a0}.postal_code", "INVALID_POSTAL_CODE")
        ]
        assert reasons(await post({**good, "regionCode": "FR", "postalCode": sha("75011")})) == [
            (f"{a0}.postal_code", "INVALID_POSTAL_CODE")
        ]
        assert reasons(await post({**good, "regionCode": "USA"})) == [
            (f"{a0}.region_code", "INVALID_REGION_CODE")
        ]
        assert reasons(await post({**good, "givenName": "Jane"})) == [
            (f"{a0}.given_name", "INVALID_HEX_ENCODING")
        ]
        missing = {k: v for k, v in good.items() if k != "familyName"}
        assert reasons(await post(missing)) == [(f"{a0}.family_name", "REQUIRED_FIELD_MISSING")]
        r = await post({**good, "street": "1 Main St"})
        assert 'Unknown name "street"' in google_error(r, 400, "INVALID_ARGUMENT")["message"]


async def test_unsupported_member_types_and_encryption_are_not_simulated() -> None:
    sim = make()
    c, list_id = await setup(sim)
    async with c:
        enc = ingest_body(list_id, [member(email(1))], encryptionInfo={"gcpWrappedKeyInfo": {}})
        google_error(await c.post(INGEST, json=enc), 501, "UNIMPLEMENTED")
        mobile = await create_list(c, "m", ingestedUserListInfo={"uploadKeyTypes": ["MOBILE_ID"]})
        body = ingest_body(mobile, [{"mobileData": {"mobileIds": ["abc"]}}])
        google_error(await c.post(INGEST, json=body), 501, "UNIMPLEMENTED")


async def test_destination_references_route_members() -> None:
    sim = make()
    c, first = await setup(sim)
    async with c:
        second = await create_list(c, "second")
        dests = [destination(first, reference="a"), destination(second, reference="b")]
        members = [
            {**member(email(1)), "destinationReferences": ["a"]},
            {**member(email(2)), "destinationReferences": ["a", "b"]},
            member(email(3)),  # no references: every destination
        ]
        r = await c.post(INGEST, json=ingest_body(first, members, destinations=dests))
        assert r.status_code == 200, r.text
        bad = [{**member(email(4)), "destinationReferences": ["zzz"]}]
        r = await c.post(INGEST, json=ingest_body(first, bad, destinations=dests))
        assert reasons(r) == [
            ("audience_members.audience_members[0].destination_references", "INVALID_DESTINATION")
        ]
    assert len(sim.list_members(first)) == 3 and len(sim.list_members(second)) == 2


# -- consent -----------------------------------------------------------------------------------


GRANTED = {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"}


@pytest.mark.parametrize(
    ("request_consent", "member_consent", "override", "missing", "joins"),
    [
        (GRANTED, None, "field", "drop", True),
        (GRANTED, {"adUserData": "CONSENT_DENIED"}, "field", "drop", False),
        (GRANTED, {"adPersonalization": 2}, "field", "drop", False),
        ({"adUserData": "CONSENT_DENIED"}, GRANTED, "field", "drop", True),
        # per field, the request's other value still applies; as an object it does not
        ({"adPersonalization": "CONSENT_GRANTED"}, {"adUserData": 1}, "field", "drop", True),
        ({"adPersonalization": "CONSENT_GRANTED"}, {"adUserData": 1}, "object", "drop", False),
        (None, None, "field", "drop", False),
        (None, None, "field", "accept", True),
        ({"adUserData": "CONSENT_GRANTED"}, None, "field", "drop", False),
        ({"adUserData": "CONSENT_GRANTED"}, None, "field", "accept", True),
        (None, {"adUserData": "CONSENT_STATUS_UNSPECIFIED"}, "field", "drop", False),
    ],
)
async def test_effective_consent(
    request_consent: dict[str, Any] | None,
    member_consent: dict[str, Any] | None,
    override: str,
    missing: str,
    joins: bool,
) -> None:
    sim = make(consent_override=override, missing_consent=missing)
    c, list_id = await setup(sim)
    body = ingest_body(list_id, [member(email(1), consent=member_consent)])
    if request_consent is None:
        del body["consent"]
    else:
        body["consent"] = request_consent
    async with c:
        r = await c.post(INGEST, json=body)
    assert r.status_code == 200, r.text
    assert (len(sim.list_members(list_id)) == 1) is joins


async def test_bad_consent_values_fail() -> None:
    sim = make()
    c, list_id = await setup(sim)
    async with c:
        r = await c.post(
            INGEST, json=ingest_body(list_id, [member(email(1), consent={"adUserData": "YES"})])
        )
        assert violations(r)[0]["field"] == "audience_members[0].consent.ad_user_data"
        r = await c.post(INGEST, json=ingest_body(list_id, [member(email(1), consent={"mood": 1})]))
        assert 'Unknown name "mood"' in google_error(r, 400, "INVALID_ARGUMENT")["message"]
        r = await c.post(
            INGEST, json=ingest_body(list_id, [member(email(1))], consent={"adUserData": 7})
        )
        assert violations(r)[0]["field"] == "consent.ad_user_data"


# -- remove and removeAll ----------------------------------------------------------------------


async def test_remove_by_any_identifier() -> None:
    sim = make()
    c, list_id = await setup(sim)
    async with c:
        both = member(email(1), phones=(phone(1),))
        r = await c.post(INGEST, json=ingest_body(list_id, [both, member(email(2))]))
        assert r.status_code == 200
        assert len(sim.list_members(list_id)) == 2
        r = await c.post(REMOVE, json=remove_body(list_id, [member(phones=(phone(1),))]))
        assert r.status_code == 200 and set(r.json()) == {"requestId"}
        assert [m["identifiers"] for m in sim.list_members(list_id)] == [[sha(email(2))]]
        r = await c.post(REMOVE, json=remove_body(list_id, [member(email(99))]))  # not a member
        assert r.status_code == 200
        r = await c.post(REMOVE, json=remove_body(list_id, [member(email(2))], validateOnly=True))
        assert r.json() == {} and len(sim.list_members(list_id)) == 1


async def test_remove_all_removes_members_uploaded_before_the_time() -> None:
    clock_sim = make()
    clock = clock_sim.wall_clock
    c, list_id = await setup(clock_sim)
    async with c:
        await c.post(INGEST, json=ingest_body(list_id, [member(email(1))]))
        clock.now += 3600  # type: ignore[attr-defined]
        await c.post(INGEST, json=ingest_body(list_id, [member(email(2))]))
        clock.now += 3600  # type: ignore[attr-defined]
        body = {"destinations": [destination(list_id)], "removeAsOfTime": "2026-01-01T00:30:00Z"}
        r = await c.post(REMOVE_ALL, json=body)
        assert r.status_code == 200, r.text
        assert [m["identifiers"] for m in clock_sim.list_members(list_id)] == [[sha(email(2))]]
        future = {"destinations": [destination(list_id)], "removeAsOfTime": "2027-01-01T00:00:00Z"}
        assert reasons(await c.post(REMOVE_ALL, json=future)) == [
            ("remove_as_of_time", "INVALID_REMOVE_AS_OF_TIME")
        ]
        r = await c.post(
            REMOVE_ALL, json={"destinations": [destination(list_id)], "validateOnly": True}
        )
        assert r.json() == {} and len(clock_sim.list_members(list_id)) == 1
        r = await c.post(REMOVE_ALL, json={"destinations": [destination(list_id)]})  # now
        assert r.status_code == 200
    assert clock_sim.list_members(list_id) == []
