"""The image: scripts/build-image.sh builds it offline on a debootstrapped Debian base,
and a node container serves IRC clients, as the non-root user, on a read-only root.

Runs where a Docker engine is reachable or can be started (as root, with the
`dockerd` of Debian's docker.io: no iptables, no bridge, so containers use the
host's network). Skips, saying why, elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatnet_operator.cli import build_parser
from tests.irc.client import IrcClient
from tests.nodeproc import REPO, make_node, stop_process
from tests.waiting import wait_until

IMAGE = "chatnet:test"
BUILD_SCRIPT = REPO / "scripts" / "build-image.sh"
RUN_AS = "10001"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def docker(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI, bounded; fail with its output when ``check``."""
    proc = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        pytest.fail(f"docker {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def engine_up() -> bool:
    try:
        return docker("info", timeout=20, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@pytest.fixture(scope="module")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A reachable Docker engine: the running one, or a dockerd started (and stopped) here."""
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI: apt-get install docker.io (scripts/install-system-deps.sh)")
    if engine_up():
        yield
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        pytest.skip("no Docker engine running and no dockerd to start (apt-get install docker.io)")
    if os.geteuid() != 0:
        pytest.skip("no Docker engine running, and starting dockerd needs root")
    log_path = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [dockerd, "--iptables=false", "--ip6tables=false", "--bridge=none"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def started() -> str | None:
        if engine_up():
            return "up"
        return "exited" if proc.poll() is not None else None

    state: str | None = None
    try:
        with contextlib.suppress(AssertionError):  # not up in time: skipped below
            state = wait_until(started, 60, "dockerd answers or exits", 0.5)
        if state != "up":
            tail = log_path.read_text(errors="replace")[-2000:]
            pytest.skip(f"dockerd could not start on this machine:\n{tail}")
        yield
    finally:
        stop_process(proc, 30)


@pytest.fixture(scope="module")
def image(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The image, built by scripts/build-image.sh (cached base and wheelhouse)."""
    if shutil.which("debootstrap") is None and os.environ.get("BASE_IMAGE") is None:
        base = docker("images", "--quiet", "chatnet-base", check=False).stdout.strip()
        if not base:
            pytest.skip("no debootstrap to make the base image (apt-get install debootstrap)")
    log = tmp_path_factory.mktemp("build") / "build.log"
    env = {**os.environ, "PYTHON": sys.executable}
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.run(
            ["bash", str(BUILD_SCRIPT), IMAGE],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            timeout=600,
            check=False,
        )
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        pytest.fail(f"build-image.sh exited {proc.returncode}:\n{log.read_text()[-4000:]}")
    print(f"image {IMAGE} built in {elapsed:.1f}s")
    return IMAGE


def run_in_image(image: str, entrypoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    return docker("run", "--rm", "--network", "none", "--entrypoint", entrypoint, image, *args)


@contextlib.contextmanager
def container(image: str, options: list[str], command: list[str]) -> Iterator[str]:
    """A detached container, removed afterwards whatever happens."""
    name = f"chatnet-test-{uuid.uuid4().hex[:8]}"
    docker("run", "--detach", "--name", name, *options, image, *command)
    try:
        yield name
    finally:
        docker("rm", "--force", name, check=False)


def test_runs_as_non_root(image: str) -> None:
    assert (
        docker("inspect", "--format", "{{.Config.User}}", image).stdout.strip().startswith(RUN_AS)
    )
    assert run_in_image(image, "id", "-u").stdout.strip() == RUN_AS
    assert run_in_image(image, "id", "-g").stdout.strip() == RUN_AS


def test_both_commands_run(image: str) -> None:
    node_help = docker("run", "--rm", "--network", "none", image, "--help").stdout
    assert "usage: chatnet-node" in node_help, "the default entrypoint is the node"
    assert "usage: chatnet" in run_in_image(image, "chatnet", "--help").stdout
    # The operator extra is in the image.
    kopf = run_in_image(image, "python3", "-c", "import kopf; print(kopf.__name__)")
    assert kopf.stdout.strip() == "kopf"


def test_operator_command_runs(image: str) -> None:

    if not re.search(r"^\s+operator\s", build_parser().format_help(), re.MULTILINE):
        pytest.skip("`chatnet operator` is not in this checkout yet (operator/chatnet_operator)")
    out = run_in_image(image, "chatnet", "operator", "--help").stdout
    for flag in ("--all-namespaces", "--namespace", "--peering", "--standalone"):
        assert flag in out
    for flag in ("--liveness-port", "--metrics-port"):
        assert flag in out


def wait_healthy(name: str, url: str, timeout: float = 30.0) -> None:
    def logs() -> str:
        out = docker("logs", name, check=False)
        return f"{out.stdout}{out.stderr}"

    def healthy() -> bool:
        state = docker("inspect", "--format", "{{.State.Running}}", name).stdout.strip()
        if state != "true":
            pytest.fail(f"the node container exited:\n{logs()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    wait_until(healthy, timeout, f"the node container answers {url}", 0.2, logs)


async def test_node_container_serves_an_irc_client(image: str, tmp_path: Path) -> None:
    # The node listens on free loopback ports of the host (the container shares
    # the host's network: this dockerd has no bridge), as in a pod: read-only
    # root, no capabilities, state on a volume (here a tmpfs) it owns.
    node = make_node(tmp_path, "box", history={"path": "/var/lib/chatnet/history.sqlite3"})
    node.config_path.chmod(0o644)
    options = [
        "--network=host",
        "--read-only",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        f"--tmpfs=/var/lib/chatnet:rw,uid={RUN_AS},gid={RUN_AS},mode=0700",
        f"--volume={node.config_path}:/etc/chatnet/node.yaml:ro",
    ]
    with container(image, options, ["--config=/etc/chatnet/node.yaml"]) as name:
        wait_healthy(name, node.admin_url + "/healthz")
        async with await IrcClient.tcp(node.irc_port) as alice:
            await alice.register("alice", caps=["echo-message"])
            await alice.join("#image")
            await alice.send("PRIVMSG #image :hello from a container")
            echo = await alice.expect("PRIVMSG", "#image", "hello from a container")
            assert echo.nick == "alice"
            await alice.quit()
        top = docker("top", name, "-o", "pid,uid,args").stdout
        assert "chatnet-node" in top
        uids = {line.split()[1] for line in top.splitlines()[1:] if line.strip()}
        assert uids == {RUN_AS}, f"processes run as {uids}"
