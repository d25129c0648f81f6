"""Delivering an alert to one target: Slack, a JSON webhook, email (SMTP), Apprise.

HTTP targets go through segsync's HTTP kit (:class:`segsync.http.HttpClient`): a timeout per
attempt, retries of 429/5xx/network failures with jittered backoff honouring
``Retry-After``. A webhook's URL is its credential, so it never reaches a log line or an
error: the client is made for the URL's origin and sent to ``/``, and the real path is put on
the request at the last moment (:class:`_SecretPath`); errors say the status, never the URL;
httpx's own request log line hides the path. SMTP and Apprise calls, which block, run in a
thread under the same retry policy.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections.abc import Generator
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import httpx

from segsync.config.alerts import (
    AlertTarget,
    AppriseTarget,
    EmailTarget,
    SlackTarget,
    WebhookTarget,
)
from segsync.errors import FatalError, RetryableError
from segsync.http import HttpClient, RetryPolicy, parse_retry_after, with_retries
from segsync.redaction import redact

from .message import Alert

__all__ = ["deliver", "scrub"]

log = logging.getLogger("segsync.alerts")
_HIDDEN: dict[str, str] = {}
"""Secret URL paths → what to show instead, for httpx's request log."""


class _HideAlertPaths(logging.Filter):
    """httpx logs each request's URL at INFO: show an alert target's name, not its path."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _HIDDEN and isinstance(record.args, tuple):
            args = list(record.args)
            for i, arg in enumerate(args):
                text = str(arg)
                for secret, shown in _HIDDEN.items():
                    if secret in text:
                        args[i] = text = text.replace(secret, shown)
            record.args = tuple(args)
        return True


_httpx_logger = logging.getLogger("httpx")
if not any(isinstance(f, _HideAlertPaths) for f in _httpx_logger.filters):
    _httpx_logger.addFilter(_HideAlertPaths())


def _secrets(target: AlertTarget) -> list[str]:
    values: list[str] = []
    if isinstance(target, SlackTarget | WebhookTarget | AppriseTarget):
        url = target.url.get_secret_value()
        values.append(url)
        parsed = httpx.URL(url) if "://" in url else None
        if parsed is not None and parsed.raw_path not in (b"", b"/"):
            values.append(parsed.raw_path.decode("ascii", "replace"))
    if isinstance(target, WebhookTarget):
        values += [h.get_secret_value() for h in target.headers.values()]
    if isinstance(target, EmailTarget) and target.password is not None:
        values.append(target.password.get_secret_value())
    return sorted((v for v in values if len(v) >= 4), key=len, reverse=True)


def scrub(text: str, target: AlertTarget) -> str:
    """``text`` without the target's secrets (URL, its path, headers, password)."""
    for secret in _secrets(target):
        text = text.replace(secret, "***")
    return redact(text)


class _SecretPath(httpx.Auth):
    """Puts the webhook's real URL on the request, after segsync's logs have seen ``/``."""

    def __init__(self, url: httpx.URL) -> None:
        self.url = url

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.url = self.url
        yield request


def _classify(response: httpx.Response) -> None:
    """Success for 1xx–3xx; retry 423, 429 and 5xx; anything else is final. The message is
    the status and a short body (Slack answers ``invalid_payload``, ``no_service`` …)."""
    status = response.status_code
    if status < 400:
        return
    body = " ".join(response.text.split())[:120] if response.content else ""
    message = f"HTTP {status} {response.reason_phrase}" + (f": {body}" if body else "")
    if status in (423, 429) or status >= 500:
        header = response.headers.get("Retry-After")
        retry_after = parse_retry_after(header) if header else None
        raise RetryableError(message, retry_after=retry_after, status=status)
    raise FatalError(message, status=status)


def _policy(target: AlertTarget) -> RetryPolicy:
    return RetryPolicy(max_attempts=3, max_elapsed=2 * target.timeout_seconds, base=0.5, cap=5.0)


