"""What every command that talks to a cluster shares: ``--kubeconfig`` / ``--context`` as kubectl has them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from kbmc.kube.client import Api, new_client, user_agent

KubeconfigOption = Annotated[Path | None, typer.Option("--kubeconfig", help="Kubeconfig (default: $KUBECONFIG, "
                                                                            "then ~/.kube/config).")]
ContextOption = Annotated[str | None, typer.Option("--context", help="Context of the control plane "
                                                                      "(default: the current context).")]


def control_client(kubeconfig: Path | None, context: str | None, command: str) -> Api:
    path = kubeconfig or Path(os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or Path.home() / ".kube/config")
    return new_client(path, context, agent=user_agent(f"cli {command}"))
