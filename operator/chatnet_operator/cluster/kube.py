"""The operator's Kubernetes API client: a thin async adapter over aiohttp.

kopf has no public client for objects other than the one a handler is
called for, so this module does the few calls the operator makes itself:
get, create, replace, delete, list by label, and merge-patch a status. It
speaks plain JSON over aiohttp (already a kopf dependency) with the
credentials kopf's own login functions find (a service account in a pod, or
the kubeconfig elsewhere), so the operator and kopf always talk to the same
server as the same user.

Paths are computed from ``apiVersion`` and ``kind`` through a fixed table of
the kinds the operator touches; that table is also what the RBAC in
docs/operator.md (RBAC) grants.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

Obj = dict[str, Any]

#: (apiVersion, kind) of every kind the operator reads or writes, to its plural.
PLURALS: dict[tuple[str, str], str] = {
    ("v1", "Secret"): "secrets",
    ("v1", "Service"): "services",
    ("v1", "ConfigMap"): "configmaps",
    ("v1", "Event"): "events",
    ("apps/v1", "StatefulSet"): "statefulsets",
    ("policy/v1", "PodDisruptionBudget"): "poddisruptionbudgets",
    ("networking.k8s.io/v1", "NetworkPolicy"): "networkpolicies",
    ("chatnet.io/v1alpha1", "ChatNetwork"): "chatnetworks",
    ("chatnet.io/v1alpha1", "ChatServer"): "chatservers",
    ("postgresql.cnpg.io/v1", "Cluster"): "clusters",
    # The endpoint's routes and certificate, the servers' monitoring: created
    # only when discovery (cluster.discovery) shows the kind is served.
    ("networking.k8s.io/v1", "Ingress"): "ingresses",
    ("cert-manager.io/v1", "Certificate"): "certificates",
    ("cert-manager.io/v1", "Issuer"): "issuers",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "httproutes",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitors",
    ("monitoring.coreos.com/v1", "PodMonitor"): "podmonitors",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrules",
}


class ApiError(Exception):
    """A non-success answer from the API server."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def resource_path(
    api_version: str, kind: str, namespace: str, name: str | None = None, sub: str | None = None
) -> str:
    """The URL path of an object (or its collection when ``name`` is None)."""
    plural = PLURALS[(api_version, kind)]
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    path = f"{prefix}/namespaces/{quote(namespace)}/{plural}"
    if name is not None:
        path += f"/{quote(name)}"
    if sub is not None:
        path += f"/{sub}"
    return path


@dataclass(frozen=True)
class Credentials:
    """Where the API server is and how to authenticate (from kopf's ConnectionInfo)."""

    server: str
    headers: dict[str, str]
    ssl_context: ssl.SSLContext | bool | None
    auth: aiohttp.BasicAuth | None = None

    @staticmethod
    def from_connection_info(info: Any) -> Credentials:
        """Build from a ``kopf.ConnectionInfo``."""
        headers: dict[str, str] = {}
        if info.token:
            headers["Authorization"] = f"{info.scheme or 'Bearer'} {info.token}"
        auth = None
        if info.username and info.password:
            auth = aiohttp.BasicAuth(info.username, info.password)
        context: ssl.SSLContext | bool | None = None
        if info.server.startswith("https"):
            context = info.as_ssl_context()
        return Credentials(str(info.server).rstrip("/"), headers, context, auth)


async def login(settings: Any) -> Credentials:
    """Credentials as kopf finds them: in-cluster service account, else kubeconfig.

    ``settings`` are the operator's ``kopf.OperatorSettings``.
    """
    import kopf  # noqa: PLC0415 - the optional operator dependency, needed only here

    info = kopf.login_with_service_account(settings=settings) or kopf.login_with_kubeconfig(
        settings=settings
    )
    if info is None:
        raise ApiError(0, "no Kubernetes credentials: neither a service account nor a kubeconfig")
    return Credentials.from_connection_info(info)


class KubeClient:
    """Async calls against one API server; every call has a timeout."""

    def __init__(
        self,
        credentials: Credentials,
        timeout: float = 10.0,
        refresh: Callable[[], Awaitable[Credentials]] | None = None,
    ) -> None:
        self.credentials = credentials
        # Service account tokens rotate: on a 401, log in again once and retry.
        self._refresh = refresh
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> Obj:
        if params:
            path += "?" + urlencode(params)
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else None
        try:
            return await self._once(method, path, data, headers)
        except ApiError as exc:
            if exc.status != 401 or self._refresh is None:
                raise
        self.credentials = await self._refresh()
        await self.close()
        return await self._once(method, path, data, headers)

    async def _once(
        self, method: str, path: str, data: str | None, headers: dict[str, str] | None
    ) -> Obj:
        """One request of ``path`` (query included) with the current credentials."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self.credentials.headers,
                auth=self.credentials.auth,
                timeout=self._timeout,
            )
        async with self._session.request(
            method,
            self.credentials.server + path,
            data=data,
            headers=headers,
            ssl=self.credentials.ssl_context if self.credentials.ssl_context is not None else True,
        ) as response:
            text = await response.text()
            if response.status >= 400:
                try:
                    message = json.loads(text).get("message", text)
                except (ValueError, AttributeError):
                    message = text
                raise ApiError(response.status, str(message))
            result: Obj = json.loads(text) if text else {}
            return result

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def get_path(self, path: str) -> Obj:
        """GET any path (discovery: ``/apis/GROUP/VERSION``); raises ApiError."""
        return await self._request("GET", path)

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        """The object, or None when it does not exist."""
        try:
            return await self._request("GET", resource_path(api_version, kind, namespace, name))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def list(
        self, api_version: str, kind: str, namespace: str, selector: str = ""
    ) -> list[Obj]:
        """Objects of a kind in a namespace, by label selector."""
        params = {"labelSelector": selector} if selector else None
        result = await self._request(
            "GET", resource_path(api_version, kind, namespace), params=params
        )
        items: list[Obj] = result.get("items", [])
        for item in items:
            # List items carry no apiVersion/kind; the rest of the operator wants them.
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    async def create(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        path = resource_path(obj["apiVersion"], obj["kind"], meta["namespace"])
        return await self._request("POST", path, obj)

    async def replace(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        path = resource_path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        return await self._request("PUT", path, obj)

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete; False when it was already gone."""
        try:
            await self._request(
                "DELETE",
                resource_path(api_version, kind, namespace, name),
                {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
            )
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def patch_status(
        self, api_version: str, kind: str, namespace: str, name: str, status: Obj
    ) -> Obj:
        """Merge-patch ``.status`` through the status subresource."""
        path = resource_path(api_version, kind, namespace, name, "status")
        return await self._request(
            "PATCH", path, {"status": status}, content_type="application/merge-patch+json"
        )
