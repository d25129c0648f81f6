"""The Salesforce eraser (``erase_records``), driven directly as ``segsync forget`` will drive
it: at most ``erase_limit`` people a call, every result by key, idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sfkit import make, no_wait, run, sim_with

from segsync.connector import Eraser, ErasureResult, Person
from segsync.connectors.salesforce import api
from segsync.connectors.salesforce.connector import SalesforceConnector
from segsync.connectors.salesforce.eraser import ANONYMISED
from segsync.connectors.salesforce.simulator import SalesforceSimulator
from segsync.errors import AuthError


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "pause", no_wait)


def erase(connector: SalesforceConnector, people: list[Person]) -> dict[str, ErasureResult]:
    async def work(c: SalesforceConnector) -> list[ErasureResult]:
        assert isinstance(c.eraser, Eraser)
        assert len(people) <= c.eraser.erase_limit
        return await c.eraser.erase(people)

    results = run(connector, work)
    assert sorted(r.key for r in results) == sorted(p.key for p in people)
    return {r.key: r for r in results}


@pytest.fixture
def org() -> tuple[SalesforceSimulator, dict[str, str]]:
    sim = sim_with()
    ids = {
        "ann": sim.insert("Contact", FirstName="Ann", LastName="Smith", Email="ann@example.org",
                          Phone="+33612345678", MailingCity="Lyon", Birthdate="1980-02-03",
                          HasOptedOutOfEmail=False),
        "ann_lead": sim.insert("Lead", LastName="Smith", Company="Acme", Email="ANN@example.org"),
        "ann_old": sim.insert("Lead", LastName="Smith", Company="Old", Email="ann@old.example"),
        "bob": sim.insert("Contact", LastName="Bob", Email="bob@example.org"),
        "cy": sim.insert("Lead", FirstName="Cy", LastName="Lead", Company="Cy Ltd",
                         Email="cy@example.org", City="Paris", Street="1 rue X"),
    }  # fmt: skip
    sim.convert_lead(ids["ann_old"], ids["ann"])
    campaign = sim.insert("Campaign", Name="segsync: VIP")
    sim.insert("CampaignMember", CampaignId=campaign, ContactId=ids["ann"], Status="Sent")
    ids["campaign"] = campaign
    return sim, ids


def test_off_by_default_and_declared(tmp_path: Path) -> None:
    connector = make(sim_with(), tmp_path)
    assert connector.eraser is None
    assert SalesforceConnector.capabilities.erases == {"delete", "anonymise"}
    run(connector, lambda c: c.check())


def test_delete_removes_every_record_of_the_person(
    tmp_path: Path, org: tuple[SalesforceSimulator, dict[str, str]]
) -> None:
    sim, ids = org
    connector = make(sim, tmp_path, erase_records="delete")
    results = erase(
        connector,
        [
            # what segsync pulled (the converted Lead is Ann's too), and her email: the Lead
            # of the same email is found by it
            Person("p1", record_ids=(ids["ann"], ids["ann_old"]), emails=("ann@example.org",)),
            Person("p2", emails=("nobody@example.org",)),
            Person("p3", record_ids=("003Hu0000000000AAA",)),  # well-formed, not there
        ],
    )
    assert results["p1"] == ErasureResult("p1", "deleted")
    assert results["p2"] == ErasureResult("p2", "not_found")
    assert results["p3"] == ErasureResult("p3", "not_found")
    for key in ("ann", "ann_lead", "ann_old"):
        obj = "Contact" if key == "ann" else "Lead"
        assert (sim.record(obj, ids[key]) or {})["IsDeleted"] is True, key
    assert (sim.record("Contact", ids["bob"]) or {})["IsDeleted"] is False
    assert sim.campaign_members(ids["campaign"]) == set()  # members go with the Contact
    # again: already gone
    again = erase(make(sim, tmp_path, erase_records="delete"), [Person("p1", (ids["ann"],))])
    assert again["p1"].outcome == "not_found"


def test_anonymise_overwrites_the_personal_fields(
    tmp_path: Path, org: tuple[SalesforceSimulator, dict[str, str]]
) -> None:
    sim, ids = org
    connector = make(sim, tmp_path, erase_records="anonymise")
    results = erase(
        connector,
        [
            Person("ann", record_ids=(ids["ann"], ids["ann_old"]), emails=("ann@example.org",)),
            Person("cy", record_ids=(ids["cy"],)),
        ],
    )
    assert results["ann"].outcome == results["cy"].outcome == "anonymised"
    ann = sim.record("Contact", ids["ann"]) or {}
    assert not ann["IsDeleted"]
    for field, value in ANONYMISED["Contact"].items():
        assert ann[field] == value, field
    cy = sim.record("Lead", ids["cy"]) or {}
    for field, value in ANONYMISED["Lead"].items():
        assert cy[field] == value, field
    assert cy["Company"] == "Anonymised" and cy["Name"] == "Anonymised"
    lead = sim.record("Lead", ids["ann_lead"]) or {}
    assert lead["Email"] is None and lead["LastName"] == "Anonymised"
    # the converted Lead is read-only in Salesforce: deleted instead
    assert (sim.record("Lead", ids["ann_old"]) or {})["IsDeleted"] is True
    assert (sim.record("Contact", ids["bob"]) or {})["Email"] == "bob@example.org"
    # the anonymised Contact is still in the campaign (segsync removes members itself)
    assert sim.campaign_members(ids["campaign"]) == {ids["ann"]}


def test_more_than_200_records_go_in_several_calls(tmp_path: Path) -> None:
    sim = sim_with()
    people = []
    for i in range(150):
        c = sim.insert("Contact", LastName=f"C{i}", Email=f"p{i}@example.org")
        lead = sim.insert("Lead", LastName=f"L{i}", Company="X", Email=f"p{i}@example.org")
        people.append(Person(f"k{i}", record_ids=(c, lead)))
    results = erase(make(sim, tmp_path, erase_records="delete"), people)
    assert all(r.outcome == "deleted" for r in results.values())
    deletes = [r for r in sim.requests if r.method == "DELETE"]
    assert len(deletes) == 2 and sim.org.live_count("Contact") == sim.org.live_count("Lead") == 0


def test_failures_name_codes_never_the_person(
    tmp_path: Path, org: tuple[SalesforceSimulator, dict[str, str]], monkeypatch: Any
) -> None:
    sim, ids = org

    async def refuse(self: Any, ids: list[str]) -> list[dict[str, Any]]:
        error = {"statusCode": "DELETE_FAILED", "message": "associated with cases", "fields": []}
        return [{"success": False, "errors": [error]} for _ in ids]

    monkeypatch.setattr(api.SalesforceApi, "delete", refuse)
    results = erase(
        make(sim, tmp_path, erase_records="delete"),
        [Person("p1", record_ids=(ids["bob"],), emails=("bob@example.org",))],
    )
    failed = results["p1"]
    assert failed.outcome == "failed" and failed.permanent
    assert failed.error == "delete: DELETE_FAILED"
    assert "bob" not in str(failed.error) and ids["bob"] not in str(failed.error)


def test_a_refused_login_stops_erasing(tmp_path: Path) -> None:
    sim = sim_with()
    connector = make(sim, tmp_path, erase_records="delete", client_secret="wrong-0000")
    with pytest.raises(AuthError):
        erase(connector, [Person("p", emails=("a@example.org",))])
