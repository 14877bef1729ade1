"""The addons kbmc ships (``addons/``: ComponentDefinitions and their script ConfigMaps)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

import kbmc


def addons_dir() -> Path:
    """``KBMC_ADDONS_DIR``, the source tree's ``addons/``, or the copy packaged in the wheel."""
    override = os.environ.get("KBMC_ADDONS_DIR")
    if override:
        return Path(override)
    package = Path(kbmc.__file__).resolve().parent
    source = package.parent / "addons"
    return source if source.is_dir() else package / "_addons"


def load_addons(namespace: str) -> list[dict[str, Any]]:
    """Every manifest of every addon; namespaced ones (script ConfigMaps) moved to ``namespace``."""
    manifests = []
    for path in sorted(addons_dir().glob("*/*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            if doc["kind"] == "ConfigMap":
                doc["metadata"]["namespace"] = namespace
            elif doc["kind"] == "ComponentDefinition":
                for script in doc["spec"].get("scripts") or []:
                    script["namespace"] = namespace
            manifests.append(doc)
    return manifests
