"""Transitions of accounts and registered channels: records, logins, owned nicks and channels.

See the package docstring for what a transition is. Records (``registry``)
change through ``save``: merged here, persisted in this server's store,
emitted to the network; a version from a link takes the same path through
``merge_record``. What a record change means for the users here is settled
by ``_settle_*`` the same way on every server (each logs out its own
users), so every server converges whatever order versions arrive in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, cast

from ...history.contract import StoredRecord
from .. import numerics as rpl
from ..accounts import Account, ChannelRecord
from ..cloaks import account_cloak, cloak
from ..events import RecordSet, UserAccount
from ..klines import NetworkBan, ban_for
from ..message import Message
from ..model import Channel, Client
from ..names import casefold
from ..registry import Record
from ..state import ChatState
from .channels import channel_modes
from .owned import access_status, masks
from .users import quit_, set_host

#: The services' names: where they speak from, and the ``uid`` their changes carry.
NICKSERV = "NickServ"
CHANSERV = "ChanServ"
SERVICES = (NICKSERV, CHANSERV)
SETTINGS_MODES = frozenset("imnts")

Kind = Literal["account", "channel", "kline"]
AnyRecord = Account | ChannelRecord | NetworkBan
#: The model of each kind of record (how a stored or linked version is read).
MODELS: dict[str, type[AnyRecord]] = {
    "account": Account,
    "channel": ChannelRecord,
    "kline": NetworkBan,
}


def registry_of(state: ChatState, kind: Kind) -> Any:
    """The registry keeping records of ``kind``."""
    if kind == "account":
        return state.accounts
    return state.channel_records if kind == "channel" else state.klines


def kind_of(record: AnyRecord) -> Kind:
    if isinstance(record, Account):
        return "account"
    return "channel" if isinstance(record, ChannelRecord) else "kline"


def service_prefix(state: ChatState, service: str) -> str:
    """The source of a service's messages: ``NickServ!NickServ@services.<network>``."""
    return f"{service}!{service}@services.{state.config.network}"


def service_notice(state: ChatState, client: Client, service: str, text: str) -> None:
    """A NOTICE from a service to a local client."""
    state.send(client, Message("NOTICE", [client.nick, text], service_prefix(state, service)))


# Records.


def save(state: ChatState, record: AnyRecord) -> bool:
    """A record changed here: keep it, store it, tell the network. False if not newer."""
    kind = kind_of(record)
    if not _merge(state, kind, record):
        return False
    state.emit(RecordSet(kind=kind, data=record.model_dump(mode="json")))
    _settle(state, kind, record.name)
    return True


def merge_record(state: ChatState, kind: Kind, data: dict[str, Any]) -> None:
    """A version from another server (a link event, a burst, or this server's store)."""
    record = MODELS[kind].model_validate(data)
    if _merge(state, kind, record):
        _settle(state, kind, record.name)


def load_records(state: ChatState, rows: list[tuple[str, str]]) -> int:
    """Take in the records this server stored before it restarted; how many.

    Then settle every name with more than one registration: a server that
    stopped between storing a winner from another side of a split and storing
    the tombstone of its own losing registration drops that loser now, as it
    would have (the tombstone reaches the others with the next burst).
    """
    contested: set[tuple[Kind, str]] = set()
    for kind, data in rows:
        if kind not in MODELS:
            continue
        known = cast(Kind, kind)
        record = MODELS[known].model_validate_json(data)
        registry = registry_of(state, known)
        registry.merge(record)
        if len(registry.versions(record.name)) > 1:
            contested.add((known, record.name))
    for kind, name in sorted(contested):
        _settle(state, kind, name)
    return len(rows)


def _merge(state: ChatState, kind: Kind, record: Record) -> bool:
    registry = registry_of(state, kind)
    if not registry.merge(record):
        return False
    state.history.save_record(
        kind,
        StoredRecord(
            name=record.folded,
            created=record.created,
            origin=record.origin,
            updated=record.updated,
            by=record.by,
            data=record.model_dump_json(),
        ),
    )
    return True


def _settle(state: ChatState, kind: Kind, name: str) -> None:
    """What a changed record means here: losers of a split dropped, users logged out.

    These are this server's own changes even when a link's event caused them
    (a healed netsplit's burst): the tombstone and the logouts are emitted,
    or the other servers would never learn them.
    """
    with _originating(state):
        _settle_here(state, kind, name)


