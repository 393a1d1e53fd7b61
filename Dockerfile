# One image for both planes: the operator (`chatnet operator`) and the chat
# server (`chatnet-node`), running as the non-root user chatnet (10001).
#
# The base is a build argument: any Debian-like image whose python3 (3.11+)
# can `python3 -m venv` works. The default is the public python:3.11-slim;
# scripts/build-image.sh builds on a Debian base it makes with debootstrap,
# for machines that cannot pull images.
#
# Two ways to build:
#   docker build -t chatnet .            from a checkout; pip fetches the
#                                        dependencies from PyPI
#   scripts/build-image.sh [IMAGE]       offline: the context is a wheelhouse
#                                        (build/image/wheelhouse) and pip runs
#                                        with --no-index
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
# Lets scripts/build-image.sh prune this stage once the image is built.
LABEL io.chatnet.build=1
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY . /src
RUN python3 -m venv /opt/chatnet \
    && if [ -d /src/wheelhouse ]; then \
        /opt/chatnet/bin/pip install --no-index --find-links /src/wheelhouse 'chatnet[operator]'; \
    else \
        /opt/chatnet/bin/pip install '/src[operator]'; \
    fi \
    && /opt/chatnet/bin/chatnet --help >/dev/null \
    && /opt/chatnet/bin/chatnet-node --help >/dev/null

FROM ${BASE_IMAGE}
RUN groupadd --system --gid 10001 chatnet \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/chatnet \
        --no-create-home --shell /usr/sbin/nologin chatnet \
    && mkdir -p /etc/chatnet /var/lib/chatnet \
    && chown 10001:10001 /var/lib/chatnet
COPY --from=build /opt/chatnet /opt/chatnet
ENV PATH=/opt/chatnet/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
# History and other state: the operator mounts a volume here.
WORKDIR /var/lib/chatnet
# IRC, WebSocket + HTTP (health, status, metrics, web chat).
EXPOSE 6667 8080
# The node by default; the operator's Deployment sets
# command: ["chatnet", "operator", ...].
ENTRYPOINT ["chatnet-node"]
CMD ["--config", "/etc/chatnet/node.yaml"]
