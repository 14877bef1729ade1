"""A ComponentDefinition's status from its content: Available only when kbmc acts on every part of it; each part
it does not act on yet is named (never dropped silently)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from kbmc.operator.definitions import check

ROOT = Path(__file__).resolve().parents[2]
ETCD: dict[str, Any] = {**yaml.safe_load((ROOT / "addons/etcd/componentdefinition.yaml").read_text())}
ETCD["metadata"] = {**ETCD["metadata"], "generation": 2}


def test_the_addon_is_available_and_a_part_kbmc_does_not_run_makes_a_definition_unavailable() -> None:
    status = check(ETCD, "kb-system")
    assert status is not None and status["phase"] == "Available" and status["observedGeneration"] == 2
    assert status["message"] is None, "kbmc acts on every field of its own addon"
    assert check({**ETCD, "status": status}, "kb-system") is None, "written once, not on every event"
    body = copy.deepcopy(ETCD)
    body["spec"]["lifecycleActions"]["dataDump"] = {"customHandler": {"exec": {"command": ["true"]}}}
    body["spec"]["configs"] = [{"name": "conf", "templateRef": "etcd-conf", "volumeName": "conf"}]
    body["spec"]["vars"].append({"name": "PORT", "valueFrom": {"hostNetworkVarRef": {
        "container": {"name": "etcd", "port": {"name": "client"}}}}})
    refused = check(body, "kb-system")
    assert refused is not None and refused["phase"] == "Unavailable"
    assert refused["message"] == (
        "spec.configs: config templates are not supported yet; spec.vars[PORT].valueFrom.hostNetworkVarRef: not "
        "supported yet (kbmc resolves serviceVarRef, componentVarRef, credentialVarRef); "
        "spec.lifecycleActions.dataDump: not run by kbmc yet")


def test_actions_and_role_selectors_naming_what_the_definition_has_not_make_it_unavailable() -> None:
    body = copy.deepcopy(ETCD)
    body["spec"]["lifecycleActions"]["memberJoin"]["customHandler"]["container"] = "sidecar"
    body["spec"]["services"][0]["roleSelector"] = "primary"
    status = check(body, "kb-system")
    assert status is not None and status["phase"] == "Unavailable"
    assert status["message"] == (
        "spec.lifecycleActions.memberJoin.container sidecar: no such container (the runtime has: etcd); "
        "spec.services[default].roleSelector primary: not a role of spec.roles (it has: leader, follower)")


def test_a_var_naming_no_service_or_a_script_elsewhere_makes_it_unavailable() -> None:
    body = copy.deepcopy(ETCD)
    body["spec"]["vars"][0]["valueFrom"]["serviceVarRef"]["name"] = "nope"
    body["spec"]["scripts"][0]["namespace"] = "other"
    status = check(body, "kb-system")
    assert status is not None and status["phase"] == "Unavailable"
    message = str(status["message"])
    assert "serviceVarRef.name: no service named nope" in message
    assert "spec.scripts[etcd-scripts].namespace other" in message and "kb-system" in message


def test_a_var_of_another_definition_is_checked_per_cluster_and_its_own_by_prefix_here() -> None:
    body = copy.deepcopy(ETCD)
    ref = body["spec"]["vars"][0]["valueFrom"]["serviceVarRef"]
    ref.update(compDef="postgresql", name="nope")  # another component's service: known once a Cluster pairs them
    status = check(body, "kb-system")
    assert status is not None and status["phase"] == "Available", status
    ref["compDef"] = "etcd"  # a prefix of its own name: its own service, which it lacks
    status = check(body, "kb-system")
    assert status is not None and status["phase"] == "Unavailable"
    assert "serviceVarRef.name: no service named nope" in str(status["message"])