@contextmanager
def _originating(state: ChatState) -> Iterator[None]:
    """Emit what this server changes of its own accord, even while applying a link's event."""
    relaying, state.relaying = state.relaying, False
    try:
        yield
    finally:
        state.relaying = relaying


def _settle_here(state: ChatState, kind: Kind, name: str) -> None:
    registry = registry_of(state, kind)
    winner = registry.get(name)
    for version in registry.versions(name):
        # Two registrations of one name met (a healed netsplit): the earlier
        # won on every server; the loser's own server drops it for good.
        if not version.dropped and version is not winner and version.origin == state.name:
            save(state, version.model_copy(update=new_version(state, version, dropped=True)))
    if kind == "kline":
        if winner is not None:
            enforce_kline(state, winner)
        return
    if kind != "account":
        return
    for client in state.logins.of(name):
        if winner is None or winner.identity != state.logins.identity(client):
            logout(state, client)
            service_notice(
                state,
                client,
                NICKSERV,
                f"You have been logged out: the account {name} was dropped "
                "or registered elsewhere first",
            )


def enforce_kline(state: ChatState, ban: NetworkBan) -> None:
    """Disconnect this server's users an active K-line matches (each server its own)."""
    now = state.clock()
    if not ban.active(now):
        return
    reason = f"K-Lined: {ban.reason or 'banned from this network'}"
    for user in list(state.users.values()):
        if not user.remote and ban_for([ban], user, now) is not None:
            quit_(state, user, reason)
            state.hang_up(user, Message("ERROR", [f"Closing Link: {user.host} ({reason})"]))


def new_version(state: ChatState, record: Record, **changes: Any) -> dict[str, Any]:
    """The fields of a newer version of ``record`` made here, with ``changes``."""
    return {**changes, "updated": max(state.clock(), record.updated + 1e-6), "by": state.name}


def created_here(state: ChatState, name: str) -> dict[str, Any]:
    """The identity and first version of a record registered here now."""
    now = state.clock()
    return {"name": name, "created": now, "origin": state.name, "updated": now, "by": state.name}


def register_account(
    state: ChatState, name: str, creds: dict[str, object], email: str | None
) -> Account:
    """Register the account ``name`` with hashed ``creds`` here (the caller checked it is free)."""
    account = Account(**created_here(state, name), email=email, **creds)
    save(state, account)
    return account


def drop(state: ChatState, record: Account | ChannelRecord) -> None:
    """Drop a record network-wide (a tombstone: it never comes back)."""
    save(state, record.model_copy(update=new_version(state, record, dropped=True)))


# Logins.


def login(state: ChatState, client: Client, account: Account) -> None:
    """``client`` is now logged in to ``account``: numerics, tags, owned nick, channel access."""
    state.logins.add(client, account)
    _show_host(state, client, account_cloak(state.config.cloaks, account.name))
    set_account(state, client, account.name)
    if not client.registered:
        # 900 now, though the nick may still change: clients wait for it.
        prefix = f"{client.nick}!{client.user or '*'}@{client.host or client.address}"
        name = account.name
        state.reply(client, rpl.RPL_LOGGEDIN, prefix, name, f"You are now logged in as {name}")
    if client.nick_deadline is not None and casefold(client.nick) == account.folded:
        client.nick_deadline = None
        state.nick_deadlines.pop(client, None)
    if client.registered:
        for channel in list(client.channels.values()):
            grant_access(state, client, channel)


#: Wrong passwords (SASL, IDENTIFY, GHOST, DROP) one connection may give before it is closed.
MAX_LOGIN_FAILURES = 5


def login_failed(state: ChatState, client: Client) -> bool:
    """Count a wrong password; True (and the connection is closing) when it was one too many."""
    state.login_failures[client] += 1
    state.stats.login_failures += 1
    if state.login_failures[client] < MAX_LOGIN_FAILURES:
        return False
    if not client.closed:
        quit_(state, client, "Too many failed login attempts")
        state.hang_up(client, Message("ERROR", ["Closing Link: too many failed login attempts"]))
    return True


def logout(state: ChatState, client: Client) -> None:
    """``client`` is no longer logged in."""
    state.logins.remove(client)
    set_account(state, client, None)
    _show_host(state, client, None)
    if client.registered:
        claim_nick(state, client)


