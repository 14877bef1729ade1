"""Placement, without a cluster: parsing, checks, the automatic choice, and ordinal assignment.

Matrix: annotation mistakes named | unknown / refused data planes | choice deterministic, spread, avoids
unavailable and refusing data planes | ordinal i -> placement[i % n], next available when marked, recorded
ordinals never move, retired ordinals reported.
"""

from __future__ import annotations

import pytest

from kbmc.core import placement
from kbmc.core.placement import PlaneView, assign, check, choose, parse
from kbmc.errors import PlacementError

A = "apps.kubeblocks.io/multi-cluster-placement"
PLANES = {n: PlaneView(n) for n in ("k8s-1", "k8s-2", "k8s-3")}


@pytest.mark.parametrize(("value", "message"), [
    ("", "is empty"), ("k8s-1,", "has an empty entry"), ("k8s-1,k8s-1", "names k8s-1 more than once"),
    ("k8s-1, k8s-2", "entry ' k8s-2' contains whitespace"), ("k8s-1,k8s\t2", "contains whitespace"),
])
def test_parse_names_the_mistake(value: str, message: str) -> None:
    with pytest.raises(PlacementError, match=message):
        parse(value, A)


def test_check_names_unknown_and_refusing_data_planes() -> None:
    with pytest.raises(PlacementError, match=r"unknown data plane\(s\) k8s-9 \(known: k8s-1, k8s-2, k8s-3\)"):
        check(["k8s-1", "k8s-9"], PLANES, "db", A)
    planes = {**PLANES, "k8s-2": PlaneView("k8s-2", allowed_namespaces=("prod",))}
    with pytest.raises(PlacementError, match="k8s-2 do not admit namespace db"):
        check(["k8s-1", "k8s-2"], planes, "db", A)
    check(["k8s-1", "k8s-2"], planes, "prod", A)


def test_choice_is_deterministic_spread_and_avoids_what_it_must() -> None:
    assert choose("ns/a", 3, PLANES, "ns") == ["k8s-1", "k8s-2", "k8s-3"]
    picks = {choose(f"ns/c{i}", 1, PLANES, "ns")[0] for i in range(30)}
    assert picks == {"k8s-1", "k8s-2", "k8s-3"}
    assert all(choose(f"ns/c{i}", 1, PLANES, "ns") == choose(f"ns/c{i}", 1, PLANES, "ns") for i in range(30))
    marked = {**PLANES, "k8s-2": PlaneView("k8s-2", available=False)}
    assert choose("ns/a", 3, marked, "ns") == ["k8s-1", "k8s-3"]
    refusing = {**PLANES, "k8s-3": PlaneView("k8s-3", allowed_namespaces=("other",))}
    assert choose("ns/a", 5, refusing, "ns") == ["k8s-1", "k8s-2"]
    with pytest.raises(PlacementError, match="no available data plane admits namespace ns"):
        choose("ns/a", 1, {"k8s-1": PlaneView("k8s-1", available=False)}, "ns")


def test_assignment_round_robin_next_available_and_never_moving() -> None:
    placement = ["k8s-1", "k8s-2", "k8s-3"]
    assert assign(placement, 5, {}, PLANES).planes == {0: "k8s-1", 1: "k8s-2", 2: "k8s-3", 3: "k8s-1", 4: "k8s-2"}
    marked = {**PLANES, "k8s-2": PlaneView("k8s-2", available=False)}
    recorded = {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"}
    out = assign(placement, 5, recorded, marked)
    assert out.planes == {0: "k8s-1", 1: "k8s-2", 2: "k8s-3", 3: "k8s-1", 4: "k8s-3"}
    out = assign(placement, 2, {**recorded, 3: "k8s-1"}, PLANES)
    assert out.planes == {0: "k8s-1", 1: "k8s-2"} and out.retired == {2: "k8s-3", 3: "k8s-1"}
    out = assign(["k8s-2"], 1, {}, marked)
    assert out.planes == {} and out.waiting == [0]


def test_a_record_that_contradicts_where_instances_live_is_refused() -> None:
    lives = {"etcd": {0: frozenset({"k8s-1"}), 1: frozenset({"k8s-2"})}}
    consistent = {"etcd": {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"}}  # ordinal 2 not created yet
    assert placement.check_record(consistent, lives, consistent) == (consistent, [])
    moved = {"etcd": {0: "k8s-2", 1: "k8s-2", 2: "k8s-3"}}
    record, refusals = placement.check_record(moved, lives, {})
    assert record == consistent
    assert refusals == [placement.Refusal("etcd", 0, "k8s-2", "k8s-1")]
    unknown = {"etcd": {0: "nope", 1: "k8s-2", 2: "k8s-3"}}
    assert placement.check_record(unknown, lives, {})[0] == consistent
    dropped = {"etcd": {1: "k8s-2", 2: "k8s-3"}}
    assert placement.check_record(dropped, lives, {})[1] == [placement.Refusal("etcd", 0, None, "k8s-1")]


def test_a_record_edit_is_told_from_memory_where_instances_cannot_be_seen() -> None:
    remembered = {"etcd": {0: "k8s-1", 1: "k8s-2"}}  # k8s-1 unreachable: nothing seen there
    record, refusals = placement.check_record({"etcd": {0: "k8s-2", 1: "k8s-2"}},
                                              {"etcd": {1: frozenset({"k8s-2"})}}, remembered)
    assert record == remembered and refusals == [placement.Refusal("etcd", 0, "k8s-2", "k8s-1")]
    # a DataPlane deleted under a recorded instance is not an edit: the record stays (reported as unavailable)
    assert placement.check_record(remembered, {}, remembered) == (remembered, [])


def test_an_ordinal_waits_for_a_data_plane_without_credentials() -> None:
    broken = {**PLANES, "k8s-3": PlaneView("k8s-3", configured=False)}
    assert assign(["k8s-1", "k8s-2", "k8s-3"], 3, {}, broken).planes == {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"}
    assert choose("ns/a", 3, broken, "ns") == ["k8s-1", "k8s-2"]
