"""The node's configuration file: one pydantic model, loaded from YAML.

A node reads exactly one file (``chatnet-node --config FILE``) or builds the
same model from command-line flags. The operator and the local runtime write
this file; they import these models and nothing else from the node.
Sections with their own module: ``limits`` (flood limits, the throttle),
``links`` (portals); ``base`` holds what every section shares.

Keys are camelCase in YAML (as in Kubernetes manifests); snake_case names work
too. Unknown keys are errors, so a typo never silently becomes a default.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from .base import (
    ONE_HEX_WIDTH,
    SERVER_NAME_MAX,
    ConfigError,
    Port,
    Section,
    ids_clash,
    ids_clash_reason,
    valid_server_name,
)
from .limits import Limits, Throttle
from .links import LinkPeer, Links

__all__ = [
    "SERVER_NAME_MAX",
    "Accounts",
    "Admin",
    "Cloaks",
    "ConfigError",
    "History",
    "Limits",
    "LinkPeer",
    "Links",
    "Listener",
    "Listeners",
    "NodeConfig",
    "Operator",
    "Throttle",
    "TlsListener",
    "dump_config",
    "inline_secrets",
    "load_config",
    "parse_config",
    "valid_server_name",
]


class Listener(Section):
    """An address to listen on. Port 0 picks a free port (tests, local runs)."""

    host: str = "127.0.0.1"
    port: Port
    proxy_protocol: bool = Field(
        default=False,
        description="every connection starts with a PROXY v1/v2 header from a trustedProxies peer",
    )


class TlsListener(Listener):
    """A TLS listener with its certificate and key files (PEM), or a certificate made at start.

    ``selfSigned: true`` suits link listeners (peers authenticate with the
    shared secret; TLS keeps the traffic private); clients expect a real one.
    """

    cert_file: Path | None = None
    key_file: Path | None = None
    self_signed: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> TlsListener:
        files = (self.cert_file is not None, self.key_file is not None)
        if self.self_signed and any(files):
            raise ValueError("give certFile and keyFile, or selfSigned: true, not both")
        if not self.self_signed and not all(files):
            raise ValueError("a TLS listener needs certFile and keyFile (or selfSigned: true)")
        return self


class Listeners(Section):
    """Every listener of one node; all run at once."""

    irc: list[Listener] = []
    irc_tls: list[TlsListener] = []
    websocket: list[Listener] = []
    websocket_tls: list[TlsListener] = []
    #: Plain HTTP for /healthz, /readyz, /status and /metrics (see transport/admin.py).
    #: When set, the WebSocket ports answer 404 for those paths.
    admin: list[Listener] = []
    handoff: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._-]{1,100}$",
        description="abstract Unix socket name a local front door hands clients over",
    )


class Operator(Section):
    """An IRC operator: OPER NAME PASSWORD. The password may be plain or sha256:HEX.

    Give it inline (``password``) or as a file holding it (``passwordFile``,
    a mounted Kubernetes Secret on a cluster); exactly one of the two.
    """

    name: str
    password: str | None = None
    password_file: Path | None = Field(default=None, description="a file holding the password")
    hosts: list[str] = Field(default_factory=lambda: ["*"])

    @model_validator(mode="after")
    def _one_password(self) -> Operator:
        if (self.password is None) == (self.password_file is None):
            raise ValueError(f"operator {self.name}: give exactly one of password, passwordFile")
        return self


class Accounts(Section):
    """User accounts (NickServ, SASL, draft/account-registration) and owned channels.

    Accounts and channel registrations are network-wide: every server keeps
    them, persisted beside its history, and links carry them.
    """

    enabled: bool = True
    registration: bool = Field(default=True, description="may users register accounts")
    email_required: bool = Field(default=False, description="REGISTER needs an e-mail address")
    nick_enforcement: Literal["rename", "warn"] = Field(
        default="rename",
        description="a registered nick used without logging in: renamed after the grace "
        "period, or only warned",
    )
    nick_grace_seconds: float = Field(default=30.0, ge=0, le=3600)
    guest_prefix: str = Field(default="Guest", pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,15}$")
    max_certfps: int = Field(default=5, ge=0, le=50, description="client certificates per account")


class Cloaks(Section):
    """Hide users' addresses: a keyed hash (HMAC-SHA256) of the address under a secret.

    Every server of a network needs the same secret, so a user's cloak (and
    a ban on it) is the same everywhere. Without one a random secret is
    made at start (cloaks then change when the server restarts).
    """

    enabled: bool = True
    secret: str | None = Field(default=None, description="the network's cloak secret")
    secret_file: Path | None = Field(default=None, description="a file holding the secret")
    suffix: str = Field(
        default="chatnet",
        pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,62})$",
        description="the last label of every cloak",
    )
    account_cloaks: bool = Field(default=True, description="show logged-in users as account/NAME")


class History(Section):
    """Where channel history is kept.

    ``store: sqlite`` (the default) keeps it in ``path`` on this server
    (``path: null``: in memory only). ``store: postgres`` keeps it in one
    PostgreSQL database the whole network shares; the DSN comes from ``dsn``,
    else from the file ``dsnFile``, else from the environment variable
    ``CHATNET_HISTORY_DSN`` (where a Kubernetes Secret puts it, so that no
    password ever sits in a ConfigMap).
    """

    store: Literal["sqlite", "postgres"] = "sqlite"
    path: Path | None = Field(default=None, description="SQLite file (store: sqlite)")
    dsn: str | None = Field(
        default=None, description="PostgreSQL connection string (store: postgres)"
    )
    dsn_file: Path | None = Field(default=None, description="a file holding the DSN")
    retention_seconds: float = Field(default=86400.0, gt=0)
    max_messages_per_target: int = Field(default=10000, ge=1)

    @model_validator(mode="after")
    def _one_store(self) -> History:
        if self.store == "sqlite" and (self.dsn is not None or self.dsn_file is not None):
            raise ValueError("dsn and dsnFile are for store: postgres")
        if self.store == "postgres" and self.path is not None:
            raise ValueError("path is for store: sqlite (postgres is shared, not a file)")
        if self.dsn is not None and self.dsn_file is not None:
            raise ValueError("give dsn or dsnFile, not both")
        return self

    def read_dsn(self, environ: Mapping[str, str]) -> str:
        """The PostgreSQL DSN: ``dsn``, the contents of ``dsnFile``, or the environment.

        Raises:
            ConfigError: when there is none, or the file cannot be read.
        """
        if self.dsn:
            return self.dsn
        if self.dsn_file is not None:
            try:
                text = self.dsn_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"history.dsnFile {self.dsn_file}: cannot read: {exc.strerror}"
                ) from exc
            if not text:
                raise ConfigError(f"history.dsnFile {self.dsn_file} is empty")
            return text
        value = environ.get("CHATNET_HISTORY_DSN", "").strip()
        if not value:
            raise ConfigError(
                "history.store is postgres but there is no DSN: set history.dsn, "
                "history.dsnFile or the environment variable CHATNET_HISTORY_DSN "
                "(e.g. postgresql://chatnet:PASSWORD@db.example:5432/chatnet)"
            )
        return value


class Admin(Section):
    """What ADMIN answers."""

    location: str = "chatnet"
    description: str = "a chatnet server"
    email: str = "admin@example.invalid"


class NodeConfig(Section):
    """The complete configuration of one chat server."""

    name: str = Field(description="server name, unique in the network")
    server_id: int = Field(default=1, ge=0, le=4095)
    network: str = "chatnet"
    description: str = Field(default="chatnet server", description="one line (LINKS, MAP)")
    password: str | None = Field(default=None, description="connection password (PASS)")
    listeners: Listeners = Listeners()
    limits: Limits = Limits()
    motd: str = "Welcome to chatnet."
    operators: list[Operator] = []
    accounts: Accounts = Accounts()
    cloaks: Cloaks = Cloaks()
    history: History = History()
    admin: Admin = Admin()
    drain_seconds: float = Field(default=10.0, ge=0)
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        default="auto",
        description="asyncio event loop: auto (uvloop if installed), uvloop or asyncio; "
        "read at start",
    )
    links: Links = Links()
    trusted_proxies: list[str] = Field(
        default=[],
        description="CIDRs of the proxies whose PROXY or Forwarded/X-Forwarded-For headers "
        "are believed",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        return [str(_network(item)) for item in value]

    @model_validator(mode="after")
    def _proxied_listeners_need_proxies(self) -> NodeConfig:
        listeners = self.listeners
        for kind, specs in (
            ("irc", listeners.irc),
            ("ircTls", listeners.irc_tls),
            ("websocket", listeners.websocket),
            ("websocketTls", listeners.websocket_tls),
        ):
            for i, spec in enumerate(specs):
                if spec.proxy_protocol and not self.trusted_proxies:
                    raise ValueError(
                        f"listeners.{kind}[{i}] has proxyProtocol: true but trustedProxies "
                        "is empty: list the addresses of the proxies allowed to send PROXY "
                        "headers (e.g. trustedProxies: [10.0.0.0/8])"
                    )
        return self

    @model_validator(mode="after")
    def _server_ids_apart(self) -> NodeConfig:
        # The servers this one dials are in its network: none may have an ID
        # that clashes with its own or another's (``ids_clash``).
        servers = {self.name: self.server_id}
        for i, peer in enumerate(self.links.dial):
            for name, sid in servers.items():
                if name == peer.name and sid == peer.server_id:
                    continue  # one server at two addresses
                if ids_clash(peer.server_id, sid):
                    reason = ids_clash_reason(peer.server_id, peer.name, sid, name)
                    hint = "" if peer.server_id == sid else f"; {ONE_HEX_WIDTH}"
                    raise ValueError(f"links.dial[{i}]: {reason}{hint}")
            servers.setdefault(peer.name, peer.server_id)
        return self

    @field_validator("description")
    @classmethod
    def _one_line(cls, value: str) -> str:
        # LINKS and MAP show it inside one IRC line: a YAML block's line
        # breaks (and a NUL) become spaces.
        return " ".join(value.replace("\x00", " ").split())

    @field_validator("name")
    @classmethod
    def _server_name(cls, value: str) -> str:
        if not valid_server_name(value):
            raise ValueError(
                "server name must be a host name of at most 63 characters "
                "(e.g. irc.example.org or east): labels of letters, digits and '-', "
                "separated by dots, none starting or ending with '-'"
            )
        return value


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """One trustedProxies entry: a CIDR or a single address, with a message that helps."""
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise ValueError(
                f"trustedProxies: {text!r} is not an IP network "
                "(e.g. 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32)"
            ) from None
        raise ValueError(
            f"trustedProxies: {text!r} has host bits set; did you mean {loose}?"
        ) from None


def _read_secret_file(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read: {exc.strerror}") from exc
    if not text:
        raise ConfigError(f"{what} {path} is empty")
    return text


def inline_secrets(config: NodeConfig, environ: Mapping[str, str]) -> NodeConfig:
    """The configuration with every secret file read into its field.

    Operators' ``passwordFile`` become ``password``; the cloak secret comes
    from ``cloaks.secret``, ``cloaks.secretFile`` or the environment
    variable ``CHATNET_CLOAK_SECRET``. The chat core reads only the inline
    fields, so it never touches a file.

    Raises:
        ConfigError: naming the file that cannot be read or is empty.
    """
    operators = [
        op
        if op.password_file is None
        else op.model_copy(
            update={
                "password": _read_secret_file(op.password_file, f"operator {op.name} passwordFile"),
                "password_file": None,
            }
        )
        for op in config.operators
    ]
    cloaks = config.cloaks
    if cloaks.secret is None:
        secret = None
        if cloaks.secret_file is not None:
            secret = _read_secret_file(cloaks.secret_file, "cloaks.secretFile")
        elif environ.get("CHATNET_CLOAK_SECRET", "").strip():
            secret = environ["CHATNET_CLOAK_SECRET"].strip()
        if secret is not None:
            cloaks = cloaks.model_copy(update={"secret": secret, "secret_file": None})
    return config.model_copy(update={"operators": operators, "cloaks": cloaks})


def load_config(path: Path) -> NodeConfig:
    """Read and validate a YAML configuration file.

    Raises:
        ConfigError: with a message that names the file and every wrong field.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read: not UTF-8 text (byte {exc.start})") from exc
    try:
        data: Any = yaml.safe_load(text)
        tree = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return parse_config(data, source=str(path), tree=tree)


def parse_config(
    data: dict[str, Any], source: str = "<config>", tree: yaml.Node | None = None
) -> NodeConfig:
    """Validate an already-parsed mapping into a NodeConfig.

    With the composed YAML ``tree``, every problem names its line.
    """
    try:
        return NodeConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_line_of(tree, err['loc'])}"
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{source}: invalid configuration: {problems}") from exc


def _line_of(tree: yaml.Node | None, loc: tuple[int | str, ...]) -> str:
    """'line N: ' for the deepest YAML node on the error's path ('' if unknown)."""
    node = tree
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == part), None)
            key = next((k for k, _ in node.value if k.value == part), None)
            if key is not None:
                line = key.start_mark.line + 1
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
            if node is not None:
                line = node.start_mark.line + 1
        else:
            break
    return f"line {line}: " if line is not None else ""


def dump_config(config: NodeConfig) -> str:
    """Serialise a configuration as YAML with camelCase keys (what the operator writes)."""
    data = config.model_dump(mode="json", by_alias=True, exclude_defaults=False)
    return yaml.safe_dump(data, sort_keys=False)
