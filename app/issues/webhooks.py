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

The URL is user input, so Sextant refuses to send to loopback, private, link-local
(cloud metadata, 169.254.169.254) and other non-public addresses unless
``SEXTANT_WEBHOOK_ALLOW_PRIVATE`` is set: when the webhook is created, and again at each
attempt, after resolving the name, connecting to the very address that was checked (a
name that later resolves elsewhere — DNS rebinding — cannot slip past).
"""

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from dataclasses import dataclass

import httpx

SIGNATURE_HEADER = "X-Sextant-Signature"
TIMESTAMP_HEADER = "X-Sextant-Timestamp"
EVENT_HEADER = "X-Sextant-Event"
DELIVERY_HEADER = "X-Sextant-Delivery"
USER_AGENT = "Sextant-Webhooks/1"
MAX_ERROR = 300
# What of a refused response is kept: its status and this much of the body, to recognise the
# receiver's complaint; a receiver's full answer (an internal server's, say) is not ours to keep.
EXCERPT_CHARS = 80
ALLOW_PRIVATE_ENV = "SEXTANT_WEBHOOK_ALLOW_PRIVATE"


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


class RefusedAddress(ValueError):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is 127.0.0.1
    address = mapped or address
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address the name resolves to (an IP literal resolves to itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


def public_addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The host's addresses, all public, or RefusedAddress (socket.gaierror if it does not resolve)."""
    addresses = resolve(host, port)
    refused = [a for a in addresses if not is_public(a)]
    if refused:
        raise RefusedAddress(f"{host} is a private, loopback or link-local address ({refused[0]}); "
                             f"webhooks go to public addresses unless {ALLOW_PRIVATE_ENV} is set.")
    return addresses


def _default_port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def check_destination(url: str) -> None:
    """At creation: refuse a URL whose host is or resolves to a non-public address. A name that
    does not resolve now is accepted (it may later); each attempt checks again."""
    try:
        parsed = httpx.URL(url)
        public_addresses(parsed.raw_host.decode("ascii"), _default_port(parsed))
    except httpx.InvalidURL as error:
        raise RefusedAddress(f"Not a usable URL: {error}") from None
    except socket.gaierror:
        pass


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status_code: int | None
    error: str | None


def post(url: str, body: bytes, headers: dict, *, timeout: float, allow_private: bool = False) -> Attempt:
    """One attempt. Redirects are not followed (a 3xx is a failure): the URL is user input,
    and following it would let a receiver bounce our signed request elsewhere."""
    try:
        target, extensions = httpx.URL(url), {}
        if not allow_private:
            target, extensions, headers = _pinned(target, headers)
    except (OSError, RefusedAddress, httpx.InvalidURL) as error:
        return Attempt(False, None, f"{type(error).__name__}: {error}"[:MAX_ERROR])
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            with client.stream("POST", target, content=body, headers=headers, extensions=extensions) as response:
                if 200 <= response.status_code < 300:
                    return Attempt(True, response.status_code, None)
                return Attempt(False, response.status_code, f"HTTP {response.status_code}: {_excerpt(response)}")
    except httpx.HTTPError as error:
        return Attempt(False, None, f"{type(error).__name__}: {error}"[:MAX_ERROR] or type(error).__name__)


def _pinned(url: httpx.URL, headers: dict) -> tuple[httpx.URL, dict, dict]:
    """The URL with its host replaced by a checked public address, keeping the name for the
    Host header and for TLS (SNI and certificate check)."""
    host = url.raw_host.decode("ascii")
    address = public_addresses(host, _default_port(url))[0]
    return url.copy_with(host=str(address)), {"sni_hostname": host}, {**headers, "Host": url.netloc.decode("ascii")}


def _excerpt(response: httpx.Response) -> str:
    """The start of the body on one line, read no further than needed."""
    start = b""
    for chunk in response.iter_bytes():
        start += chunk
        if len(start) > EXCERPT_CHARS * 4:
            break
    text = " ".join(start.decode("utf-8", "replace").split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS - 1] + "…"
