"""Fidelity: the official client, ``google-ads-datamanager`` (REST transport), against the
simulator served on 127.0.0.1 — lists, members, diagnostics, errors and the auth flows."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from typing import Any

import pytest
from gads_kit import ACCOUNT, MANAGER, PROJECT, USER, email, make, sha
from google.ads import datamanager_v1 as dm
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from google.protobuf import duration_pb2, field_mask_pb2

from segsync.connectors.google_ads.simulator import DataManagerSimulator
from segsync.testing.simulator import ServedSimulator

SA = "sdk@proj-1.iam.gserviceaccount.com"
SCOPE = "https://www.googleapis.com/auth/datamanager"
PARENT = f"accountTypes/GOOGLE_ADS/accounts/{ACCOUNT}"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


class Served:
    def __init__(self, sim: DataManagerSimulator, served: ServedSimulator, key: dict[str, str]):
        self.sim, self.served, self.key = sim, served, key

    def options(self) -> dict[str, str]:
        return {"api_endpoint": self.served.base_url}

    def clients(self, creds: Any) -> tuple[dm.UserListServiceClient, dm.IngestionServiceClient]:
        opts = self.options()
        return (
            dm.UserListServiceClient(transport="rest", credentials=creds, client_options=opts),
            dm.IngestionServiceClient(transport="rest", credentials=creds, client_options=opts),
        )


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    # the wall clock is the real one: google-auth stamps its JWTs with the real time
    sim = make(wall_clock=time.time)
    for i in range(150):
        sim.add_google_user(emails=[email(i)])
    with sim.serve() as live:
        key = sim.new_service_account(SA, PROJECT)
        sim.directory.grant(SA, ACCOUNT)
        yield Served(sim, live, key)


def sa_credentials(served: Served) -> service_account.Credentials:
    return service_account.Credentials.from_service_account_info(served.key, scopes=[SCOPE])


def new_list(lists: dm.UserListServiceClient, name: str) -> dm.UserList:
    user_list = dm.UserList(
        display_name=name,
        description="made by the official client",
        membership_duration=duration_pb2.Duration(seconds=30 * 86400),
        ingested_user_list_info=dm.IngestedUserListInfo(
            upload_key_types=[dm.IngestedUserListInfo.UploadKeyType.CONTACT_ID],
            contact_id_info=dm.ContactIdInfo(
                data_source_type=dm.DataSourceType.DATA_SOURCE_TYPE_FIRST_PARTY
            ),
        ),
    )
    return lists.create_user_list(parent=PARENT, user_list=user_list)


def destination(list_id: int) -> dm.Destination:
    return dm.Destination(
        operating_account=dm.ProductAccount(
            account_type=dm.ProductAccount.AccountType.GOOGLE_ADS, account_id=ACCOUNT
        ),
        product_destination_id=str(list_id),
    )


def members(*emails: str, hashes: tuple[str, ...] = ()) -> list[dm.AudienceMember]:
    values = [sha(e) for e in emails] + list(hashes)
    return [
        dm.AudienceMember(
            user_data=dm.UserData(user_identifiers=[dm.UserIdentifier(email_address=v)])
        )
        for v in values
    ]


def ingest_request(
    list_id: int, audience: list[dm.AudienceMember]
) -> dm.IngestAudienceMembersRequest:
    return dm.IngestAudienceMembersRequest(
        destinations=[destination(list_id)],
        audience_members=audience,
        consent=dm.Consent(
            ad_user_data=dm.ConsentStatus.CONSENT_GRANTED,
            ad_personalization=dm.ConsentStatus.CONSENT_GRANTED,
        ),
        encoding=dm.Encoding.HEX,
        terms_of_service=dm.TermsOfService(
            customer_match_terms_of_service_status=dm.TermsOfServiceStatus.ACCEPTED
        ),
    )


def test_lists_members_and_diagnostics_with_a_service_account(served: Served) -> None:
    lists, ingestion = served.clients(sa_credentials(served))
    created = new_list(lists, "sdk: VIP")
    assert created.id > 0 and created.name == f"{PARENT}/userLists/{created.id}"
    assert created.membership_duration == datetime.timedelta(days=30)
    assert created.ingested_user_list_info.upload_key_types == [
        dm.IngestedUserListInfo.UploadKeyType.CONTACT_ID
    ]
    assert created.access_reason == dm.UserList.AccessReason.OWNED

    query = dm.ListUserListsRequest(parent=PARENT, filter='display_name = "sdk: VIP"')
    found = list(lists.list_user_lists(request=query))
    assert [u.id for u in found] == [created.id]

    response = ingestion.ingest_audience_members(
        request=ingest_request(created.id, members(*[email(i) for i in range(120)]))
    )
    assert response.request_id
    first = ingestion.retrieve_request_status(
        request=dm.RetrieveRequestStatusRequest(request_id=response.request_id)
    )
    (entry,) = first.request_status_per_destination
    assert entry.request_status == dm.RequestStatusPerDestination.RequestStatus.PROCESSING
    second = ingestion.retrieve_request_status(
        request=dm.RetrieveRequestStatusRequest(request_id=response.request_id)
    )
    (entry,) = second.request_status_per_destination
    assert entry.request_status == dm.RequestStatusPerDestination.RequestStatus.SUCCESS
    ingested = entry.audience_members_ingestion_status.user_data_ingestion_status
    assert (ingested.record_count, ingested.user_identifier_count) == (120, 120)
    assert ingested.upload_match_rate_range == dm.MatchRateRange.MATCH_RATE_RANGE_91_TO_100
    assert entry.destination.product_destination_id == str(created.id)

    got = lists.get_user_list(name=created.name)
    assert got.size_info.display_network_members_count == 120
    assert got.target_network_info.eligible_for_display is True
    assert got.ingested_user_list_info.contact_id_info.match_rate_percentage == 100

    removed = ingestion.remove_audience_members(
        request=dm.RemoveAudienceMembersRequest(
            destinations=[destination(created.id)],
            audience_members=members(email(0), email(1)),
            encoding=dm.Encoding.HEX,
        )
    )
    assert removed.request_id
    assert lists.get_user_list(name=created.name).size_info.display_network_members_count == 118

    updated = lists.update_user_list(
        user_list=dm.UserList(name=created.name, description="renamed"),
        update_mask=field_mask_pb2.FieldMask(paths=["description"]),
    )
    assert updated.description == "renamed" and updated.display_name == "sdk: VIP"
    lists.delete_user_list(name=created.name)
    with pytest.raises(gexc.NotFound):
        lists.get_user_list(name=created.name)
    # what went over the wire: integer enums and the $alt parameter
    log = [r for r in served.sim.requests if r.path == "/v1/audienceMembers:ingest"]
    assert log and "%24alt=json%3Benum-encoding%3Dint" in log[-1].query


def test_validation_errors_surface_as_bad_request_with_field_violations(served: Served) -> None:
    lists, ingestion = served.clients(sa_credentials(served))
    created = new_list(lists, "sdk: errors")
    audience = members(email(1), hashes=("not-a-hash", "ab" * 31))
    with pytest.raises(gexc.BadRequest) as caught:
        ingestion.ingest_audience_members(request=ingest_request(created.id, audience))
    err = caught.value
    assert err.code == 400
    assert err.reason == "INVALID_ARGUMENT" and err.domain == "datamanager.googleapis.com"
    # over REST the client keeps the details as the JSON objects the API sent
    (bad,) = [d for d in err.details if d["@type"] == BAD_REQUEST]
    assert [(v["field"], v["reason"]) for v in bad["fieldViolations"]] == [
        ("audience_members.audience_members[1].user_data.user_identifiers[0]", "INVALID_HEX_ENCODING"),
        ("audience_members.audience_members[2].user_data.user_identifiers[0]", "INVALID_SHA256_FORMAT"),
    ]  # fmt: skip
    with pytest.raises(gexc.BadRequest) as caught:
        new_list(lists, "sdk: errors")
    (bad,) = [d for d in caught.value.details if d["@type"] == BAD_REQUEST]
    assert bad["fieldViolations"][0]["reason"] == "DISPLAY_NAME_ALREADY_USED"
    with pytest.raises(gexc.Forbidden) as denied:  # REST maps 403 to the HTTP class
        lists.list_user_lists(parent="accountTypes/GOOGLE_ADS/accounts/2222222222")
    assert denied.value.reason == "PERMISSION_DENIED"


def test_token_endpoint_flows(served: Served) -> None:
    sim = served.sim
    # a service account exchanging a signed JWT for an access token at the simulator
    creds = sa_credentials(served).with_always_use_jwt_access(False)
    creds.refresh(AuthRequest())
    assert creds.token and creds.token.startswith("ya29.c.")
    lists, _ = served.clients(user_credentials.Credentials(token=creds.token))
    assert list(lists.list_user_lists(parent=PARENT)) is not None
    # a user OAuth client's refresh token, refreshed by the client on its first call
    sim.add_oauth_client("sdk-client", "sdk-secret", PROJECT)
    sim.add_refresh_token("sdk-refresh", client_id="sdk-client", principal=USER)
    user = user_credentials.Credentials(
        None,
        refresh_token="sdk-refresh",
        client_id="sdk-client",
        client_secret="sdk-secret",
        token_uri=served.key["token_uri"],
    )
    lists, _ = served.clients(user)
    login = [("login-account", f"accountTypes/GOOGLE_ADS/accounts/{MANAGER}")]
    assert list(lists.list_user_lists(parent=PARENT, metadata=login)) is not None
    assert user.token and user.token.startswith("ya29.a0")
    # a revoked refresh token fails the way google-auth reports Google's invalid_grant
    from google.auth import exceptions as auth_exceptions

    sim.oauth.revoke("sdk-refresh")
    stale = user_credentials.Credentials(
        None, refresh_token="sdk-refresh", client_id="sdk-client", client_secret="sdk-secret",
        token_uri=served.key["token_uri"],
    )  # fmt: skip
    with pytest.raises(auth_exceptions.RefreshError, match="invalid_grant"):
        stale.refresh(AuthRequest())


def test_anonymous_credentials() -> None:
    sim = make(allow_anonymous=True, enforce_access=False)
    with sim.serve() as live:
        opts = {"api_endpoint": live.base_url}
        lists = dm.UserListServiceClient(
            transport="rest", credentials=AnonymousCredentials(), client_options=opts
        )
        created = new_list(lists, "anonymous")
        assert lists.get_user_list(name=created.name).display_name == "anonymous"
        with pytest.raises(gexc.BadRequest):
            new_list(lists, "anonymous")
