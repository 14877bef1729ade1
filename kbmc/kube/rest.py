"""Plain-dict REST calls for the kinds kbmc manages: one code path for every kind, no model
deserialisation, errors mapped to the typed ``ApiError`` subclasses carrying the API's Status and a missing
answer to ``NoAnswerError``, retries (tenacity) only on 429 and 5xx, never on a refused connection or a timeout
(a data plane that is down or hung must fail fast)."""

from __future__ import annotations

import functools
import json
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import urllib3
from kubernetes import client
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from kbmc.errors import ApiError, ForbiddenError, NoAnswerError, NotFoundError, ServerError, TooManyRequestsError
from kbmc.kube.client import default_timeout

Obj = dict[str, Any]
P = ParamSpec("P")
R = TypeVar("R")
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@dataclass(frozen=True)
class Kind:
    prefix: str
    plural: str
    namespaced: bool = True


KINDS: Mapping[str, Kind] = {
    "Namespace": Kind("/api/v1", "namespaces", namespaced=False),
    "Pod": Kind("/api/v1", "pods"),
    "PersistentVolumeClaim": Kind("/api/v1", "persistentvolumeclaims"),
    "Service": Kind("/api/v1", "services"),
    "ConfigMap": Kind("/api/v1", "configmaps"),
    "Secret": Kind("/api/v1", "secrets"),
    "ServiceAccount": Kind("/api/v1", "serviceaccounts"),
    "Event": Kind("/api/v1", "events"),
    "Node": Kind("/api/v1", "nodes", namespaced=False),
    "Role": Kind("/apis/rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": Kind("/apis/rbac.authorization.k8s.io/v1", "rolebindings"),
    "Cluster": Kind("/apis/apps.kubeblocks.io/v1alpha1", "clusters"),
    "ComponentDefinition": Kind("/apis/apps.kubeblocks.io/v1alpha1", "componentdefinitions", namespaced=False),
    "ComponentVersion": Kind("/apis/apps.kubeblocks.io/v1alpha1", "componentversions", namespaced=False),
    "DataPlane": Kind("/apis/kbmc.io/v1alpha1", "dataplanes", namespaced=False),
    "ClusterRole": Kind("/apis/rbac.authorization.k8s.io/v1", "clusterroles", namespaced=False),
    "ClusterRoleBinding": Kind("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", namespaced=False),
    "Deployment": Kind("/apis/apps/v1", "deployments"),
    "Lease": Kind("/apis/coordination.k8s.io/v1", "leases"),
    "CustomResourceDefinition": Kind("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions",
                                     namespaced=False),
    "SelfSubjectAccessReview": Kind("/apis/authorization.k8s.io/v1", "selfsubjectaccessreviews", namespaced=False),
}
FIELD_MANAGER = "kbmc"


def path(kind: str, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
    spec = KINDS[kind]
    out = spec.prefix
    if spec.namespaced and namespace:
        out += f"/namespaces/{namespace}"
    out += f"/{spec.plural}"
    if name:
        out += f"/{name}"
    if subresource:
        out += f"/{subresource}"
    return out


def _retryable(exc: BaseException) -> bool:
    # the ServiceAccount admission plugin reads a cache: a just-created account may not be in it yet (the
    # API server says so only in its message)
    lagging = isinstance(exc, ForbiddenError) and "error looking up service account" in exc.api_message
    return isinstance(exc, TooManyRequestsError | ServerError) or lagging


def request(api: client.ApiClient, method: str, url_path: str, *, body: Any = None,
            query: Mapping[str, Any] | None = None, content_type: str = "application/json",
            timeout: Any = None, stream: bool = False, accept: str = "application/json") -> Any:
    """One call; returns the decoded JSON (or the raw urllib3 response when ``stream``)."""
    url = api.configuration.host + url_path
    if query:
        url += "?" + urllib.parse.urlencode({k: _query_value(v) for k, v in query.items() if v is not None})
    headers = {**api.default_headers, "Accept": accept, "Content-Type": content_type}
    api.update_params_for_auth(headers, [], ["BearerToken"], url_path, method, body)
    try:
        response = api.call_api(method, url, header_params=headers, body=body, _request_timeout=timeout)
        raw = response.response
        data = None if stream and 200 <= response.status <= 299 else raw.data  # the body is read here
    except (urllib3.exceptions.HTTPError, client.exceptions.ApiException, OSError) as exc:  # ApiException: SSL
        why = in_words(exc, api.configuration.host, timeout or default_timeout(api, method))
        raise NoAnswerError(f"{method} {url_path}: {why}") from exc
    if not 200 <= response.status <= 299:
        raise ApiError.from_body(response.status, data, method, url_path)
    if stream:
        return raw
    return json.loads(data) if data else {}


def in_words(exc: BaseException, server: str, timeout: Any = None) -> str:
    """Why a request to ``server`` got no answer, as an SRE would say it (never the exception's repr)."""
    cause = getattr(exc, "reason", None) if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    cause = cause or exc
    text = str(cause)
    connect, read = (timeout, timeout) if isinstance(timeout, int | float) else timeout or (None, None)
    if isinstance(cause, urllib3.exceptions.NameResolutionError):
        return f"the host name of {server} does not resolve"
    if isinstance(cause, urllib3.exceptions.NewConnectionError) and "refused" in text:
        return f"connection refused at {server}"
    if isinstance(cause, urllib3.exceptions.NewConnectionError) and "unreachable" in text.lower():
        return f"no route to {server}"
    if isinstance(cause, urllib3.exceptions.ConnectTimeoutError) and not isinstance(
            cause, urllib3.exceptions.NewConnectionError):
        return f"no connection to {server} within {connect} s" if connect else f"no connection to {server} in time"
    if isinstance(cause, urllib3.exceptions.ReadTimeoutError | TimeoutError):
        return f"no answer from {server} within {read} s" if read else f"no answer from {server} in time"
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        if "unable to get local issuer" in text or "self-signed" in text or "self signed" in text:
            return f"TLS: the certificate of {server} is signed by an unknown authority"
        if "hostname" in text or "match" in text:
            return f"TLS: the certificate of {server} is not valid for that name"
        if "expired" in text:
            return f"TLS: the certificate of {server} has expired"
        return f"TLS: the certificate of {server} cannot be verified"
    if isinstance(cause, urllib3.exceptions.SSLError | client.exceptions.ApiException) or "SSL" in text:
        return f"TLS with {server} failed"
    if isinstance(cause, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
        return f"connection refused at {server}" if "refused" in text else f"cannot connect to {server}"
    if isinstance(cause, urllib3.exceptions.ProtocolError):
        return f"{server} closed the connection before its answer was complete"
    return f"no answer from {server} ({type(cause).__name__})"


def apply(api: client.ApiClient, manifest: Obj) -> Obj:
    """Server-side apply with kbmc's one field manager (idempotent; kbmc's fields win)."""
    meta = manifest["metadata"]
    applied: Obj = call(api, "PATCH", path(manifest["kind"], meta.get("namespace"), meta["name"]), body=manifest,
                        content_type="application/apply-patch+yaml",
                        query={"fieldManager": FIELD_MANAGER, "force": True})
    return applied


def delete(api: client.ApiClient, manifest: Obj) -> bool:
    """Delete the object a manifest names; False when there was none (removing twice is no error)."""
    meta = manifest["metadata"]
    try:
        call(api, "DELETE", path(manifest["kind"], meta.get("namespace"), meta["name"]))
    except NotFoundError:
        return False
    return True


def allowed(api: client.ApiClient, verb: str, group: str, resource: str, namespace: str | None = None) -> bool:
    """Whether the client's identity may do ``verb`` on ``resource`` (the API server's own RBAC decides)."""
    attributes: Obj = {"verb": verb, "group": group, "resource": resource}
    if namespace:
        attributes["namespace"] = namespace
    review = call(api, "POST", path("SelfSubjectAccessReview"), body={
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes}})
    return bool(review.get("status", {}).get("allowed"))


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


RETRYING = Retrying(retry=retry_if_exception(_retryable), stop=stop_after_attempt(5),
                    wait=wait_exponential_jitter(multiplier=0.1, max=1.0, jitter=0.1), reraise=True)
"""Retries on 429, 5xx and the ServiceAccount cache lag (about 1.5 s in all). The jitter keeps callers refused
at the same moment (the writes of several Clusters to one busy data plane) from retrying in step, and colliding
again, every time."""


def retrying(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` with ``RETRYING``'s retries, each call with its own copy of it. Not tenacity's decorator: in 9.2 it
    shares one statistics dict between the threads calling it, and a call starting clears it under another's
    retry (``KeyError: 'idle_for'``, seen with a thousand Clusters' writes)."""
    @functools.wraps(fn)
    def retried(*args: P.args, **kwargs: P.kwargs) -> R:
        return RETRYING.copy()(fn, *args, **kwargs)
    return retried


call = retrying(request)
"""``request`` with ``RETRYING``'s retries."""


def events(response: Any) -> Iterator[Obj]:
    """The decoded events of a watch stream, as they arrive."""
    buffer = b""
    for chunk in response.stream(64 * 1024, decode_content=False):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                event: Obj = json.loads(line)
                yield event


def drop(response: Any) -> None:
    """Close a streamed response: a watch left unread must not go back to the pool, or the next request on
    that connection would read the rest of the stream (and hang)."""
    response.close()
    response.release_conn()


def lister(api: client.ApiClient, kind: str, namespace: str | None = None, **fixed: Any) -> Callable[..., Any]:
    """A list function in the shape ``Informer`` expects (kwargs as the official client names them)."""
    url_path = path(kind, namespace)
    return lister_at(api, lambda _timeout: url_path, **fixed)


def lister_at(api: client.ApiClient, url_path: Callable[[Any], str], **fixed: Any) -> Callable[..., Any]:
    """``lister`` for a path found when listing (``url_path(timeout)``: a kind whose version discovery says)."""
    def list_fn(_preload_content: bool = True, _request_timeout: Any = None, **kwargs: Any) -> Any:
        params = {**fixed, **kwargs}
        query = {_camel(k): v for k, v in params.items()}
        raw = request(api, "GET", url_path(_request_timeout), query=query, timeout=_request_timeout, stream=True)
        if not params.get("watch"):
            raw.data  # noqa: B018 - read the whole body now
        return raw

    return list_fn


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)