async def _post(name: str, target: SlackTarget | WebhookTarget, body: object) -> None:
    url = httpx.URL(target.url.get_secret_value())
    if url.scheme not in ("http", "https") or not url.host:
        raise FatalError("the url is not an http(s) URL")
    origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
    path = url.raw_path.decode("ascii", "replace")
    if path not in ("", "/"):
        _HIDDEN[path] = f"/<alert target {name}>"
    headers = {"Content-Type": "application/json"}
    if isinstance(target, WebhookTarget):
        headers.update({k: v.get_secret_value() for k, v in target.headers.items()})
    async with HttpClient(
        origin,
        auth=_SecretPath(url),
        retry=_policy(target),
        timeout=target.timeout_seconds,
        classify=_classify,
        name=f"alerts:{name}",
        max_connections=2,
    ) as client:
        await client.request("POST", "/", json=body, headers=headers)


def _email(target: EmailTarget, alert: Alert) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[segsync] {alert.title}"
    message["From"] = target.sender
    message["To"] = ", ".join(target.to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=target.sender.partition("@")[2] or None)
    message["X-Segsync-Event"] = str(alert.event)
    message.set_content(alert.text())
    return message


def _smtp_send(target: EmailTarget, message: EmailMessage) -> None:
    """Send over SMTP (blocking: run in a thread). 4xx answers and connection failures are
    worth another try; 5xx are final."""
    try:
        smtp: smtplib.SMTP
        if target.security == "ssl":
            context = ssl.create_default_context()
            smtp = smtplib.SMTP_SSL(
                target.host, target.smtp_port, timeout=target.timeout_seconds, context=context
            )
        else:
            smtp = smtplib.SMTP(target.host, target.smtp_port, timeout=target.timeout_seconds)
        with smtp:
            if target.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if target.username:
                password = target.password.get_secret_value() if target.password else ""
                smtp.login(target.username, password)
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        said = exc.smtp_error
        said = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
        text = f"SMTP {exc.smtp_code}: {said[:120]}"
        if 400 <= exc.smtp_code < 500:
            raise RetryableError(text) from None
        raise FatalError(text) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise FatalError(f"every recipient was refused ({len(exc.recipients)})") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise RetryableError(
            f"SMTP {target.host}:{target.smtp_port}: {type(exc).__name__}"
        ) from None


def _apprise_send(target: AppriseTarget, alert: Alert) -> None:
    """Notify through Apprise (blocking: run in a thread)."""
    import apprise

    notifier = apprise.Apprise()
    if not notifier.add(target.url.get_secret_value()):
        raise FatalError("Apprise does not understand the url")
    kind = {
        "failed": apprise.NotifyType.FAILURE,
        "blocked": apprise.NotifyType.FAILURE,
        "deferred": apprise.NotifyType.WARNING,
        "recovered": apprise.NotifyType.SUCCESS,
    }.get(str(alert.event), apprise.NotifyType.INFO)
    body = "\n".join([*(f"- {line}" for line in alert.lines), *(
        [f"Report: {alert.report_url}"] if alert.report_url else []
    )])  # fmt: skip
    if not notifier.notify(title=alert.title, body=body or alert.title, notify_type=kind):
        raise RetryableError("Apprise could not deliver the notification")


async def deliver(name: str, target: AlertTarget, alert: Alert) -> None:
    """Deliver ``alert`` to one target, retried per its timeout; raises when it cannot."""
    if isinstance(target, SlackTarget):
        await _post(name, target, alert.slack())
    elif isinstance(target, WebhookTarget):
        await _post(name, target, alert.payload())
    elif isinstance(target, EmailTarget):
        message = _email(target, alert)
        await with_retries(lambda: asyncio.to_thread(_smtp_send, target, message), _policy(target))
    else:
        await with_retries(lambda: asyncio.to_thread(_apprise_send, target, alert), _policy(target))
