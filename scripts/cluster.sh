#!/usr/bin/env bash
# make cluster: a 5-node Docker Swarm on this one machine, for tests and for
# trying the platform on several nodes (docs/multi-node.md).
#   scripts/cluster.sh up|down|status   bring up (idempotent), tear down, show
#   scripts/cluster.sh push              push this build's images to the registry
#   scripts/cluster.sh relay PORT        127.0.0.1:PORT -> the registry, until killed
#   scripts/cluster.sh kill NODE         a node failure (up starts it again)
# Every node is a dockerd of its own in a network, mount and UTS namespace
# (3 managers, 2 workers), joined over veth addresses on a private /24 through
# a bridge in a namespace of its own. The host's dockerd is never touched.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/cluster-env.sh"

# A node's processes: dockerd, its containerd and shims share its mount namespace
# (recorded by wait_node), even after dockerd itself has died.
node_pids() { # node
  local ns pid
  ns=$(cat "$(node_dir "$1")/mntns" 2>/dev/null) || return 0
  # Never the host's own namespace (or this script's): that would be every process.
  [ "$ns" = "$(readlink /proc/1/ns/mnt)" ] || [ "$ns" = "$(readlink /proc/$$/ns/mnt)" ] && return 0
  for pid in /proc/[0-9]*; do
    [ "$(readlink "$pid/ns/mnt" 2>/dev/null)" = "$ns" ] && echo "${pid#/proc/}"
  done
  return 0
}

