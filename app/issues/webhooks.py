"""The webhook wire format: payload, signature, and one HTTP attempt. No database.

A module of its own because receivers depend on it byte for byte (the tests' receiver
verifies with `verify`, as a customer's would).

Each delivery is a POST with a JSON body and these headers:

``X-Sextant-Event``      the alert: ``issue.new``, ``issue.escalating``, ``issue.regressed``,
                         ``issue.resolved`` (or ``test`` from the "send test" button)
``X-Sextant-Delivery``   the delivery id (the same on every retry: use it to de-duplicate)
``X-Sextant-Timestamp``  Unix seconds when this attempt was signed
``X-Sextant-Signature``  ``t=<timestamp>,v1=<hex HMAC-SHA256>``

The signature is HMAC-SHA256, keyed with the webhook's secret, over the bytes
``<timestamp> + "." + <raw body>``. To verify: recompute it over the raw body with the
``t`` value, compare in constant time, and refuse timestamps older than a few minutes
(replays). Every attempt is signed afresh, so a retry carries a new timestamp.
"""

import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import httpx

SIGNATURE_HEADER = "X-Sextant-Signature"
TIMESTAMP_HEADER = "X-Sextant-Timestamp"
EVENT_HEADER = "X-Sextant-Event"
DELIVERY_HEADER = "X-Sextant-Delivery"
USER_AGENT = "Sextant-Webhooks/1"
MAX_ERROR = 500


def body_bytes(payload: dict) -> bytes:
    """The exact bytes sent (and signed): compact, key-sorted JSON."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, *, kind: str, delivery_id: int, timestamp: int | None = None) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: kind,
        DELIVERY_HEADER: str(delivery_id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"t={timestamp},v1={signature(secret, timestamp, body)}",
    }


def verify(secret: str, body: bytes, header: str, *, tolerance_seconds: int = 300, now: float | None = None) -> bool:
    """Check an ``X-Sextant-Signature`` header against the raw body (what a receiver does)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields.get("t", ""))
    except ValueError:
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(fields.get("v1", ""), signature(secret, timestamp, body))


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status_code: int | None
    error: str | None


def post(url: str, body: bytes, headers: dict, *, timeout: float) -> Attempt:
    """One attempt. Redirects are not followed (a 3xx is a failure): the URL is user input,
    and following it would let a receiver bounce our signed request elsewhere."""
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as error:
        return Attempt(False, None, f"{type(error).__name__}: {error}"[:MAX_ERROR] or type(error).__name__)
    if 200 <= response.status_code < 300:
        return Attempt(True, response.status_code, None)
    return Attempt(False, response.status_code, f"HTTP {response.status_code}: {response.text[:200]}"[:MAX_ERROR])
