"""Adverts and throttle counts as they travel between servers, signed where the network signs.

The topology (``links.topology``) keeps what an advert says; this keeps the
message itself. Another server's advert is passed on exactly as it came, so
its signature stays intact; this server's own is signed when
``links.signAdverts`` is on (``signatures``). Before the manager takes an
advert or throttle counts, ``advert_problem`` and ``counts_problem`` say why
not (None: take it). Counts carry no certificate: they are checked with the
certificate of their server's latest advert.

Pure but for the signing key and CA files that ``AdvertSignatures`` reads.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable

from . import protocol as lp
from .signatures import SIGNING_ERRORS, AdvertSignatures, counts_payload

log = logging.getLogger("chatnet.links")


class SignedAdverts:
    """Each server's latest advert, as it came; this server's, signed."""

    def __init__(self, me: str) -> None:
        self.me = me
        self.signatures: AdvertSignatures | None = None
        self.received: dict[str, lp.Advert] = {}

    def outgoing(self, message: lp.Advert) -> lp.Advert:
        """``message`` as it goes out: another's as it came (if the same), ours signed."""
        received = self.received.get(message.server)
        if received is not None and received.seq == message.seq:
            return received
        if self.signatures is None or message.server != self.me:
            return message
        try:
            return self.signatures.sign(message)
        except SIGNING_ERRORS as exc:
            log.error("links.signAdverts: could not sign this server's advert: %s", exc)
            return message

    def advert_problem(self, message: lp.Advert, now: datetime.datetime) -> str | None:
        """Why ``message`` is not its own server's (None: it is, or nothing is signed here)."""
        if self.signatures is None:
            return None
        return self.signatures.problem(message, now)

    def learnt(self, message: lp.Advert) -> None:
        """``message`` is now what the topology holds for its server."""
        self.received[message.server] = message

    def forget(self, servers: Iterable[str]) -> None:
        """These servers left the network: their adverts go with them."""
        for server in servers:
            self.received.pop(server, None)

    def sign_counts(self, counts: lp.Counts) -> lp.Counts:
        """This server's throttle counts, signed where adverts are."""
        if self.signatures is None:
            return counts
        try:
            _, sig = self.signatures.sign_bytes(counts_payload(counts))
        except SIGNING_ERRORS as exc:
            log.error("links.signAdverts: could not sign the throttle counts: %s", exc)
            return counts
        return counts.model_copy(update={"sig": sig})

    def counts_problem(self, message: lp.Counts, now: datetime.datetime) -> str | None:
        """Why ``message`` is not signed by its server, with its latest advert's certificate."""
        if self.signatures is None:
            return None
        advert = self.received.get(message.server)
        cert = advert.cert if advert is not None else None
        return self.signatures.check(
            message.server, counts_payload(message), cert, message.sig, now
        )
