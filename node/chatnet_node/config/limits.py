"""Connection and flood limits of one node, and the network-wide connection throttle."""

from __future__ import annotations

from pydantic import Field, field_validator

from .base import Section, cidr

__all__ = ["Limits", "Throttle"]


class Throttle(Section):
    """The connection throttle: connections per address block, counted network-wide.

    An address block is the client's IPv4 address (``ipv4Prefix: 32``) or
    its IPv6 /64 (``ipv6Prefix: 64``): one household or one attacker. Every
    server shares its counts with the others over the links (a small
    periodic message, ``shareInterval``), so the limits hold for the whole
    network, not per server. Addresses in ``exempt`` are never counted
    (loopback by default: local runs and ``chatnet up``'s front door).
    """

    enabled: bool = True
    ipv4_prefix: int = Field(default=32, ge=8, le=32, description="IPv4 block width (bits)")
    ipv6_prefix: int = Field(default=64, ge=16, le=128, description="IPv6 block width (bits)")
    max_connections: int = Field(
        default=20, ge=1, description="connections open at once per block, network-wide"
    )
    max_attempts: int = Field(
        default=30, ge=1, description="new connections per block per window, network-wide"
    )
    window_seconds: float = Field(default=60.0, gt=0, le=3600)
    max_unregistered: int = Field(
        default=10, ge=1, description="connections per block still registering, per server"
    )
    share_interval: float = Field(
        default=1.0, gt=0, le=60, description="seconds between count messages to other servers"
    )
    exempt: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="address blocks never throttled",
    )

    @field_validator("exempt")
    @classmethod
    def _blocks(cls, value: list[str]) -> list[str]:
        return [cidr(v) for v in value]


class Limits(Section):
    """Connection and flood limits. Reloaded on SIGHUP without dropping anyone."""

    max_clients: int = Field(default=1000, ge=0, le=1_000_000)
    max_per_address: int = Field(default=0, ge=0, description="0 means no limit")
    registration_timeout: float = Field(default=30.0, gt=0)
    ping_interval: float = Field(default=90.0, gt=0)
    ping_timeout: float = Field(default=120.0, gt=0)
    flood_burst: int = Field(default=20, ge=1, description="lines a client may send at once")
    flood_rate: float = Field(default=4.0, gt=0, description="lines per second, sustained")
    flood_max_queued: int = Field(
        default=40, ge=0, description="delayed lines before 'Excess Flood'"
    )
    sendq_bytes: int = Field(default=1 << 20, ge=4096, description="bytes queued per client")
    socket_send_buffer: int = Field(
        default=0,
        ge=0,
        description="the kernel's send buffer per client socket (SO_SNDBUF; the kernel "
        "doubles it), 0: the kernel's autotuning (up to 4 MiB per socket on Linux)",
    )
    max_channels_per_client: int = Field(default=100, ge=1)
    history_limit: int = Field(default=100, ge=1, description="CHATHISTORY batch limit")
    max_monitor: int = Field(default=100, ge=0, description="nicks a client may MONITOR")
    throttle: Throttle = Throttle()
    handshake_timeout: float = Field(
        default=10.0, gt=0, le=300, description="seconds to finish a TLS or WebSocket handshake"
    )
    max_handshakes_per_address: int = Field(
        default=10, ge=1, description="unfinished handshakes per address block, per server"
    )
    join_part_burst: int = Field(default=100, ge=1, description="channels joined or left at once")
    join_part_per_minute: float = Field(default=60.0, gt=0)
    nick_change_burst: int = Field(default=5, ge=1, description="nick changes at once")
    nick_changes_per_minute: float = Field(default=6.0, gt=0)
    history_rows_burst: int = Field(
        default=20000, ge=1, description="CHATHISTORY rows a client may fetch at once"
    )
    history_rows_per_second: float = Field(default=1000.0, gt=0)
    query_lines_burst: int = Field(
        default=20000, ge=1, description="WHO and MONITOR reply lines a client may get at once"
    )
    query_lines_per_second: float = Field(default=1000.0, gt=0)
