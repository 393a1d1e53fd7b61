"""The operator's entry points and configuration, without running kopf."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chatnet_operator.cli import build_parser, main, operator_env
from chatnet_operator.config import OperatorConfig
from chatnet_operator.probing import pod_targets, read_overrides
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
    from chatnet_operator.loader import load_files
    from chatnet_operator.plan import ClusterPlacement, plan_network
    from chatnet_operator.validate import validate_documents

    report = validate_documents(load_files([REPO / "examples" / "quickstart.yaml"]))
    declared = report.networks[0]
    plan = plan_network(declared, ClusterPlacement(declared.network))
    targets = pod_targets(plan, 8080, "cluster.local")
    assert targets["east"] == ("east-0.east.default.svc.cluster.local", 8080)
    assert targets["east-fanout-1"] == (
        "east-fanout-1.east-fanout.default.svc.cluster.local",
        8080,
    )
