"""The ``kbmc`` command line: a thin front end. Every failure a user can cause (a bad flag, a missing object, a
server that does not answer or refuses) is one line on stderr and exit code 1, never a traceback."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from kbmc import __version__
from kbmc.cli import admin, cluster, dataplane, dev, operator
from kbmc.errors import KbmcError

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                  help="kbmc: run one database Cluster across several Kubernetes clusters.")
app.add_typer(dev.app, name="dev")
app.add_typer(operator.app, name="operator")
app.add_typer(dataplane.app, name="dataplane")
app.add_typer(cluster.app, name="cluster")
app.command()(admin.install)
app.command()(admin.status)
app.command()(admin.uninstall)


@app.command("pod-agent", hidden=True)
def pod_agent() -> None:
    """kbmc's agent in a database pod (kbmc adds it to pods whose definition has lifecycle actions)."""
    from kbmc import podagent  # noqa: PLC0415 - only in the agent's container

    raise typer.Exit(podagent.main())


def _version(value: bool) -> None:
    if value:
        print(f"kbmc {__version__}")
        raise typer.Exit


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print kbmc's version and exit.")] = False) -> None:
    """kbmc: run one database Cluster across several Kubernetes clusters."""


def main() -> None:
    err = Console(stderr=True)
    try:
        code = app(standalone_mode=False)
    except typer.Abort:  # Ctrl-C
        sys.exit(130)
    except typer.TyperException as exc:  # a bad flag or argument
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if not message:  # a command group without a command: its help was shown
            sys.exit(0)
        err.print(f"[red]error:[/red] {message} (see --help)", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KbmcError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
