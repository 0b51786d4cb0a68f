# The multi-node test cluster's names and addresses (scripts/cluster.sh): sourced.
# One private /24 on a bridge only this machine sees; nothing leaves it.
CLUSTER_PREFIX="${CLUSTER_PREFIX:-sfc}"
CLUSTER_DIR="${CLUSTER_DIR:-/var/lib/swarmfaas-cluster}"
CLUSTER_NET="${CLUSTER_NET:-10.77.0}"           # the nodes' /24
CLUSTER_HOST_ADDR="$CLUSTER_NET.1"                # the host's end
CLUSTER_MANAGERS="m1 m2 m3"
CLUSTER_WORKERS="w1 w2"
CLUSTER_NODES="$CLUSTER_MANAGERS $CLUSTER_WORKERS"
CLUSTER_OVERLAY_POOL="${CLUSTER_OVERLAY_POOL:-10.79.0.0/16}"  # swarm's overlay subnets
CLUSTER_REGISTRY_PORT="${CLUSTER_REGISTRY_PORT:-5000}"

node_addr() { # m1..m3 -> .11-.13, w1..w2 -> .21-.22
  case "$1" in
    m*) echo "$CLUSTER_NET.1${1#m}" ;;
    w*) echo "$CLUSTER_NET.2${1#w}" ;;
  esac
}
node_dir() { echo "$CLUSTER_DIR/$1"; }
node_sock() { echo "$CLUSTER_DIR/$1/run/docker.sock"; }
ndocker() { local n="$1"; shift; docker -H "unix://$(node_sock "$n")" "$@"; }
# The registry runs on m1 (node label swarmfaas.registry=true), published there.
CLUSTER_REGISTRY="$(node_addr m1):$CLUSTER_REGISTRY_PORT"
# What the system API may deploy there: stack.yml's own names, and the same
# names in the registry, by which functions pushed with `faas push` are pulled.
CLUSTER_IMAGE_ALLOWLIST="swarmfaas/*,$CLUSTER_REGISTRY/swarmfaas/*"
# The development certificate names every manager's address too, so clients
# (the faas CLI) check it against whichever nginx they call.
CLUSTER_CERT_NAMES="localhost,127.0.0.1,::1$(for n in $CLUSTER_MANAGERS; do printf ',%s' "$(node_addr "$n")"; done)"

# Where images are built: the host's dockerd (default; pushed through 127.0.0.1),
# or with CLUSTER_BUILD=node the first manager's own, which needs nothing of
# the host's dockerd; its builds reach Debian's archive through an HTTP proxy
# on the host's end of the cluster network (apt only: plain HTTP).
CLUSTER_BUILD="${CLUSTER_BUILD:-host}"
CLUSTER_PROXY="$CLUSTER_HOST_ADDR:${CLUSTER_PROXY_PORT:-3142}"
bdocker() { if [ "$CLUSTER_BUILD" = node ]; then ndocker m1 "$@"; else docker "$@"; fi; }
