"""``chatnet``: the control plane's command line (crds, validate, render, up, operator).

Each subcommand is a thin shell over a pure module; exit codes follow one rule
everywhere: 0 success, 1 the input is invalid, 2 the input cannot be read.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chatnet_node import __version__
from chatnet_operator.api import crds
from chatnet_operator.api.loader import UnreadableInputError, load_files
from chatnet_operator.api.models import ChatNetwork, ChatServer
from chatnet_operator.api.outcome import Declared, Report
from chatnet_operator.api.validate import validate_documents
from chatnet_operator.local.up import Options, run_up
from chatnet_operator.plan.placement import ClusterPlacement
from chatnet_operator.plan.planner import plan_network
from chatnet_operator.plan.render import render_network, secret_note, to_yaml

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_UNREADABLE = 2
EXIT_USAGE = 2  # argparse's code for a bad option


def _cmd_crds(args: argparse.Namespace) -> int:
    if args.write:
        folders = [args.dir] if args.dir is not None else [crds.CRDS_DIR, crds.CHART_CRDS_DIR]
        for folder in folders:
            for path in crds.write_files(folder):
                print(f"wrote {path}")
    else:
        sys.stdout.write(crds.crds_yaml())
    return EXIT_OK


def load_and_validate(paths: list[Path], local: bool = False) -> tuple[int, Report | None]:
    """Read and check files, printing every problem; (exit code, report when valid)."""
    try:
        docs = load_files(paths)
    except UnreadableInputError as exc:
        print(f"chatnet: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE, None
    report = validate_documents(docs, local=local)
    if not report.ok:
        for problem in report.problems:
            print(problem, file=sys.stderr)
        count = len(report.problems)
        print(f"chatnet: {count} problem{'s' if count != 1 else ''} found", file=sys.stderr)
        return EXIT_INVALID, None
    return EXIT_OK, report


def _cmd_validate(args: argparse.Namespace) -> int:
    code, report = load_and_validate(args.files, local=args.local)
    if report is not None:
        for declared in report.networks:
            names = [name for s in declared.servers for name, _ in s.members()]
            print(
                f"valid: ChatNetwork {declared.network.name}: {len(names)} "
                f"server{'s' if len(names) != 1 else ''} "
                f"({', '.join(names)})"
            )
    return code


def _with_namespace(declared: Declared, namespace: str | None) -> Declared:
    """The objects as if applied with ``kubectl apply -n NAMESPACE``."""
    if namespace is None:
        return declared

    def moved(obj: ChatNetwork | ChatServer) -> Any:
        meta = obj.metadata.model_copy(update={"namespace": namespace})
        return obj.model_copy(update={"metadata": meta})

    return Declared(moved(declared.network), tuple(moved(s) for s in declared.servers))


def _cmd_render(args: argparse.Namespace) -> int:
    code, report = load_and_validate(args.files)
    if report is None:
        return code
    if args.link_secret is not None:
        print(
            "chatnet: render: --link-secret is gone: render never prints a secret. Create "
            "the Secret yourself (kubectl create secret generic NAME --from-literal=secret=...) "
            "and name it in spec.links.secretName, or leave secretName out and the operator "
            "generates NETWORK-links in the cluster",
            file=sys.stderr,
        )
        return EXIT_USAGE
    objects = []
    notes = []
    for found in report.networks:
        declared = _with_namespace(found, args.namespace)
        plan = plan_network(declared, ClusterPlacement(declared.network, args.cluster_domain))
        objects += render_network(plan)
        notes.append(secret_note(plan))
    sys.stdout.write("".join(notes) + to_yaml(objects))
    return EXIT_OK


def _cmd_up(args: argparse.Namespace) -> int:
    return run_up(
        Options(
            files=args.files,
            state_dir=args.state_dir,
            endpoints=args.endpoints,
            host=args.host,
            ws_port=args.ws_port,
            irc_port=args.irc_port,
            irc_tls_port=args.irc_tls_port,
        )
    )


def operator_env(args: argparse.Namespace) -> dict[str, str]:
    """The ``CHATNET_*`` variables the operator's options stand for (see config.py)."""
    options = {
        "CHATNET_METRICS_PORT": args.metrics_port,
        "CHATNET_SYNC_INTERVAL": args.sync_interval,
        "CHATNET_NODE_IMAGE": args.node_image,
    }
    return {key: str(value) for key, value in options.items() if value is not None}


