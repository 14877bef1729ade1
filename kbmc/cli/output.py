"""Output as kubectl prints it: ``-o table`` (the default), ``wide`` (more columns), ``json`` and ``yaml`` (the
objects themselves, a list as ``kind: List``, so a script reads what ``kubectl get -o json`` would give)."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

console = Console()


class Format(enum.StrEnum):
    table = "table"
    wide = "wide"
    json = "json"
    yaml = "yaml"


OutputOption = Annotated[Format, typer.Option("--output", "-o", help="table, wide (more columns), json or yaml.")]
Row = Sequence[str]


def emit(fmt: Format, data: Any, table: Callable[[bool], Table]) -> None:
    """Print ``data`` (an object, or a list of objects) as ``fmt``; ``table(wide)`` builds the table."""
    if fmt in (Format.json, Format.yaml):
        dump(fmt, data)
    else:
        console.print(table(fmt is Format.wide))


def dump(fmt: Format, data: Any) -> None:
    """``data`` as json or yaml."""
    if fmt is Format.json:
        print(json.dumps(_listed(data), indent=2))
    else:
        print(yaml.safe_dump(_listed(data), sort_keys=False, default_flow_style=False), end="")


def _listed(data: Any) -> Any:
    return {"apiVersion": "v1", "kind": "List", "items": data} if isinstance(data, list) else data


def columns(wide: bool, *names: str | tuple[str, bool]) -> Table:
    """A table of the columns ``names``; a ``(name, True)`` column shows only when ``wide``."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for item in names:
        name, only_wide = item if isinstance(item, tuple) else (item, False)
        if wide or not only_wide:
            table.add_column(name.upper())
    return table


def row(table: Table, wide: bool, *cells: str | tuple[str, bool]) -> None:
    """Add a row in the shape ``columns`` gave ``table`` (``(value, True)``: a wide column)."""
    table.add_row(*(c[0] if isinstance(c, tuple) else c for c in cells
                    if wide or not (isinstance(c, tuple) and c[1])))
