"""What goes over the wire to a webhook receiver: the payload, the signature, the POST.

Kept apart from the dispatcher so the format a receiver depends on (documented in
``docs/webhooks.md``) lives in one small module, and so the test ping and the dispatcher
send exactly the same way.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from headwater import __version__
from headwater.connectors.httpkit import tls_context
from headwater.schemas.runs import exact_epoch_ms, round_units
from headwater.security.pinning import guarded_transport
from headwater.security.ssrf import OutboundPolicy
from headwater.store.models.runs import RunGroup

TIMEOUT_SECONDS = 10.0
RESPONSE_EXCERPT_BYTES = 1000
ERROR_MAX_CHARS = 1000
USER_AGENT = f"Headwater-Webhooks/{__version__}"


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with ``Z``, as the API's own responses spell times."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso_utc(moment)


#: Run details a change capture run adds to its webhook entry (lag, retained WAL, warning).
CDC_FIELDS = ("cdc_lag_seconds", "cdc_lag_bytes", "cdc_retained_bytes", "cdc_warning")


def _change_capture(details: dict[str, Any]) -> dict[str, Any]:
    return {name: details[name] for name in CDC_FIELDS if name in details}


def group_snapshot(group: RunGroup) -> dict[str, Any]:
    """The ``run_group`` object of a payload, taken when the delivery is queued."""
    return {
        "run_group_id": group.id,
        "account_id": group.account_id,
        "environment_id": group.environment_id,
        "river_id": group.river_id,
        "river_type": group.river_type,
        "trigger": group.trigger,
        "status": group.status,
        "message": group.message,
        "units": float(round_units(group.units)),
        "total_rows": group.total_rows,
        "total_size": group.total_size,
        "start_date_utc": _iso(group.start_time),
        "end_date_utc": _iso(group.end_time),
        "start_date_in_milliseconds": exact_epoch_ms(group.start_time),
        "end_date_in_milliseconds": exact_epoch_ms(group.end_time) if group.end_time else 0,
        "runs": [
            {
                "run_id": run.id,
                "sub_river_id": run.sub_river_id,
                "source_name": run.source_name,
                "target_name": run.target_name,
                "status": run.status,
                "error_description": run.error_description,
                "total_rows": run.total_rows,
                **_change_capture(run.details),
            }
            for run in group.runs
        ],
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` keyed with the whole secret.

    The timestamp is inside the MAC so a captured request cannot be replayed later with a
    fresh ``X-Headwater-Timestamp``.
    """
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, "sha256")
    return f"sha256={mac.hexdigest()}"


def build_request(
    delivery_id: str, event: str, payload: dict[str, Any], secret: str, now: datetime
) -> tuple[bytes, dict[str, str]]:
    """The JSON body (stored payload plus ``delivered_at``) and the signed headers."""
    document: dict[str, Any] = {"event": event, "delivered_at": iso_utc(now)}
    document.update({k: v for k, v in payload.items() if k not in document})
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Headwater-Event": event,
        "X-Headwater-Delivery": delivery_id,
        "X-Headwater-Timestamp": timestamp,
        "X-Headwater-Signature": sign(secret, timestamp, body),
    }
    return body, headers


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    error: str | None
    duration_ms: int
    response_body: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


_sending = threading.local()


class _QuietWebhookRequests(logging.Filter):
    """Drops httpx's per-request INFO line while this thread sends a webhook.

    That line prints the full URL, and receiver URLs (chat incoming-webhooks, for one) often
    carry a credential in their path.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_sending, "active", False)


logging.getLogger("httpx").addFilter(_QuietWebhookRequests())


def send(
    url: str, body: bytes, headers: dict[str, str], policy: OutboundPolicy | None = None
) -> SendResult:
    """One POST; any 2xx is delivered. Redirects are not followed (a 3xx is a failure).

    With a ``policy`` in production mode, the connection goes only to an address the policy
    has checked at that moment (``security.pinning``), whatever the name resolves to later.

    Only the first bytes of the answer are read, so a receiver cannot make Headwater
    download or store a large response.
    """
    started = time.monotonic()
    _sending.active = True
    try:
        with (
            httpx.Client(
                timeout=TIMEOUT_SECONDS,
                follow_redirects=False,
                verify=tls_context(),
                transport=guarded_transport(policy, tls_context()) if policy else None,
            ) as client,
            client.stream("POST", url, content=body, headers=headers) as response,
        ):
            excerpt = b""
            for chunk in response.iter_bytes():
                excerpt += chunk
                if len(excerpt) >= RESPONSE_EXCERPT_BYTES:
                    break
            text = excerpt[:RESPONSE_EXCERPT_BYTES].decode("utf-8", errors="replace")
            code = response.status_code
    except httpx.TimeoutException:
        error = f"timed out after {TIMEOUT_SECONDS:g} s"
        return SendResult(None, error, _elapsed_ms(started))
    except Exception as exc:  # any transport or URL error is this attempt's result
        error = f"{type(exc).__name__}: {exc}"[:ERROR_MAX_CHARS]
        return SendResult(None, error, _elapsed_ms(started))
    finally:
        _sending.active = False
    refused = None if 200 <= code < 300 else f"the receiver answered HTTP {code}"
    return SendResult(code, refused, _elapsed_ms(started), text or None)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
