"""The operator's entry points and configuration, without running kopf."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from chatnet_operator.api.loader import load_files
from chatnet_operator.api.validate import validate_documents
from chatnet_operator.cli import build_parser, main, operator_env
from chatnet_operator.cluster.config import MAX_PRIORITY, OperatorConfig, peering_priority
from chatnet_operator.cluster.handlers import configure_peering
from chatnet_operator.cluster.probing import pod_targets, read_overrides
from chatnet_operator.plan.placement import ClusterPlacement
from chatnet_operator.plan.planner import plan_network
from tests.nodeproc import REPO


def test_config_from_env_and_defaults() -> None:
    assert OperatorConfig.from_env({}) == OperatorConfig()
    config = OperatorConfig.from_env(
        {
            "CHATNET_NODE_IMAGE": "registry.example/chatnet:2",
            "CHATNET_SYNC_INTERVAL": "2.5",
            "CHATNET_METRICS_PORT": "0",
            "CHATNET_STATUS_URLS": "/tmp/urls.json",
        }
    )
    assert config.node_image == "registry.example/chatnet:2"
    assert config.sync_interval == 2.5 and config.metrics_port == 0
    assert config.status_urls == Path("/tmp/urls.json")


def test_cli_options_become_the_variables_kopf_run_reads() -> None:
    args = build_parser().parse_args(
        ["operator", "-n", "chat", "--metrics-port", "0", "--node-image", "img:1"]
    )
    assert operator_env(args) == {"CHATNET_METRICS_PORT": "0", "CHATNET_NODE_IMAGE": "img:1"}
    # Unset options leave the environment's values alone.
    assert operator_env(build_parser().parse_args(["operator", "-A"])) == {}


def test_operator_needs_a_scope(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["operator"]) == 2
    assert "--all-namespaces" in capsys.readouterr().err


def test_package_imports_without_kopf() -> None:
    # `chatnet validate` and `render` must not need kopf: the handlers load only under kopf.
    code = "import sys, chatnet_operator.cli; print('kopf' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": f"{REPO / 'operator'}:{REPO / 'node'}", "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == "False"


def test_status_url_overrides(tmp_path: Path) -> None:
    path = tmp_path / "urls.json"
    path.write_text(json.dumps({"east": "http://127.0.0.1:8081", "bad": "nowhere"}))
    assert read_overrides(path) == {"east": ("127.0.0.1", 8081)}
    assert read_overrides(tmp_path / "missing.json") == {}
    assert read_overrides(None) == {}


def test_pods_are_probed_through_the_headless_service() -> None:

    report = validate_documents(load_files([REPO / "examples" / "quickstart.yaml"]))
    declared = report.networks[0]
    plan = plan_network(declared, ClusterPlacement(declared.network))
    targets = pod_targets(plan, 8080, "cluster.local")
    assert targets["east"] == ("east-0.east.default.svc.cluster.local", 8080)
    assert targets["east-fanout-1"] == (
        "east-fanout-1.east-fanout.default.svc.cluster.local",
        8080,
    )


# --- peering: every replica its own priority --------------------------------------


def test_peering_priority_is_stable_per_pod_and_distinct_between_pods() -> None:

    pods = [f"chatnet-6b8f9c7d5-{suffix}" for suffix in ("x2k4q", "p9z7m", "a1b2c", "a1b2d")]
    priorities = [peering_priority({"POD_NAME": pod}) for pod in pods]
    assert len(set(priorities)) == len(pods), "replicas of one ReplicaSet must not tie"
    assert all(1 <= p <= MAX_PRIORITY for p in priorities)
    # A restarted container in the same pod keeps its priority.
    assert peering_priority({"POD_NAME": pods[0]}) == priorities[0]


def test_peering_priority_without_a_pod_name_is_random_and_never_zero() -> None:

    drawn = {peering_priority({}, random.Random(seed)) for seed in range(20)}
    assert len(drawn) == 20 and all(1 <= p <= MAX_PRIORITY for p in drawn)
    assert peering_priority({"POD_NAME": ""}) != 0


def test_startup_gives_each_replica_its_own_priority() -> None:
    import kopf  # noqa: PLC0415 - imported first, kopf would make chatnet_operator register its handlers

    env = {"POD_NAME": "chatnet-6b8f9c7d5-x2k4q"}
    settings = kopf.OperatorSettings()
    assert settings.peering.priority == 0, "kopf's default, shared by every replica"
    configure_peering(settings, env)
    assert settings.peering.priority == peering_priority(env)
    assert settings.peering.name == "chatnet" and settings.peering.mandatory
    # One given explicitly (--priority, kopf's --priority) is kept.
    settings = kopf.OperatorSettings()
    settings.peering.priority = 7
    configure_peering(settings, env)
    assert settings.peering.priority == 7
    # Standalone: no peering, nothing to choose.
    settings = kopf.OperatorSettings()
    settings.peering.standalone = True
    configure_peering(settings, env)
    assert settings.peering.priority == 0 and not settings.peering.mandatory


def test_operator_cli_passes_priority_and_names_the_peer_by_pod(
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    import kopf  # noqa: PLC0415 - imported first, kopf would make chatnet_operator register its handlers

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(kopf, "run", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(kopf, "configure", lambda **_: None)
    monkeypatch.setattr(os, "environ", {"POD_NAME": "chatnet-6b8f9c7d5-x2k4q"})
    assert main(["operator", "-A", "--peering=chatnet", "--liveness-port=0"]) == 0
    assert calls[-1]["priority"] is None, "chosen at startup (configure_peering)"
    assert calls[-1]["peering_name"] == "chatnet" and calls[-1]["clusterwide"] is True
    assert os.environ["POD_ID"] == "chatnet-6b8f9c7d5-x2k4q", "kopf's peer identity"
    assert main(["operator", "-A", "--priority=42", "--liveness-port=0"]) == 0
    assert calls[-1]["priority"] == 42
