"""What every command that talks to a cluster shares: ``--kubeconfig`` / ``--context`` as kubectl has them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from kbmc.kube.client import Api, context_namespace, new_client, user_agent

KubeconfigOption = Annotated[Path | None, typer.Option("--kubeconfig", help="Kubeconfig (default: $KUBECONFIG, "
                                                                            "its files merged as kubectl, then "
                                                                            "~/.kube/config).")]
ContextOption = Annotated[str | None, typer.Option("--context", help="Context of the control plane "
                                                                      "(default: the current context).")]


def default_kubeconfig(kubeconfig: Path | None) -> str:
    """As kubectl: the flag, else every file of $KUBECONFIG (an ``os.pathsep``-separated list the client merges
    as kubectl does), else ~/.kube/config."""
    return str(kubeconfig or os.environ.get("KUBECONFIG") or Path.home() / ".kube/config")


NamespaceOption = Annotated[str | None, typer.Option("--namespace", "-n", help="Namespace (default: the context's, as "
                                                                              "kubectl).")]
AllNamespacesOption = Annotated[bool, typer.Option("--all-namespaces", "-A", help="Every namespace.")]


def control_client(kubeconfig: Path | None, context: str | None, command: str) -> Api:
    return new_client(default_kubeconfig(kubeconfig), context, agent=user_agent(f"cli {command}"))


def namespace_of(namespace: str | None, kubeconfig: Path | None, context: str | None) -> str:
    """``-n``, else the context's namespace, else ``default`` (as kubectl)."""
    return namespace or context_namespace(default_kubeconfig(kubeconfig), context)
