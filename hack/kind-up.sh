#!/usr/bin/env bash
# For users with Docker (not run by the test suite, which uses `kbmc dev` instead): one control-plane and
# three data-plane kind clusters, MetalLB in each data plane with its own address pool, the kubeconfig
# Secret, the operator image loaded into the control plane, and `kbmc install` (the in-cluster Deployment, two
# replicas electing a leader: the same install the bed's tests run).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v kind >/dev/null || { echo "kind is required (https://kind.sigs.k8s.io)"; exit 1; }
command -v docker >/dev/null || { echo "Docker is required"; exit 1; }
IMAGE=kbmc/kbmc:0.1.0
docker build -f deploy/Dockerfile -t "$IMAGE" .
for name in control k8s-1 k8s-2 k8s-3; do
  kind get clusters | grep -qx "$name" || kind create cluster --name "$name"
done
subnet=$(docker network inspect kind -f '{{(index .IPAM.Config 0).Subnet}}' | cut -d. -f1-2)
index=0
for name in k8s-1 k8s-2 k8s-3; do
  index=$((index + 1))
  kubectl --context "kind-$name" apply -f https://raw.githubusercontent.com/metallb/metallb/v0.14.8/config/manifests/metallb-native.yaml
  kubectl --context "kind-$name" -n metallb-system wait --for=condition=ready pod -l app=metallb --timeout=180s
  kubectl --context "kind-$name" apply -f - <<YAML
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool, namespace: metallb-system}
spec: {addresses: ["$subnet.25$index.1-$subnet.25$index.250"]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: metallb-system}
YAML
done
kind load docker-image "$IMAGE" --name control
# data-plane contexts reachable from inside the control cluster: the kind nodes' addresses on the docker network
config=$(mktemp)
for name in k8s-1 k8s-2 k8s-3; do
  kind get kubeconfig --internal --name "$name" | sed "s/kind-$name/$name/g" > "$config.$name"
done
KUBECONFIG=$(printf "%s:" "$config".k8s-*) kubectl config view --flatten > "$config"
kubectl --context kind-control create namespace kb-system --dry-run=client -o yaml | kubectl --context kind-control apply -f -
kubectl --context kind-control -n kb-system create secret generic kbmc-dataplanes --from-file=kubeconfig="$config" \
  --dry-run=client -o yaml | kubectl --context kind-control apply -f -
KUBECONFIG=$(printf "%s:" "$config".k8s-*)"$HOME/.kube/config" kbmc install --context kind-control \
  --kubeconfig-secret kbmc-dataplanes --contexts k8s-1,k8s-2,k8s-3 --image "$IMAGE" --replicas 2
# two operator pods, one holding the Lease kbmc-operator; every data plane reachable with kbmc's permissions
KUBECONFIG=$(printf "%s:" "$config".k8s-*)"$HOME/.kube/config" kbmc status --context kind-control
