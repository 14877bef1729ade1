"""The ``kbmc`` command line: a thin front end; every error is a KbmcError printed in one line."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from kbmc.cli import admin, cluster, dataplane, dev, operator
from kbmc.errors import KbmcError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="kbmc: run one database Cluster across several Kubernetes clusters.")
app.add_typer(dev.app, name="dev")
app.add_typer(operator.app, name="operator")
app.add_typer(dataplane.app, name="dataplane")
app.add_typer(cluster.app, name="cluster")
app.command()(admin.install)
app.command()(admin.status)
app.command()(admin.uninstall)


def main() -> None:
    try:
        app()
    except KbmcError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
