"""Why a link went down, as one of a few words a metric label can carry.

Sessions give free-text reasons ("Ping timeout: 31 seconds", "peer: SQUIT:
maintenance", "connection lost: no close frame received or sent"); the
``reason`` label of ``chatnet_link_drops_total`` is the kind of reason
instead, so each peer has a handful of series, not one per wording.
"""

from __future__ import annotations

__all__ = ["DROP_REASONS", "drop_reason"]

#: Every value ``drop_reason`` returns.
DROP_REASONS = ("ping_timeout", "peer_closed", "squit", "shutdown", "config", "connection", "other")

#: Reason prefixes, lower-cased, and their kind; the first match wins.
_PREFIXES = (
    ("ping timeout", "ping_timeout"),
    ("peer:", "peer_closed"),  # the peer sent an error frame (its SQUIT, shutdown, a refusal)
    ("squit", "squit"),  # an operator here closed it
    ("server shutting down", "shutdown"),
    ("portal removed", "config"),  # a reload removed the portal
    ("connection", "connection"),  # the socket closed or failed under the link
    ("read error", "connection"),
)


def drop_reason(reason: str) -> str:
    """The kind of a link's closing reason: one of ``DROP_REASONS``."""
    text = reason.lower()
    for prefix, kind in _PREFIXES:
        if text.startswith(prefix):
            return kind
    return "other"
