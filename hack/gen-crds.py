#!/usr/bin/env python3
"""Write crds/ from the models in kbmc/api (``--check``: exit 1 if crds/ is stale, writing nothing)."""

from __future__ import annotations

import sys
from pathlib import Path

from kbmc.api.crd import all_crds, render

CRDS = Path(__file__).resolve().parent.parent / "crds"


def main() -> int:
    check = "--check" in sys.argv[1:]
    wanted = {name: render(doc) for name, doc in all_crds().items()}
    present = {p.name: p.read_text() for p in CRDS.glob("*.yaml")} if CRDS.is_dir() else {}
    stale = sorted(n for n in wanted.keys() | present.keys() if wanted.get(n) != present.get(n))
    if check:
        for name in stale:
            print(f"crds/{name} is stale: run python hack/gen-crds.py", file=sys.stderr)
        return 1 if stale else 0
    CRDS.mkdir(exist_ok=True)
    for name in present.keys() - wanted.keys():
        (CRDS / name).unlink()
    for name, text in wanted.items():
        (CRDS / name).write_text(text)
    print(f"wrote {len(wanted)} CRDs to {CRDS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
