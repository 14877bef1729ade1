#!/usr/bin/env bash
# The demo: a control plane and three data planes on this machine, on real kube-apiservers.
# Stop it with: .venv/bin/kbmc dev down
source "$(dirname "$0")/env.sh"
kbmc dev up "$@"
