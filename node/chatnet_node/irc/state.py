"""What one server knows, and the parts every change goes through.

``ChatState`` is the data of the chat: the clients connected here, every
user and channel of the network as this server sees them, and WHOWAS. It
holds the parts each change uses (each a module of its own):

* ``output``: queued, once-serialised delivery to clients (``output``);
* ``replication``: history writes, the recent window and held
  acknowledgements (``replication``);
* ``flood``: token buckets and held-back lines (``flood``);
* ``throttle``: connections per address block, network-wide (``throttle``);
* ``ids``: msgids, uids, event ids and ``time`` stamps (``ids``);
* ``disruptions``: the network's recent disruptions, how far back a late
  message may be stamped (``disruptions``);
* ``network``: the link layer, when the server is linked (``network``).

Changes to the state are made by ``transitions`` (one function per change);
``ChatCore`` (``core``) adds the connection lifecycle and command dispatch.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from ..config import NodeConfig
from ..history.contract import HistoryBackend
from .accounts import Account, ChannelRecord, Logins
from .acks import AckBook
from .disruptions import Disruptions
from .events import Event
from .flood import FloodControl
from .ids import Ids
from .klines import NetworkBan
from .message import Message
from .model import Channel, Client
from .monitor import Monitors
from .names import casefold
from .network import NetworkHooks
from .output import Output
from .readmarkers import ReadMarkers
from .registry import Registry
from .replication import Replication
from .servertime import format_time
from .stats import CoreStats
from .throttle import ConnectionThrottle
from .wire import encode


@dataclass(frozen=True, slots=True)
class WhowasEntry:
    """What WHOWAS remembers of a nick that left."""

    nick: str
    user: str
    host: str
    realname: str
    server: str
    at: float


class ChatState:
    """One server's view of the network, and the parts that change it."""

    def __init__(
        self,
        config: NodeConfig,
        history: HistoryBackend,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.history = history
        self.clock = clock
        self.started = clock()
        self.stats = CoreStats()
        self.ids = Ids(config.server_id, clock)
        # The link layer sets how long they last (``links.manager``).
        self.disruptions = Disruptions(settle=30.0, keep=config.links.sync_window)
        self.acks = AckBook(clock)
        self.output = Output(config.name, self.stats, self.acks, self.ids)
        self.replication = Replication(
            config.name, config.links, history, self.output, self.acks, self.ids, clock
        )
        self.flood = FloodControl(config.limits)
        self.throttle = ConnectionThrottle(config.limits.throttle)
        self.monitors = Monitors(config.limits.max_monitor)
        self.read_markers = ReadMarkers()
        self.accounts: Registry[Account] = Registry()
        self.channel_records: Registry[ChannelRecord] = Registry()
        self.klines: Registry[NetworkBan] = Registry()
        #: Local clients logged in, with when their account was registered
        #: (a login outlives neither a drop nor a lost netsplit race).
        self.logins = Logins()
        #: Local clients holding a registered nick they must log in for.
        self.nick_deadlines: dict[Client, None] = {}
        #: Wrong passwords per local connection (too many and it is closed).
        self.login_failures: Counter[Client] = Counter()
        self.clients: dict[Client, None] = {}  # connected here, registered or not
        self.users: dict[str, Client] = {}  # every user of the network, by uid
        self.nicks: dict[str, Client] = {}  # every user of the network, by folded nick
        self.channels: dict[str, Channel] = {}  # by folded name
        self.whowas: deque[WhowasEntry] = deque(maxlen=2000)
        self.per_address: Counter[str] = Counter()
        #: Users of each other server known here, by uid (``links.quotas``, ``links.restarts``).
        self.users_by_server: dict[str, dict[str, Client]] = {}
        self.remote_users = 0  # users of other servers known here, all together
        self.local_users = 0  # registered clients connected here
        self._network: NetworkHooks | None = None
        # True while a change that came over a link is applied: the link
        # layer forwards the original event, so ``emit`` stays silent.
        self.relaying = False
        # The calls every command makes, one attribute lookup away.
        self.send = self.output.send
        self.reply = self.output.reply
        self.notice = self.output.notice
        self.fail = self.output.fail
        self.send_batch = self.output.send_batch
        self.deliver = self.output.deliver

    @property
    def name(self) -> str:
        """This server's name."""
        return self.config.name

    @property
    def network(self) -> NetworkHooks | None:
        """The link layer, once the server is linked into a network."""
        return self._network

    @network.setter
    def network(self, hooks: NetworkHooks | None) -> None:
        self._network = hooks
        self.replication.linked = hooks is not None

    def emit(self, event: Event) -> None:
        """Tell the rest of the network about a change made here.

        Fills in the event's origin (this server) and a fresh event id. A
        no-op on a server with no links, and while a change that came over
        a link is being applied (``relaying``).
        """
        network = self._network
        if network is None or self.relaying:
            return
        event.o = self.config.name
        event.id = self.ids.event_id()
        network.local_event(event)

    def stamp(self) -> dict[str, str]:
        """Fresh ``time`` and ``msgid`` tags for a message this server originates."""
        return self.ids.stamp()

    def now_tag(self) -> dict[str, str]:
        """A ``time`` tag for a line no history keeps (a QUIT, a NICK): clients
        with server-time show when it happened, not when they read it."""
        return {"time": format_time(self.clock())}

    def remote_user_arrived(self, user: Client) -> None:
        """``user`` of another server is known here now."""
        theirs = self.users_by_server.setdefault(user.server, {})
        if user.uid not in theirs:
            self.remote_users += 1
        theirs[user.uid] = user

    def remote_user_left(self, user: Client) -> None:
        """``user`` of another server is gone from here (no empty entry kept)."""
        theirs = self.users_by_server.get(user.server)
        if theirs is None or theirs.pop(user.uid, None) is None:
            return
        self.remote_users -= 1
        if not theirs:
            del self.users_by_server[user.server]

    def users_of(self, server: str) -> int:
        """How many users of ``server`` (another) are known here."""
        return len(self.users_by_server.get(server, ()))

    def count_users(self) -> None:
        """Keep LUSERS' peaks: most users here and on the network at once."""
        stats = self.stats
        stats.max_local_users = max(stats.max_local_users, self.local_users)
        stats.max_global_users = max(stats.max_global_users, len(self.users))

    def common_peers(self, client: Client) -> dict[Client, None]:
        """Every client sharing a channel with ``client`` (not ``client`` itself)."""
        peers: dict[Client, None] = {}
        for channel in client.channels.values():
            peers.update(dict.fromkeys(channel.members))
        peers.pop(client, None)
        return peers

    def leave_channel(self, client: Client, channel: Channel) -> None:
        """Remove a member; a channel with no members left ceases to exist."""
        channel.remove(client)
        client.channels.pop(casefold(channel.name), None)
        if not channel.members:
            self.channels.pop(casefold(channel.name), None)

    def hang_up(self, client: Client, closing: Message) -> None:
        """Send a last line (``ERROR``) to a local client and close its connection."""
        if client.replies is not None:
            client.replies.append(closing)  # ``finish`` sends it last, then closes
        else:
            self.output.queue(client, encode(closing, client.key))
            client.hangup = True

    def forget_connection(self, client: Client) -> None:
        """A local client is gone: drop its connection's bookkeeping."""
        self.clients.pop(client, None)
        self.logins.remove(client)
        self.nick_deadlines.pop(client, None)
        self.login_failures.pop(client, None)
        self.flood.forget(client)
        self.throttle.closed(client.block, client.registered)
        self.per_address[client.address] -= 1
        if self.per_address[client.address] <= 0:
            del self.per_address[client.address]
