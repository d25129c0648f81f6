"""The Google Ads connector against the Data Manager API simulator: settings, the list found
or created, hashed and consented members, validation before sending, the request Google
refuses whole split by segsync's rule, the read-back, OAuth flows and Google's errors."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from connector_kit import (
    ACCOUNT,
    BASE,
    CLIENT_SECRET,
    MANAGER,
    PROJECT,
    REFRESH,
    USER,
    connector,
    digest,
    emails_on,
    member,
    settings,
    simulator,
    spec,
)
from pydantic import ValidationError

from segsync.connector import AudienceRef, ConnectorContext, Member
from segsync.connectors.google_ads import api
from segsync.connectors.google_ads.connector import GoogleAdsConnector
from segsync.connectors.google_ads.destination import display_name_filter
from segsync.connectors.google_ads.settings import GoogleAdsSettings
from segsync.connectors.google_ads.simulator import DataManagerSimulator, QuotaLimits
from segsync.errors import AuthError, FatalError, QuotaError, RetryableError
from segsync.pipeline.push import apply_batch
from segsync.testing.conformance import LoseFirstAnswer

# Google's published examples (reference §4.5)
GMAIL_RAW = "Cloudy.SanFrancisco+shopping@gmail.com"
GMAIL_HEX = "223ebda6f6889b1494551ba902d9d381daf2f642bae055888e96343d53e9f9c4"
PHONE = "+18005550100"
PHONE_HEX = "fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30"


class Recorder(httpx.AsyncBaseTransport):
    """Passes requests to the simulator and keeps each one's method, path and body."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.sent: list[tuple[str, str, bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        self.sent.append((request.method, request.url.path, body))
        return await self.inner.handle_async_request(request)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(b) for _, p, b in self.sent if p == path]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def push(
    gads: GoogleAdsConnector,
    adds: list[Member] | None = None,
    removes: list[Member] | None = None,
    name: str = "segsync: VIP",
) -> tuple[AudienceRef, list[Any]]:
    destination = gads.destination
    try:
        audience = await destination.ensure_audience(spec(name))
        results = []
        if adds:
            results += await apply_batch(destination, audience, "add", adds)
        if removes:
            results += await apply_batch(destination, audience, "remove", removes)
        return audience, results
    finally:
        await gads.aclose()


# -- settings ------------------------------------------------------------------------------------


def test_settings_accept_hyphenated_ids_and_need_one_complete_credential() -> None:
    s = GoogleAdsSettings(**settings(operating_account_id="123-456-7890"))
    assert s.operating_account_id == "1234567890" and s.project() == PROJECT
    assert REFRESH not in repr(s) and CLIENT_SECRET not in str(s)
    with pytest.raises(ValidationError, match="10 digits"):
        GoogleAdsSettings(**settings(operating_account_id="12345"))
    with pytest.raises(ValidationError, match="missing refresh_token"):
        GoogleAdsSettings(**{k: v for k, v in settings().items() if k != "refresh_token"})
    with pytest.raises(ValidationError, match="quota_project is required with user OAuth"):
        GoogleAdsSettings(**{k: v for k, v in settings().items() if k != "quota_project"})
    with pytest.raises(ValidationError, match="either service_account_key or client_id"):
        GoogleAdsSettings(**settings(service_account_key='{"type": "service_account"}'))
    with pytest.raises(ValidationError, match="less than or equal to 540"):
        GoogleAdsSettings(**settings(membership_days=541))
    with pytest.raises(ValidationError, match="less than or equal to 10000"):
        GoogleAdsSettings(**settings(members_per_request=10_001))


