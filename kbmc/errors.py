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
    """A command was called with arguments that cannot work."""

    exit_code = 2


class PlacementError(KbmcError):
    """The placement annotation cannot be honoured (unknown, duplicated, empty or refused data plane)."""


class DataPlaneUnavailableError(KbmcError):
    """A request was about to go to a data plane marked unavailable; it was not sent."""


class ClusterSpecError(KbmcError):
    """A Cluster the schema accepted but kbmc cannot build (unknown componentDef, unknown service, ...)."""


class ComponentDefinitionError(KbmcError):
    """A ComponentDefinition is missing or inconsistent."""


class ApiError(KbmcError):
    """An API server answered with an error Status."""

    def __init__(self, status: int, reason: str, message: str, where: str) -> None:
        super().__init__(f"{where}: {status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.api_message = message

    @property
    def not_found(self) -> bool:
        """The object (or its namespace) does not exist: a NotFound Status. A bare 404 without a Status ("404 page
        not found") means the server does not serve the kind (yet: a starting API server answers that for
        custom resources until its CRD informers have synced), which proves nothing about the object."""
        return self.status == 404 and self.reason == "NotFound"

    @classmethod
    def from_body(cls, status: int, body: bytes | None, method: str, path: str) -> ApiError:
        try:
            decoded = json.loads(body or b"{}")
        except ValueError:
            decoded = {}
        if not isinstance(decoded, dict):
            decoded = {}
        text = (body or b"").decode(errors="replace")[:200]
        return cls(status, str(decoded.get("reason", "")), str(decoded.get("message", text)), f"{method} {path}")


class KubeconfigError(KbmcError):
    """The data planes' kubeconfig Secret cannot be used; the message names the Secret and the key, never its
    text."""


class InstallError(KbmcError):
    """``kbmc install`` cannot complete; the message names the Secret, context or data plane and the fix."""
