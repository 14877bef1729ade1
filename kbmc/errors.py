"""Every error kbmc raises on purpose, in one flat module.

Each message says what was wrong, where (object, field, data plane, file) and what to do.
"""

from __future__ import annotations

import json


class KbmcError(Exception):
    """Base of kbmc's own errors; the CLI prints the message and exits non-zero."""

    exit_code = 1


class ToolchainError(KbmcError):
    """The bed's binaries could not be obtained or built."""


class BedError(KbmcError):
    """The local bed cannot do what was asked (bad cluster name, ports taken, start failure)."""


class UsageError(KbmcError):
    """A command was called with arguments that cannot work (a missing object, a refused request)."""


class PlacementError(KbmcError):
    """The placement annotation cannot be honoured (unknown, duplicated, empty or refused data plane)."""


class DataPlaneUnavailableError(KbmcError):
    """A request was about to go to a data plane marked unavailable; it was not sent."""


class ClusterSpecError(KbmcError):
    """A Cluster the schema accepted but kbmc cannot build (unknown componentDef, unknown service, ...)."""


class ComponentDefinitionError(KbmcError):
    """A ComponentDefinition is missing or inconsistent."""


class ApiError(KbmcError):
    """An API server answered with an error Status. Raised as one of the subclasses below when the status says
    what happened; callers decide by type (never by status number or by text)."""

    def __init__(self, status: int, reason: str, message: str, where: str, kind: str = "", name: str = "") -> None:
        super().__init__(f"{where}: {status} {reason}: {message}")
        self.status = status
        """The HTTP status (for ``kbmc.kube`` and logs; everyone else uses the type)."""
        self.reason = reason
        """The Status's reason (``NotFound``, ``AlreadyExists``, ``Conflict``, ...)."""
        self.api_message = message
        self.kind = kind
        """The Status's details.kind: the resource the error is about (``clusters``, ``namespaces``, ...)."""
        self.name = name
        """The Status's details.name."""

    @classmethod
    def from_body(cls, status: int, body: bytes | None, method: str, path: str) -> ApiError:
        try:
            decoded = json.loads(body or b"{}")
        except ValueError:
            decoded = {}
        if not isinstance(decoded, dict):
            decoded = {}
        details = decoded.get("details")
        if not isinstance(details, dict):
            details = {}
        text = (body or b"").decode(errors="replace")[:200]
        reason = str(decoded.get("reason", ""))
        if status == 401:  # the server only says "Unauthorized"
            decoded["message"] = "the credentials were rejected (a token expired or revoked, or a client certificate " \
                                 "not trusted)"
        return _error_type(status, reason)(status, reason, str(decoded.get("message", text)), f"{method} {path}",
                                           str(details.get("kind", "")), str(details.get("name", "")))


class NotFoundError(ApiError):
    """The object (or the namespace it would be in: ``kind`` says which) does not exist: a NotFound Status."""


class NotServedError(ApiError):
    """A 404 without a Status ("404 page not found"): the server does not serve the kind (yet: a starting API
    server answers that for custom resources until its CRD informers have synced). It proves nothing about an
    object."""


class ConflictError(ApiError):
    """409: the object exists already, or it changed since the resourceVersion sent (``reason`` says which)."""


class UnauthorizedError(ApiError):
    """401: the server did not accept the credentials."""


class ForbiddenError(ApiError):
    """403: the identity may not do this (RBAC, or an admission plugin)."""


class InvalidError(ApiError):
    """422: the server refused the object as written (a field's value, a size limit)."""


class TooManyRequestsError(ApiError):
    """429: the server sheds load (API priority and fairness, or max-in-flight)."""


class ServerError(ApiError):
    """5xx: the server failed (starting, its etcd away, a webhook down)."""


def _error_type(status: int, reason: str) -> type[ApiError]:
    if status == 404:
        return NotFoundError if reason == "NotFound" else NotServedError
    if status >= 500:
        return ServerError
    return {401: UnauthorizedError, 403: ForbiddenError, 409: ConflictError, 422: InvalidError,
            429: TooManyRequestsError}.get(status, ApiError)


class NoAnswerError(KbmcError):
    """A request got no whole answer: the connection was refused, reset or timed out, or the body was cut. The
    data plane (or control plane) may be down, partitioned or too slow; the request may have taken effect."""


class SweepError(KbmcError):
    """A data plane refused a removal of the orphan sweep (tried again next round)."""


class KindNotServedError(KbmcError):
    """The API server does not serve a custom kind right now (starting, or not answering); the message says why."""


class KubeconfigError(KbmcError):
    """The data planes' kubeconfig Secret cannot be used; the message names the Secret and the key, never its
    text."""


class InstallError(KbmcError):
    """``kbmc install`` cannot complete; the message names the Secret, context or data plane and the fix."""
