"""The data planes' kubeconfig, read from the data of the operator's Secret (KubeBlocks'
``multiCluster.kubeConfig``, key ``kubeconfig``). Every error names the Secret, the key and the kind of
problem, and never quotes the Secret's text: it holds credentials, and errors reach conditions, Events,
DataPlane status and logs that many more people can read than the Secret."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import yaml

from kbmc.errors import KubeconfigError

KEY = "kubeconfig"


def from_secret(data: Mapping[str, str] | None, where: str) -> dict[str, Any]:
    """The parsed kubeconfig in the Secret's ``data`` (``where`` names the Secret, e.g. ``Secret ns/name``)."""
    encoded = (data or {}).get(KEY)
    if not encoded:
        raise KubeconfigError(f"{where} has no key '{KEY}' (keys: {', '.join(sorted(data or {})) or 'none'})")
    try:
        text = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise KubeconfigError(f"{where} key '{KEY}' is not valid base64") from None
    try:
        parsed = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise KubeconfigError(f"{where} key '{KEY}' is not valid YAML{at}") from None
    except yaml.YAMLError:
        raise KubeconfigError(f"{where} key '{KEY}' is not valid YAML") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("contexts"), list):
        raise KubeconfigError(f"{where} key '{KEY}' is not a kubeconfig (no contexts list)")
    return parsed
