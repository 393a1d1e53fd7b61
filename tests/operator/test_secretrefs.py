"""Which Secrets a ChatNetwork names, and the problems the operator reports for them."""

from __future__ import annotations

from chatnet_operator.api.models import ChatNetwork
from chatnet_operator.cluster.secretrefs import SecretUse, secret_problems, secret_uses


def network(spec: dict[str, object]) -> ChatNetwork:
    return ChatNetwork.model_validate(
        {
            "apiVersion": "chatnet.io/v1alpha1",
            "kind": "ChatNetwork",
            "metadata": {"name": "n"},
            "spec": spec,
        }
    )


def test_every_named_secret_is_listed_with_its_field_and_keys() -> None:
    uses = secret_uses(
        network(
            {
                "endpoint": {"tls": {"secretName": "web-cert"}},
                "links": {"secretName": "links", "tls": "required", "tlsSecretName": "link-cert"},
                "history": {"store": "postgres", "postgres": {"secretName": "pg"}},
                "cloaks": {"secretRef": {"name": "cloak", "key": "k"}},
                "operators": [{"name": "a", "passwordSecretRef": {"name": "opers", "key": "a"}}],
            }
        )
    )
    assert uses == [
        SecretUse("links", ("secret",), "spec.links.secretName"),
        SecretUse("link-cert", ("tls.crt", "tls.key"), "spec.links.tlsSecretName"),
        SecretUse("web-cert", ("tls.crt", "tls.key"), "spec.endpoint.tls.secretName"),
        SecretUse("pg", ("dsn",), "spec.history.postgres"),
        SecretUse("cloak", ("k",), "spec.cloaks.secretRef"),
        SecretUse("opers", ("a",), "spec.operators[0].passwordSecretRef"),
    ]


def test_generated_and_unused_secrets_are_not_required() -> None:
    # No links.secretName or cloak secretRef: the operator makes those itself;
    # a cloak secret while cloaks are off and a link cert while TLS is off are unused.
    spec = {
        "links": {"tls": "off", "tlsSecretName": "link-cert"},
        "cloaks": {"enabled": False, "secretRef": {"name": "cloak"}},
    }
    assert secret_uses(network(spec)) == []


def test_problems_name_the_field_the_secret_and_the_fix() -> None:
    uses = [
        SecretUse("opers", ("a", "b"), "spec.operators[0].passwordSecretRef"),
        SecretUse("pg", ("dsn",), "spec.history.postgres"),
        SecretUse("cert", ("tls.crt", "tls.key"), "spec.endpoint.tls.secretName"),
    ]
    found = {
        "opers": {"data": {"a": "eA=="}},
        "pg": None,
        "cert": {"stringData": {"tls.crt": "x", "tls.key": "y"}},
    }
    assert secret_problems(uses, found, "chat") == [
        "spec.operators[0].passwordSecretRef: Secret/opers has no key b; fix: add it to the Secret",
        "spec.history.postgres: Secret/pg not found in namespace chat; fix: create it with key dsn",
    ]
