#!/usr/bin/env bash
# The demo: a control plane and three data planes on this machine (real kube-apiservers), kbmc installed
# and running, and a real etcd Cluster across k8s-1, k8s-2, k8s-3. Stop it with: .venv/bin/kbmc dev down
source "$(dirname "$0")/env.sh"
kbmc dev demo "$@"
