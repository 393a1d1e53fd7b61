"""SASL login (the ``sasl`` capability): AUTHENTICATE, before or after registration.

The mechanisms live in ``irc.sasl``; this command feeds them the client's
lines and answers with the IRCv3 numerics: 900 (logged in), 903 (success),
904 (failed), 905 (too long), 906 (aborted), 907 (already logged in) and
908 (the mechanisms offered).
"""

from __future__ import annotations

from .. import numerics as rpl
from .. import sasl
from ..accounts import Account
from ..core import ChatCore, Command
from ..message import Message
from ..model import Client
from ..transitions import accounts
from .passwords import check_password

#: The ``sasl`` capability's value (CAP LS 302).
CAP_VALUE = ",".join(sasl.MECHANISMS)


def authenticate(core: ChatCore, client: Client, msg: Message) -> None:
    if not core.config.accounts.enabled or not client.has("sasl"):
        core.reply(client, rpl.ERR_SASLFAIL, "SASL authentication failed")
        return
    piece = msg.params[0]
    exchange = client.sasl
    if piece == "*":
        client.sasl = None
        core.reply(client, rpl.ERR_SASLABORTED, "SASL authentication aborted")
        return
    if exchange is None:
        if client.account is not None:
            core.reply(client, rpl.ERR_SASLALREADY, "You have already authenticated using SASL")
            return
        mechanism = piece.upper()
        if mechanism not in sasl.MECHANISMS:
            core.reply(client, rpl.RPL_SASLMECHS, CAP_VALUE, "are available SASL mechanisms")
            core.reply(client, rpl.ERR_SASLFAIL, "SASL authentication failed")
            return
        client.sasl = sasl.Exchange(mechanism, certfp=client.certfp)
        core.send(client, Message("AUTHENTICATE", ["+"]))
        return
    response = exchange.take_piece(piece)
    if response is None:
        return  # more pieces to come
    if isinstance(response, str):
        client.sasl = None
        if response == "too long":
            core.reply(client, rpl.ERR_SASLTOOLONG, "SASL message too long")
        else:
            core.reply(client, rpl.ERR_SASLFAIL, "SASL authentication failed")
        return
    step = exchange.step(response, core.accounts.get, certfp_owner(core))
    if isinstance(step, sasl.Challenge):
        for part in sasl.encode_challenge(step.data):
            core.send(client, Message("AUTHENTICATE", [part]))
        return
    client.sasl = None
    if isinstance(step, sasl.Check):
        check_password(core, client, step.account, step.password, lambda a: _end(core, client, a))
    else:
        _end(core, client, step.account if isinstance(step, sasl.Success) else None)


def _end(core: ChatCore, client: Client, account: Account | None) -> None:
    """The exchange is over: logged in as ``account``, or failed."""
    if account is None:
        core.reply(client, rpl.ERR_SASLFAIL, "SASL authentication failed")
        accounts.login_failed(core, client)
        return
    accounts.login(core, client, account)
    core.reply(client, rpl.RPL_SASLSUCCESS, "SASL authentication successful")


def certfp_owner(core: ChatCore) -> sasl.Lookup:
    """Find the account that lists a certificate fingerprint (EXTERNAL with no name)."""

    def owner(certfp: str) -> Account | None:
        return next((a for a in core.accounts.effective() if certfp in a.certfps), None)

    return owner


COMMANDS = {
    "AUTHENTICATE": Command(authenticate, 1, before_registration=True),
}
