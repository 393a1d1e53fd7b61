"""`chatnet render` for GitOps, and the admin port kept off the client Service.

Reproducible, no secret, no namespace unless asked.

Also what links need of it: without a namespace, servers dial each other by
names relative to their own namespace (``POD.SET``), which the pods' DNS
search path completes wherever the files are applied; with ``-n`` the names
are fully qualified, as the operator writes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from chatnet_node.config import parse_config
from chatnet_operator.cli import main

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def render_text(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["render", *args]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def objects(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_two_renders_are_identical_and_print_no_secret(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = render_text(capsys, str(example))
    assert render_text(capsys, str(example)) == first
    docs = objects(first)
    assert not [o for o in docs if o["kind"] == "Secret"]
    assert all("namespace" not in o["metadata"] for o in docs), "no namespace without -n"
    # The comment says where the link Secret comes from.
    assert first.startswith("# ChatNetwork ") and "no secret value is rendered" in first
    network = next(d for d in objects(example.read_text()) if d["kind"] == "ChatNetwork")
    named = (network["spec"].get("links") or {}).get("secretName")
    wanted = named or f"{network['metadata']['name']}-links"
    for sts in (o for o in docs if o["kind"] == "StatefulSet"):
        volumes = sts["spec"]["template"]["spec"]["volumes"]
        assert {"name": "link-secret", "secret": {"secretName": wanted}} in volumes


def test_link_names_follow_the_namespace_choice(capsys: pytest.CaptureFixture[str]) -> None:
    example = str(EXAMPLES[0].parent / "exchange-three-servers.yaml")

    def dial_hosts(text: str) -> list[str]:
        config = next(o for o in objects(text) if o["metadata"]["name"] == "chat2-config")
        node = parse_config(yaml.safe_load(config["data"]["chat2-0.yaml"]))
        return [target.host for target in node.links.dial]

    relative = render_text(capsys, example)
    assert dial_hosts(relative) == ["chat1-0.chat1"]
    named = render_text(capsys, example, "-n", "chat", "--cluster-domain", "k8s.example")
    assert {o["metadata"]["namespace"] for o in objects(named)} == {"chat"}
    assert dial_hosts(named) == ["chat1-0.chat1.chat.svc.k8s.example"]


def test_link_secret_option_is_refused_with_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(EXAMPLES[0]), "--link-secret", "s3cret"]) == 2
    out = capsys.readouterr()
    assert "render never prints a secret" in out.err and "spec.links.secretName" in out.err
    assert out.out == ""


def test_a_named_link_secret_is_referenced_and_the_comment_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "named.yaml"
    text = (EXAMPLES[0].parent / "local.yaml").read_text()
    path.write_text(text.replace("spec:\n", "spec:\n  links: {secretName: our-links}\n", 1))
    out = render_text(capsys, str(path))
    assert "create Secret our-links (key secret) yourself" in out
    sts = next(o for o in objects(out) if o["kind"] == "StatefulSet")
    volumes = sts["spec"]["template"]["spec"]["volumes"]
    assert {"name": "link-secret", "secret": {"secretName": "our-links"}} in volumes


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_the_admin_port_is_off_the_client_service(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = objects(render_text(capsys, str(example)))
    services = {o["metadata"]["name"]: o for o in docs if o["kind"] == "Service"}
    [client] = [s for n, s in services.items() if n.endswith("-chat")]
    client_ports = {(p["name"], p["port"]) for p in client["spec"]["ports"]}
    assert "admin" not in {name for name, _ in client_ports}
    assert 8081 not in {port for _, port in client_ports}
    for sts in (o for o in docs if o["kind"] == "StatefulSet"):
        pod = sts["spec"]["template"]
        [container] = pod["spec"]["containers"]
        assert {"name": "admin", "containerPort": 8081, "protocol": "TCP"} in container["ports"]
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["port"] == "admin"
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == "8081"
        headless = services[sts["spec"]["serviceName"]]
        names = [p["name"] for p in headless["spec"]["ports"]]
        assert "admin" in names and "websocket" in names
        config = next(
            o for o in docs if o["metadata"]["name"] == f"{sts['metadata']['name']}-config"
        )
        for text in config["data"].values():
            node = parse_config(yaml.safe_load(text))
            assert [(a.host, a.port) for a in node.listeners.admin] == [("0.0.0.0", 8081)]
