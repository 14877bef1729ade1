"""The models and the generated CRDs, without a cluster.

Matrix: crds/ up to date with the models | every field and printer column of every CRD has a description
(a field's own survives a ``$ref``, an optional, a Literal, a list or a map) | the etcd addon validates | the
seed examples parse (the first, with services nested in volumeClaimTemplates, is refused naming the field) |
the addon's start script builds --initial-cluster from each PEER_ENDPOINT format.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
import yaml
from pydantic import Field, ValidationError

from kbmc.api.cluster import Cluster
from kbmc.api.common import Conditions, FreeForm, IntOrString, Model, list_map
from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.api.crd import all_crds, structural
from kbmc.api.dataplane import DataPlaneSpec

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "examples"


def load(path: Path) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(path.read_text())


def test_generated_files_are_up_to_date() -> None:
    """crds/ and deploy/rbac/ match the code they are generated from."""
    result = subprocess.run([sys.executable, "hack/generate.py", "--check"], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr


def _undescribed(node: dict[str, Any], path: str) -> Iterator[str]:
    """Paths of the properties under ``node`` (recursively: properties, array items, map values) that have no
    description; a property marked x-kubernetes-preserve-unknown-fields itself (a free-form embedded Kubernetes
    type) needs none, though the properties it declares do."""
    for name, sub in node.get("properties", {}).items():
        where = f"{path}.{name}"
        if not sub.get("x-kubernetes-preserve-unknown-fields") and not str(sub.get("description", "")).strip():
            yield where
        yield from _undescribed(sub, where)
    if isinstance(node.get("items"), dict):
        yield from _undescribed(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _undescribed(node["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("name", sorted(all_crds()))
def test_every_field_and_column_is_described(name: str) -> None:
    """``kubectl explain`` has something to say about every field under spec and status, and about every
    printer column."""
    version = all_crds()[name]["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    top = {"properties": {k: schema["properties"][k] for k in ("spec", "status")}}
    assert list(_undescribed(top, "")) == []
    columns = version["additionalPrinterColumns"]
    assert columns
    assert [c["name"] for c in columns if not str(c.get("description", "")).strip()] == []


class _Inner(Model):
    """The type's own description."""

    a: int = 0
    """Field a."""


class _Shapes(Model):
    ref: _Inner
    """Own: ref."""
    optional_ref: _Inner | None = None
    """Own: optionalRef."""
    literal: Literal["A", "B"] = "A"
    """Own: literal."""
    optional_literal: Literal["A", "B"] | None = None
    """Own: optionalLiteral."""
    refs: Annotated[list[_Inner], Field(json_schema_extra=list_map("a"))] = Field(default_factory=list)
    """Own: refs."""
    optional_refs: list[_Inner] | None = None
    """Own: optionalRefs."""
    literals: list[Literal["x", "y"]] = Field(default_factory=list)
    """Own: literals."""
    by_name: dict[str, _Inner] = Field(default_factory=dict)
    """Own: byName."""
    quantity: IntOrString | None = None
    """Own: quantity."""
    free: FreeForm | None = None
    """Own: free."""
    conditions: Conditions = Field(default_factory=list)
    """Own: conditions,
    wrapped."""


def test_a_fields_own_description_survives_the_conversion() -> None:
    raw = _Shapes.model_json_schema(by_alias=True, mode="validation")
    props = structural(raw, raw.get("$defs", {}))["properties"]
    assert {k: v.get("description") for k, v in props.items()} == {
        k: f"Own: {k}." for k in props if k != "conditions"} | {"conditions": "Own: conditions, wrapped."}
    assert props["refs"]["items"]["description"] == "The type's own description."
    assert props["byName"]["additionalProperties"]["properties"]["a"]["description"] == "Field a."


