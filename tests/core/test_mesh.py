"""The mesh agent's decisions (``kbmc.dev.mesh``), on objects built in memory: which backends a Service's names
resolve to in each cluster, the hosts file a namespace's pods get, and how it is rewritten.

Matrix: non-global: own backends only | global: every cluster's global copy shares, a ``shared: "false"`` copy
does not (but still imports), a copy that is not global neither | not-ready endpoints left out, ready unset is
ready | no backend: no entry | one backend per cluster-IP Service, kept while ready, else the lowest address |
headless: every own ready backend, never merged | ExternalName and FQDN slices ignored | names per namespace |
the file rewritten in place (same inode, never shorter), created once with the machine's lines | nsswitch.conf
with hosts from files first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kbmc.dev import mesh
from kbmc.dev.mesh import Service, Slice, View, names, render, table
from kbmc.dev.sandbox import files_first

NS = "team"


def service(name: str = "db", *, exported: bool = False, shared: bool | None = None, headless: bool = False,
            kind: str = "ClusterIP") -> dict[str, Any]:
    annotations = {mesh.GLOBAL: "true"} if exported else {}
    if shared is not None:
        annotations[mesh.SHARED] = str(shared).lower()
    spec: dict[str, Any] = {"type": kind, "clusterIP": "None" if headless else "10.1.0.7"}
    return {"metadata": {"namespace": NS, "name": name, "annotations": annotations}, "spec": spec}


def endpoint_slice(service_name: str, *endpoints: tuple[str, bool | None], address_type: str = "IPv4",
                   name: str = "") -> dict[str, Any]:
    def endpoint(address: str, ready: bool | None) -> dict[str, Any]:
        return {"addresses": [address], "conditions": {} if ready is None else {"ready": ready}}
    return {"metadata": {"namespace": NS, "name": name or f"{service_name}-abcde",
                         "labels": {mesh.SERVICE_NAME: service_name}},
            "addressType": address_type, "endpoints": [endpoint(a, r) for a, r in endpoints]}


def view(services: list[dict[str, Any]], slices: list[dict[str, Any]]) -> View:
    parsed_services = {(s["metadata"]["namespace"], s["metadata"]["name"]): p for s in services
                       if (p := Service.parse(s)) is not None}
    parsed_slices = {(s["metadata"]["namespace"], s["metadata"]["name"]): p for s in slices
                     if (p := Slice.parse(s)) is not None}
    return View(parsed_services, parsed_slices)


def test_a_service_that_is_not_global_has_its_own_backends_only() -> None:
    views = {"k8s-1": view([service()], [endpoint_slice("db", ("127.1.128.1", True))]),
             "k8s-2": view([service()], [endpoint_slice("db", ("127.2.128.1", True))]),
             "k8s-3": view([service()], [])}
    assert table("k8s-1", views) == {(NS, "db"): ("127.1.128.1",)}
    assert table("k8s-2", views) == {(NS, "db"): ("127.2.128.1",)}
    assert table("k8s-3", views) == {}, "no backend: the name does not resolve"


def test_a_global_service_shares_the_backends_of_every_global_copy() -> None:
    views = {"k8s-1": view([service(exported=True)], [endpoint_slice("db", ("127.1.128.1", True))]),
             "k8s-2": view([service(exported=True)], []),
             "k8s-3": view([service()], [endpoint_slice("db", ("127.3.128.1", True))])}
    assert table("k8s-2", views) == {(NS, "db"): ("127.1.128.1",)}
    assert table("k8s-3", views) == {(NS, "db"): ("127.3.128.1",)}, "not global there: its own only"
    views["k8s-1"] = view([service(exported=True)], [])
    assert table("k8s-2", views) == {}, "k8s-3's copy is not global: it shares nothing"


def test_a_copy_not_shared_keeps_its_backends_at_home_but_imports_the_others() -> None:
    views = {"k8s-1": view([service(exported=True, shared=False)], [endpoint_slice("db", ("127.1.128.1", True))]),
             "k8s-2": view([service(exported=True)], [endpoint_slice("db", ("127.2.128.1", True))]),
             "k8s-3": view([service(exported=True)], [])}
    assert table("k8s-3", views) == {(NS, "db"): ("127.2.128.1",)}
    assert table("k8s-1", views) == {(NS, "db"): ("127.1.128.1",)}  # the lower address of both
    views["k8s-1"] = view([service(exported=True, shared=False)], [])
    assert table("k8s-1", views) == {(NS, "db"): ("127.2.128.1",)}


def test_only_ready_endpoints_are_backends() -> None:
    views = {"k8s-1": view([service()], [endpoint_slice("db", ("127.1.128.1", False), ("127.1.128.2", None))])}
    assert table("k8s-1", views) == {(NS, "db"): ("127.1.128.2",)}, "ready unset means ready"
    views = {"k8s-1": view([service()], [endpoint_slice("db", ("127.1.128.1", False))])}
    assert table("k8s-1", views) == {}


def test_a_cluster_ip_resolves_to_one_backend_kept_while_it_is_ready() -> None:
    slices = [endpoint_slice("db", ("127.1.128.9", True)), endpoint_slice("db", ("127.1.128.10", True), name="b")]
    views = {"k8s-1": view([service()], slices)}
    first = table("k8s-1", views)
    assert first == {(NS, "db"): ("127.1.128.9",)}, "the lowest address, compared as numbers"
    assert table("k8s-1", views, {(NS, "db"): ("127.1.128.10",)}) == {(NS, "db"): ("127.1.128.10",)}
    views = {"k8s-1": view([service()], [endpoint_slice("db", ("127.1.128.10", True), ("127.1.128.9", False))])}
    assert table("k8s-1", views, first) == {(NS, "db"): ("127.1.128.10",)}, "its backend went: the next"


def test_a_headless_service_resolves_to_every_own_ready_backend_and_is_never_merged() -> None:
    own = endpoint_slice("db", ("127.1.128.2", True), ("127.1.128.1", True), ("127.1.128.3", False))
    views = {"k8s-1": view([service(exported=True, headless=True)], [own]),
             "k8s-2": view([service(exported=True, headless=True)], [endpoint_slice("db", ("127.2.128.1", True))])}
    assert table("k8s-1", views) == {(NS, "db"): ("127.1.128.1", "127.1.128.2")}


def test_what_no_address_stands_for_is_ignored() -> None:
    assert Service.parse(service(kind="ExternalName")) is None
    assert Slice.parse(endpoint_slice("db", ("db.example.com", True), address_type="FQDN")) is None
    unlabelled = endpoint_slice("db", ("127.1.128.1", True))
    unlabelled["metadata"]["labels"] = {}
    assert Slice.parse(unlabelled) is None


def test_names_follow_the_pods_search_path() -> None:
    assert names(NS, "db", own=True) == ["db", "db.team", "db.team.svc", "db.team.svc.cluster.local"]
    assert names(NS, "db", own=False) == ["db.team", "db.team.svc", "db.team.svc.cluster.local"]
    text = render("127.0.0.1 localhost\n", "k8s-1", "other", {(NS, "db"): ("127.1.128.1",),
                                                               ("other", "web"): ("127.1.128.2", "127.1.128.3")})
    assert text.splitlines() == [
        "127.0.0.1 localhost",
        "# kbmc dev mesh: the Services of k8s-1, seen from namespace other",
        "127.1.128.2\tweb web.other web.other.svc web.other.svc.cluster.local",
        "127.1.128.3\tweb web.other web.other.svc web.other.svc.cluster.local",
        "127.1.128.1\tdb.team db.team.svc db.team.svc.cluster.local",
    ]


def test_the_file_is_rewritten_in_place_and_never_shortened(tmp_path: Path) -> None:
    path = mesh.hosts_file(tmp_path / "mesh", NS)
    assert path.read_text() == mesh.host_header()
    inode = path.stat().st_ino
    mesh.write_in_place(path, "127.0.0.1 localhost\n10.0.0.1 a-long-name\n")
    assert mesh.hosts_file(tmp_path / "mesh", NS) == path and "a-long-name" in path.read_text(), "created once"
    longest = path.stat().st_size
    mesh.write_in_place(path, "127.0.0.1 localhost\n")
    assert path.stat().st_ino == inode, "the same file: a bind mount of it still shows it"
    assert path.read_text().rstrip("\n") == "127.0.0.1 localhost", "the end of the older table blanked"
    assert path.stat().st_size == longest, "padded with blank lines, not truncated"
    assert os.access(path, os.R_OK)


def test_nsswitch_looks_host_names_up_in_files_first() -> None:
    host = "passwd: files systemd\nhosts:          files mdns4_minimal [NOTFOUND=return] dns myhostname\n"
    assert files_first(host).splitlines() == ["passwd: files systemd", "hosts:          files dns"]
    assert files_first("passwd: files\n").splitlines() == ["passwd: files", "hosts:          files dns"]
