# One image for both planes: the operator (`chatnet operator`) and the chat
# server (`chatnet-node`). Images cannot be pulled everywhere, so the base is
# a build argument: any Debian-like image with Python 3.11+ and pip works.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

WORKDIR /src
COPY pyproject.toml README.md ./
COPY node node
COPY operator operator
RUN python3 -m pip install --no-cache-dir '.[operator]' \
    && useradd --system --uid 10001 --no-create-home chatnet

USER 10001
# IRC, WebSocket + HTTP (health, status, metrics, web chat).
EXPOSE 6667 8080
ENTRYPOINT ["chatnet-node"]
CMD ["--config", "/etc/chatnet/node.yaml"]