def test_etcd_addon_validates() -> None:
    definition = ComponentDefinition.model_validate(load(ROOT / "addons/etcd/componentdefinition.yaml"))
    assert definition.metadata.name == "etcd-0.9.0"
    peer = next(s for s in definition.spec.services if s.name == "peer")
    assert peer.pod_service and peer.spec.ports[0].port == 2380
    ref = definition.spec.vars[0].value_from.service_var_ref  # type: ignore[union-attr]
    assert (definition.spec.vars[0].name, ref.name, ref.host, ref.load_balancer, ref.optional) == (
        "PEER_ENDPOINT", "peer", "Required", "Required", True)
    assert definition.dump()["spec"]["runtime"]["containers"][0]["volumeMounts"][0]["name"] == "data"


@pytest.mark.parametrize("seed", ["etcd-cross-cloud-lb.yaml", "etcd-self-hosted-cilium.yaml"])
def test_seed_examples_parse(seed: str) -> None:
    cluster = Cluster.model_validate(load(SEEDS / seed))
    component = cluster.spec.component_specs[0]
    assert (component.component_def, component.replicas, component.services[0].name) == ("etcd-0.9.0", 3, "peer")
    assert cluster.metadata.annotations["apps.kubeblocks.io/multi-cluster-placement"] == "k8s-1,k8s-2,k8s-3"


def test_first_seed_example_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        Cluster.model_validate(load(SEEDS / "etcd-cloud-lb.yaml"))
    assert "spec.componentSpecs.0.volumeClaimTemplates.1.spec" in str(err.value)


def test_unavailable_data_plane_needs_a_reason() -> None:
    with pytest.raises(ValidationError, match="unavailableReason is required"):
        DataPlaneSpec.model_validate({"context": "k8s-1", "available": False})


@pytest.mark.parametrize(("endpoints", "pod", "initial", "advertise"), [
    ("c-etcd-peer-0:127.1.0.10,c-etcd-peer-1:127.2.0.10,c-etcd-peer-2:127.3.0.10", "c-etcd-1",
     "c-etcd-0=http://127.1.0.10:2380,c-etcd-1=http://127.2.0.10:2380,c-etcd-2=http://127.3.0.10:2380",
     "http://127.2.0.10:2380"),
    ("c-etcd-peer-0:127.1.0.1:31001,c-etcd-peer-1:127.2.0.1:31002", "c-etcd-0",
     "c-etcd-0=http://127.1.0.1:31001,c-etcd-1=http://127.2.0.1:31002", "http://127.1.0.1:31001"),
    ("c-etcd-peer-0,c-etcd-peer-1", "c-etcd-1",
     "c-etcd-0=http://c-etcd-peer-0:2380,c-etcd-1=http://c-etcd-peer-1:2380", "http://c-etcd-peer-1:2380"),
])
def test_start_script_builds_the_raft_group(tmp_path: Path, endpoints: str, pod: str, initial: str,
                                            advertise: str) -> None:
    script = load(ROOT / "addons/etcd/scripts.yaml")["data"]["start.sh"]
    (tmp_path / "start.sh").write_text(script)
    fake = tmp_path / "bin" / "etcd"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    fake.chmod(0o755)
    env = {"PATH": f"{fake.parent}:{os.environ['PATH']}", "PEER_ENDPOINT": endpoints, "CURRENT_POD_NAME": pod,
           "ETCD_DATA_DIR": str(tmp_path)}
    result = subprocess.run(["sh", str(tmp_path / "start.sh")], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    args = result.stdout.splitlines()
    assert args[args.index("--initial-cluster") + 1] == initial
    assert args[args.index("--initial-advertise-peer-urls") + 1] == advertise
    assert args[args.index("--name") + 1] == pod
    assert args[args.index("--initial-cluster-state") + 1] == "new"


def test_start_script_refuses_without_its_own_entry(tmp_path: Path) -> None:
    script = load(ROOT / "addons/etcd/scripts.yaml")["data"]["start.sh"]
    env = {"PATH": os.environ["PATH"], "PEER_ENDPOINT": "c-etcd-peer-0:127.1.0.10", "CURRENT_POD_NAME": "c-etcd-2"}
    result = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "no entry for ordinal 2" in result.stderr