def test_a_service_account_key_file_is_read_and_checked(tmp_path: Path) -> None:
    sim = simulator()
    key = sim.new_service_account("uploader@segsync-test.iam.gserviceaccount.com", PROJECT)
    path = tmp_path / "key.json"
    path.write_text(json.dumps(key))
    values = {k: v for k, v in settings().items()
              if k not in ("client_id", "client_secret", "refresh_token", "quota_project")}  # fmt: skip
    s = GoogleAdsSettings(**values, service_account_key_file=str(path))
    parsed = s.service_account()
    assert parsed is not None and parsed.key_id == key["private_key_id"]
    assert s.project() == PROJECT  # the key's project: Google's quotas count there
    assert "PRIVATE KEY" not in repr(s) + repr(parsed)
    path.write_text("not json")
    with pytest.raises(ValidationError, match="not a JSON key file"):
        GoogleAdsSettings(**values, service_account_key_file=str(path))
    path.write_text(json.dumps({"type": "authorized_user"}))
    with pytest.raises(ValidationError, match='"type": "service_account"'):
        GoogleAdsSettings(**values, service_account_key_file=str(path))


def test_membership_days_come_from_the_settings() -> None:
    s = GoogleAdsSettings(**settings(membership_days=90))
    assert GoogleAdsConnector.membership_days(s, "customer_match") == 90
    assert GoogleAdsConnector.capabilities.erases == frozenset()  # removal covers erasure


# -- the list ------------------------------------------------------------------------------------


def test_the_list_is_created_once_as_a_first_party_contact_list(tmp_path: Path) -> None:
    sim = simulator()
    first, _ = run(push(connector(sim, tmp_path, membership_days=30)))
    assert first.created and first.kind == "customer_match"
    info = sim.list_info(first.id)
    assert info["displayName"] == "segsync: VIP"
    assert info["membershipDuration"] == f"{30 * 86400}s"
    assert info["ingestedUserListInfo"]["uploadKeyTypes"] == ["CONTACT_ID"]
    assert info["ingestedUserListInfo"]["contactIdInfo"]["dataSourceType"] == (
        "DATA_SOURCE_TYPE_FIRST_PARTY"
    )
    again, _ = run(push(connector(sim, tmp_path, membership_days=30)))
    assert again.id == first.id and not again.created
    assert len(sim.state()["lists"]) == 1
    # a new membership_days is applied to the list that exists
    run(push(connector(sim, tmp_path, membership_days=540)))
    assert sim.list_info(first.id)["membershipDuration"] == f"{540 * 86400}s"


def test_names_with_quotes_are_found_exactly(tmp_path: Path) -> None:
    sim = simulator()
    assert display_name_filter('say "hi" \\ o') == 'display_name = "say \\"hi\\" \\\\ o"'
    sim.create_list(ACCOUNT, "segsync: VIP copy")
    ref, _ = run(push(connector(sim, tmp_path), name='segsync: "VIP"'))
    found, _ = run(push(connector(sim, tmp_path), name='segsync: "VIP"'))
    assert found.id == ref.id and not found.created


def test_a_create_whose_answer_was_lost_finds_the_list(tmp_path: Path) -> None:
    sim = simulator()
    path = f"/v1/accountTypes/GOOGLE_ADS/accounts/{ACCOUNT}/userLists"
    lossy = LoseFirstAnswer(sim.transport(), "POST", path)
    ref, _ = run(push(connector(sim, tmp_path, transport=lossy)))
    assert lossy.lost == 1 and ref.created
    assert [x["id"] for x in sim.state()["lists"]] == [ref.id]


def test_a_list_that_takes_other_data_is_refused(tmp_path: Path) -> None:
    sim = simulator()
    sim.create_list(ACCOUNT, "segsync: VIP", upload_key_type="MOBILE_ID")
    with pytest.raises(FatalError, match="not a Customer Match list of contact data"):
        run(push(connector(sim, tmp_path)))


# -- members -------------------------------------------------------------------------------------


