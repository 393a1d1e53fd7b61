"""The link handshake as a state machine: messages in, messages out.

Both sides run the same machine (see ``protocol`` for the exchange). It
never touches a socket: the session feeds it what arrives and sends what it
returns. ``failed`` holds the reason when the link must be refused.

With ``signatures`` (``links.signAdverts``) each side also signs the other's
challenge in its own name with its link certificate, and checks the other's
signature: the link secret proves a peer is of the network, the certificate
that it is the server it says it is (a server that knows the secret cannot
link in another server's name).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable

from . import protocol as lp
from .signatures import SIGNING_ERRORS, AdvertSignatures, auth_payload

log = logging.getLogger("chatnet.links")


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Handshake:
    """One side of one link's handshake."""

    def __init__(
        self,
        mine: lp.Hello,
        secret: str,
        *,
        known: dict[str, int],
        linked: set[str],
        allowed: set[str] | None,
        have_uplink: bool,
        signatures: AdvertSignatures | None = None,
        now: Callable[[], datetime.datetime] = _utc_now,
    ) -> None:
        self.mine = mine
        self.signatures = signatures
        self.now = now
        self.secret = secret
        self.known = known
        self.linked = linked
        self.allowed = allowed
        self.have_uplink = have_uplink
        self.theirs: lp.Hello | None = None
        self.authenticated = False
        self.peer_ready = False
        self.failed: str | None = None

    @property
    def done(self) -> bool:
        """Both sides proved the secret and accepted each other."""
        return self.authenticated and self.peer_ready and self.failed is None

    def start(self) -> list[lp.Hello]:
        """What to send first."""
        return [self.mine]

    def receive(self, message: lp.AnyMessage) -> list[lp.Hello | lp.Auth | lp.Ready | lp.Error]:
        """Take one message from the peer; returns what to send back."""
        if isinstance(message, lp.Error):
            self.failed = f"refused by peer: {message.reason}"
            return []
        if isinstance(message, lp.Hello):
            if self.theirs is not None:
                return self._fail("hello sent twice")
            why = lp.check_hello(
                self.mine,
                message,
                known=self.known,
                linked=self.linked,
                allowed=self.allowed,
                have_uplink=self.have_uplink,
            )
            if why is not None:
                return self._fail(why)
            self.theirs = message
            response = lp.answer(self.secret, message.challenge, self.mine.server)
            return [self._auth(response, message.challenge)]
        if isinstance(message, lp.Auth):
            if self.theirs is None:
                return self._fail("auth before hello")
            if not lp.verify(
                self.secret, self.mine.challenge, self.theirs.server, message.response
            ):
                return self._fail("authentication failed: wrong link secret")
            if self.signatures is not None:
                theirs = self.theirs
                data = auth_payload(theirs.network, self.mine.challenge, theirs.server, theirs.sid)
                now = self.now()
                why = self.signatures.check(theirs.server, data, message.cert, message.sig, now)
                if why is not None:
                    return self._fail(f"authentication failed: not {theirs.server}: {why}")
            self.authenticated = True
            return [lp.Ready()]
        if isinstance(message, lp.Ready):
            if not self.authenticated:
                return self._fail("ready before authentication")
            self.peer_ready = True
            return []
        return self._fail(f"unexpected {message.t!r} during the handshake")

    def _auth(self, response: str, challenge: str) -> lp.Auth:
        """Our answer to the peer's challenge, signed in our name where adverts are signed."""
        if self.signatures is None:
            return lp.Auth(response=response)
        mine = self.mine
        try:
            cert, sig = self.signatures.sign_bytes(
                auth_payload(mine.network, challenge, mine.server, mine.sid)
            )
        except SIGNING_ERRORS as exc:
            # The peer refuses the link and says why; the reason is ours to log.
            log.error("links.signAdverts: could not sign the link handshake: %s", exc)
            return lp.Auth(response=response)
        return lp.Auth(response=response, cert=cert, sig=sig)

    def _fail(self, reason: str) -> list[lp.Hello | lp.Auth | lp.Ready | lp.Error]:
        self.failed = reason
        return [lp.Error(reason=reason)]
