"""The operator's Kubernetes API client: a thin async adapter over kubernetes_asyncio.

kopf watches the ChatNetworks and ChatServers itself; every other call the
operator makes (read a network, list its servers, write children, prune
them, patch a status) goes through this module, and the rest of the
operator sees plain dicts and one ``ApiError``.

It uses the official client's dynamic side (``kubernetes_asyncio.dynamic``):
where each kind lives (group, version, plural, namespaced) comes from the
API server's discovery, not from a table here, so an optional kind
(cert-manager's Certificate, the Gateway API's HTTPRoute, prometheus-
operator's monitors, CloudNativePG's Cluster) is usable as soon as its CRD
is served, and ``served_kinds`` says whether it is (``cluster.discovery``).

Credentials are found as kopf finds its own (kopf logs in through the same
kubernetes_asyncio loaders when the package is installed): the pod's
service account when running in a cluster (the token file is re-read as it
rotates), else the kubeconfig (``KUBECONFIG``, else ``~/.kube/config``), so
the operator's calls and kopf's watches go to the same server as the same
user.

Writes of the children the operator owns use server-side apply with the
field manager ``chatnet-operator`` (``apply``); see docs/operator.md
("How the operator writes") for which calls use what and why.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
from typing import Any

import aiohttp
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.dynamic import DynamicClient
from kubernetes_asyncio.dynamic.exceptions import ResourceNotFoundError

Obj = dict[str, Any]

#: The field manager of every server-side apply (what ``managedFields`` names).
FIELD_MANAGER = "chatnet-operator"
#: Seconds a group version's served kinds are trusted (``served_kinds``).
DISCOVERY_TTL = 30.0


class ApiError(Exception):
    """A non-success answer from the API server (``status`` 0: no answer at all)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def _status_message(raw: Any, fallback: Any = "") -> str:
    """The ``message`` of a Kubernetes ``Status`` body, else the body, else ``fallback``."""
    body = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    try:
        found = json.loads(body).get("message") if body else None
    except (ValueError, AttributeError):
        found = None
    return str(found or body or fallback)


def _message(exc: ApiException) -> str:
    return _status_message(exc.body, exc.reason)


async def load_configuration() -> Configuration:
    """Where the API server is and who we are, found exactly as kopf finds its own.

    kopf, with kubernetes_asyncio installed, logs in through the same two
    loaders in the same order (``kopf.login_via_async_client``): the pod's
    service account, else the kubeconfig (``KUBECONFIG``, a list merged as
    kubectl does, else ``~/.kube/config``).
    """
    configuration = Configuration()
    try:
        kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except kube_config.ConfigException:
        try:
            # The library's default path is read from the environment at its
            # import; read it now (the same value in a process started with it).
            await kube_config.load_kube_config(
                config_file=os.environ.get("KUBECONFIG", "~/.kube/config"),
                client_configuration=configuration,
                persist_config=False,
            )
        except kube_config.ConfigException as exc:
            raise ApiError(
                0, f"no Kubernetes credentials: neither a service account nor a kubeconfig: {exc}"
            ) from exc
    return configuration


