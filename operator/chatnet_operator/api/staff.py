"""The people side of a ChatNetwork: ``spec.accounts``, ``spec.cloaks``, ``spec.operators``.

Accounts are the node's own ``accounts`` block as is; cloaks and IRC
operators reference Secrets (never a password or secret in the spec itself).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chatnet_node.config import Accounts as NodeAccounts
from chatnet_node.config import Cloaks as NodeCloaks
from chatnet_operator.api.fields import ApiModel, Name


def _node_pattern(model: type[Any], field: str) -> str:
    """The regular expression the node's model checks ``field`` with (one rule, one place)."""
    for meta in model.model_fields[field].metadata:
        pattern = getattr(meta, "pattern", None)
        if isinstance(pattern, str):
            return pattern
    raise LookupError(f"{model.__name__}.{field} has no pattern")


class SecretKeyRef(ApiModel):
    """One key of a Secret in the same namespace."""

    name: Name = Field(description="name of a Secret in the same namespace")
    key: str = Field(
        default="secret",
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="the key holding the value",
    )


class Accounts(NodeAccounts):
    """User accounts (NickServ, SASL, registration): the node's ``accounts`` block as is."""

    model_config = ApiModel.model_config


class Cloaks(ApiModel):
    """Hide users' addresses behind an HMAC of the address under a network-wide secret."""

    enabled: bool = True
    secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="the cloak secret shared by every server; when omitted the operator "
        "creates the Secret NETWORK-cloak (key 'secret') once and keeps it",
    )
    suffix: str = Field(
        default="chatnet",
        pattern=_node_pattern(NodeCloaks, "suffix"),
        description="the last label of every cloak",
    )
    account_cloaks: bool = Field(default=True, description="show logged-in users as account/NAME")


class IrcOperator(ApiModel):
    """An IRC operator: OPER NAME PASSWORD, the password (plain or sha256:HEX) in a Secret."""

    name: str = Field(
        min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$", description="OPER name"
    )
    password_secret_ref: SecretKeyRef = Field(
        description="the Secret key holding the password (plain or sha256:HEX)"
    )
    hosts: list[str] = Field(
        default=["*"],
        max_length=64,
        description="user@host masks the operator may OPER from",
    )
