"""A small in-process Kubernetes API server for testing the operator's real kopf loop.

A test adapter, not a product: it keeps objects of any kind in memory and
answers over real HTTP with real watch streams, with the semantics kopf 1.45
relies on (see DESIGN.md, "Where things run in tests"):

* objects get ``uid``, ``creationTimestamp``, ``generation`` (bumped when
  anything outside metadata and status changes) and a ``resourceVersion``
  bumped on every write that changes something (a no-op write changes nothing,
  as on a real server);
* list answers carry a ``resourceVersion``; watches honour
  ``resourceVersion`` (no replay of older events), ``timeoutSeconds`` and
  ``allowWatchBookmarks`` (a bookmark every ``bookmark_interval`` seconds);
* POST answers 201 (409 when the name is taken); PUT with a stale
  ``resourceVersion`` answers 409; JSON patch whose ``test`` fails answers
  422; merge patch (also used for strategic merge); the ``status`` and
  ``scale`` subresources, listed in discovery as ``<plural>/status`` and
  ``<plural>/scale``; writes to the main resource keep the status, writes to
  ``/status`` change only the status;
* server-side apply (PATCH ``application/apply-patch+yaml`` with a
  ``fieldManager``): creates the object when missing (then authorized as
  ``create`` too, as kube-apiserver does), else merges the applied
  configuration in; each manager's fields are kept in ``managedFields``
  (``FieldsV1``, lists atomic), so a field the same manager applied before
  and no longer applies is removed and fields of others stay; a field
  another applier owns with a different value answers 409 unless
  ``force=true`` (then ownership moves). Simplified: only appliers own
  fields (PUT and merge patch do not take ownership), lists are atomic (no
  merge keys), no ``time`` in the entries;
* a merge patch naming ``metadata.resourceVersion`` is conditional on it
  (409 when stale), as on a real server; PUT and patches keep
  ``managedFields`` when they do not send it;
* DELETE of an object with finalizers sets ``deletionTimestamp``; the object
  goes when its last finalizer is removed;
* custom resources are pruned to their CRD's structural schema, as the real
  server drops undeclared (e.g. status) fields;
* discovery for the core group (``/api``, ``/api/v1``) and named groups
  (``/apis``, ``/apis/GROUP/VERSION``), ``/api/v1/namespaces`` included; a
  CRD added with ``Store.add_crd`` (e.g. cert-manager's, prometheus-operator's:
  ``tests/operator/optional_kinds.py``) appears in discovery at once, and a
  group version nobody serves answers 404, as on a real server;
* every request is logged (``ApiServer.requests``) with the attributes RBAC
  decides on: user (the bearer token), verb, API group, resource (with
  ``/subresource``), namespace, name; an optional ``ApiServer.authorize``
  answers 403 Forbidden to what it refuses, as an RBAC authorizer would.

Not emulated: garbage collection of owner-referenced objects, admission,
field selectors, strategic merge (treated as merge patch), authentication
(tokens only name users).

Why not kmock: kmock 0.8's Kubernetes mode fails on ``/api/v1/namespaces``
and reports the core group as ``/v1``, and its stateful store lacks the
generation, ``test``-patch and watch-resume semantics above; writing them
around it is more code than this module.

The server runs on its own event loop in a thread, so synchronous tests (and
the kopf subprocess) use it alike; ``ApiServer.store`` methods are
thread-safe and notify watchers like an HTTP write would.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import datetime
import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from tests.waiting import Deadline

Obj = dict[str, Any]


@dataclass(frozen=True)
class ResourceType:
    """One kind the server knows: where it lives in the URL space, and its rules."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    subresources: tuple[str, ...] = ()
    #: The openAPIV3Schema of a custom resource (None: no pruning).
    schema: Obj | None = None
    #: JSON path of the replicas for the scale subresource (dotted, e.g. "spec.replicas").
    spec_replicas: str = "spec.replicas"
    status_replicas: str = "status.replicas"
    selector_path: str | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


BUILTIN_TYPES = [
    ResourceType("", "v1", "namespaces", "Namespace", namespaced=False, subresources=("status",)),
    ResourceType("", "v1", "events", "Event"),
    ResourceType("", "v1", "configmaps", "ConfigMap"),
    ResourceType("", "v1", "secrets", "Secret"),
    ResourceType("", "v1", "services", "Service", subresources=("status",)),
    ResourceType("", "v1", "pods", "Pod", subresources=("status",)),
    ResourceType("apps", "v1", "statefulsets", "StatefulSet", subresources=("status", "scale")),
    ResourceType(
        "policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", subresources=("status",)
    ),
    ResourceType("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        subresources=("status",),
    ),
    ResourceType("events.k8s.io", "v1", "events", "Event"),
    ResourceType("networking.k8s.io", "v1", "ingresses", "Ingress", subresources=("status",)),
    # Which CSI drivers a cluster has (cert-manager's csi-driver: links.podCertificates).
    ResourceType("storage.k8s.io", "v1", "csidrivers", "CSIDriver", namespaced=False),
]


