"""The Salesforce simulator served over TLS on 127.0.0.1, driven by httpx and by the official
``simple-salesforce`` client (which only speaks ``https://``)."""

from __future__ import annotations

import io
import json
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pluggy
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceMalformedRequest

from segsync.connectors.salesforce.simulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    SalesforceSimulator,
)
from segsync.plugins import Plugins
from segsync.sandbox.serve import sandbox_audience, serve_sandbox
from segsync.testing.simulator import ServedSimulator

SESSION = "00DHu0000000001!tls-session"
VERSION = "66.0"


class Forward(HTTPAdapter):
    """Sends requests for a ``*.salesforce.com`` host to the simulator instead: the way to
    exercise simple-salesforce's login flows, whose token URLs are fixed."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.netloc = urlsplit(base_url).netloc

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        parts = urlsplit(str(request.url))
        request.url = urlunsplit(
            (parts.scheme, self.netloc, parts.path, parts.query, parts.fragment)
        )
        return super().send(request, *args, **kwargs)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def served(key: rsa.RSAPrivateKey) -> Iterator[tuple[SalesforceSimulator, ServedSimulator]]:
    sim = SalesforceSimulator(seed=2, bulk_upload_polls=0, bulk_progress_polls=0)
    sim.seed_contacts(sandbox_audience(seed=2, contacts=2500))
    sim.add_credential(SESSION)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
    sim.add_app("jwt-app", "jwt-secret", certificate=public, preauthorized=["svc@acme.example"])
    with sim.serve() as server:
        yield sim, server
    assert sim.tls is not None
    sim.tls.cleanup()
    assert not sim.tls.ca_bundle.exists()


@pytest.fixture
def sessions() -> Iterator[list[requests.Session]]:
    """Sessions to close after the test (an idle keep-alive TLS connection delays shutdown)."""
    made: list[requests.Session] = []
    yield made
    for s in made:
        s.close()


@pytest.fixture
def session(sessions: list[requests.Session]) -> Callable[..., requests.Session]:
    def make(server: ServedSimulator, *forward: str) -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # REQUESTS_CA_BUNDLE would override verify; no env proxies
        assert server.ca_bundle is not None
        s.verify = server.ca_bundle
        for host in forward:
            s.mount(host, Forward(server.base_url))
        sessions.append(s)
        return s

    return make


def test_served_over_https_with_a_local_ca(
    served: tuple[SalesforceSimulator, ServedSimulator],
) -> None:
    sim, server = served
    assert server.base_url.startswith("https://127.0.0.1:")
    assert server.ca_bundle is not None and Path(server.ca_bundle).read_text().startswith(
        "-----BEGIN CERTIFICATE-----"
    )
    assert sim.sandbox_settings() == {"api_version": "68.0", "login_url": server.base_url,
                                      "ca_bundle": server.ca_bundle}  # fmt: skip
    context = ssl.create_default_context(cafile=server.ca_bundle)
    with httpx.Client(base_url=server.base_url, verify=context,
                      headers={"Authorization": f"Bearer {SESSION}"}) as c:  # fmt: skip
        versions = c.get("/services/data/")
        r = c.get(
            f"/services/data/v{VERSION}/query",
            params={"q": "SELECT Id, Email FROM Contact LIMIT 5"},
        )
    assert versions.status_code == 200 and versions.json()[-1]["version"] == "68.0"
    assert r.status_code == 200 and len(r.json()["records"]) == 5
    assert r.headers["sforce-limit-info"].startswith("api-usage=")
    with pytest.raises(httpx.ConnectError), httpx.Client(base_url=server.base_url) as untrusted:
        untrusted.get("/services/data/")  # the system trust store does not know the local CA


def test_simple_salesforce_session_id(
    session: Callable[..., requests.Session], served: tuple[SalesforceSimulator, ServedSimulator]
) -> None:
    sim, server = served
    sf = Salesforce(instance_url=server.base_url, session_id=SESSION, session=session(server),
                    version=VERSION)  # fmt: skip
    everyone = sf.query_all("SELECT Id, Email, HasOptedOutOfEmail FROM Contact")
    live = [r for r in sim.org.records["Contact"].values() if not r["IsDeleted"]]
    assert everyone["totalSize"] == len(everyone["records"]) == len(live) > 2000  # paged
    assert {r["Id"] for r in everyone["records"]} == {r["Id"] for r in live}
    created = sf.Contact.create({"LastName": "Tls", "Email": "tls@example.com"})
    assert created["success"] and created["id"].startswith("003")
    assert sf.Contact.get(created["id"])["Email"] == "tls@example.com"
    leads = sf.query("SELECT Id FROM Lead WHERE IsConverted = true")
    assert leads["totalSize"] == sim.last_seed.converted_leads if sim.last_seed else False
    assert sf.limits()["DailyApiRequests"]["Max"] == 100_000
    assert sf.api_usage["api-usage"].total == 100_000
    with pytest.raises(SalesforceMalformedRequest) as bad:
        sf.query("SELECT Nope FROM Contact")
    assert bad.value.content[0]["errorCode"] == "INVALID_FIELD"
    campaign = sf.Campaign.create({"Name": "segsync: tls", "IsActive": True})["id"]
    result = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [
                {
                    "attributes": {"type": "CampaignMember"},
                    "CampaignId": campaign,
                    "ContactId": created["id"],
                }
            ],
        },
    )
    assert result[0]["success"]
    removed = sf.restful(
        "composite/sobjects", method="DELETE", params={"ids": result[0]["id"], "allOrNone": "false"}
    )
    assert removed == [{"id": result[0]["id"], "success": True, "errors": []}]


def test_simple_salesforce_client_credentials_login(
    session: Callable[..., requests.Session], served: tuple[SalesforceSimulator, ServedSimulator]
) -> None:
    sim, server = served
    s = session(server, "https://acme.my.salesforce.com")
    sf = Salesforce(consumer_key=DEFAULT_CLIENT_ID, consumer_secret=DEFAULT_CLIENT_SECRET,
                    domain="acme.my", session=s, version=VERSION)  # fmt: skip
    assert (
        sf.sf_instance == urlsplit(server.base_url).netloc
    )  # instance_url came from the token reply
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] > 0
    logins = sum(1 for r in sim.requests if r.path == "/services/oauth2/token")
    sim.expire_sessions()
    # it logged in itself, so on 401 INVALID_SESSION_ID it logs in again and retries
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] > 0
    assert sum(1 for r in sim.requests if r.path == "/services/oauth2/token") == logins + 1
    sim.add_credential(SESSION)  # the module's other tests keep their session


def test_simple_salesforce_expired_session_id(
    session: Callable[..., requests.Session], served: tuple[SalesforceSimulator, ServedSimulator]
) -> None:
    sim, server = served
    sim.add_credential("00DHu0000000001!short-lived")
    sf = Salesforce(instance_url=server.base_url, session_id="00DHu0000000001!short-lived",
                    session=session(server), version=VERSION)  # fmt: skip
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] > 0
    del sim.oauth.sessions["00DHu0000000001!short-lived"]
    with pytest.raises(SalesforceExpiredSession) as expired:
        sf.query("SELECT COUNT() FROM Lead")
    assert expired.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_simple_salesforce_jwt_login(
    session: Callable[..., requests.Session],
    served: tuple[SalesforceSimulator, ServedSimulator],
    key: rsa.RSAPrivateKey,
) -> None:
    _, server = served
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()  # fmt: skip
    s = session(server, "https://login.salesforce.com")
    sf = Salesforce(username="svc@acme.example", consumer_key="jwt-app", privatekey=pem,
                    domain="login", session=s, version=VERSION)  # fmt: skip
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] > 0


def test_simple_salesforce_bulk2_query(
    session: Callable[..., requests.Session], served: tuple[SalesforceSimulator, ServedSimulator]
) -> None:
    sim, server = served
    sf = Salesforce(instance_url=server.base_url, session_id=SESSION, session=session(server),
                    version=VERSION)  # fmt: skip
    pages = list(
        sf.bulk2.Contact.query(
            "SELECT Id, Email FROM Contact WHERE Email != null", max_records=1000, wait=0
        )
    )
    rows = [line for page in pages for line in page.splitlines()[1:]]
    expected = [r for r in sim.org.records["Contact"].values() if not r["IsDeleted"] and r["Email"]]
    assert len(pages) == -(-len(expected) // 1000)
    assert len(rows) == len(expected)


def test_segsync_sandbox_serves_it_over_tls() -> None:
    """``segsync sandbox`` as it stands (once the connector registers the simulator): the
    announced line carries an https base URL, client-credentials keys and the CA bundle, and
    a client configured from that line alone logs in and pulls the seeded contacts."""
    plugins = Plugins(
        pm=pluggy.PluginManager("segsync"), _simulators={"salesforce": SalesforceSimulator}
    )
    out = io.StringIO()
    with serve_sandbox(plugins, seed=3, contacts=300, out=out) as announced:
        line = json.loads(out.getvalue())
        assert announced == [line]
        assert line["base_url"].startswith("https://127.0.0.1:")
        settings, creds = line["settings"], line["credentials"]
        assert set(creds) == {"client_id", "client_secret"}
        assert settings["login_url"] == line["base_url"] and settings["api_version"] == "68.0"
        context = ssl.create_default_context(cafile=settings["ca_bundle"])
        with httpx.Client(base_url=settings["login_url"], verify=context) as c:
            token = c.post(
                "/services/oauth2/token", data={"grant_type": "client_credentials", **creds}
            ).json()
            api = f"{token['instance_url']}/services/data/v{settings['api_version']}"
            auth = {"Authorization": f"Bearer {token['access_token']}"}
            count = c.get(f"{api}/query", params={"q": "SELECT COUNT() FROM Contact"}, headers=auth)
    assert token["instance_url"] == line["base_url"]
    assert count.status_code == 200 and count.json()["totalSize"] > 150
