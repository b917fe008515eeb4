"""Outbound webhooks: which URLs may be called, and calling them without SSRF.

One parser decides and sends: urllib3's `parse_url` reads the URL for the allowlist
check, and the request is built from that very parse (scheme, host, port, path) on a
urllib3 connection pool. A check with one parser and a send with another is how
`http://127.0.0.2:1\\@127.0.0.1:2/` once passed as 127.0.0.1 and went to 127.0.0.2.

The host is resolved once, every address it resolves to is checked, and the
connection goes to the checked address (the Host header and TLS name stay the
original host): no second DNS lookup that a rebinding name could answer differently.
"""

import ipaddress
import json
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import certifi
import urllib3
from django.conf import settings
from urllib3.exceptions import HTTPError, LocationParseError
from urllib3.util import parse_url

from apps.notifications.exceptions import WebhookRefused

MAX_URL_CHARS = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}
# A DNS name as written in a URL: lowercase labels of letters, digits and inner hyphens.
_DNS_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*")
_ALLOWLIST_MISS = "is not in QUERYBASE_WEBHOOK_ALLOWLIST"

Resolver = Callable[..., list]


class WebhookUnreachable(Exception):
    """The allowed target could not be reached or did not answer in time (worth a retry)."""


@dataclass(frozen=True)
class WebhookTarget:
    scheme: str
    host: str  # lowercase name, dotted IPv4, or bracketed IPv6
    port: int | None  # as written; None means the scheme's default
    request_uri: str  # path and query, as written

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.scheme]

    @property
    def host_header(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def ip_literal(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        return _ip_or_none(self.host.strip("[]"))


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def parse_webhook_url(url: str) -> WebhookTarget:
    """Read `url` strictly; anything a second reader could understand differently is refused."""
    if not isinstance(url, str) or not url:
        raise WebhookRefused("The webhook URL is empty.")
    if len(url) > MAX_URL_CHARS:
        raise WebhookRefused(f"The webhook URL is longer than {MAX_URL_CHARS} characters.")
    if any(not 0x21 <= ord(character) <= 0x7E for character in url):
        # Whitespace, control characters and non-ASCII (IDNA) are each read differently
        # by different parsers; Chat webhook URLs never need them.
        raise WebhookRefused("The webhook URL may only contain printable ASCII, without spaces.")
    if "\\" in url:
        raise WebhookRefused("The webhook URL may not contain a backslash.")
    if "@" in url:
        raise WebhookRefused("The webhook URL may not contain '@' (no user information).")
    try:
        parsed = parse_url(url)
    except LocationParseError as error:
        raise WebhookRefused("The webhook URL cannot be parsed.") from error
    if parsed.url != url:
        # What we would send differs from what was written (case, default port, dot
        # segments, escapes): refuse rather than guess which one was meant.
        raise WebhookRefused(f"The webhook URL is not in canonical form (it reads as {parsed.url}).")
    if parsed.scheme not in DEFAULT_PORTS:
        raise WebhookRefused("The webhook URL must start with https:// or http://.")
    if parsed.auth is not None or parsed.fragment is not None:
        raise WebhookRefused("The webhook URL may not carry user information or a #fragment.")
    host = parsed.host or ""
    _check_host(host)
    return WebhookTarget(scheme=parsed.scheme, host=host, port=parsed.port, request_uri=parsed.request_uri)


def _check_host(host: str) -> None:
    if not host:
        raise WebhookRefused("The webhook URL has no host.")
    if "%" in host:
        raise WebhookRefused("The webhook host may not be percent-encoded or carry an IPv6 zone id.")
    if host.startswith("["):
        address = _ip_or_none(host[1:-1]) if host.endswith("]") else None
        if not isinstance(address, ipaddress.IPv6Address) or f"[{address.compressed}]" != host:
            raise WebhookRefused("The webhook host is not an IPv6 address in its shortest form.")
        return
    if _reads_as_ipv4(host):
        address = _ip_or_none(host)
        # 127.1, 2130706433 or 0x7f.1 are 127.0.0.1 to some resolvers and names to others.
        if not isinstance(address, ipaddress.IPv4Address) or str(address) != host:
            raise WebhookRefused("The webhook host is not an IPv4 address in dotted decimal form.")
        return
    if not _DNS_NAME.fullmatch(host):
        raise WebhookRefused("The webhook host is not a valid DNS name.")


def _reads_as_ipv4(host: str) -> bool:
    try:
        socket.inet_aton(host)  # the C library's reading: also 127.1, 0x7f.1, 2130706433
    except OSError:
        return host.replace(".", "").isdigit()
    return True


def _ip_or_none(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _allowlist() -> list[WebhookTarget]:
    entries = []
    for entry in settings.QUERYBASE_WEBHOOK_ALLOWLIST:
        try:
            entries.append(parse_webhook_url(entry.strip().lower().rstrip("/") + "/"))
        except WebhookRefused:
            continue  # a malformed entry allows nothing
    return entries


def _entry_allows(entry: WebhookTarget, scheme: str, host: str, port: int) -> bool:
    """An entry names a scheme and host, and a port only if it should be the only one."""
    if (entry.scheme, entry.host) != (scheme, host):
        return False
    return entry.port is None or entry.port == port


def check_webhook_url(url: str) -> WebhookTarget:
    """The parsed target of `url` if it may be called; raises WebhookRefused otherwise."""
    target = parse_webhook_url(url)
    port = target.effective_port
    if not any(_entry_allows(entry, target.scheme, target.host, port) for entry in _allowlist()):
        raise WebhookRefused(f"The webhook host {target.host} {_ALLOWLIST_MISS}.")
    return target


def _address_allowed(target: WebhookTarget, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A resolved address is fine if it is public, or itself an allowlisted address:
    an allowed name must not lead to an internal address nobody allowed."""
    if address.is_global:
        return True
    host = str(address) if address.version == 4 else f"[{address.compressed}]"
    return any(_entry_allows(entry, target.scheme, host, target.effective_port) for entry in _allowlist())


def resolve_webhook_address(target: WebhookTarget, *, resolver: Resolver = socket.getaddrinfo) -> str:
    """The one address the request will go to, after checking every address the host has."""
    literal = target.ip_literal
    if literal is not None:
        return str(literal)  # the allowlist named this very address
    try:
        infos = resolver(target.host, target.effective_port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise WebhookUnreachable(f"Could not resolve {target.host}: {error}") from error
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise WebhookUnreachable(f"{target.host} has no address.")
    refused = [str(address) for address in addresses if not _address_allowed(target, address)]
    if refused:
        raise WebhookRefused(
            f"The webhook host {target.host} resolves to {', '.join(refused)}, which {_ALLOWLIST_MISS}."
        )
    return str(addresses[0])


def post_json(url: str, payload: Any, *, timeout: float, resolver: Resolver = socket.getaddrinfo) -> WebhookResponse:
    """POST `payload` as JSON to `url`, checked and pinned to the checked address.
    Raises WebhookRefused (never worth a retry) or WebhookUnreachable."""
    target = check_webhook_url(url)
    address = resolve_webhook_address(target, resolver=resolver)
    body = json.dumps(payload).encode()
    headers = {"Host": target.host_header, "Content-Type": "application/json; charset=UTF-8"}
    try:
        with _pool(target, address, timeout) as pool:
            response = pool.urlopen(
                "POST",
                target.request_uri,
                body=body,
                headers=headers,
                redirect=False,  # a redirect could lead outside the allowlist
                retries=False,
                assert_same_host=False,
            )
            return WebhookResponse(status=response.status, text=response.data.decode("utf-8", "replace"))
    except HTTPError as error:
        raise WebhookUnreachable(f"{type(error).__name__}: {error}") from error


def _pool(target: WebhookTarget, address: str, timeout: float) -> urllib3.HTTPConnectionPool:
    common: dict[str, Any] = {
        "port": target.effective_port,
        "timeout": urllib3.Timeout(timeout),
        "maxsize": 1,
        "retries": False,
    }
    if target.scheme == "http":
        return urllib3.HTTPConnectionPool(address, **common)
    # TLS to the pinned address, but SNI and certificate checked for the original name.
    name = target.host.strip("[]")
    return urllib3.HTTPSConnectionPool(
        address,
        **common,
        cert_reqs="CERT_REQUIRED",
        ca_certs=certifi.where(),
        server_hostname=None if target.ip_literal else name,
        assert_hostname=name,
    )