def crd_types(crd: Obj) -> list[ResourceType]:
    """The resource types one CustomResourceDefinition declares (every served version)."""
    spec = crd["spec"]
    out = []
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        subs = version.get("subresources") or {}
        scale = subs.get("scale") or {}
        out.append(
            ResourceType(
                spec["group"],
                version["name"],
                spec["names"]["plural"],
                spec["names"]["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                subresources=tuple(sorted(subs)),
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                spec_replicas=scale.get("specReplicasPath", ".spec.replicas").lstrip("."),
                status_replicas=scale.get("statusReplicasPath", ".status.replicas").lstrip("."),
                selector_path=(scale.get("labelSelectorPath") or "").lstrip(".") or None,
            )
        )
    return out


class ApiError(Exception):
    """An answer other than success, as a Kubernetes ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def status(self) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Status",
            "status": "Failure",
            "code": self.code,
            "reason": self.reason,
            "message": self.message,
        }


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _get_path(obj: Obj, dotted: str) -> Any:
    node: Any = obj
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _set_path(obj: Obj, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = obj
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def prune(value: Any, schema: Obj | None) -> Any:
    """Drop what a structural schema does not declare (as the API server does)."""
    if schema is None or schema.get("x-kubernetes-preserve-unknown-fields"):
        return value
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props is not None:
            return {k: prune(v, props[k]) for k, v in value.items() if k in props}
        if isinstance(extra, dict):
            return {k: prune(v, extra) for k, v in value.items()}
        return value
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(v, schema["items"]) for v in value]
    return value


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if not path:
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def json_patch(target: Obj, ops: list[Obj]) -> Obj:
    """RFC 6902 JSON patch: add, remove, replace, test (what kopf sends)."""
    doc = copy.deepcopy(target)
    for op in ops:
        parts = _pointer(op["path"])
        parent: Any = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.get(part)
            if parent is None:
                raise ApiError(422, "Invalid", f"path {op['path']} does not exist")
        last = parts[-1] if parts else ""
        kind = op["op"]
        if kind == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent.get(last, object())
            if current != op.get("value"):
                raise ApiError(422, "Invalid", f"test failed at {op['path']}")
        elif kind == "add":
            if isinstance(parent, list):
                parent.insert(len(parent) if last == "-" else int(last), op["value"])
            else:
                parent[last] = op["value"]
        elif kind == "replace":
            if isinstance(parent, list):
                parent[int(last)] = op["value"]
            else:
                if last not in parent:
                    raise ApiError(422, "Invalid", f"path {op['path']} does not exist")
                parent[last] = op["value"]
        elif kind == "remove":
            try:
                del parent[int(last) if isinstance(parent, list) else last]
            except (KeyError, IndexError) as exc:
                raise ApiError(422, "Invalid", f"path {op['path']} does not exist") from exc
        else:
            raise ApiError(422, "Invalid", f"unsupported JSON patch op {kind!r}")
    return doc


#: Metadata the server sets or that names the object: never owned by a field manager.
_UNOWNED_METADATA = {
    "name", "namespace", "uid", "resourceVersion", "creationTimestamp", "generation",
    "managedFields", "deletionTimestamp", "selfLink",
}  # fmt: skip

FieldPath = tuple[str, ...]


def field_paths(obj: Obj) -> set[FieldPath]:
    """The leaf fields an applied configuration sets (lists and empty maps are leaves)."""
    out: set[FieldPath] = set()

    def walk(value: Any, path: FieldPath) -> None:
        if isinstance(value, dict) and value:
            for key, item in value.items():
                walk(item, (*path, key))
        else:
            out.add(path)

    for key, value in obj.items():
        if key in ("apiVersion", "kind", "status"):
            continue
        if key == "metadata":
            for mkey, mvalue in (value or {}).items():
                if mkey not in _UNOWNED_METADATA:
                    walk(mvalue, ("metadata", mkey))
        else:
            walk(value, (key,))
    return out


def fields_v1(paths: set[FieldPath]) -> Obj:
    """``managedFields[].fieldsV1`` of leaf paths: ``{"f:spec": {"f:replicas": {}}}``."""
    root: Obj = {}
    for path in sorted(paths):
        node = root
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return root


def paths_of(fields: Obj) -> set[FieldPath]:
    """The leaf paths of a ``fieldsV1`` tree (inverse of ``fields_v1``)."""
    out: set[FieldPath] = set()

    def walk(node: Obj, path: FieldPath) -> None:
        if not node:
            out.add(path)
        for key, child in node.items():
            walk(child, (*path, key.removeprefix("f:")))

    for key, child in fields.items():
        walk(child, (key.removeprefix("f:"),))
    return out


def _lookup(obj: Any, path: FieldPath) -> tuple[bool, Any]:
    node = obj
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _remove(obj: Obj, path: FieldPath, kept: set[FieldPath]) -> None:
    """Drop a field, and each parent map left empty that no kept field lies under."""
    parents = [obj]
    for part in path[:-1]:
        node = parents[-1].get(part)
        if not isinstance(node, dict):
            return
        parents.append(node)
    parents[-1].pop(path[-1], None)
    for depth in range(len(path) - 1, 0, -1):
        prefix = path[:depth]
        if parents[depth] or any(k[:depth] == prefix for k in kept):
            break
        parents[depth - 1].pop(path[depth - 1], None)


def _deep_merge(target: Any, applied: Any) -> Any:
    """Maps merged key by key; anything else (lists included) replaced."""
    if not (isinstance(target, dict) and isinstance(applied, dict)):
        return copy.deepcopy(applied)
    out = dict(target)
    for key, value in applied.items():
        out[key] = _deep_merge(target.get(key), value)
    return out


def _matches(obj: Obj, selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, selector.split(",")):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key) != value.lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


@dataclass
class _Watcher:
    rtype: ResourceType
    namespace: str | None
    selector: str
    queue: asyncio.Queue[Obj]
    loop: asyncio.AbstractEventLoop


@dataclass
class Store:
    """Objects by (resource type, namespace, name), with an event log for watches."""

    types: list[ResourceType] = field(default_factory=lambda: list(BUILTIN_TYPES))
    objects: dict[tuple[str, str, str, str], Obj] = field(default_factory=dict)
    log: list[tuple[int, ResourceType, str, Obj]] = field(default_factory=list)
    revision: int = 100
    watchers: list[_Watcher] = field(default_factory=list)
    #: Every write request as (method, path): tests count writes with it.
    writes: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # ---------------------------------------------------------------- types

    def add_crd(self, crd: Obj) -> None:
        """Serve the kinds of a CRD (also stored as a CustomResourceDefinition object)."""
        with self.lock:
            # Installing a CRD twice serves its kinds once (as kubectl apply would).
            self.types += [t for t in crd_types(crd) if t not in self.types]
            meta = crd["metadata"]["name"]
            if (
                self._key(
                    self.type_of("apiextensions.k8s.io", "customresourcedefinitions"), None, meta
                )
                not in self.objects
            ):
                self.create(
                    self.type_of("apiextensions.k8s.io", "customresourcedefinitions"),
                    None,
                    copy.deepcopy(crd),
                )

    def type_of(self, group: str, plural: str, version: str | None = None) -> ResourceType:
        for rtype in self.types:
            if (rtype.group, rtype.plural) == (group, plural) and version in (None, rtype.version):
                return rtype
        raise ApiError(404, "NotFound", f"the server could not find resource {group}/{plural}")

    def type_for(self, api_version: str, kind: str) -> ResourceType:
        for rtype in self.types:
            if rtype.api_version == api_version and rtype.kind == kind:
                return rtype
        raise ApiError(404, "NotFound", f"no kind {kind} in {api_version}")

    # --------------------------------------------------------------- access

    @staticmethod
    def _key(rtype: ResourceType, namespace: str | None, name: str) -> tuple[str, str, str, str]:
        return (rtype.group, rtype.plural, namespace or "", name)

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        with self.lock:
            obj = self.objects.get(self._key(rtype, namespace, name))
            if obj is None:
                raise ApiError(404, "NotFound", f'{rtype.plural} "{name}" not found')
            return copy.deepcopy(obj)

    def list_objects(self, rtype: ResourceType, namespace: str | None, selector: str = "") -> Obj:
        with self.lock:
            items = [
                copy.deepcopy(obj)
                for (group, plural, ns, _), obj in sorted(self.objects.items())
                if (group, plural) == (rtype.group, rtype.plural)
                and (namespace is None or ns == namespace)
                and _matches(obj, selector)
            ]
            return {
                "apiVersion": rtype.api_version,
                "kind": f"{rtype.kind}List",
                "metadata": {"resourceVersion": str(self.revision)},
                "items": items,
            }

    # --------------------------------------------------------------- writes

    def _record(self, rtype: ResourceType, kind: str, obj: Obj) -> None:
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)
        snapshot = copy.deepcopy(obj)
        self.log.append((self.revision, rtype, kind, snapshot))
        event = {"type": kind, "object": snapshot}
        for watcher in self.watchers:
            if watcher.rtype.plural == rtype.plural and watcher.rtype.group == rtype.group:
                ns = obj["metadata"].get("namespace")
                if watcher.namespace in (None, ns) and _matches(obj, watcher.selector):
                    watcher.loop.call_soon_threadsafe(watcher.queue.put_nowait, event)

    def _clean(self, rtype: ResourceType, obj: Obj) -> Obj:
        if rtype.schema is not None:
            meta = obj.get("metadata", {})
            obj = prune(obj, rtype.schema)
            obj["metadata"] = meta
        obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
        return obj

    def create(self, rtype: ResourceType, namespace: str | None, body: Obj) -> Obj:
        with self.lock:
            obj = self._clean(rtype, copy.deepcopy(body))
            meta = obj.setdefault("metadata", {})
            name = meta.get("name")
            if not name and meta.get("generateName"):
                name = meta["generateName"] + uuid.uuid4().hex[:5]
            if not name:
                raise ApiError(422, "Invalid", "metadata.name: Required value")
            meta["name"] = name
            if rtype.namespaced:
                meta["namespace"] = namespace or meta.get("namespace") or "default"
            else:
                meta.pop("namespace", None)
            key = self._key(rtype, meta.get("namespace"), name)
            if key in self.objects:
                raise ApiError(409, "AlreadyExists", f'{rtype.plural} "{name}" already exists')
            for server_set in ("uid", "resourceVersion", "deletionTimestamp"):
                meta.pop(server_set, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = _now()
            meta["generation"] = 1
            self.objects[key] = obj
            self._record(rtype, "ADDED", obj)
            return copy.deepcopy(obj)

    def _store_update(self, rtype: ResourceType, old: Obj, new: Obj) -> Obj:
        """Write ``new`` over ``old`` if it differs: generation, deletion, events."""
        new = self._clean(rtype, new)
        meta = new.setdefault("metadata", {})
        for kept in ("uid", "creationTimestamp", "generation", "deletionTimestamp", "name"):
            if kept in old["metadata"]:
                meta[kept] = old["metadata"][kept]
            else:
                meta.pop(kept, None)
        if "namespace" in old["metadata"]:
            meta["namespace"] = old["metadata"]["namespace"]
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        if "managedFields" not in meta and "managedFields" in old["metadata"]:
            meta["managedFields"] = copy.deepcopy(old["metadata"]["managedFields"])
        if new == old:
            return copy.deepcopy(old)

        def essence(obj: Obj) -> Obj:
            return {k: v for k, v in obj.items() if k not in ("metadata", "status")}

        if essence(new) != essence(old):
            meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
        key = self._key(rtype, meta.get("namespace"), meta["name"])
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            del self.objects[key]
            self._record(rtype, "DELETED", new)
            return copy.deepcopy(new)
        self.objects[key] = new
        self._record(rtype, "MODIFIED", new)
        return copy.deepcopy(new)

    def _subresource_view(self, rtype: ResourceType, old: Obj, new: Obj, sub: str | None) -> Obj:
        """Which part of a write counts: main resource keeps status; /status takes only it."""
        if sub == "status":
            merged = copy.deepcopy(old)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            return merged
        if "status" in rtype.subresources:
            new = copy.deepcopy(new)
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        return new

    def replace(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: Obj,
        sub: str | None = None,
    ) -> Obj:
        with self.lock:
            old = self.get(rtype, namespace, name)
            wanted = body.get("metadata", {}).get("resourceVersion")
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {rtype.plural} "{name}": '
                    "the object has been modified; please apply your changes to the latest "
                    "version and try again",
                )
            if sub == "scale":
                new = copy.deepcopy(old)
                _set_path(new, rtype.spec_replicas, body.get("spec", {}).get("replicas", 0))
                return self.scale_of(rtype, self._store_update(rtype, old, new))
            new = self._subresource_view(rtype, old, copy.deepcopy(body), sub)
            return self._store_update(rtype, old, new)

    def patch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        sub: str | None = None,
    ) -> Obj:
        with self.lock:
            old = self.get(rtype, namespace, name)
            base = self.scale_of(rtype, old) if sub == "scale" else old
            if "json-patch" in content_type:
                patched = json_patch(base, patch)
            else:
                wanted = ((patch or {}).get("metadata") or {}).get("resourceVersion")
                if wanted and wanted != old["metadata"]["resourceVersion"]:
                    raise ApiError(
                        409,
                        "Conflict",
                        f'Operation cannot be fulfilled on {rtype.plural} "{name}": '
                        "the object has been modified",
                    )
                patched = merge_patch(base, patch)
            if sub == "scale":
                new = copy.deepcopy(old)
                _set_path(new, rtype.spec_replicas, patched.get("spec", {}).get("replicas", 0))
                return self.scale_of(rtype, self._store_update(rtype, old, new))
            new = self._subresource_view(rtype, old, patched, sub)
            return self._store_update(rtype, old, new)

    def exists(self, rtype: ResourceType, namespace: str | None, name: str) -> bool:
        with self.lock:
            return self._key(rtype, namespace if rtype.namespaced else None, name) in self.objects

    def server_side_apply(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: Obj,
        manager: str,
        force: bool,
    ) -> Obj:
        """Apply ``body`` as ``manager``: create, or merge and drop what it stopped applying."""
        if not isinstance(body, dict) or (body.get("metadata") or {}).get("name") != name:
            raise ApiError(400, "BadRequest", "the applied object must name the object patched")
        if (body.get("apiVersion"), body.get("kind")) != (rtype.api_version, rtype.kind):
            raise ApiError(400, "BadRequest", f"apply of {body.get('kind')} to {rtype.plural}")
        owned = field_paths(body)
        entry = {
            "manager": manager,
            "operation": "Apply",
            "apiVersion": rtype.api_version,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_v1(owned),
        }
        with self.lock:
            if not self.exists(rtype, namespace, name):
                created = copy.deepcopy(body)
                created.pop("status", None)
                created["metadata"]["managedFields"] = [entry]
                return self.create(rtype, namespace, created)
            old = self.get(rtype, namespace, name)
            entries = old["metadata"].get("managedFields") or []
            mine = [e for e in entries if (e["manager"], e["operation"]) == (manager, "Apply")]
            others = [e for e in entries if e not in mine]
            before = paths_of(mine[0]["fieldsV1"]) if mine else set()
            conflicts = []
            for other in others:
                for path in paths_of(other.get("fieldsV1") or {}) & owned:
                    if _lookup(old, path) != _lookup(body, path):
                        conflicts.append(f'.{".".join(path)} (owned by "{other["manager"]}")')
            if conflicts and not force:
                raise ApiError(
                    409, "Conflict", "Apply failed with conflicts: " + ", ".join(conflicts)
                )
            new = copy.deepcopy(old)
            for path in sorted(before - owned, key=len, reverse=True):
                _remove(new, path, owned)
            applied = {k: v for k, v in body.items() if k not in ("status",)}
            new = _deep_merge(new, applied)
            kept = []
            for other in others:
                # Forced: the fields this manager now applies are no longer theirs.
                left = paths_of(other.get("fieldsV1") or {}) - owned
                if left:
                    kept.append({**other, "fieldsV1": fields_v1(left)})
            new["metadata"]["managedFields"] = [*kept, entry]
            new["metadata"].pop("resourceVersion", None)
            new = self._subresource_view(rtype, old, new, None)
            return self._store_update(rtype, old, new)

    def delete(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        with self.lock:
            old = self.get(rtype, namespace, name)
            key = self._key(rtype, namespace if rtype.namespaced else None, name)
            if old["metadata"].get("finalizers"):
                if not old["metadata"].get("deletionTimestamp"):
                    new = copy.deepcopy(old)
                    new["metadata"]["deletionTimestamp"] = _now()
                    self.objects[key] = new
                    self._record(rtype, "MODIFIED", new)
                    return copy.deepcopy(new)
                return old
            del self.objects[key]
            self._record(rtype, "DELETED", old)
            return old

    def scale_of(self, rtype: ResourceType, obj: Obj) -> Obj:
        """The autoscaling/v1 Scale view of an object."""
        status: Obj = {"replicas": _get_path(obj, rtype.status_replicas) or 0}
        if rtype.selector_path:
            status["selector"] = _get_path(obj, rtype.selector_path) or ""
        return {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {
                k: obj["metadata"][k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in obj["metadata"]
            },
            "spec": {"replicas": _get_path(obj, rtype.spec_replicas) or 0},
            "status": status,
        }

    # -------------------------------------------------------- conveniences

    def _typed(self, api_version: str, kind: str) -> ResourceType:
        return self.type_for(api_version, kind)

    def apply(self, body: Obj) -> Obj:
        """Create, or replace keeping the status (a test's ``kubectl apply``)."""
        rtype = self._typed(body["apiVersion"], body["kind"])
        meta = body["metadata"]
        ns = meta.get("namespace") if rtype.namespaced else None
        with self.lock:
            try:
                old = self.get(rtype, ns, meta["name"])
            except ApiError:
                return self.create(rtype, ns, body)
            merged = copy.deepcopy(body)
            merged["metadata"] = {**old["metadata"], **meta}
            merged["metadata"].pop("resourceVersion", None)
            return self.replace(rtype, ns, meta["name"], merged)

    def find(self, api_version: str, kind: str, namespace: str | None, name: str) -> Obj | None:
        """The object, or None."""
        rtype = self._typed(api_version, kind)
        try:
            return self.get(rtype, namespace if rtype.namespaced else None, name)
        except ApiError:
            return None

    def items(self, api_version: str, kind: str, namespace: str | None = None) -> list[Obj]:
        """Every object of a kind (in one namespace, or all)."""
        items: list[Obj] = self.list_objects(self._typed(api_version, kind), namespace)["items"]
        return items

    # --------------------------------------------------------------- watches

    def subscribe(
        self,
        rtype: ResourceType,
        namespace: str | None,
        selector: str,
        since: int | None,
        loop: asyncio.AbstractEventLoop,
    ) -> tuple[_Watcher, list[Obj]]:
        """Register a watcher; return it with the events it must send first."""
        with self.lock:
            watcher = _Watcher(rtype, namespace, selector, asyncio.Queue(), loop)
            if since is None:
                backlog = [
                    {"type": "ADDED", "object": obj}
                    for obj in self.list_objects(rtype, namespace, selector)["items"]
                ]
            else:
                backlog = [
                    {"type": kind, "object": copy.deepcopy(obj)}
                    for rev, t, kind, obj in self.log
                    if rev > since
                    and (t.group, t.plural) == (rtype.group, rtype.plural)
                    and namespace in (None, obj["metadata"].get("namespace"))
                    and _matches(obj, selector)
                ]
            self.watchers.append(watcher)
            return watcher, backlog

    def unsubscribe(self, watcher: _Watcher) -> None:
        with self.lock, contextlib.suppress(ValueError):
            self.watchers.remove(watcher)


def _discovery_resources(store: Store, group: str, version: str) -> list[Obj]:
    out = []
    for rtype in store.types:
        if (rtype.group, rtype.version) != (group, version):
            continue
        verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        out.append(
            {
                "name": rtype.plural,
                "singularName": rtype.kind.lower(),
                "namespaced": rtype.namespaced,
                "kind": rtype.kind,
                "verbs": verbs,
            }
        )
        for sub in rtype.subresources:
            out.append(
                {
                    "name": f"{rtype.plural}/{sub}",
                    "singularName": "",
                    "namespaced": rtype.namespaced,
                    "kind": "Scale" if sub == "scale" else rtype.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    return out


@dataclass(frozen=True)
class Request:
    """One request as an RBAC authorizer sees it.

    ``resource`` is None for non-resource URLs (discovery, ``/version``: every
    authenticated user may read them); then ``path`` says which.
    """

    user: str
    verb: str
    group: str = ""
    resource: str | None = None
    namespace: str | None = None
    name: str | None = None
    path: str = ""
    allowed: bool = True

    def __str__(self) -> str:
        if self.resource is None:
            return f"{self.user}: {self.verb} {self.path}"
        where = f" in {self.namespace}" if self.namespace else " (cluster)"
        group = self.group or "core"
        return f"{self.user}: {self.verb} {group}/{self.resource}{where}"


#: Decides whether a request may proceed (True) or gets 403 Forbidden.
Authorizer = Callable[[Request], bool]


def _verb(method: str, named: bool, watch: bool) -> str:
    """The RBAC verb of an HTTP method on an object (``named``) or a collection."""
    if method == "GET":
        return "get" if named else ("watch" if watch else "list")
    if method == "DELETE" and not named:
        return "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        method, method.lower()
    )


def _user(request: web.Request) -> str:
    """The bearer token names the user (no authentication is emulated)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" and token else "anonymous"


@dataclass(frozen=True)
class _Target:
    rtype: ResourceType
    namespace: str | None
    name: str | None
    sub: str | None


def _route(store: Store, group: str, version: str, parts: list[str]) -> _Target:
    """Resolve the path after ``/api/v1`` or ``/apis/GROUP/VERSION``."""
    namespace: str | None = None
    # /api/v1/namespaces/NS/status is the Namespace's own subresource, not a collection.
    own_subresource = group == "" and len(parts) == 3 and parts[2] in ("status", "finalize")
    if len(parts) >= 3 and parts[0] == "namespaces" and not own_subresource:
        namespace, parts = parts[1], parts[2:]
    if not parts:
        raise ApiError(404, "NotFound", "no resource in path")
    rtype = store.type_of(group, parts[0], version)
    name = parts[1] if len(parts) > 1 else None
    sub = parts[2] if len(parts) > 2 else None
    if sub is not None and sub not in rtype.subresources:
        raise ApiError(404, "NotFound", f"no subresource {sub} of {rtype.plural}")
    return _Target(rtype, namespace if rtype.namespaced else None, name, sub)


class ApiServer:
    """The HTTP front of a ``Store``, on 127.0.0.1 in a background thread."""

    def __init__(self, store: Store | None = None, bookmark_interval: float = 5.0) -> None:
        self.store = store or Store()
        self.bookmark_interval = bookmark_interval
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._started = threading.Event()
        self._stopping: asyncio.Event | None = None
        #: Every request, in order, with its RBAC attributes.
        self.requests: list[Request] = []
        #: When set, requests it refuses get 403 Forbidden (recorded, allowed=False).
        self.authorize: Authorizer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------ lifecycle

    def start(self) -> ApiServer:
        self._thread = threading.Thread(target=self._run, name="kubeapi", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the emulated API server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        # Bind the socket first, so the port is known without aiohttp internals.
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()
        self._started.set()
        await self._stopping.wait()
        await self._runner.cleanup()

    def kubeconfig(self, path: Path, token: str = "test-token") -> Path:
        """Write a kubeconfig that points at this server, as the user ``token``."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulated", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": token}}],
            "contexts": [
                {"name": "emulated", "context": {"cluster": "emulated", "user": "tester"}}
            ],
            "current-context": "emulated",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    # ---------------------------------------------------------------- HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._dispatch(request)
        except ApiError as exc:
            return web.json_response(exc.status(), status=exc.code)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        store = self.store
        if not parts or parts[0] == "version" or len(parts) <= 3 - (parts[0] == "api"):
            # Discovery (/api, /api/v1, /apis, /apis/G, /apis/G/V) and /version.
            self._check(Request(_user(request), request.method.lower(), path=request.path))
        if parts == ["version"]:
            return web.json_response({"major": "1", "minor": "31", "gitVersion": "v1.31.0"})
        if parts == ["api"]:
            return web.json_response({"kind": "APIVersions", "versions": ["v1"]})
        if parts == ["apis"]:
            groups: dict[str, list[str]] = {}
            for rtype in store.types:
                if rtype.group and rtype.version not in groups.setdefault(rtype.group, []):
                    groups[rtype.group].append(rtype.version)
            return web.json_response(
                {
                    "kind": "APIGroupList",
                    "apiVersion": "v1",
                    "groups": [
                        {
                            "name": g,
                            "versions": [
                                {"groupVersion": f"{g}/{v}", "version": v} for v in versions
                            ],
                            "preferredVersion": {
                                "groupVersion": f"{g}/{versions[0]}",
                                "version": versions[0],
                            },
                        }
                        for g, versions in groups.items()
                    ],
                }
            )
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        elif parts[:1] == ["apis"] and len(parts) == 2:
            return web.json_response({"kind": "APIGroup", "name": parts[1]})
        else:
            raise ApiError(404, "NotFound", f"no route for {request.path}")
        if not rest:
            resources = _discovery_resources(store, group, version)
            if not resources:
                raise ApiError(404, "NotFound", f"no group version {group}/{version}")
            return web.json_response(
                {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": f"{group}/{version}" if group else version,
                    "resources": resources,
                }
            )
        target = _route(store, group, version, rest)
        found = Request(
            user=_user(request),
            verb=_verb(
                request.method,
                target.name is not None,
                request.query.get("watch") in ("true", "1"),
            ),
            group=group,
            resource=target.rtype.plural + (f"/{target.sub}" if target.sub else ""),
            namespace=target.namespace,
            name=target.name,
            path=request.path,
        )
        self._check(found)
        return await self._resource(request, target, found)

    def _check(self, found: Request) -> None:
        """Log the request; 403 when the authorizer refuses it."""
        allowed = self.authorize is None or found.resource is None or self.authorize(found)
        if not allowed:
            found = dataclasses.replace(found, allowed=False)
        with self.store.lock:
            self.requests.append(found)
        if not allowed:
            raise ApiError(403, "Forbidden", f"{found} is forbidden")

    async def _resource(
        self, request: web.Request, t: _Target, found: Request
    ) -> web.StreamResponse:
        store = self.store
        method = request.method
        query = request.query
        if method != "GET":
            with store.lock:
                store.writes.append((method, request.path))
        if t.name is None:
            if method == "GET" and query.get("watch") in ("true", "1"):
                return await self._watch(request, t)
            if method == "GET":
                listing = store.list_objects(t.rtype, t.namespace, query.get("labelSelector", ""))
                return web.json_response(listing)
            if method == "POST":
                body = await request.json()
                return web.json_response(store.create(t.rtype, t.namespace, body), status=201)
            raise ApiError(405, "MethodNotAllowed", f"{method} on a collection")
        if method == "GET":
            obj = store.get(t.rtype, t.namespace, t.name)
            return web.json_response(store.scale_of(t.rtype, obj) if t.sub == "scale" else obj)
        if method == "PUT":
            body = await request.json()
            return web.json_response(store.replace(t.rtype, t.namespace, t.name, body, t.sub))
        if method == "PATCH" and "apply-patch" in request.headers.get("Content-Type", ""):
            return await self._apply(request, t, found)
        if method == "PATCH":
            body = await request.json()
            content_type = request.headers.get("Content-Type", "application/merge-patch+json")
            return web.json_response(
                store.patch(t.rtype, t.namespace, t.name, body, content_type, t.sub)
            )
        if method == "DELETE":
            return web.json_response(store.delete(t.rtype, t.namespace, t.name))
        raise ApiError(405, "MethodNotAllowed", method)

    async def _apply(self, request: web.Request, t: _Target, found: Request) -> web.StreamResponse:
        """Server-side apply; creating the object needs ``create`` as well as ``patch``."""
        assert t.name is not None
        manager = request.query.get("fieldManager")
        if not manager:
            raise ApiError(400, "BadRequest", "fieldManager is required for apply requests")
        if t.sub is not None:
            raise ApiError(415, "UnsupportedMediaType", "apply to a subresource is not emulated")
        try:
            body = yaml.safe_load(await request.text())
        except yaml.YAMLError as exc:
            raise ApiError(400, "BadRequest", f"the applied object is not YAML: {exc}") from exc
        if not self.store.exists(t.rtype, t.namespace, t.name):
            self._check(dataclasses.replace(found, verb="create"))
        force = request.query.get("force") in ("true", "True", "1")
        return web.json_response(
            self.store.server_side_apply(t.rtype, t.namespace, t.name, body, manager, force)
        )

    async def _watch(self, request: web.Request, t: _Target) -> web.StreamResponse:
        query = request.query
        since_text = query.get("resourceVersion")
        initial = query.get("sendInitialEvents") == "true"
        since = int(since_text) if since_text and since_text != "0" and not initial else None
        timeout = float(query.get("timeoutSeconds", "1800"))
        bookmarks = query.get("allowWatchBookmarks") == "true"
        loop = asyncio.get_running_loop()
        watcher, backlog = self.store.subscribe(
            t.rtype, t.namespace, query.get("labelSelector", ""), since, loop
        )
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)

        def bookmark(extra: Obj | None = None) -> Obj:
            meta: Obj = {"resourceVersion": str(self.store.revision)}
            if extra:
                meta["annotations"] = extra
            return {
                "type": "BOOKMARK",
                "object": {
                    "apiVersion": t.rtype.api_version,
                    "kind": t.rtype.kind,
                    "metadata": meta,
                },
            }

        async def send(event: Obj) -> None:
            await response.write(json.dumps(event).encode() + b"\n")

        try:
            for event in backlog:
                await send(event)
            if initial:
                await send(bookmark({"k8s.io/initial-events-end": "true"}))
            deadline = Deadline(timeout)  # the watch ends then, as kube-apiserver's do
            while (left := deadline.left()) > 0:
                wait = min(left, self.bookmark_interval) if bookmarks else left
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), wait)
                except TimeoutError:
                    if bookmarks and not deadline.passed:
                        await send(bookmark())
                    continue
                await send(event)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.unsubscribe(watcher)
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response


def load_yaml_objects(path: Path) -> Iterator[Obj]:
    """Every document of a YAML file."""
    yield from (doc for doc in yaml.safe_load_all(path.read_text()) if doc)
