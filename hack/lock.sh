#!/usr/bin/env bash
# Resolve pyproject.toml's dependency ranges afresh in a throwaway virtualenv and write the exact versions to
# constraints.txt (what hack/env.sh installs). Run hack/test.sh afterwards, and commit both if it passes.
set -euo pipefail
cd "$(dirname "$0")/.."
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
"${PYTHON:-python3}" -m venv "$fresh"
"$fresh/bin/python" -m pip install --quiet --upgrade pip
"$fresh/bin/python" -m pip install --quiet -e '.[dev]'
{
  echo "# Exact versions the README's commands and CI install (hack/env.sh: pip install -c constraints.txt)."
  echo "# Refresh with hack/lock.sh (a fresh virtualenv resolved from pyproject.toml's ranges), then run hack/test.sh."
  "$fresh/bin/python" -m pip freeze --exclude-editable | grep -v '^kbmc'
} > constraints.txt
echo "constraints.txt refreshed: review the diff, run hack/test.sh, commit"
