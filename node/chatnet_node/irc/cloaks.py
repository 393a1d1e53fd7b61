"""Cloaks: the host other users see instead of a client's IP address.

A cloak is derived from the address with HMAC-SHA256 under the network's
secret (``cloaks.secret``; every server of a network shares it, so a user
has the same cloak everywhere and a ban on it holds everywhere). Without
the secret nobody can go back from a cloak to the address, or try
addresses to find one.

The cloak keeps the address's network structure, as InspIRCd's cloak
module does, so operators can still ban a whole subnet:

* IPv4 ``a.b.c.d`` → ``<full>.<a.b.c/24>.<a.b/16>.<suffix>``; ban a /24
  with ``*!*@*.<x>.<y>.<suffix>``, a /16 with ``*!*@*.<y>.<suffix>``;
* IPv6 → ``<full>.<the /64>.<the /48>.<suffix>``;
* anything else (a Unix socket, a name) → ``<hash>.<suffix>``.

Each label is 8 characters of base32 (40 bits of the HMAC). A logged-in
user may be shown as ``account/NAME`` instead (``cloaks.accountCloaks``).
IRC operators still see the real address (WHOIS 338/378, WHOX ``i``), and
bans match the real address too. Plain functions, no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress

from ..config import Cloaks

LABEL_BYTES = 5  # 8 base32 characters


def _label(secret: str, kind: str, value: str) -> str:
    digest = hmac.new(secret.encode(), f"{kind}:{value}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:LABEL_BYTES]).decode().lower()


def cloak(settings: Cloaks, address: str) -> str:
    """The host shown for a client connecting from ``address`` (itself when cloaks are off)."""
    if not settings.enabled or not settings.secret:
        return address
    secret, suffix = settings.secret, settings.suffix
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"{_label(secret, 'host', address.lower())}.{suffix}"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    nets = (32, 24, 16) if isinstance(ip, ipaddress.IPv4Address) else (128, 64, 48)
    labels = [
        _label(
            secret, f"v{ip.version}/{bits}", str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))
        )
        for bits in nets
    ]
    return ".".join([*labels, suffix])


def account_cloak(settings: Cloaks, account: str) -> str | None:
    """The host shown for a user logged in to ``account``; None when not used."""
    if not settings.enabled or not settings.account_cloaks:
        return None
    return f"account/{account}"
