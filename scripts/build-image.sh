#!/usr/bin/env bash
# Builds the chatnet image (operator + node) without pulling anything:
#
#   1. a Debian bookworm base made here with debootstrap (minbase, plus
#      python3 and python3-venv) and `docker import`ed as $BASE_IMAGE; made once,
#      then reused: the image if Docker still has it, else the cached tarball;
#   2. a wheelhouse of the project and its dependencies (operator extra
#      included) built on this machine with pip; the dependencies are rebuilt
#      only when pyproject.toml changes;
#   3. `docker build --build-arg BASE_IMAGE=...` of the Dockerfile, which
#      installs from that wheelhouse with `pip --no-index`: no network needed.
#
# Usage: scripts/build-image.sh [IMAGE]        (default: chatnet:local)
# Environment:
#   CHATNET_CACHE   cache folder (default: ${XDG_CACHE_HOME:-~/.cache}/chatnet)
#   DEBIAN_MIRROR   (default: http://deb.debian.org/debian)
#   BASE_IMAGE      use this base instead of making one (must have python3 -m venv)
#   PYTHON          the Python that builds the wheelhouse (default: .venv/bin/python,
#                   else python3); its version must match the base image's python3
# Needs: docker (a running engine), and, for the base, root and debootstrap.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# One build at a time per checkout: two (the image and kind tests in two test
# workers) would share build/image/ and prune each other's stages.
mkdir -p "$REPO/build"
exec 9>"$REPO/build/.image.lock"
flock 9
IMAGE=${1:-chatnet:local}
CACHE=${CHATNET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chatnet}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
BASE_PACKAGES=python3,python3-venv,ca-certificates
if [[ -z ${PYTHON:-} ]]; then
    if [[ -x $REPO/.venv/bin/python ]]; then PYTHON=$REPO/.venv/bin/python; else PYTHON=python3; fi
fi

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

command -v docker >/dev/null || die "no docker CLI on PATH"
docker info >/dev/null 2>&1 || die "the Docker engine is not reachable (start dockerd)"
mkdir -p "$CACHE"

# --- 1. the base image -------------------------------------------------------
make_base() {
    local tag=$1 tarball=$2
    if docker image inspect "$tag" >/dev/null 2>&1; then
        log "base $tag: present"
        return
    fi
    if [[ ! -s $tarball ]]; then
        [[ $(id -u) -eq 0 ]] || die "making the base needs root (debootstrap); or set BASE_IMAGE"
        command -v debootstrap >/dev/null || die "no debootstrap (apt-get install debootstrap)"
        local rootfs
        rootfs=$(mktemp -d "$CACHE/rootfs.XXXXXX")
        # shellcheck disable=SC2064  # expand now: the path is fixed
        trap "rm -rf '$rootfs'" EXIT
        log "debootstrap $SUITE (minbase + $BASE_PACKAGES) from $MIRROR"
        debootstrap --variant=minbase --include="$BASE_PACKAGES" \
            "$SUITE" "$rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
            die "debootstrap failed; see $CACHE/debootstrap.log"
        # Nothing the image needs: package caches, lists, docs.
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
            "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
        tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
        mv "$tarball.tmp" "$tarball"
        rm -rf "$rootfs"
        trap - EXIT
    fi
    log "docker import $tarball as $tag"
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        "$tarball" "$tag" >/dev/null
}

if [[ -z ${BASE_IMAGE:-} ]]; then
    key=$(printf '%s %s %s' "$SUITE" "$BASE_PACKAGES" "$(uname -m)" | sha256sum | cut -c1-12)
    BASE_IMAGE=chatnet-base:$SUITE-$key
    make_base "$BASE_IMAGE" "$CACHE/base-$SUITE-$key.tar"
fi

# --- 2. the wheelhouse -------------------------------------------------------
host_py=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
base_py=$(docker run --rm --network none --entrypoint python3 "$BASE_IMAGE" \
    -c 'import sys; print("%d.%d" % sys.version_info[:2])') ||
    die "the base $BASE_IMAGE has no python3"
[[ $host_py == "$base_py" ]] ||
    die "$PYTHON is Python $host_py but $BASE_IMAGE has $base_py; set PYTHON to a $base_py"

context=$REPO/build/image
wheels=$context/wheelhouse
deps_key=$(sha256sum <"$REPO/pyproject.toml" | cut -c1-12)-py$host_py
mkdir -p "$wheels"
if [[ ! -f $wheels/.deps-$deps_key ]]; then
    log "wheelhouse: dependencies (operator extra included) for Python $host_py"
    rm -rf "$wheels" && mkdir -p "$wheels"
    "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$wheels" \
        "${REPO}[operator]"
    touch "$wheels/.deps-$deps_key"
else
    log "wheelhouse: dependencies cached"
fi
rm -f "$wheels"/chatnet-*.whl
"$PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps \
    --wheel-dir "$wheels" "$REPO"

# --- 3. the image ------------------------------------------------------------
# The build context is build/image/: the Dockerfile and the wheelhouse only.
cp "$REPO/Dockerfile" "$context/Dockerfile"
log "docker build $IMAGE on $BASE_IMAGE"
# BuildKit where the buildx plugin is installed; the classic builder otherwise
# (Debian's docker.io has no buildx).
builder=(env DOCKER_BUILDKIT=0 docker build)
if docker buildx version >/dev/null 2>&1; then
    builder=(docker buildx build --load)
fi
"${builder[@]}" --quiet --network none --label io.chatnet.build=1 \
    --build-arg BASE_IMAGE="$BASE_IMAGE" --tag "$IMAGE" "$context" >/dev/null 2> \
    >(grep -v -e '^DEPRECATED: The legacy builder' -e '^ *BuildKit is currently disabled' \
        -e '^ *environment-variable' -e '^$' >&2)
# Drop what earlier builds left untagged (the build stage, replaced images).
docker image prune --force --filter label=io.chatnet.build=1 >/dev/null
log "built $IMAGE"
echo "$IMAGE"
