"""The Data Manager API simulator: user lists, routing, the JSON mapping and error envelopes."""

from __future__ import annotations

import pytest
from gads_kit import (
    ACCOUNT,
    ALT,
    DAY,
    LISTS,
    MANAGER,
    OTHER,
    client,
    create_list,
    error_info,
    google_error,
    list_body,
    make,
    reasons,
    violations,
)

from segsync.connectors.google_ads.simulator import DataManagerSimulator

# -- create ------------------------------------------------------------------------------------


async def test_create_answers_the_user_list_with_names_and_int64_strings() -> None:
    sim = make()
    async with client(sim) as c:
        r = await c.post(LISTS, json=list_body(description="VIPs"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == f"accountTypes/GOOGLE_ADS/accounts/{ACCOUNT}/userLists/{body['id']}"
    assert isinstance(body["id"], str) and body["id"].isdigit() and len(body["id"]) == 10
    assert body["displayName"] == "segsync: VIP" and body["description"] == "VIPs"
    assert body["membershipStatus"] == "OPEN"
    assert body["membershipDuration"] == "46656000s"
    assert body["accessReason"] == "OWNED"
    assert body["ingestedUserListInfo"] == {
        "uploadKeyTypes": ["CONTACT_ID"],
        "contactIdInfo": {"dataSourceType": "DATA_SOURCE_TYPE_FIRST_PARTY"},
    }
    # empty list: proto3 JSON leaves zero counts and false out; eligibleForSearch has presence
    assert body["sizeInfo"] == {}
    assert body["targetNetworkInfo"] == {"eligibleForSearch": False}
    assert "readOnly" not in body
    assert r.headers["content-type"] == "application/json; charset=UTF-8"


async def test_create_accepts_integer_enums_the_official_client_sends() -> None:
    sim = make()
    body = {
        "displayName": "ints",
        "membershipDuration": "86400s",
        "membershipStatus": 1,
        "ingestedUserListInfo": {"uploadKeyTypes": [1], "contactIdInfo": {"dataSourceType": 1}},
    }
    async with client(sim) as c:
        r = await c.post(LISTS, params=ALT, json=body)
    assert r.status_code == 200, r.text
    info = r.json()["ingestedUserListInfo"]
    assert info["uploadKeyTypes"] == ["CONTACT_ID"]
    assert info["contactIdInfo"]["dataSourceType"] == "DATA_SOURCE_TYPE_FIRST_PARTY"
    assert r.json()["membershipDuration"] == "86400s"


async def test_emit_defaults_writes_zero_values() -> None:
    sim = make(emit_defaults=True)
    async with client(sim) as c:
        r = await c.post(LISTS, json=list_body())
    body = r.json()
    assert body["readOnly"] is False
    assert body["sizeInfo"] == {"displayNetworkMembersCount": "0", "searchNetworkMembersCount": "0"}
    assert body["targetNetworkInfo"] == {"eligibleForDisplay": False, "eligibleForSearch": False}
    assert body["ingestedUserListInfo"]["contactIdInfo"]["matchRatePercentage"] == 0


async def test_unset_duration_is_the_maximum_and_source_defaults_to_first_party() -> None:
    sim = make()
    body = {"displayName": "x", "ingestedUserListInfo": {"uploadKeyTypes": ["CONTACT_ID"]}}
    async with client(sim) as c:
        r = await c.post(LISTS, json=body)
    assert r.json()["membershipDuration"] == f"{540 * DAY}s"
    assert r.json()["ingestedUserListInfo"]["contactIdInfo"] == {
        "dataSourceType": "DATA_SOURCE_TYPE_FIRST_PARTY"
    }


async def test_display_names_are_unique_per_account() -> None:
    sim = make()
    sim.add_account("3333333333", manager_id=MANAGER)
    async with client(sim) as c:
        await create_list(c, "VIP")
        r = await c.post(LISTS, json=list_body("VIP"))
        assert reasons(r) == [("user_list.display_name", "DISPLAY_NAME_ALREADY_USED")]
        # another account may use the name (USER reaches it through the manager)
        other = LISTS.replace(ACCOUNT, "3333333333")
        r = await c.post(other, json=list_body("VIP"), headers={
            "login-account": f"accountTypes/GOOGLE_ADS/accounts/{MANAGER}"})  # fmt: skip
        assert r.status_code == 200, r.text
        # names differing only by case are distinct unless configured otherwise
        assert (await c.post(LISTS, json=list_body("vip"))).status_code == 200
    folded = make(display_names_case_sensitive=False)
    async with client(folded) as c:
        await create_list(c, "VIP")
        r = await c.post(LISTS, json=list_body("vip"))
        assert reasons(r) == [("user_list.display_name", "DISPLAY_NAME_ALREADY_USED")]


@pytest.mark.parametrize(
    ("duration", "reason"),
    [
        ("86401s", "INVALID_ARGUMENT"),
        ("1.5s", "INVALID_ARGUMENT"),
        ("0s", "INVALID_ARGUMENT"),
        ("-86400s", "INVALID_ARGUMENT"),
        (f"{541 * DAY}s", "MEMBERSHIP_DURATION_TOO_LONG"),
    ],
)
async def test_membership_duration_is_whole_days_up_to_540(duration: str, reason: str) -> None:
    sim = make()
    async with client(sim) as c:
        r = await c.post(LISTS, json=list_body(membershipDuration=duration))
        assert reasons(r) == [("user_list.membership_duration", reason)]
        ok = await c.post(LISTS, json=list_body("ok", membershipDuration=f"{540 * DAY}s"))
        assert ok.status_code == 200
    assert sim.state()["lists"][0]["display_name"] == "ok"  # nothing created by the failure


async def test_max_membership_days_is_configurable() -> None:
    sim = make(max_membership_days=30)
    async with client(sim) as c:
        r = await c.post(LISTS, json=list_body(membershipDuration=f"{31 * DAY}s"))
        assert reasons(r) == [("user_list.membership_duration", "MEMBERSHIP_DURATION_TOO_LONG")]
        r = await c.post(LISTS, json={"displayName": "d", "ingestedUserListInfo": {
            "uploadKeyTypes": ["CONTACT_ID"]}})  # fmt: skip
        assert r.json()["membershipDuration"] == f"{30 * DAY}s"


async def test_exactly_one_upload_key_type() -> None:
    sim = make()
    async with client(sim) as c:
        none = list_body(ingestedUserListInfo={"uploadKeyTypes": []})
        r = await c.post(LISTS, json=none)
        assert reasons(r) == [
            ("user_list.ingested_user_list_info.upload_key_types", "REQUIRED_FIELD_MISSING")
        ]
        two = list_body(ingestedUserListInfo={"uploadKeyTypes": ["CONTACT_ID", "MOBILE_ID"]})
        r = await c.post(LISTS, json=two)
        assert reasons(r) == [
            (
                "user_list.ingested_user_list_info.upload_key_types",
                "UNSUPPORTED_USER_LIST_UPLOAD_KEY_TYPES",
            )
        ]
        missing = {"displayName": "x"}
        r = await c.post(LISTS, json=missing)
        assert reasons(r) == [("user_list.ingested_user_list_info", "REQUIRED_FIELD_MISSING")]


async def test_every_violation_of_a_create_is_reported_together() -> None:
    sim = make()
    async with client(sim) as c:
        r = await c.post(LISTS, json={"membershipDuration": "5s"})
    assert reasons(r) == [
        ("user_list.display_name", "REQUIRED_FIELD_MISSING"),
        ("user_list.membership_duration", "INVALID_ARGUMENT"),
        ("user_list.ingested_user_list_info", "REQUIRED_FIELD_MISSING"),
    ]


async def test_validate_only_creates_nothing() -> None:
    sim = make()
    async with client(sim) as c:
        r = await c.post(LISTS, params={"validateOnly": "true"}, json=list_body())
        assert r.status_code == 200 and "id" not in r.json()
        assert r.json()["displayName"] == "segsync: VIP"
        assert (await c.get(LISTS)).json() == {"userLists": []}
        r = await c.post(LISTS, params={"validateOnly": "true"}, json={"displayName": "x"})
        assert r.status_code == 400


# -- the JSON mapping (what Google's front end does) -------------------------------------------


async def test_unknown_field_fails_the_front_end_way() -> None:
    sim = make()
    async with client(sim) as c:
        r = await c.post(LISTS, json=list_body(colour="red"))
    error = google_error(r, 400, "INVALID_ARGUMENT")
    assert error["message"] == (
        "Invalid JSON payload received. Unknown name \"colour\" at 'user_list': Cannot find field."
    )
    assert [d["@type"] for d in error["details"]] == ["type.googleapis.com/google.rpc.BadRequest"]
    assert error["details"][0]["fieldViolations"] == [
        {"field": "user_list", "description": error["message"]}
    ]


async def test_unknown_enum_name_and_wrong_types_fail() -> None:
    sim = make()
    async with client(sim) as c:
        r = await c.post(LISTS, json=list_body(membershipStatus="HALF_OPEN"))
        assert violations(r)[0]["field"] == "user_list.membership_status"
        assert "HALF_OPEN" in violations(r)[0]["description"]
        r = await c.post(LISTS, json=list_body(displayName=5))
        assert violations(r)[0]["description"] == (
            "Invalid value at 'user_list.display_name' (TYPE_STRING), 5"
        )
        r = await c.post(LISTS, json=list_body(membershipDuration="ten days"))
        assert violations(r)[0]["field"] == "user_list.membership_duration"
        r = await c.post(LISTS, content=b"{not json")
        assert (
            "Invalid JSON payload received" in google_error(r, 400, "INVALID_ARGUMENT")["message"]
        )


async def test_snake_case_field_names_are_accepted() -> None:
    sim = make()
    body = {
        "display_name": "snake",
        "membership_duration": "86400s",
        "ingested_user_list_info": {"upload_key_types": ["CONTACT_ID"]},
    }
    async with client(sim) as c:
        r = await c.post(LISTS, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["displayName"] == "snake"


async def test_output_only_fields_in_a_request_are_ignored() -> None:
    sim = make()
    extra = {"id": "42", "readOnly": True, "sizeInfo": {"displayNetworkMembersCount": "9"}}
    async with client(sim) as c:
        r = await c.post(LISTS, json=list_body(**extra))
    assert r.status_code == 200 and r.json()["id"] != "42" and r.json()["sizeInfo"] == {}


# -- get, list, paging and filters -------------------------------------------------------------


async def test_get_and_trailing_slash_route_identically() -> None:
    sim = make()
    async with client(sim) as c:
        list_id = await create_list(c)
        plain = await c.get(f"{LISTS}/{list_id}", params=ALT)
        slash = await c.get(f"{LISTS}/{list_id}/", params=ALT)
        assert plain.status_code == slash.status_code == 200
        assert plain.json() == slash.json()
        assert (await c.get(f"{LISTS}/")).json() == (await c.get(LISTS)).json()
        missing = await c.get(f"{LISTS}/9999999999")
        google_error(missing, 404, "NOT_FOUND", "NOT_FOUND")
        bad = await c.get(f"{LISTS}/abc")
        assert reasons(bad) == [("name", "INVALID_NUMBER_FORMAT")]


async def test_list_pages_in_id_order_with_a_bound_token() -> None:
    sim = make()
    async with client(sim) as c:
        ids = [await create_list(c, f"list {i}") for i in range(7)]
        seen: list[str] = []
        token = None
        pages = 0
        while True:
            params = {"pageSize": "3", **({"pageToken": token} if token else {})}
            body = (await c.get(LISTS, params=params)).json()
            seen += [item["id"] for item in body["userLists"]]
            pages += 1
            token = body.get("nextPageToken")
            if not token:
                break
        assert pages == 3 and seen == sorted(ids, key=int)
        first = (await c.get(LISTS, params={"pageSize": "3"})).json()["nextPageToken"]
        r = await c.get(LISTS, params={"pageSize": "3", "pageToken": first, "filter": "id > 0"})
        assert reasons(r) == [("page_token", "INVALID_PAGE_TOKEN")]
        r = await c.get(LISTS, params={"pageToken": "garbage"})
        assert reasons(r) == [("page_token", "INVALID_PAGE_TOKEN")]


async def test_page_size_default_max_and_errors() -> None:
    sim = make(default_page_size=2, max_page_size=4)
    async with client(sim) as c:
        for i in range(6):
            await create_list(c, f"l{i}")
        assert len((await c.get(LISTS)).json()["userLists"]) == 2
        assert len((await c.get(LISTS, params={"pageSize": "100"})).json()["userLists"]) == 4
        assert len((await c.get(LISTS, params={"page_size": "0"})).json()["userLists"]) == 2
        assert reasons(await c.get(LISTS, params={"pageSize": "-1"})) == [
            ("page_size", "INVALID_ARGUMENT")
        ]
        r = await c.get(LISTS, params={"pageSize": "many"})
        assert violations(r)[0]["field"] == "page_size"


async def test_filters() -> None:
    sim = make()
    async with client(sim) as c:
        vip = await create_list(c, "segsync: VIP", description="the best")
        other = await create_list(c, "segsync: other")
        await c.patch(f"{LISTS}/{other}", params={"updateMask": "membershipStatus"},
                      json={"membershipStatus": "CLOSED"})  # fmt: skip

        async def names(text: str) -> list[str]:
            r = await c.get(LISTS, params={"filter": text})
            assert r.status_code == 200, r.text
            return sorted(item["displayName"] for item in r.json().get("userLists", []))

        assert await names('display_name = "segsync: VIP"') == ["segsync: VIP"]
        assert await names('displayName = "segsync: VIP"') == ["segsync: VIP"]
        assert await names("display_name = 'segsync: other'") == ["segsync: other"]
        assert await names('display_name != "segsync: VIP"') == ["segsync: other"]
        assert await names('display_name : "segsync"') == ["segsync: VIP", "segsync: other"]
        assert await names("membership_status = CLOSED") == ["segsync: other"]
        assert await names("membership_status = OPEN AND description : best") == ["segsync: VIP"]
        assert await names(f"id = {vip}") == ["segsync: VIP"]
        assert await names(f'IN(id, "{vip}", "{other}")') == ["segsync: VIP", "segsync: other"]
        assert await names('IN(display_name, "nope", "segsync: VIP")') == ["segsync: VIP"]
        assert await names("ingested_user_list_info.upload_key_types = CONTACT_ID") == [
            "segsync: VIP",
            "segsync: other",
        ]
        assert await names("ingested_user_list_info.upload_key_types : MOBILE_ID") == []
        assert await names('display_name = "seg\\"sync"') == []
        for bad in (
            'colour = "red"',
            'display_name = "x" OR id = 1',
            "display_name =",
            'displayName = "x" AND membership_status = OPEN',  # mixed styles
            "membership_status = AJAR",
            'display_name = "x" AND',
        ):
            r = await c.get(LISTS, params={"filter": bad})
            assert reasons(r) == [("filter", "INVALID_FILTER")], bad


# -- update and delete -------------------------------------------------------------------------


async def test_update_with_a_mask() -> None:
    sim = make()
    async with client(sim) as c:
        list_id = await create_list(c, "before")
        r = await c.patch(
            f"{LISTS}/{list_id}",
            params={"updateMask": "displayName,description,membershipDuration", **ALT},
            json={"name": "ignored", "displayName": "after", "description": "d",
                  "membershipDuration": f"{30 * DAY}s"},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        assert (r.json()["displayName"], r.json()["description"]) == ("after", "d")
        assert r.json()["membershipDuration"] == f"{30 * DAY}s"
        # only masked fields change
        r = await c.patch(f"{LISTS}/{list_id}", params={"updateMask": "description"},
                          json={"displayName": "not this", "description": "this"})  # fmt: skip
        assert (r.json()["displayName"], r.json()["description"]) == ("after", "this")


async def test_update_rejects_immutable_unknown_and_taken() -> None:
    sim = make()
    async with client(sim) as c:
        first = await create_list(c, "first")
        second = await create_list(c, "second")
        r = await c.patch(
            f"{LISTS}/{first}",
            params={"updateMask": "ingestedUserListInfo.uploadKeyTypes"},
            json={"ingestedUserListInfo": {"uploadKeyTypes": ["MOBILE_ID"]}},
        )
        assert reasons(r) == [
            ("update_mask.ingested_user_list_info.upload_key_types", "IMMUTABLE_FIELD_FOR_UPDATE")
        ]
        r = await c.patch(f"{LISTS}/{first}", params={"updateMask": "sizeInfo"}, json={})
        assert reasons(r) == [("update_mask", "INVALID_UPDATE_MASK")]
        r = await c.patch(f"{LISTS}/{first}", params={"updateMask": "displayName"},
                          json={"displayName": "second"})  # fmt: skip
        assert reasons(r) == [("user_list.display_name", "DISPLAY_NAME_ALREADY_USED")]
        r = await c.patch(f"{LISTS}/{second}", params={"updateMask": "membershipDuration"},
                          json={"membershipDuration": f"{600 * DAY}s"})  # fmt: skip
        assert reasons(r) == [("user_list.membership_duration", "MEMBERSHIP_DURATION_TOO_LONG")]
        # without a mask, the populated fields are updated; a changed key type is immutable
        r = await c.patch(f"{LISTS}/{first}", json={"description": "no mask"})
        assert r.json()["description"] == "no mask" and r.json()["displayName"] == "first"
        r = await c.patch(f"{LISTS}/{first}", json={
            "ingestedUserListInfo": {"uploadKeyTypes": ["MOBILE_ID"]}})  # fmt: skip
        assert reasons(r) == [("user_list.ingested_user_list_info", "IMMUTABLE_FIELD_FOR_UPDATE")]
        r = await c.patch(f"{LISTS}/{first}", params={"updateMask": "description",
                          "validateOnly": "true"}, json={"description": "dry"})  # fmt: skip
        assert r.status_code == 200
        assert sim.list_info(first)["description"] == "no mask"


async def test_delete_answers_empty_object() -> None:
    sim = make()
    async with client(sim) as c:
        list_id = await create_list(c)
        r = await c.delete(f"{LISTS}/{list_id}", params={"validateOnly": "true"})
        assert r.json() == {} and (await c.get(f"{LISTS}/{list_id}")).status_code == 200
        r = await c.delete(f"{LISTS}/{list_id}/")
        assert r.status_code == 200 and r.json() == {}
        assert (await c.get(f"{LISTS}/{list_id}")).status_code == 404
        assert (await c.delete(f"{LISTS}/{list_id}")).status_code == 404
        # the name is free again
        assert (await c.post(LISTS, json=list_body())).status_code == 200


# -- access to accounts ------------------------------------------------------------------------


async def test_accounts_are_reached_directly_or_through_a_login_account() -> None:
    sim = make()
    sim.add_account("4444444444", manager_id=MANAGER)  # USER is a user of the manager only
    path = LISTS.replace(ACCOUNT, "4444444444")
    login = {"login-account": f"accountTypes/GOOGLE_ADS/accounts/{MANAGER}"}
    async with client(sim) as c:
        google_error(await c.get(path), 403, "PERMISSION_DENIED", "PERMISSION_DENIED")
        assert (await c.get(path, headers=login)).status_code == 200
        r = await c.get(LISTS.replace(ACCOUNT, OTHER), headers=login)  # not OTHER's manager
        google_error(r, 403, "PERMISSION_DENIED", "OPERATING_ACCOUNT_LOGIN_ACCOUNT_MISMATCH")
        # USER reaches OTHER's login but it does not manage the operating account
        sim.directory.grant("me@example.com", OTHER)
        r = await c.get(
            path, headers={"login-account": f"accountTypes/GOOGLE_ADS/accounts/{OTHER}"}
        )
        google_error(r, 403, "PERMISSION_DENIED", "OPERATING_ACCOUNT_LOGIN_ACCOUNT_MISMATCH")
        r = await c.get(path, headers={"login-account": "nonsense"})
        assert reasons(r) == [("login_account", "INVALID_RESOURCE_NAME")]
        google_error(await c.get(LISTS.replace(ACCOUNT, "9999999999")), 403, "PERMISSION_DENIED")
        r = await c.get(LISTS.replace(ACCOUNT, "12ab"))
        assert reasons(r) == [("parent", "INVALID_NUMBER_FORMAT")]
        r = await c.get(LISTS.replace("GOOGLE_ADS", "NOPE"))
        assert reasons(r) == [("parent", "INVALID_RESOURCE_NAME")]
        r = await c.get(LISTS.replace("GOOGLE_ADS", "DATA_PARTNER"))
        google_error(r, 501, "UNIMPLEMENTED")
    unchecked = make(enforce_access=False)
    async with client(unchecked) as c:
        assert (await c.get(LISTS.replace(ACCOUNT, OTHER))).status_code == 200


# -- routing and envelopes ---------------------------------------------------------------------


async def test_unknown_paths_and_methods_get_googles_html_404() -> None:
    sim = make()
    async with client(sim) as c:
        for r in (await c.get("/v1/nothing"), await c.put(LISTS, json={})):
            assert r.status_code == 404
            assert r.headers["content-type"].startswith("text/html")
            assert "was not found on this server" in r.text
    async with client(sim, token=None) as c:  # before credentials are looked at
        assert (await c.get("/v1/nothing")).status_code == 404
        assert (await c.delete(LISTS)).status_code == 404


async def test_error_info_reason_can_name_the_violation() -> None:
    sim = make(error_info_reason="violation")
    async with client(sim) as c:
        await create_list(c, "VIP")
        r = await c.post(LISTS, json=list_body("VIP"))
    error = google_error(r, 400, "INVALID_ARGUMENT", "DISPLAY_NAME_ALREADY_USED")
    info = error_info(error)
    assert info["domain"] == "datamanager.googleapis.com"
    assert info["metadata"]["requestId"].startswith("t-")
    (request_info,) = [d for d in error["details"] if d["@type"].endswith("RequestInfo")]
    assert request_info["requestId"] == info["metadata"]["requestId"]


async def test_injected_faults_use_google_envelopes() -> None:
    from segsync.testing.simulator import Faults

    sim = make(faults=Faults(error_rate=1.0, error_statuses=(500, 503)), seed=3)
    async with client(sim) as c:
        statuses = {(await c.get(LISTS)).status_code for _ in range(12)}
        assert statuses == {500, 503}
        sim.set_faults(Faults(error_rate=1.0, error_statuses=(503,)))
        google_error(await c.get(LISTS), 503, "UNAVAILABLE")
        sim.set_faults(Faults(error_rate=1.0, error_statuses=(502,)))
        r = await c.get(LISTS)
        assert r.status_code == 502 and r.headers["content-type"].startswith("text/html")
        sim.set_faults(Faults(burst_429_rate=1.0, burst_429_length=1))
        r = await c.post("/v1/audienceMembers:ingest", json={})
        error = google_error(r, 429, "RESOURCE_EXHAUSTED", "RATE_LIMIT_EXCEEDED")
        assert error_info(error)["metadata"]["quota_limit"] == (
            "IngestionMutateRequestsPerMinutePerProject"
        )


def test_create_list_helper_and_inspection() -> None:
    sim = make()
    list_id = sim.create_list(ACCOUNT, "direct", membership_days=10)
    info = sim.list_info(list_id)
    assert info["displayName"] == "direct" and info["membershipDuration"] == f"{10 * DAY}s"
    assert sim.list_members(list_id) == []
    with pytest.raises(KeyError):
        sim.list_info("1")
    with pytest.raises(ValueError, match="unknown account"):
        sim.create_list("0000000000", "x")
    assert isinstance(sim, DataManagerSimulator)