def test_members_go_hashed_with_their_own_consent_and_nothing_raw(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The canary: no raw identifier in any request body, no identifier — raw or hashed — in
    any log line, at DEBUG, with retries."""
    caplog.set_level(logging.DEBUG)
    sim = simulator()
    recorder = Recorder(sim.transport())
    people = [member(GMAIL_RAW.lower(), PHONE), member("jane.doe+x@example.org")]
    audience, results = run(
        push(connector(sim, tmp_path, transport=recorder), people, [member("gone@example.org")])
    )
    assert all(r.ok for r in results)
    (ingest,) = recorder.bodies(api.INGEST)
    assert ingest["destinations"] == [
        {
            "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": ACCOUNT},
            "loginAccount": {"accountType": "GOOGLE_ADS", "accountId": MANAGER},
            "productDestinationId": audience.id,
        }
    ]
    assert ingest["encoding"] == "HEX"
    assert ingest["termsOfService"] == {"customerMatchTermsOfServiceStatus": "ACCEPTED"}
    assert "consent" not in ingest  # consent travels per member
    granted = {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"}
    assert ingest["audienceMembers"] == [
        {"userData": {"userIdentifiers": [{"emailAddress": GMAIL_HEX},
                                          {"phoneNumber": PHONE_HEX}]}, "consent": granted},
        {"userData": {"userIdentifiers": [{"emailAddress": digest("jane.doe+x@example.org")}]},
         "consent": granted},
    ]  # fmt: skip
    (remove,) = recorder.bodies(api.REMOVE)
    assert set(remove) == {"destinations", "encoding", "audienceMembers"}  # no consent, no ToS
    everything = b"\n".join(body for _, _, body in recorder.sent).decode()
    for raw in ("cloudy", "sanfrancisco", "jane", "doe", "gone@", "8005550100", "5550100"):
        assert raw not in everything.lower(), f"{raw!r} left segsync in clear"
    for secret_or_hash in (GMAIL_HEX, PHONE_HEX, "jane.doe", REFRESH, CLIENT_SECRET):
        assert secret_or_hash not in caplog.text
    assert emails_on(sim, audience.id, [GMAIL_RAW, "jane.doe+x@example.org"]) == {
        GMAIL_RAW,
        "jane.doe+x@example.org",
    }


def test_one_unusable_email_fails_alone_and_the_rest_go_in_one_request(tmp_path: Path) -> None:
    sim = simulator()
    recorder = Recorder(sim.transport())
    good = [member(f"p{i}@example.org") for i in range(4)]
    bad = [member("not-an-email"), member("+only@gmail.com")]
    _audience, results = run(push(connector(sim, tmp_path, transport=recorder), good + bad))
    by_key = {r.key: r for r in results}
    assert all(by_key[m.key].ok for m in good)
    for m in bad:
        r = by_key[m.key]
        assert (
            not r.ok
            and r.permanent
            and "not an email address Customer Match can use" in (r.error or "")
        )
        assert m.key not in (r.error or "")
    assert len(recorder.bodies(api.INGEST)) == 1
    assert len(recorder.bodies(api.INGEST)[0]["audienceMembers"]) == 4


def test_a_member_without_both_ad_purposes_is_never_sent(tmp_path: Path) -> None:
    sim = simulator()
    recorder = Recorder(sim.transport())
    people = [
        member("ok@example.org"),
        member("nopers@example.org", ad_personalization=False),
        member("unknown@example.org", ad_user_data=None),
    ]
    _audience, results = run(push(connector(sim, tmp_path, transport=recorder), people))
    by_key = {r.key: r for r in results}
    assert by_key["ok@example.org"].ok
    for key in ("nopers@example.org", "unknown@example.org"):
        assert not by_key[key].ok and "consent" in (by_key[key].error or "")
    (body,) = recorder.bodies(api.INGEST)
    assert [
        m["userData"]["userIdentifiers"][0]["emailAddress"] for m in body["audienceMembers"]
    ] == [digest("ok@example.org")]


def test_phones_are_e164_hashed_an_unusable_one_is_left_out_and_they_can_be_off(
    tmp_path: Path,
) -> None:
    sim = simulator()
    recorder = Recorder(sim.transport())
    people = [member("a@example.org", "+33612345678"), member("b@example.org", "12"),
              member("c@example.org", "+1 800 555 0100")]  # fmt: skip
    run(push(connector(sim, tmp_path, transport=recorder), people))
    ids = [
        m["userData"]["userIdentifiers"] for m in recorder.bodies(api.INGEST)[0]["audienceMembers"]
    ]
    assert ids[0][1] == {"phoneNumber": digest("+33612345678")}
    assert len(ids[1]) == 1  # the email alone
    assert ids[2][1] == {"phoneNumber": PHONE_HEX}
    quiet = Recorder(sim.transport())
    run(push(connector(sim, tmp_path, transport=quiet, send_phone=False), people))
    assert all(
        len(m["userData"]["userIdentifiers"]) == 1
        for m in quiet.bodies(api.INGEST)[0]["audienceMembers"]
    )


class CorruptOne(httpx.AsyncBaseTransport):
    """Rewrites the email hash of one member (by its digest) into bad hex in every ingest it
    is part of: Google then refuses the whole request, as it does for one malformed member."""

    def __init__(self, inner: httpx.AsyncBaseTransport, victim: str) -> None:
        self.inner, self.victim, self.ingests = inner, victim, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == api.INGEST:
            self.ingests += 1
            body = (await request.aread()).replace(
                self.victim.encode(), b"zz" + self.victim[2:].encode()
            )
            request = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
        return await self.inner.handle_async_request(request)


def test_a_request_refused_whole_is_split_by_segsync_until_the_member_stands_alone(
    tmp_path: Path,
) -> None:
    sim = simulator()
    people = [member(f"m{i:02d}@example.org") for i in range(16)]
    victim = people[11]
    corrupt = CorruptOne(sim.transport(), digest(victim.key))
    audience, results = run(push(connector(sim, tmp_path, transport=corrupt), people))
    by_key = {r.key: r for r in results}
    assert not by_key[victim.key].ok and by_key[victim.key].permanent
    error = by_key[victim.key].error or ""
    assert "400 INVALID_ARGUMENT" in error and "INVALID_HEX_ENCODING" in error
    assert digest(victim.key)[2:] not in error  # Google's text is not an identifier leak
    assert corrupt.ingests == 1 + 2 * 4  # halves down to the one member
    assert emails_on(sim, audience.id, [m.key for m in people]) == {
        m.key for m in people if m is not victim
    }


# -- the read-back -------------------------------------------------------------------------------


def test_size_and_match_rate_are_read_back_and_move_as_members_match(tmp_path: Path) -> None:
    sim = simulator()
    people = [f"u{i:03d}@example.org" for i in range(150)]
    for email in people[:90]:
        sim.add_google_user(emails=[email])
    gads = connector(sim, tmp_path)

    async def flow() -> list[Any]:
        destination = gads.destination
        audience = await destination.ensure_audience(spec())
        stats = [await destination.audience_stats(audience)]
        await apply_batch(destination, audience, "add", [member(e) for e in people[:50]])
        stats.append(await destination.audience_stats(audience))
        await apply_batch(destination, audience, "add", [member(e) for e in people[50:]])
        stats.append(await destination.audience_stats(audience))
        await gads.aclose()
        return stats

    empty, half, full = run(flow())
    assert (empty.size, empty.match_rate, empty.min_size) == (0, 0.0, 100)
    assert (half.size, half.match_rate) == (50, 1.0) and half.too_small
    assert (full.size, full.match_rate) == (90, 0.6) and full.too_small
    for email in people[90:110]:
        sim.add_google_user(emails=[email])
    # matches are made as members are uploaded: re-sending the 20 matches them
    run(push(connector(sim, tmp_path), [member(e) for e in people[90:110]]))
    after = run(_stats(connector(sim, tmp_path)))
    assert (after.size, after.match_rate) == (110, 0.73)  # 110 of 150, a whole percentage
    assert not after.too_small


async def _stats(gads: GoogleAdsConnector) -> Any:
    try:
        audience = await gads.destination.ensure_audience(spec())
        return await gads.destination.audience_stats(audience)
    finally:
        await gads.aclose()


# -- OAuth ---------------------------------------------------------------------------------------


def test_a_service_account_signs_its_assertion_and_pushes(tmp_path: Path) -> None:
    sim = simulator()
    email = "uploader@segsync-test.iam.gserviceaccount.com"
    key = sim.new_service_account(email, PROJECT)
    sim.directory.accounts[ACCOUNT].users.add(email)  # a user of the account itself
    recorder = Recorder(sim.transport())
    values = {k: v for k, v in settings().items()
              if k not in ("client_id", "client_secret", "refresh_token", "login_account_id")}  # fmt: skip
    gads = GoogleAdsConnector(
        GoogleAdsSettings(**values, service_account_key=json.dumps(key)),
        ConnectorContext(instance="sa", base_dir=tmp_path, work_dir=tmp_path, transport=recorder),
    )
    _audience, results = run(push(gads, [member("sa@example.org")]))
    assert all(r.ok for r in results)
    token_calls = [b for _, p, b in recorder.sent if p == "/token"]
    assert len(token_calls) == 1 and b"jwt-bearer" in token_calls[0]
    assert key["private_key"].encode() not in b"".join(b for _, _, b in recorder.sent)


def test_a_refused_refresh_token_is_a_clear_auth_error(tmp_path: Path) -> None:
    sim = simulator()
    with pytest.raises(AuthError) as info:
        run(push(connector(sim, tmp_path, refresh_token="1//revoked")))
    assert "invalid_grant" in str(info.value) and "1//revoked" not in str(info.value)


def test_an_account_the_credential_cannot_reach_says_so(tmp_path: Path) -> None:
    sim = simulator()
    sim.add_account("9999999999", users=["someone@else.com"])
    with pytest.raises(AuthError) as info:
        run(push(connector(sim, tmp_path, operating_account_id="9999999999")))
    assert "403" in str(info.value)
    assert "login_account_id is not a manager of operating_account_id" in str(info.value)
    with pytest.raises(AuthError) as info:
        run(push(connector(sim, tmp_path, operating_account_id="9999999999",
                           login_account_id=None)))  # fmt: skip
    assert "not a user of operating_account_id" in str(info.value)


def test_the_api_disabled_in_the_project_names_the_fix(tmp_path: Path) -> None:
    sim = simulator()
    sim.directory.projects[PROJECT].api_enabled = False
    with pytest.raises(AuthError, match="enable the Data Manager API in the Cloud project"):
        run(push(connector(sim, tmp_path)))


# -- quotas --------------------------------------------------------------------------------------


async def _answer(sim: DataManagerSimulator, **limits: Any) -> httpx.Response:
    """The simulator's 429 for a second ingestion call under ``limits``."""
    sim.quota.limits = QuotaLimits(**limits)  # type: ignore[union-attr]
    sim.add_access_token("t", principal=USER, project=PROJECT)
    async with httpx.AsyncClient(transport=sim.transport(), base_url=BASE,
                                 headers={"Authorization": "Bearer t"}) as c:  # fmt: skip
        for _ in range(2):
            response = await c.post(api.INGEST, json={})
        await response.aread()
        return response


def test_the_daily_quota_defers_and_the_minute_quota_is_retried() -> None:
    day = run(_answer(simulator(), ingestion_mutate_per_day=1))
    assert day.status_code == 429
    with pytest.raises(QuotaError, match=r"daily quota .*PerDayPerProject.* is used up"):
        api.classify(day)
    minute = run(_answer(simulator(), ingestion_mutate_per_minute=1))
    with pytest.raises(RetryableError) as info:
        api.classify(minute)
    assert info.value.retry_after == api.MINUTE_PAUSE


def test_instances_on_one_cloud_project_share_one_pacer(tmp_path: Path) -> None:
    """Google's quotas are per Cloud project: every instance using the project is paced
    together, whatever its account or credential."""
    sim = simulator()
    a = connector(sim, tmp_path)
    b = connector(sim, tmp_path, operating_account_id="2222222222", refresh_token="1//other")
    other = connector(sim, tmp_path, quota_project="another-project")
    assert a.http.pacer is b.http.pacer
    assert other.http.pacer is not a.http.pacer
    # uploads and list calls count against separate quotas (IngestionService, UserListService)
    assert a.ingest_http.pacer is b.ingest_http.pacer
    assert a.ingest_http.pacer is not a.http.pacer
    assert other.ingest_http.pacer is not a.ingest_http.pacer