def _cmd_operator(args: argparse.Namespace) -> int:
    if not args.all_namespaces and not args.namespace:
        print(
            "chatnet: operator: pass --namespace NS (repeatable) or --all-namespaces",
            file=sys.stderr,
        )
        return EXIT_UNREADABLE
    # Options become the variables `kopf run -m chatnet_operator` reads, so both
    # entry points share one configuration path; set before the handlers import.
    os.environ.update(operator_env(args))
    # kopf names this replica in the peering object by POD_ID: the pod's name
    # (the chart's POD_NAME) keeps it across container restarts in one pod, so a
    # restarted container replaces its old entry instead of standing beside it.
    if os.environ.get("POD_NAME"):
        os.environ.setdefault("POD_ID", os.environ["POD_NAME"])
    try:
        import kopf  # noqa: PLC0415 - optional: validate, render and up run without it
    except ImportError:
        print(
            "chatnet: operator: kopf is not installed (pip install 'chatnet[operator]')",
            file=sys.stderr,
        )
        return EXIT_UNREADABLE
    # Registers the handlers; after the environment above, which they read.
    import chatnet_operator.cluster.handlers  # noqa: F401, PLC0415

    kopf.configure(verbose=args.verbose)
    kopf.run(
        clusterwide=args.all_namespaces,
        namespaces=args.namespace or (),
        standalone=True if args.standalone else None,
        peering_name=None if args.standalone else args.peering,
        priority=args.priority or None,
        liveness_endpoint=(
            f"http://0.0.0.0:{args.liveness_port}/healthz" if args.liveness_port else None
        ),
    )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, exposed so tests and docs can inspect it."""
    parser = argparse.ArgumentParser(
        prog="chatnet",
        description="Run multi-server chat networks declared in YAML: locally or on Kubernetes.",
    )
    # One package ships the operator and the node: they share a version.
    parser.add_argument("--version", action="version", version=f"chatnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    crds_cmd = sub.add_parser("crds", help="print the CustomResourceDefinitions (or write crds/)")
    crds_cmd.add_argument(
        "--write", action="store_true", help="write the files instead of printing"
    )
    crds_cmd.add_argument(
        "--dir",
        type=Path,
        help="folder for --write (default: the repo's crds/ and charts/chatnet/crds/)",
    )
    crds_cmd.set_defaults(func=_cmd_crds)

    validate = sub.add_parser(
        "validate", help="check manifests; exit 0 valid, 1 invalid, 2 unreadable"
    )
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    validate.add_argument(
        "--local",
        action="store_true",
        help="also check what `chatnet up` needs (networks run together need distinct ports)",
    )
    validate.set_defaults(func=_cmd_validate)

    render = sub.add_parser("render", help="print the Kubernetes objects the operator would create")
    render.add_argument("files", nargs="+", type=Path, metavar="FILE")
    render.add_argument(
        "--namespace", "-n", help="namespace of every object (default: as declared)"
    )
    render.add_argument(
        "--cluster-domain", default="cluster.local", help="the cluster's DNS domain"
    )
    render.add_argument(
        "--link-secret",
        help=argparse.SUPPRESS,  # removed: render prints no secret (a clear error says so)
    )
    render.set_defaults(func=_cmd_render)

    up = sub.add_parser(
        "up", help="run the networks as local processes, with a front door, until Ctrl-C"
    )
    up.add_argument("files", nargs="+", type=Path, metavar="FILE")
    up.add_argument(
        "--endpoints",
        type=Path,
        metavar="OUT.json",
        help="write where to connect, atomically, once every server is ready",
    )
    up.add_argument(
        "--state-dir", type=Path, default=Path(".chatnet"), help="configs, logs, history"
    )
    up.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    up.add_argument(
        "--ws-port",
        type=int,
        help="front door WebSocket/HTTP port (default: from the file; 0: any)",
    )
    up.add_argument("--irc-port", type=int, help="front door IRC port (default: from the file)")
    up.add_argument(
        "--irc-tls-port",
        type=int,
        help="front door IRC-over-TLS port, with endpoint.tls (default: from the file)",
    )
    up.set_defaults(func=_cmd_up)

    op = sub.add_parser("operator", help="run the Kubernetes operator (kopf) until interrupted")
    scope = op.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        "-n",
        action="append",
        metavar="NS",
        help="watch this namespace (repeatable; kopf globs like 'team-*' work)",
    )
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace")
    op.add_argument(
        "--standalone",
        action="store_true",
        help="no peering: act even if another operator replica runs (development only)",
    )
    op.add_argument(
        "--peering",
        default="chatnet",
        metavar="NAME",
        help="kopf peering object shared by the replicas; one acts at a time (default chatnet)",
    )
    op.add_argument(
        "--priority",
        type=int,
        default=0,
        metavar="N",
        help="peering priority: the highest live replica acts (default: a stable hash "
        "of env POD_NAME, else random, so replicas never tie)",
    )
    op.add_argument(
        "--liveness-port",
        type=int,
        default=8080,
        metavar="PORT",
        help="serve kopf's liveness probe at :PORT/healthz (0: off; default 8080)",
    )
    op.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve the operator's Prometheus metrics at :PORT/metrics "
        "(0: off; default: env CHATNET_METRICS_PORT, else 9090)",
    )
    op.add_argument(
        "--sync-interval",
        type=float,
        metavar="SECONDS",
        help="re-sync every network this often: drift correction and node status "
        "(default: env CHATNET_SYNC_INTERVAL, else 15)",
    )
    op.add_argument(
        "--node-image",
        metavar="IMAGE",
        help="node image where a ChatNetwork sets no spec.image (env CHATNET_NODE_IMAGE)",
    )
    op.add_argument("--verbose", "-v", action="store_true", help="log every API call kopf makes")
    op.set_defaults(func=_cmd_operator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``chatnet`` console script."""
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
