"""A component's system accounts (a definition's ``systemAccounts``), as KubeBlocks 0.9 keeps them (pure but for
the password, drawn by the caller's random source).

- Each account's password is generated once, into the Secret ``<cluster>-<component>-account-<name>`` (keys
  ``username`` and ``password``; ``_`` in the name becomes ``-``) in the Cluster's namespace of the control
  plane, owned by the Cluster: that Secret is the one truth, never generated again while it exists.
- Every data plane of the placement gets a copy of it under the same name (kbmc overwrites a copy that
  differs), so every member, wherever it runs, reads the same password; a var's ``credentialVarRef`` becomes a
  ``secretKeyRef`` on that copy, never a literal in the env ConfigMap.
- The password follows the definition's ``passwordGenerationPolicy``, or the Cluster component's
  ``systemAccounts[].passwordConfig``.
"""

from __future__ import annotations

import base64
import string
from collections.abc import Mapping
from dataclasses import dataclass
from random import Random
from typing import Any

from kbmc.api.cluster import ClusterComponentSpec
from kbmc.api.componentdefinition import ComponentDefinition, PasswordConfig
from kbmc.errors import ClusterSpecError

ACCOUNT = "account.kubeblocks.io/name"
"""Label of an account Secret: the account's name."""
SYMBOLS = "!@#&*"


@dataclass(frozen=True)
class Account:
    component: str
    name: str
    """The account's user name."""
    secret: str
    """Its Secret's name."""
    policy: PasswordConfig


def secret_name(cluster: str, component: str, account: str) -> str:
    return f"{cluster}-{component}-account-{account.replace('_', '-')}"


def accounts(cluster: str, spec: ClusterComponentSpec, definition: ComponentDefinition) -> list[Account]:
    """The component's accounts, the Cluster's passwordConfig over the definition's policy; an account the
    Cluster names that the definition lacks is an error naming it."""
    given = {a.name: a for a in spec.system_accounts}
    defined = {a.name for a in definition.spec.system_accounts}
    unknown = sorted(set(given) - defined)
    if unknown:
        raise ClusterSpecError(f"spec.componentSpecs[{spec.name}].systemAccounts: {', '.join(unknown)} not an "
                               f"account of ComponentDefinition {definition.metadata.name} (it has: "
                               f"{', '.join(sorted(defined)) or 'none'})")
    out = []
    for account in definition.spec.system_accounts:
        override = given.get(account.name)
        policy = (override.password_config if override and override.password_config else
                  account.password_generation_policy or PasswordConfig())
        out.append(Account(spec.name, account.name, secret_name(cluster, spec.name, account.name), policy))
    return out


def generate(policy: PasswordConfig, rng: Random) -> str:
    """A password as KubeBlocks generates one: ``length`` characters, ``numDigits`` digits and ``numSymbols``
    symbols among letters, in the policy's letter case (MixedCases: at least one of each), shuffled."""
    symbols = policy.symbol_characters or SYMBOLS
    letters_count = policy.length - policy.num_digits - policy.num_symbols
    letters = {"LowerCases": string.ascii_lowercase, "UpperCases": string.ascii_uppercase}.get(
        policy.letter_case, string.ascii_letters)
    chars = ([rng.choice(string.digits) for _ in range(policy.num_digits)]
             + [rng.choice(symbols) for _ in range(policy.num_symbols)])
    if policy.letter_case == "MixedCases" and letters_count >= 2:
        chars += [rng.choice(string.ascii_lowercase), rng.choice(string.ascii_uppercase)]
        letters_count -= 2
    chars += [rng.choice(letters) for _ in range(max(letters_count, 0))]
    rng.shuffle(chars)
    return "".join(chars)


def secret(name: str, namespace: str, labels: Mapping[str, str], data: Mapping[str, str]) -> dict[str, Any]:
    """A Secret of ``data`` (plain text, encoded here)."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(data.items())}}


def decoded(body: Mapping[str, Any]) -> dict[str, str]:
    """A Secret's data as text."""
    return {k: base64.b64decode(v).decode(errors="replace") for k, v in (body.get("data") or {}).items()}
