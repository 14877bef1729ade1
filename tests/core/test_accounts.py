"""System accounts: a password generated once per account (by the policy), in the control plane's Secret, copied
unchanged into every data plane; vars read it through a secretKeyRef, never as a literal."""

from __future__ import annotations

import random
import string
from typing import Any

from kbmc.api.componentdefinition import ComponentDefinition, PasswordConfig
from kbmc.core import accounts
from kbmc.core.build import build_cluster
from kbmc.core.decide import decide
from kbmc.core.snapshot import Snapshot
from tests.core.test_decide import DEFINITION, PLANES, QUEUE, cluster, converged, snapshot


def test_a_password_follows_its_policy() -> None:
    rng = random.Random(7)
    for policy in (PasswordConfig(), PasswordConfig(length=20, num_digits=8, num_symbols=3, letter_case="UpperCases")):
        password = accounts.generate(policy, rng)
        assert len(password) == policy.length
        assert sum(c in string.digits for c in password) == policy.num_digits
        assert sum(c in accounts.SYMBOLS for c in password) == policy.num_symbols
        letters = [c for c in password if c.isalpha()]
        if policy.letter_case == "UpperCases":
            assert all(c.isupper() for c in letters)
        else:
            assert any(c.isupper() for c in letters) and any(c.islower() for c in letters)
    drawn = {accounts.generate(PasswordConfig(), random.Random(seed)) for seed in (1, 2)}
    assert len(drawn) == 2


def _with_account() -> ComponentDefinition:
    body = DEFINITION.dump()
    body["spec"]["systemAccounts"] = [{"name": "root_user", "initAccount": True,
                                       "passwordGenerationPolicy": {"length": 12}}]
    body["spec"]["vars"] += [{"name": "ROOT_PASSWORD", "valueFrom": {"credentialVarRef": {
        "name": "root_user", "password": "Required"}}}]
    return ComponentDefinition.model_validate(body)


def _snap(**more: Any) -> Snapshot:
    c = cluster()
    base = snapshot(c, converged(c, definitions={"etcd-0.9.0": _with_account()}))
    return Snapshot(**{**base.__dict__, "definitions": {"etcd-0.9.0": _with_account()}, **more})


def test_an_account_secret_is_made_once_in_the_control_plane_and_copied_everywhere() -> None:
    first = decide(_snap(), QUEUE)
    assert [(a.component, a.name, a.secret, a.policy.length) for a in first.prepared.accounts] == [
        ("etcd", "root_user", "c-etcd-account-root-user", 12)]
    assert any(p.reason == "CreatingAccounts" for p in first.seen.problems)
    data = {"username": "cm9vdF91c2Vy", "password": "c2VjcmV0"}
    settled = decide(_snap(accounts={"c-etcd-account-root-user": data}), QUEUE)
    assert settled.prepared.accounts == [], "never generated again"
    built = build_cluster(cluster(), settled.prepared.components, {})
    copies = {plane: [m for m in ms if m["kind"] == "Secret"] for plane, ms in built.items()}
    assert {plane: [(s["metadata"]["name"], s["data"]) for s in found] for plane, found in copies.items()} == {
        plane: [("c-etcd-account-root-user", data)] for plane in PLANES}
    pod = next(m for m in built["k8s-1"] if m["kind"] == "Pod")
    assert pod["spec"]["containers"][0]["env"][0] == {"name": "ROOT_PASSWORD", "valueFrom": {"secretKeyRef": {
        "name": "c-etcd-account-root-user", "key": "password"}}}
    env = next(m for m in built["k8s-1"] if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "c-etcd-env")
    assert "ROOT_PASSWORD" not in env["data"] and "c2VjcmV0" not in str(env) and "secret" not in str(env)