class KubeClient:
    """Async calls against one API server; every call has a timeout.

    Build with ``await KubeClient.connect()``; ``close`` when done.
    """

    def __init__(self, api: ApiClient, timeout: float = 10.0) -> None:
        self._api = api
        self._timeout = timeout
        self._dynamic: DynamicClient | None = None
        # The discovery cache lives in a directory of this process: the
        # library's default (a file per host in /tmp) would outlive the
        # process and could tell a new one of kinds no longer served.
        self._cache_dir = tempfile.mkdtemp(prefix="chatnet-discovery-")
        # The discoverer mutates its cache on a miss; reconciles of several
        # networks run concurrently in kopf's loop.
        self._discovery_lock = asyncio.Lock()
        #: Group version -> (when, the kinds it serves), for non-empty answers.
        self._served: dict[str, tuple[float, frozenset[str]]] = {}

    @classmethod
    async def connect(cls, request_timeout: float = 10.0) -> KubeClient:
        """A client with kopf's credentials; the server is first asked at the first call."""
        return cls(ApiClient(await load_configuration()), request_timeout)

    async def close(self) -> None:
        await self._api.close()
        shutil.rmtree(self._cache_dir, ignore_errors=True)

    # ------------------------------------------------------------ discovery

    async def _discoverer(self) -> Any:
        """The dynamic client's discoverer, made (``/version``, ``/apis``) at first use."""
        if self._dynamic is None:
            cache = os.path.join(self._cache_dir, "discovery.json")
            self._dynamic = await DynamicClient(self._api, cache_file=cache)
        return self._dynamic.resources

    async def _resource(self, api_version: str, kind: str) -> Any:
        """The discovered resource of a kind; ApiError 404 when not served."""
        async with self._discovery_lock:
            try:
                discoverer = await self._discoverer()
                return await discoverer.get(api_version=api_version, kind=kind)
            except ResourceNotFoundError:
                pass
            except ApiException as exc:
                raise ApiError(exc.status or 0, _message(exc)) from exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise ApiError(0, f"discovery: {exc!r}") from exc
        raise ApiError(404, f"{kind} ({api_version}) is not served by this cluster")

    async def served_kinds(self, api_version: str) -> frozenset[str]:
        """The kinds a group version serves (empty when it is not served): its discovery document.

        A non-empty answer is kept ``DISCOVERY_TTL`` seconds (CRDs are rarely
        removed, and then a write answers 404 and ``forget_discovery`` drops
        it); an empty one is asked again every time, so a CRD installed later
        is seen at the next reconcile. One request, where a miss in the
        dynamic client's discoverer would re-read all of ``/apis``.
        """
        kept = self._served.get(api_version)
        if kept is not None and time.monotonic() - kept[0] < DISCOVERY_TTL:
            return kept[1]
        async with self._discovery_lock:
            await self._discoverer()
        prefix = "/apis/" if "/" in api_version else "/api/"
        try:
            found = await self._call("get", prefix + api_version)
        except ApiError as exc:
            if exc.status != 404:
                raise
            found = {}
        kinds = frozenset(
            r["kind"] for r in found.get("resources") or [] if "/" not in r.get("name", "")
        )
        if kinds:
            self._served[api_version] = (time.monotonic(), kinds)
        return kinds

    async def forget_discovery(self) -> None:
        """Drop what discovery said (a write answered 404: the CRD may be gone)."""
        self._served.clear()
        async with self._discovery_lock:
            if self._dynamic is not None:
                await self._dynamic.resources.invalidate_cache()

    # ---------------------------------------------------------------- calls

    async def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """One request; the decoded JSON answer, or ApiError.

        The dynamic client's ``request`` builds the URL, query, headers and
        auth; its answer is read here, since it does not raise on an error
        status (it asks the REST layer not to preload the body).
        """
        assert self._dynamic is not None  # made by _resource, which every path comes from
        try:
            response = await self._dynamic.request(
                method,
                path,
                body=body,
                serialize=False,
                _request_timeout=self._timeout,
                **params,
            )
            try:
                text = await response.text()
            finally:
                response.release()
        except ApiException as exc:
            raise ApiError(exc.status or 0, _message(exc)) from exc
        except TimeoutError as exc:
            raise ApiError(0, f"{method.upper()} {path}: no answer in {self._timeout} s") from exc
        except aiohttp.ClientError as exc:
            raise ApiError(0, f"{method.upper()} {path}: {exc!r}") from exc
        status = int(response.status)
        if status >= 400:
            raise ApiError(status, _status_message(text, response.reason))
        return json.loads(text) if text else {}

    async def _path(
        self, api_version: str, kind: str, namespace: str | None, name: str | None = None
    ) -> str:
        resource = await self._resource(api_version, kind)
        path: str = resource.path(name=name, namespace=namespace)
        return path

    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> Obj | None:
        """The object, or None when it (or its kind) does not exist; ``namespace`` None
        (or any: it is not used) for a cluster-scoped kind."""
        try:
            found: Obj = await self._call(
                "get", await self._path(api_version, kind, namespace, name)
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return found

    async def list(
        self, api_version: str, kind: str, namespace: str, selector: str = ""
    ) -> list[Obj]:
        """Objects of a kind in a namespace, by label selector."""
        result = await self._call(
            "get",
            await self._path(api_version, kind, namespace),
            label_selector=selector or None,
        )
        items: list[Obj] = result.get("items") or []
        for item in items:
            # List items carry no apiVersion/kind; the rest of the operator wants them.
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    async def create(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        path = await self._path(obj["apiVersion"], obj["kind"], meta["namespace"])
        created: Obj = await self._call("post", path, body=obj)
        return created

    async def apply(self, obj: Obj) -> Obj:
        """Server-side apply ``obj`` as ``chatnet-operator``, taking over conflicting fields.

        Creates the object when missing; fields this manager applied before
        and ``obj`` no longer has are removed by the server; fields others
        set (another controller's annotation, an allocated clusterIP) stay.
        No ``resourceVersion`` is sent: apply merges, it does not overwrite.
        """
        meta = obj["metadata"]
        path = await self._path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        body = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
        applied: Obj = await self._call(
            "patch",
            path,
            body=body,
            content_type="application/apply-patch+yaml",
            field_manager=FIELD_MANAGER,
            # The operator is the one writer of its children: a field someone
            # edited by hand (drift) is taken back, as a replace did before.
            force_conflicts="true",
        )
        return applied

    async def patch(
        self, api_version: str, kind: str, namespace: str, name: str, patch: Obj
    ) -> Obj:
        """JSON merge patch; a ``metadata.resourceVersion`` in it makes it conditional."""
        path = await self._path(api_version, kind, namespace, name)
        patched: Obj = await self._call(
            "patch", path, body=patch, content_type="application/merge-patch+json"
        )
        return patched

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete (dependents in the background); False when it was already gone."""
        try:
            await self._call(
                "delete",
                await self._path(api_version, kind, namespace, name),
                propagation_policy="Background",
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
        path = await self._path(api_version, kind, namespace, name) + "/status"
        patched: Obj = await self._call(
            "patch", path, body={"status": status}, content_type="application/merge-patch+json"
        )
        return patched