def set_account(state: ChatState, user: Client, account: str | None) -> None:
    """Record a user's account here, tell its peers (account-notify) and the network."""
    user.account = account
    if not user.registered:
        return  # told in the user's introduction when it registers
    state.emit(UserAccount(uid=user.uid, account=account))
    if not user.remote:
        prefix = user.prefix
        if account is None:
            state.reply(user, rpl.RPL_LOGGEDOUT, prefix, "You are now logged out")
        else:
            state.reply(
                user, rpl.RPL_LOGGEDIN, prefix, account, f"You are now logged in as {account}"
            )
    note = Message("ACCOUNT", [account or "*"], user.prefix)
    audience = {p: None for p in state.common_peers(user) if p.has("account-notify")}
    audience.update(dict.fromkeys(state.monitors.extended(user, "account-notify")))
    audience.pop(user, None)
    state.deliver(note, audience)


def _show_host(state: ChatState, client: Client, account_host: str | None) -> None:
    """Show a logged-in user as ``account/NAME`` (when configured), or back as its cloak."""
    if account_host is None and state.config.cloaks.account_cloaks:
        account_host = cloak(state.config.cloaks, client.address)
    if account_host is None:
        return
    if client.registered:
        set_host(state, client, account_host)
    else:
        client.host = account_host  # shown from the welcome on


# Owned nicks.


def claim_nick(state: ChatState, client: Client) -> None:
    """If ``client`` holds a registered nick it is not logged in to, warn and set a deadline."""
    accounts = state.config.accounts
    owner = state.accounts.get(client.nick) if accounts.enabled else None
    if owner is None or (client.account is not None and casefold(client.account) == owner.folded):
        client.nick_deadline = None
        state.nick_deadlines.pop(client, None)
        return
    grace = accounts.nick_grace_seconds
    if accounts.nick_enforcement == "rename":
        client.nick_deadline = state.clock() + grace
        state.nick_deadlines[client] = None
        service_notice(
            state,
            client,
            NICKSERV,
            f"This nickname is registered. Log in (/msg NickServ IDENTIFY password, or SASL) "
            f"within {grace:g} seconds or your nick will be changed",
        )
    else:
        service_notice(
            state, client, NICKSERV, "This nickname is registered to someone else: please change it"
        )


def nicks_due(state: ChatState, now: float) -> list[Client]:
    """Local clients whose grace period to log in for their registered nick is over."""
    due = [
        c for c in state.nick_deadlines if c.nick_deadline is not None and c.nick_deadline <= now
    ]
    for client in due:
        client.nick_deadline = None
        del state.nick_deadlines[client]
    return [c for c in due if not c.closed and c.registered and _holds_anothers_nick(state, c)]


def _holds_anothers_nick(state: ChatState, client: Client) -> bool:
    """Is ``client``'s nick (still) registered to an account it is not logged in to?"""
    owner = state.accounts.get(client.nick)
    return owner is not None and (
        client.account is None or casefold(client.account) != owner.folded
    )


# Owned channels.


def grant_access(state: ChatState, client: Client, channel: Channel) -> None:
    """Give ``client`` what the channel's access list says, if it lacks it (ChanServ does)."""
    status = access_status(state.channel_records.get(channel.name), client)
    have = channel.members.get(client, "")
    if status and status not in have:
        channel_modes(
            state,
            channel,
            [("+", status, client.nick)],
            source=service_prefix(state, CHANSERV),
            by_uid=CHANSERV,
        )


def keep_settings(state: ChatState, channel: Channel) -> None:
    """A registered channel's topic, modes or lists changed here: keep them network-wide."""
    if state.relaying:
        return  # the origin keeps them, and its record version travels
    record = state.channel_records.get(channel.name)
    if record is None:
        return
    settings = {
        "modes": tuple(sorted(channel.flags & SETTINGS_MODES)),
        "key": channel.key,
        "limit": channel.limit,
        "topic": channel.topic,
        "topic_by": channel.topic_by,
        "topic_at": channel.topic_at,
        "bans": masks(channel.bans),
        "excepts": masks(channel.excepts),
        "invex": masks(channel.invex),
    }
    if all(getattr(record, k) == v for k, v in settings.items()):
        return
    save(state, record.model_copy(update=new_version(state, record, **settings)))
