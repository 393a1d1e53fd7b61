"""Certificates for the client endpoint: ``spec.endpoint.tls``.

Either a ``kubernetes.io/tls`` Secret the user keeps (``secretName``), or a
cert-manager issuer (``issuerRef`` with ``dnsNames``): the operator then
asks cert-manager for a ``Certificate`` whose Secret the servers mount, and
the nodes load each renewal without dropping anyone. Kept apart from
``endpoint`` so the certificate fields grow in one small module.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from chatnet_operator.api.fields import DOMAIN_PATTERN, ApiModel, Name, Rule, check_rules

#: A DNS name for a certificate: a domain, optionally with a leading ``*.`` wildcard.
DNS_NAME = r"^(\*\.)?" + DOMAIN_PATTERN.removeprefix("^")
DnsName = Annotated[str, Field(pattern=DNS_NAME, min_length=1, max_length=253)]


class IssuerKind(StrEnum):
    """cert-manager's two issuer kinds: one namespace's, or the whole cluster's."""

    ISSUER = "Issuer"
    CLUSTER_ISSUER = "ClusterIssuer"


class IssuerRef(ApiModel):
    """The cert-manager issuer that signs the endpoint's certificate."""

    name: Name = Field(description="the Issuer or ClusterIssuer")
    kind: IssuerKind = IssuerKind.ISSUER
    group: str = Field(
        default="cert-manager.io",
        max_length=253,
        pattern=DOMAIN_PATTERN,
        description="API group of the issuer (external issuers have their own)",
    )


class EndpointTls(ApiModel):
    """IRC over TLS: a Secret you keep, or one cert-manager issues and renews."""

    secret_name: Name | None = Field(
        default=None,
        description="kubernetes.io/tls Secret for IRC over TLS; with issuerRef, the Secret "
        "cert-manager writes (default NETWORK-chat-tls)",
    )
    issuer_ref: IssuerRef | None = Field(
        default=None, description="cert-manager issuer: the operator creates a Certificate"
    )
    dns_names: list[DnsName] = Field(
        default=[],
        max_length=100,
        description="names clients connect to, put in the certificate (with issuerRef)",
    )

    @model_validator(mode="after")
    def _rules(self) -> EndpointTls:
        check_rules(self, TLS_RULES)
        return self

    def secret_for(self, network: str) -> str:
        """The Secret the servers mount: the one named, or the one cert-manager writes."""
        return self.secret_name or f"{network}-chat-tls"


TLS_RULES = [
    Rule(
        "has(self.secretName) || has(self.issuerRef)",
        "tls needs secretName (a Secret you keep) or issuerRef (cert-manager issues one)",
        lambda t: t.secret_name is not None or t.issuer_ref is not None,
    ),
    Rule(
        "!has(self.issuerRef) || (has(self.dnsNames) && size(self.dnsNames) > 0)",
        "tls.issuerRef needs dnsNames: the names clients connect to",
        lambda t: t.issuer_ref is None or len(t.dns_names) > 0,
    ),
    Rule(
        "!has(self.dnsNames) || size(self.dnsNames) == 0 || has(self.issuerRef)",
        "tls.dnsNames is only used with issuerRef (a Secret you keep already names its hosts)",
        lambda t: not t.dns_names or t.issuer_ref is not None,
    ),
]
