"""HubSpot's official Python client (``hubspot-api-client``) against the simulator on loopback.

The client sends some collection paths with a trailing slash (``POST /crm/v3/lists/``,
``GET /crm/v3/lists/?listIds=``) and reads custom object schemas at
``/crm-object-schemas/v3/schemas`` (reference §1.4, §1.8).
"""

from __future__ import annotations

from collections.abc import Iterator

import hubspot
import pytest
from hubspot.crm.lists import ListCreateRequest
from hubspot.crm.lists.exceptions import ApiException as ListsApiException

from segsync.connectors.hubspot.simulator import HubSpotSimulator
from segsync.testing.simulator import ServedSimulator

TOKEN = "pat-na1-sdk-test"


@pytest.fixture
def served() -> Iterator[tuple[HubSpotSimulator, ServedSimulator]]:
    sim = HubSpotSimulator(seed=3)
    sim.add_credential(TOKEN)
    with sim.serve() as server:
        yield sim, server


def test_official_client_creates_a_list_through_the_trailing_slash_path(
    served: tuple[HubSpotSimulator, ServedSimulator],
) -> None:
    sim, server = served
    ada, bob = sim.add_contact("ada@example.org"), sim.add_contact("bob@example.org")
    client = hubspot.Client.create(access_token=TOKEN, host=server.base_url)
    lists = client.crm.lists
    request = ListCreateRequest(name="segsync: VIP", object_type_id="0-1", processing_type="MANUAL")
    created = lists.lists_api.create(list_create_request=request).list
    assert (created.name, created.processing_type, created.size) == ("segsync: VIP", "MANUAL", 0)
    assert sim.list_id("segsync: VIP") == created.list_id
    post = next(r for r in sim.requests if r.method == "POST")
    assert (post.path, post.status) == ("/crm/v3/lists/", 200)  # as the client sent it
    # the name is taken now, whichever path the client uses
    with pytest.raises(ListsApiException) as taken:
        lists.lists_api.create(list_create_request=request)
    assert taken.value.status == 400
    fetched = lists.lists_api.get_all(list_ids=[created.list_id, "999"]).lists
    assert [x.list_id for x in fetched] == [created.list_id]
    assert sim.requests[-1].path == "/crm/v3/lists/"
    added = lists.memberships_api.add(list_id=created.list_id, request_body=[ada, bob, "424242"])
    assert (added.records_ids_added, added.record_ids_missing) == ([ada, bob], ["424242"])
    page = lists.memberships_api.get_page(list_id=created.list_id, limit=1)
    assert [m.record_id for m in page.results] == [ada]
    assert page.paging.next.after
    assert sim.list_members(created.list_id) == {ada, bob}


def test_official_client_reads_contacts_and_custom_object_schemas(
    served: tuple[HubSpotSimulator, ServedSimulator],
) -> None:
    sim, server = served
    for i in range(3):
        sim.add_contact(f"person{i}@example.org", firstname=f"P{i}")
    client = hubspot.Client.create(access_token=TOKEN, host=server.base_url)
    page = client.crm.contacts.basic_api.get_page(limit=2, properties=["email", "firstname"])
    assert [c.properties["firstname"] for c in page.results] == ["P0", "P1"]
    rest = client.crm.contacts.basic_api.get_page(limit=2, after=page.paging.next.after)
    assert [c.properties["email"] for c in rest.results] == ["person2@example.org"]
    assert rest.paging is None
    assert client.crm.schemas.core_api.get_all().results == []
    sim.add_custom_object({"name": "pets", "properties": [
        {"name": "pet_name", "label": "Pet name", "type": "string", "fieldType": "text"}]})  # fmt: skip
    schemas = client.crm.schemas.core_api.get_all().results
    assert [(s.name, s.object_type_id, s.primary_display_property) for s in schemas] == [
        ("pets", "2-1000001", "pet_name")
    ]
    assert [p.name for p in schemas[0].properties] == ["pet_name"]