# Containers run in the cgroup parent the node's dockerd gives them (cgroupfs).
node_cgroup_pids() { # node
  cat /sys/fs/cgroup/*/"$CLUSTER_PREFIX-$1"/*/cgroup.procs /sys/fs/cgroup/*/"$CLUSTER_PREFIX-$1"/cgroup.procs 2>/dev/null | sort -u || true
}

node_running() { [ -S "$(node_sock "$1")" ] && docker -H "unix://$(node_sock "$1")" version >/dev/null 2>&1; }

# The wires: host <-> hub bridge <-> each node. The bridge lives in a namespace of its
# own so the host's iptables (Docker's FORWARD DROP, br_netfilter) never see the traffic.
net_up() {
  local hub="$CLUSTER_PREFIX-hub"
  [ -e "/var/run/netns/$hub" ] || ip netns add "$hub"
  ip -n "$hub" link show br0 >/dev/null 2>&1 || ip -n "$hub" link add br0 type bridge
  ip -n "$hub" link set lo up
  ip -n "$hub" link set br0 up
  if ! ip link show "$CLUSTER_PREFIX-host" >/dev/null 2>&1; then
    ip link add "$CLUSTER_PREFIX-host" type veth peer name host netns "$hub"
    ip -n "$hub" link set host master br0 up
    ip addr add "$CLUSTER_HOST_ADDR/24" dev "$CLUSTER_PREFIX-host"
    ip link set "$CLUSTER_PREFIX-host" up
  fi
  local n
  for n in $CLUSTER_NODES; do
    local ns="$CLUSTER_PREFIX-$n"
    [ -e "/var/run/netns/$ns" ] || ip netns add "$ns"
    if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
      ip -n "$hub" link add "$n" type veth peer name eth0 netns "$ns"
      ip -n "$hub" link set "$n" master br0 up
      ip -n "$ns" addr add "$(node_addr "$n")/24" dev eth0
      ip -n "$ns" link set eth0 up
      ip -n "$ns" link set lo up
    fi
    ip -n "$hub" link set "$n" up   # again after a kill pulled it
  done
}

start_node() { # node index
  local n="$1" i="$2" dir
  dir=$(node_dir "$n")
  node_running "$n" && return 0
  stop_node "$n"   # a half-started one
  mkdir -p "$dir/run" "$dir/data"
  # A private /run (bind-mounted from $dir/run) is the node's own: its docker.sock
  # at the usual /var/run/docker.sock (the engine gate mounts that path), its
  # containerd, exec-root and pidfile. The host reaches it as $dir/run/docker.sock.
  # setsid: a session of its own, so a Ctrl-C or the end of the caller's shell
  # does not take the node down with it.
  setsid nsenter --net="/var/run/netns/$CLUSTER_PREFIX-$n" -- \
    unshare --mount --uts --propagation slave -- sh -c '
      mount --bind "$1/run" /run && hostname "$2" && exec dockerd \
        --data-root "$1/data" --exec-root /run/docker -H unix:///run/docker.sock \
        --pidfile /run/docker.pid --bip "10.78.$3.1/24" --cgroup-parent "$2" \
        --insecure-registry "$4" --log-level warn' \
    sh "$dir" "$CLUSTER_PREFIX-$n" "$i" "$CLUSTER_REGISTRY" >"$dir/dockerd.log" 2>&1 &
  echo $! >"$dir/dockerd.pid"
}

wait_node() { # node
  local n="$1"
  for _ in $(seq 1 120); do
    if node_running "$n"; then
      # dockerd's own pid file (its /run is the node's): right even if setsid forked
      readlink "/proc/$(cat "$(node_dir "$n")/run/docker.pid")/ns/mnt" >"$(node_dir "$n")/mntns"
      return 0
    fi
    sleep 0.5
  done
  tail -n 20 "$(node_dir "$n")/dockerd.log" >&2
  die "the dockerd of node $n did not answer within 60 s: the end of $(node_dir "$n")/dockerd.log is above."
}

stop_node() { # node: like pulling the plug; its data stays for the next start
  local n="$1" pids
  pids="$(node_pids "$n") $(node_cgroup_pids "$n")"
  # shellcheck disable=SC2086
  [ -n "${pids// /}" ] && kill -9 $pids 2>/dev/null || true
  for _ in $(seq 1 50); do
    [ -z "$(node_pids "$n")$(node_cgroup_pids "$n")" ] && break
    sleep 0.1
  done
  # Forget the namespace: its number may be another's once it is gone.
  rm -f "$(node_dir "$n")/dockerd.pid" "$(node_dir "$n")/mntns"
}

swarm_up() {
  local m1=${CLUSTER_MANAGERS%% *} state
  state=$(ndocker "$m1" info --format '{{.Swarm.LocalNodeState}}')
  if [ "$state" != active ]; then
    step "docker swarm init on $m1 ($(node_addr "$m1"))"
    ndocker "$m1" swarm init --advertise-addr "$(node_addr "$m1")" \
      --listen-addr "$(node_addr "$m1"):2377" \
      --default-addr-pool "$CLUSTER_OVERLAY_POOL" >/dev/null \
      || die "docker swarm init on $m1 failed (see above)."
  fi
  local mtoken wtoken n
  mtoken=$(ndocker "$m1" swarm join-token -q manager)
  wtoken=$(ndocker "$m1" swarm join-token -q worker)
  for n in $CLUSTER_NODES; do
    [ "$n" = "$m1" ] && continue
    state=$(ndocker "$n" info --format '{{.Swarm.LocalNodeState}}')
    [ "$state" = active ] && continue
    [ "$state" = inactive ] || ndocker "$n" swarm leave --force >/dev/null 2>&1 || true
    local token=$wtoken
    [[ " $CLUSTER_MANAGERS " == *" $n "* ]] && token=$mtoken
    step "node $n joins ($(node_addr "$n"))"
    ndocker "$n" swarm join --token "$token" --advertise-addr "$(node_addr "$n")" \
      --listen-addr "$(node_addr "$n"):2377" "$(node_addr "$m1"):2377" >/dev/null \
      || die "node $n could not join the swarm at $(node_addr "$m1"):2377 (see above)."
  done
  # Nodes that left for good (a node's data was wiped) stay listed as down: forget them.
  local id
  for id in $(ndocker "$m1" node ls --filter role=worker --format '{{.ID}} {{.Status}}' | awk '$2=="Down"{print $1}'); do
    ndocker "$m1" node rm --force "$id" >/dev/null 2>&1 || true
  done
  # The node of the node-local state: the registry's, the broker's, and
  # certbot's and the webhook stash's volumes (cluster/stack.cluster.yml).
  ndocker "$m1" node update --label-add swarmfaas.registry=true \
    --label-add swarmfaas.broker=true --label-add swarmfaas.state=true \
    "$CLUSTER_PREFIX-$m1" >/dev/null
}

wait_ready() {
  local m1=${CLUSTER_MANAGERS%% *} want ready
  want=$(echo $CLUSTER_NODES | wc -w)
  for _ in $(seq 1 120); do
    ready=$(ndocker "$m1" node ls --format '{{.Status}} {{.Availability}}' | grep -c '^Ready Active' || true)
    [ "$ready" -ge "$want" ] && return 0
    sleep 0.5
  done
  ndocker "$m1" node ls >&2
  die "only $ready of $want nodes are ready and active (above)."
}

# The registry: its image is built here and loaded into the node that runs it
# (the one image that cannot come from the registry itself); then a service.
registry_up() {
  local m1=${CLUSTER_MANAGERS%% *} tag
  tag=$(cat "$ROOT"/cluster/registry/* | sha256sum | cut -c1-12)
  if ! ndocker "$m1" image inspect "swarmfaas/registry:$tag" >/dev/null 2>&1; then
    if ! bdocker image inspect "swarmfaas/registry:$tag" >/dev/null 2>&1; then
      build_env
      bash "$ROOT/scripts/base-image.sh"
      step "building swarmfaas/registry:$tag (Debian's docker-registry) on the $CLUSTER_BUILD"
      mkdir -p "$BUILD_DIR"
      # shellcheck disable=SC2086
      bdocker build ${BUILD_ARGS:-} -f "$ROOT/cluster/registry/Dockerfile" -t "swarmfaas/registry:$tag" "$ROOT" \
        >"$BUILD_DIR/build-registry.log" 2>&1 \
        || { tail -n 20 "$BUILD_DIR/build-registry.log" >&2; die "building the registry image failed (above)."; }
    fi
    if [ "$CLUSTER_BUILD" != node ]; then
      step "loading swarmfaas/registry:$tag into $m1"
      docker save "swarmfaas/registry:$tag" | ndocker "$m1" load >/dev/null \
        || die "could not load the registry image into node $m1."
    fi
  fi
  REGISTRY_TAG=$tag CLUSTER_REGISTRY_PORT=$CLUSTER_REGISTRY_PORT ndocker "$m1" stack deploy \
    --resolve-image never -c "$ROOT/cluster/registry.yml" swarmfaas-registry >"$CLUSTER_DIR/registry-deploy.log" 2>&1 \
    || { cat "$CLUSTER_DIR/registry-deploy.log" >&2; die "deploying the registry on the cluster failed (above)."; }
  # 180 s, not 60: after its node's dockerd was killed and started again,
  # Engine 20.10 brings back the killed tasks' gateway endpoints for a while,
  # and a new task given the same docker_gwbridge address is unreachable
  # through its host-mode port until they are cleaned up (about 110 s seen;
  # docs/multi-node.md, "A manager killed and started again").
  for _ in $(seq 1 360); do
    curl -sf -o /dev/null "http://$CLUSTER_REGISTRY/v2/" && { note "registry: http://$CLUSTER_REGISTRY"; return 0; }
    sleep 0.5
  done
  ndocker "$m1" service ps --no-trunc swarmfaas-registry_registry >&2
  die "the registry did not answer at http://$CLUSTER_REGISTRY/v2/ within 180 s (its tasks are above)."
}

# For builds on a node (CLUSTER_BUILD=node): DOCKER_HOST and the apt proxy, for
# scripts/build.sh and base-image.sh as for the registry's image.
build_env() {
  [ "$CLUSTER_BUILD" = node ] || return 0
  export DOCKER_HOST="unix://$(node_sock "${CLUSTER_MANAGERS%% *}")"
  export BUILD_ARGS="--build-arg http_proxy=http://$CLUSTER_PROXY"
  proxy_up
}

proxy_up() {
  local pidfile="$CLUSTER_DIR/proxy.pid"
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && return 0
  ensure_venv
  "$VENV/bin/proxy" --hostname "$CLUSTER_HOST_ADDR" --port "${CLUSTER_PROXY#*:}" \
    --num-workers 2 >"$CLUSTER_DIR/proxy.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/$CLUSTER_HOST_ADDR/${CLUSTER_PROXY#*:}") 2>/dev/null && return 0
    sleep 0.2
  done
  die "the build proxy did not start on $CLUSTER_PROXY: read $CLUSTER_DIR/proxy.log."
}

proxy_down() {
  local pidfile="$CLUSTER_DIR/proxy.pid"
  [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile"
}

# The host's dockerd reaches the registry through 127.0.0.1:PORT, which Docker
# allows over plain HTTP without changing its settings; socat carries it on.
relay_check() { # port
  apt_install socat
  ss -ltnH "sport = :$1" 2>/dev/null | grep -q . \
    && die "port $1 on 127.0.0.1 is in use: choose a free one (CLUSTER_PUSH_PORT for push)."
  return 0
}
relay() { # port: in the foreground, until killed (exec: the caller's pid is socat's)
  exec socat "TCP-LISTEN:$1,bind=127.0.0.1,fork,reuseaddr" "TCP:$CLUSTER_REGISTRY"
}

# Push this build's images (scripts/build.sh) to the cluster's registry and write
# their digests. The host's dockerd pushes to 127.0.0.1, which Docker allows over
# plain HTTP without changing its settings; socat carries that to the registry.
# Images built on a node are pushed from there (its dockerd lists the registry).
cmd_push() {
  [ -f "$BUILD_DIR/tag" ] || die "no images built yet: run scripts/build.sh first."
  curl -sf -o /dev/null "http://$CLUSTER_REGISTRY/v2/" \
    || die "the cluster's registry does not answer at http://$CLUSTER_REGISTRY: run make cluster first."
  local tag prefix out img ref digest
  tag=$(cat "$BUILD_DIR/tag")
  prefix=$CLUSTER_REGISTRY
  if [ "$CLUSTER_BUILD" != node ]; then
    local port=${CLUSTER_PUSH_PORT:-45077}
    relay_check "$port"
    relay "$port" &
    SOCAT_PID=$!   # global: the EXIT trap runs outside this function
    trap 'kill "${SOCAT_PID:-}" 2>/dev/null || true' EXIT
    for _ in $(seq 1 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/v2/" && break; sleep 0.1; done
    prefix=127.0.0.1:$port
  fi
  out="$STATE_DIR/cluster/digests"
  mkdir -p "$STATE_DIR/cluster"
  : >"$out.new"
  for img in $(bdocker image ls --format '{{.Repository}}' --filter "reference=swarmfaas/*:$tag" | sort -u); do
    ref="$prefix/$img:$tag"
    bdocker tag "$img:$tag" "$ref"
    bdocker push "$ref" >"$BUILD_DIR/push.log" 2>&1 \
      || { bdocker rmi "$ref" >/dev/null 2>&1; tail -n 5 "$BUILD_DIR/push.log" >&2; die "pushing $img failed (above)."; }
    digest=$(bdocker image inspect -f '{{range .RepoDigests}}{{println .}}{{end}}' "$ref" \
      | grep -F "$prefix/$img@" | head -n1 | cut -d@ -f2)
    bdocker rmi "$ref" >/dev/null   # only the tag this made
    [ -n "$digest" ] || die "no digest for $img after the push."
    echo "$img $digest" >>"$out.new"
    note "$CLUSTER_REGISTRY/$img@$digest"
  done
  [ -s "$out.new" ] || die "no images tagged $tag to push: run scripts/build.sh."
  mv "$out.new" "$out"
}

cmd_up() {
  need_root
  apt_install docker.io iproute2 util-linux curl
  # The host's Engine builds and pushes the images (and holds the base image).
  bash "$ROOT/scripts/engine.sh"
  local start=$SECONDS i=0 n
  net_up
  for n in $CLUSTER_NODES; do i=$((i + 1)); start_node "$n" "$i"; done
  for n in $CLUSTER_NODES; do wait_node "$n"; done
  swarm_up
  wait_ready
  registry_up
  note "5 nodes ready in $((SECONDS - start)) s; a manager: DOCKER_HOST=unix://$(node_sock "${CLUSTER_MANAGERS%% *}")"
}

cmd_down() {
  need_root
  local n hub="$CLUSTER_PREFIX-hub"
  proxy_down
  for n in $CLUSTER_NODES; do stop_node "$n"; done
  for n in $CLUSTER_NODES; do
    # Mounts made in a node's own mount namespace went with it; the files stay.
    rm -rf "$(node_dir "$n")"
    ip netns del "$CLUSTER_PREFIX-$n" 2>/dev/null || true
    # The containers' cgroups (killed, not stopped: nobody removed them), then the node's.
    rmdir "/sys/fs/cgroup/"*"/$CLUSTER_PREFIX-$n/"*/ "/sys/fs/cgroup/"*"/$CLUSTER_PREFIX-$n" 2>/dev/null || true
  done
  ip link del "$CLUSTER_PREFIX-host" 2>/dev/null || true
  ip netns del "$hub" 2>/dev/null || true
  rm -f "$CLUSTER_DIR"/*.log "$CLUSTER_DIR"/proxy.pid
  rmdir "$CLUSTER_DIR" 2>/dev/null || true
  note "cluster is down"
}

cmd_status() {
  local n m1=${CLUSTER_MANAGERS%% *} up=0
  for n in $CLUSTER_NODES; do
    if node_running "$n"; then
      up=$((up + 1)); note "$n $(node_addr "$n") dockerd up: DOCKER_HOST=unix://$(node_sock "$n")"
    else
      note "$n $(node_addr "$n") dockerd down"
    fi
  done
  node_running "$m1" && ndocker "$m1" node ls
  [ "$up" -gt 0 ] || { note "cluster is down (make cluster to bring it up)"; return 3; }
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  push) cmd_push ;;
  # For `faas push --registry $CLUSTER_REGISTRY --push-via 127.0.0.1:PORT` from
  # the host (docs/multi-node.md): runs until killed.
  relay)
    [[ "${2:-}" =~ ^[0-9]+$ ]] || die "usage: scripts/cluster.sh relay PORT"
    relay_check "$2"; relay "$2" ;;
  build-env) build_env; echo "export DOCKER_HOST=${DOCKER_HOST:-} BUILD_ARGS='${BUILD_ARGS:-}'" ;;
  # A node failure: every process of the node dies at once, as at a power cut;
  # `up` starts it again and it rejoins with its state.
  kill)
    need_root
    [[ " $CLUSTER_NODES " == *" ${2:-} "* ]] || die "usage: scripts/cluster.sh kill NODE (one of: $CLUSTER_NODES)"
    # Its cable first: a node that lost power answers nothing, not even a reset.
    ip -n "$CLUSTER_PREFIX-hub" link set "$2" down
    stop_node "$2"; note "node $2 is killed (make cluster starts it again)" ;;
  *) die "usage: scripts/cluster.sh up|down|status|push|relay PORT|kill NODE" ;;
esac
