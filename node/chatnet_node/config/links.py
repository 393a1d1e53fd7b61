"""How a node links into its network: the servers it dials, TLS, timeouts, flood limits."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from .base import Port, Section

__all__ = ["LinkPeer", "Links"]


class LinkPeer(Section):
    """A server to dial: its identity and where its WebSocket port listens."""

    name: str
    server_id: int = Field(ge=0, le=4095)
    host: str
    port: Port
    tls: bool = False
    external: bool = Field(
        default=False,
        description="a server outside the network's CA: its certificate is not checked "
        "against caFile (the link secret authenticates it)",
    )


class Links(Section):
    """How this server links into its network (portals)."""

    role: Literal["hub", "leaf", "control"] = "hub"
    auto_connect: bool = True
    tls: Literal["off", "optional", "required"] = "optional"
    ping_interval: float = Field(default=60.0, gt=0)
    ping_timeout: float = Field(default=120.0, gt=0)
    secret: str | None = Field(default=None, description="the shared link secret")
    secret_file: Path | None = Field(default=None, description="a file holding the secret")
    ca_file: Path | None = Field(
        default=None, description="CA bundle to verify peers' TLS certificates (wss:// dials)"
    )
    cert_file: Path | None = Field(
        default=None, description="certificate this server shows when it dials wss:// (PEM)"
    )
    key_file: Path | None = Field(default=None, description="the key of certFile (PEM)")
    require_peer_certificate: bool = Field(
        default=False,
        description="a server dialing in over TLS must show a certificate caFile trusts",
    )
    sign_adverts: bool = Field(
        default=False,
        description="sign this server's adverts with keyFile, and accept another server's "
        "advert only when signed by a certificate caFile trusts that names that server",
    )
    dial: list[LinkPeer] = Field(
        default=[], description="hubs dial every entry; a leaf dials the first reachable"
    )
    accept: list[str] = Field(default=[], description="server names allowed to link in")
    ack_timeout: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="seconds a sender waits for a message to be safe on a second server "
        "before it is told (FAIL ... ACK_TIMEOUT) that its fate is not known yet",
    )
    sync_window: float = Field(
        default=900.0,
        gt=0,
        description="seconds of channel messages two servers compare when a link comes up",
    )
    peer_rate: float = Field(
        default=20000.0,
        ge=0,
        description="link messages a second one peer may send (0: no limit); a peer "
        "that sends more than peerBurst beyond it is flooding and its link is dropped",
    )
    peer_burst: float = Field(
        default=200000.0,
        ge=1,
        description="link messages one peer may send at once (a burst of a large network)",
    )
    max_servers: int = Field(
        default=256,
        ge=1,
        le=4095,
        description="other servers this server reaches at once; an advert of one more is "
        "refused (adverts of servers out of reach: twice as many kept)",
    )
    max_users_per_server: int = Field(
        default=100_000,
        ge=1,
        description="users one other server may have here at once; its link is dropped "
        "for one more (the event refused where another server forwards it)",
    )
    max_remote_users: int = Field(
        default=1_000_000,
        ge=1,
        description="users of other servers this server holds at once, all of them "
        "together; an introduction of one more is refused (the link stays): what bounds "
        "made-up servers behind a peer when adverts are not signed",
    )
    max_channels_per_user: int | None = Field(
        default=None,
        ge=1,
        description="channels one user of another server may be in here (default: twice "
        "limits.maxChannelsPerClient); its server's link is dropped for one more (the event "
        "refused where another server forwards it)",
    )

    @model_validator(mode="after")
    def _pairs(self) -> Links:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("links.certFile and links.keyFile go together: give both or neither")
        if self.require_peer_certificate and self.ca_file is None:
            raise ValueError(
                "links.requirePeerCertificate needs links.caFile: the CA bundle that checks "
                "the certificates of servers dialing in"
            )
        if self.sign_adverts and (self.ca_file is None or self.cert_file is None):
            raise ValueError(
                "links.signAdverts needs links.caFile, links.certFile and links.keyFile: "
                "adverts are signed with this server's link certificate and checked against the CA"
            )
        return self

    def read_secret(self) -> str | None:
        """The secret, from ``secret`` or from ``secretFile``."""
        if self.secret is not None:
            return self.secret
        if self.secret_file is not None:
            return self.secret_file.read_text(encoding="utf-8").strip()
        return None
