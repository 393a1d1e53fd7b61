"""PodDisruptionBudgets as data: which pods voluntary evictions may take down together.

For every example, the rendered StatefulSets give the pods (their labels) and
the rendered budgets what the eviction API allows: a set of pods may be down
at once when no budget's ``maxUnavailable`` is exceeded and every pod has
exactly one budget (the API refuses to evict a pod under two).
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatnet_operator.cli import main

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))

Pod = tuple[str, dict[str, str]]


def render(capsys: pytest.CaptureFixture[str], path: Path) -> list[dict[str, Any]]:
    assert main(["render", str(path)]) == 0, capsys.readouterr().err
    return [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        inside = labels.get(expr["key"]) in expr["values"]
        if inside != (expr["operator"] == "In"):
            return False
    return True


def pods_of(objects: list[dict[str, Any]]) -> list[Pod]:
    return [
        (f"{o['metadata']['name']}-{i}", o["spec"]["template"]["metadata"]["labels"])
        for o in objects
        if o["kind"] == "StatefulSet"
        for i in range(o["spec"]["replicas"])
    ]


def budgets_of(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == "PodDisruptionBudget"]


def may_be_down_together(down: tuple[Pod, ...], budgets: list[dict[str, Any]]) -> bool:
    for budget in budgets:
        selected = [p for p in down if matches(budget["spec"]["selector"], p[1])]
        if len(selected) > budget["spec"]["maxUnavailable"]:
            return False
    return True


def largest_outages(pods: list[Pod], budgets: list[dict[str, Any]]) -> list[set[str]]:
    """Every maximal set of pods the budgets let evictions take down at once."""
    allowed = [
        set(name for name, _ in down)
        for size in range(1, len(pods) + 1)
        for down in combinations(pods, size)
        if may_be_down_together(down, budgets)
    ]
    return [s for s in allowed if not any(s < other for other in allowed)]


def backbone(pods: list[Pod]) -> set[str]:
    return {name for name, labels in pods if labels["chatnet.io/role"] in ("hub", "control")}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_pod_has_exactly_one_budget(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = render(capsys, example)
    budgets = budgets_of(objects)
    for name, labels in pods_of(objects):
        covering = [
            b["metadata"]["name"] for b in budgets if matches(b["spec"]["selector"], labels)
        ]
        assert len(covering) == 1, f"{name} is under {covering}"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_evictions_never_take_every_hub_and_never_block_a_drain(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = render(capsys, example)
    pods, budgets = pods_of(objects), budgets_of(objects)
    hubs = backbone(pods)
    outages = largest_outages(pods, budgets)
    for outage in outages:
        assert len(outage & hubs) <= 1, f"{sorted(outage & hubs)} may be down together"
        if len(hubs) > 1:
            assert hubs - outage, "some hub stays up"
    # Every pod alone may be evicted: no budget blocks a node drain forever.
    assert set().union(*outages) == {name for name, _ in pods}


def test_one_budget_per_chatserver_would_let_every_hub_go(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Why the hubs share a budget: per-server budgets of single-replica hubs allow all."""
    objects = render(capsys, next(p for p in EXAMPLES if p.name == "quickstart.yaml"))
    pods = pods_of(objects)
    per_server = [
        {"spec": {"maxUnavailable": 1, "selector": o["spec"]["selector"]}}
        for o in objects
        if o["kind"] == "StatefulSet"
    ]
    assert any(backbone(pods) <= outage for outage in largest_outages(pods, per_server))
    assert not any(
        backbone(pods) <= outage for outage in largest_outages(pods, budgets_of(objects))
    )


def test_a_server_named_like_the_hubs_budget_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A leaf ChatServer acme-hubs would own a budget of the same name as the network's."""
    manifest = tmp_path / "clash.yaml"
    manifest.write_text(
        "apiVersion: chatnet.io/v1alpha1\nkind: ChatNetwork\nmetadata: {name: acme}\n---\n"
        "apiVersion: chatnet.io/v1alpha1\nkind: ChatServer\nmetadata: {name: hub}\n"
        "spec: {network: acme, role: hub, serverId: 1}\n---\n"
        "apiVersion: chatnet.io/v1alpha1\nkind: ChatServer\nmetadata: {name: acme-hubs}\n"
        "spec: {network: acme, role: leaf, serverId: 2, uplinks: [hub]}\n"
    )
    assert main(["validate", str(manifest)]) == 1
    err = capsys.readouterr().err
    assert "ChatServer/acme-hubs: metadata.name: the name 'acme-hubs' is taken by the" in err
    assert "PodDisruptionBudget of the network's hubs" in err
