"""The Acme simulator keeps Acme's contract: its error body, its paging, its limits."""

from __future__ import annotations

from segsync_acme.simulator import AcmeSimulator

TOKEN = "acme-token"  # noqa: S105 - a test credential of the simulator
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make() -> AcmeSimulator:
    sim = AcmeSimulator()
    sim.add_credential(TOKEN)
    sim.seed_contacts([{"id": f"c{i}", "email": f"p{i}@example.org"} for i in range(5)])
    return sim


async def test_every_error_is_acme_s_message_body() -> None:
    sim = make()
    async with sim.client(headers=AUTH) as client:
        created = await client.post("/v1/lists", json={"name": "VIP"})
        taken = await client.post("/v1/lists/", json={"name": "VIP"})
        not_json = await client.post("/v1/lists", content=b"{")
        too_big = await client.get("/v1/contacts", params={"limit": "500"})
        not_number = await client.get("/v1/contacts", params={"limit": "many"})
        unknown_list = await client.get("/v1/lists/L9/members")
        unknown_path = await client.get("/v2/anything")
        wrong_method = await client.delete("/v1/lists")
    assert created.status_code == 201
    assert (taken.status_code, taken.json()) == (
        409,
        {"message": "a list with this name exists", "id": created.json()["id"]},
    )
    assert (not_json.status_code, not_json.json()) == (400, {"message": "expected a JSON object"})
    assert too_big.json() == {"message": "limit must be between 1 and 100"}
    assert not_number.json() == {"message": "limit must be a number"}
    assert (unknown_list.status_code, unknown_list.json()) == (404, {"message": "no such list"})
    assert (unknown_path.status_code, unknown_path.json()) == (404, {"message": "Not Found"})
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "GET, HEAD, POST"


async def test_contacts_page_by_cursor_with_or_without_a_trailing_slash() -> None:
    sim = make()
    async with sim.client(headers=AUTH) as client:
        first = (await client.get("/v1/contacts/", params={"limit": 2})).json()
        after = first["paging"]["next"]["after"]
        second = (await client.get("/v1/contacts", params={"limit": 2, "after": after})).json()
        last = (await client.get("/v1/contacts", params={"limit": 2, "after": "c3"})).json()
        bad = await client.get("/v1/contacts", params={"after": "nobody"})
    assert [c["id"] for c in first["results"]] == ["c0", "c1"]
    assert [c["id"] for c in second["results"]] == ["c2", "c3"]
    assert [c["id"] for c in last["results"]] == ["c4"] and "paging" not in last
    assert bad.json() == {"message": "unknown cursor"}
