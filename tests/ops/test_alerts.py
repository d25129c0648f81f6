"""Alerts: which events a run raises, each target's shape (Slack, JSON webhook, email, Apprise)
against local receivers, retries, secrets kept out of logs, and end to end: a blocked guard and
a deferred sync alert a local webhook, a clean run does not, the next good run says
`recovered`; `check --test-alert`."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import pytest

from alertkit import smtp_server, webhook_receiver
from projectkit import Project
from segsync.alerts import events_for, send_alerts, send_test_alert
from segsync.alerts.message import alert_for
from segsync.config.alerts import AlertsConfig
from segsync.report import RunReport, SourceSummary, SyncReport

QUOTA = """
from segsync import hookimpl
from segsync.connectors.files import FilesConnector, FilesDestination
from segsync.errors import QuotaError


class Exhausted(FilesDestination):
    async def apply_batch(self, batch):
        raise QuotaError("daily operations quota exhausted; resets at midnight")


class QuotaFiles(FilesConnector):
    name = "quotafiles"

    def __init__(self, settings, context):
        super().__init__(settings, context)
        self.destination = Exhausted(self.settings, context)


@hookimpl
def register_connectors(register):
    register(QuotaFiles)
"""


def report(**syncs: dict[str, object]) -> RunReport:
    r = RunReport(
        run_id="20260301T060000Z-abcdef",
        command="run",
        config="segsync.toml",
        store="segsync.duckdb",
        version="0",
        started_at=dt.datetime(2026, 3, 1, 6, tzinfo=dt.UTC),
        syncs=[
            SyncReport(name=n, segment="s", destination="d", kind="list", audience=n, **v)  # type: ignore[arg-type]
            for n, v in syncs.items()
        ],
    )
    r.finish()
    return r


def test_events_for_each_outcome() -> None:
    assert events_for(report(a={"status": "ok"}), {"status": "ok"}) == []
    assert events_for(report(a={"blocked": "would remove 9 of 10"}), None) == ["blocked"]
    assert events_for(report(a={"deferred": "quota"}), None) == ["deferred"]
    assert events_for(report(a={"failed": 3}), None) == ["failed"]
    both = report(a={"error": "401"}, b={"blocked": "empty"})
    assert events_for(both, None) == ["failed", "blocked"]
    assert events_for(report(a={}), {"status": "killed"}) == ["recovered"]
    refused = report()
    refused.sources = [SourceSummary(instance="crm", stream="contacts", refused="shrank")]
    refused.finish()
    assert events_for(refused, None) == ["blocked"]


def targets(**tables: dict[str, object]) -> AlertsConfig:
    return AlertsConfig.model_validate({"targets": tables})


def test_slack_shows_what_a_run_says_as_written() -> None:
    """A line naming a file and line (``orders.jsonl:100:``) or a file with underscores goes
    to Slack as plain text with emoji codes off: in mrkdwn it would show 💯 and italics."""
    failed = report()
    failed.sources = [
        SourceSummary(
            instance="shop",
            stream="events",
            error="orders.jsonl:100: bad amount in _old_export_ *x* <y> & z",
        )
    ]
    failed.finish()
    alert = alert_for(failed, events_for(failed, None), None, report_url="https://r/?a=1&b=<2>")
    message = alert.slack()
    header, lines, link, context = message["blocks"]
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "section", "context"]
    for text in (header["text"], lines["text"], *context["elements"]):
        assert text["type"] == "plain_text" and text["emoji"] is False
    assert lines["text"]["text"] == (
        "• source shop events failed: orders.jsonl:100: bad amount in _old_export_ *x* <y> & z"
    )
    # the one mrkdwn text is segsync's own link, its URL escaped
    assert link["text"] == {
        "type": "mrkdwn",
        "text": "<https://r/?a=1&amp;b=&lt;2&gt;|Open the report>",
    }
    assert message["text"].startswith(":red_circle: segsync run failed on ")


def test_slack_webhook_email_and_apprise_each_get_their_shape() -> None:
    pytest.importorskip("apprise")
    with webhook_receiver() as hook, smtp_server() as (port, inbox):
        config = targets(
            chat={"type": "slack", "url": hook.url("/services/T0/B0/s3cr3t")},
            json={"type": "webhook", "url": hook.url("/hook"), "headers": {"X-Token": "tok-123"}},
            mail={"type": "email", "host": "127.0.0.1", "port": port, "security": "none",
                  "sender": "segsync@example.org", "to": ["ops@example.org"]},
            phone={"type": "apprise", "url": f"json://127.0.0.1:{hook.port}/apprise"},
        )  # fmt: skip
        blocked = report(vip={"blocked": "would remove 9 of 10 members", "applied_adds": 0})
        results = asyncio.run(send_alerts(config, blocked, {"status": "ok"}))
        assert results == {"chat": None, "json": None, "mail": None, "phone": None}

        (slack,) = hook.bodies("/services/T0/B0/s3cr3t")
        assert set(slack) == {"text", "blocks"}
        assert "blocked" in slack["text"]
        assert [b["type"] for b in slack["blocks"]] == ["header", "section", "context"]
        assert (
            "sync vip blocked: would remove 9 of 10 members" in slack["blocks"][1]["text"]["text"]
        )

        (body,) = hook.bodies("/hook")
        assert body["event"] == "blocked" and body["events"] == ["blocked"]
        assert body["run"]["run_id"] == "20260301T060000Z-abcdef" and body["run"]["exit_code"] == 3
        assert body["syncs"][0]["blocked"] == "would remove 9 of 10 members"
        headers = next(r.headers for r in hook.requests if r.path == "/hook")
        assert headers["X-Token"] == "tok-123"

        (mail,) = inbox
        assert mail["Subject"].startswith("[segsync] segsync run blocked on ")
        assert mail["To"] == "ops@example.org"
        assert "sync vip blocked" in mail.get_payload()

        (note,) = hook.bodies("/apprise")
        assert note["title"].startswith("segsync run blocked") and "sync vip" in note["message"]


def test_notify_on_filters_and_clean_runs_send_nothing() -> None:
    with webhook_receiver() as hook:
        config = targets(
            failures={"type": "webhook", "url": hook.url("/f"), "notify_on": ["failed"]},
            everything={"type": "webhook", "url": hook.url("/all")},
        )
        assert asyncio.run(send_alerts(config, report(a={}), {"status": "ok"})) == {}
        sent = asyncio.run(send_alerts(config, report(a={"deferred": "quota"}), None))
        assert sent == {"everything": None}
        assert [r.path for r in hook.requests] == ["/all"]


def test_retries_then_gives_up_without_leaking_the_url(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with webhook_receiver() as hook:
        hook.statuses = [503, 429]
        secret = "/services/T0/B0/very-secret-token"
        config = targets(chat={"type": "slack", "url": hook.url(secret), "timeout_seconds": 2})
        assert asyncio.run(send_test_alert(config)) == {"chat": None}
        assert len(hook.requests) == 1  # after a 503 and a 429
        hook.statuses = [404, 404, 404]
        result = asyncio.run(send_test_alert(config))
    assert result["chat"] == "HTTP 404 Not Found: no_service"
    assert "alert test to chat (slack) not sent: HTTP 404" in caplog.text
    assert "very-secret-token" not in caplog.text + str(result)


def test_unreachable_target_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    config = targets(
        mail={"type": "email", "host": "127.0.0.1", "port": 9, "security": "none",
              "password": "hunter2-secret", "username": "u",
              "sender": "a@example.org", "to": ["b@example.org"], "timeout_seconds": 0.5},
    )  # fmt: skip
    result = asyncio.run(send_alerts(config, report(a={"failed": 1}), None))
    assert result["mail"] is not None and "SMTP 127.0.0.1:9" in result["mail"]
    assert "hunter2-secret" not in caplog.text


def _alerting(project: Project, url: str) -> None:
    project.extra_config += f'\n[alerts.targets.hook]\ntype = "webhook"\nurl = "{url}"\n'
    project.write()


def test_e2e_blocked_and_deferred_alert_a_clean_run_does_not(project: Project) -> None:
    with webhook_receiver() as hook:
        _alerting(project, hook.url("/hook"))
        assert project.cli("run").code == 0
        assert hook.requests == []  # first run, all clean: nothing to say
        assert project.cli("run").code == 0
        assert hook.requests == []

        project.contacts = [c for c in project.contacts if c["country"] != "FR"]
        project.write()
        assert project.cli("run").code == 3  # the removal guard
        (blocked,) = hook.bodies()
        assert blocked["event"] == "blocked"
        assert any("french_news blocked" in line for line in blocked["text"].splitlines())

        hook.requests.clear()
        assert project.cli("run", "--force").code == 0
        (recovered,) = hook.bodies()
        assert recovered["event"] == "recovered"
        assert f"after run {blocked['run']['run_id']} ended blocked" in recovered["text"]

        (project.root / "plugins").mkdir()
        (project.root / "plugins" / "quota.py").write_text(QUOTA)
        project.destination_type = "quotafiles"
        project.contacts.append(
            {**project.contacts[0], "id": "C09999", "email": "late@example.org", "country": "FR"}
        )
        project.write()
        hook.requests.clear()
        result = project.cli("run")
        assert result.code == 1, result.err
        deferred = [b for b in hook.bodies() if b["event"] == "deferred"]
        assert len(deferred) == 1
        assert "daily operations quota exhausted" in deferred[0]["text"]


def test_e2e_url_from_the_environment_and_check_test_alert(project: Project) -> None:
    project.extra_config += '\n[alerts.targets.hook]\ntype = "slack"\n'
    project.write()
    with webhook_receiver() as hook:
        secret_url = hook.url("/services/T1/B1/env-secret")
        env = {"SEGSYNC_ALERTS__TARGETS__HOOK__URL": secret_url}
        result = project.cli("check", "--test-alert", env=env)
        assert result.code == 0, result.out + result.err
        assert "alert target hook (slack): test alert sent" in result.out
        (body,) = hook.bodies()
        assert "test alert" in body["text"]
        hook.statuses = [410, 410, 410]
        result = project.cli("check", "--test-alert", env=env)
    assert result.code == 2
    assert "FAILED alert target hook (slack): HTTP 410" in result.out
    assert "env-secret" not in result.out + result.err
    missing = project.cli("check", "--test-alert")
    assert missing.code == 2 and "url" in missing.err
