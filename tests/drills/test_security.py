"""Security checks over what the suite has done so far (this module runs after the drills).

Matrix: no token of any bed identity in kbmc's logs (operator, node agents) or in any Event | kbmc's
data-plane ClusterRole has no wildcard | no ownerReferences on anything kbmc created in a data plane.
"""

from __future__ import annotations

from kbmc.kube import rest
from kbmc.kube.planes import MANAGED_KINDS
from kbmc.ops.rbac import data_plane_rules
from tests.kube import Clusters
from tests.operator.helpers import PLANES
from tests.operator_env import Operator


def test_no_secret_in_logs_or_events(operator: Operator, clusters: Clusters) -> None:
    state = operator.bed.load()
    secrets = {token for c in state.clusters for token in c.tokens.values()}
    logs = [operator.log, *(operator.bed.directory / c.name / "node-agent.log" for c in state.clusters)]
    for log in logs:
        text = log.read_text(errors="replace")
        leaked = [t[:6] + "..." for t in secrets if t in text]
        assert not leaked, f"{log}: tokens {leaked}"
    for name, api in clusters.items():
        events = rest.call(api, "GET", rest.path("Event"))["items"]
        for event in events:
            assert not any(t in event.get("message", "") for t in secrets), (name, event["message"])


def test_data_plane_role_has_no_wildcard() -> None:
    for rule in data_plane_rules():
        for field in ("apiGroups", "resources", "verbs", "nonResourceURLs"):
            assert "*" not in rule.get(field, []), rule


def test_nothing_kbmc_created_has_owner_references(operator: Operator, clusters: Clusters) -> None:
    for plane in PLANES:
        for kind in MANAGED_KINDS:
            items = rest.call(clusters[plane], "GET", rest.path(kind),
                              query={"labelSelector": "app.kubernetes.io/managed-by=kbmc"})["items"]
            owned = [i["metadata"]["name"] for i in items if i["metadata"].get("ownerReferences")]
            assert not owned, (plane, kind, owned)
