#!/usr/bin/env bash
# Bootstraps a local EventStore dev cluster on kind with esk, idempotently: re-running it is
# safe, and the data stays on the host under $ESK_DATA across `kind delete cluster`.
#
#   examples/kind-dev.sh            # 3 nodes
#   NODES=1 examples/kind-dev.sh    # a single node
set -euo pipefail

CLUSTER=${CLUSTER:-esk}
NODES=${NODES:-3}
ESK_DATA=${ESK_DATA:-/tmp/esk-data}
here=$(cd "$(dirname "$0")" && pwd)

for tool in kind kubectl esk; do
  command -v "$tool" >/dev/null || { echo "kind-dev: $tool not found on PATH" >&2; exit 3; }
done

mkdir -p "$ESK_DATA"/{control-plane,worker,worker2}
if ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  # The example config mounts /tmp/esk-data; point it at $ESK_DATA.
  sed "s#/tmp/esk-data#$ESK_DATA#" "$here/kind-config.yaml" > "$ESK_DATA/kind-config.yaml"
  kind create cluster --name "$CLUSTER" --config "$ESK_DATA/kind-config.yaml"
fi

# esk picks --cloud kind from the context name (kind-$CLUSTER). --insecure keeps the dev
# cluster reachable without certificates; drop it to try the secure default.
esk --context "kind-$CLUSTER" create "$NODES" --insecure --yes
kubectl --context "kind-$CLUSTER" get pods -l app.kubernetes.io/instance=es
echo "UI: kubectl --context kind-$CLUSTER port-forward svc/es-frontend 8080:80, then http://localhost:8080"
