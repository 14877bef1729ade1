#!/usr/bin/env bash
# The whole test suite, from a fresh machine: virtualenv, toolchain (built once, cached), lint, types,
# layering, then every test against real kube-apiservers started by the tests themselves.
source "$(dirname "$0")/env.sh"
kbmc dev toolchain
ruff check .
mypy
lint-imports
pytest "$@"
