# Sourced by the hack/ scripts: a project virtualenv in .venv with kbmc and its dev tools installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.kbmc-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  # exact versions (constraints.txt, refreshed by hack/lock.sh): a release published tomorrow changes nothing here
  .venv/bin/python -m pip install --quiet -c constraints.txt -e '.[dev]'
  touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
