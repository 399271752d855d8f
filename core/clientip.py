"""The client's address, believing ``X-Forwarded-For`` only as far as our own proxies wrote it.

Rate limits, audit entries, the ``rip`` posted to Weibo with a share and the landing page's
visitor count all key on the client's address, so a header the client can write must not decide
it. Every proxy appends the address of the peer it received the request from to
``X-Forwarded-For``; the entries to the left of what our own proxies appended were written by
the client and may say anything.

The walk: start at ``REMOTE_ADDR`` (the TCP peer of the web server; the server never rewrites it,
see ``config.launcher.web_server_argv``). While the current hop is one of our proxies, step one
entry to the left in ``X-Forwarded-For``. The first hop that is not a proxy of ours is the
client. Which hops are ours is configured in one of two ways (settings from the environment):

- ``TRUSTED_PROXIES``: addresses or networks (``10.0.0.0/8``, ``2001:db8::/32``) of our proxies;
- ``TRUSTED_PROXY_COUNT``: how many proxies always stand in front of the site (a cloud load
  balancer with changing addresses); then the site's port must be reachable through them only.

Neither set (the default) trusts nobody: the answer is ``REMOTE_ADDR``, whatever the headers say.
An entry that is not an IP address stops the walk at the last valid hop, which is one of our
proxies: nothing the client wrote is believed, and nothing that is not an address is returned
(``GenericIPAddressField`` columns and Weibo's ``rip`` need one).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:  # the settings module imports this one: nothing of Django's request stack
    from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_address(value: str | None) -> IPAddress | None:
    """An address from a header entry or ``REMOTE_ADDR``; None for anything else.

    Accepts what proxies write: ``1.2.3.4``, ``1.2.3.4:5678``, ``2001:db8::1``,
    ``[2001:db8::1]:443``. An IPv4 address mapped into IPv6 (a dual-stack socket) is the IPv4
    address; an IPv6 zone (``%eth0``) is dropped.
    """
    text = (value or "").strip()
    if not text or len(text) > 64:
        return None
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def parse_networks(values: list[str] | tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """``TRUSTED_PROXIES`` as networks; ValueError names an entry that is not one.

    A network that takes in every address (``0.0.0.0/0``, ``::/0``, ``*``) is refused: trusting
    every hop would hand the choice of address back to the client.
    """
    networks = []
    for value in values:
        network = ipaddress.ip_network(value.strip(), strict=False)
        if network.prefixlen == 0:
            raise ValueError(f"{value} trusts every address")
        networks.append(network)
    return tuple(networks)


@lru_cache(maxsize=8)
def _networks(values: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return parse_networks(values)


def _trusted(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address in network for network in networks)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as text, or None when the server gave no valid ``REMOTE_ADDR``."""
    remote = parse_address(request.META.get("REMOTE_ADDR"))
    if remote is None:
        return None
    count = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    networks = _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ()) or ()))
    if count <= 0 and not networks:
        return str(remote)
    forwarded = [
        entry for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if entry.strip()
    ]
    hop, proxies_passed = remote, 0
    while True:
        if count > 0:
            trusted = proxies_passed < count
        else:
            trusted = _trusted(hop, networks)
        if not trusted or not forwarded:
            # An untrusted hop is the client; with every hop trusted, the farthest one we have.
            return str(hop)
        previous = parse_address(forwarded.pop())
        if previous is None:
            return str(hop)
        hop, proxies_passed = previous, proxies_passed + 1
