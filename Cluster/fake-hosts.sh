#!/usr/bin/env bash
# Several "hosts" on one machine, for trying multi-host launches without a cluster.
#
#   Cluster/fake-hosts.sh up K      make hosts usoh1..usohK (network namespaces on a bridge)
#   Cluster/fake-hosts.sh down      remove them (every process in them killed by pid)
#   Cluster/fake-hosts.sh link K down|up
#                                   cut host usohK's link, or plug it back in
#   Cluster/fake-hosts.sh mpirun-args K [SLOTS]
#                                   print the mpirun options that launch ranks on them,
#                                   SLOTS ranks per host (default 2), host by host
#
# Each host is a Linux network namespace with its own address (10.99.0.K/24) on a
# private bridge (usobr0, 10.99.0.254), loopback up and no default route: only these
# addresses are ever reached, with real TCP between the hosts. mpirun starts its daemons
# there through Cluster/netns-rsh.sh, which also gives each one its own host name (or
# shared-memory segment names collide between "hosts"). TCP keepalive on mpirun's daemon
# links (3 s idle, then 3 probes 1 s apart) ends a job whose host is cut off in about 6 s
# instead of hanging; a link that drops for 2 s and comes back is ridden out. Needs root and
# iproute2.
#
# Example (2 hosts, 2 ranks each, reward ranks spread over both):
#   Cluster/fake-hosts.sh up 2
#   mpirun $(Cluster/fake-hosts.sh mpirun-args 2 2) -np 4 .build/release/uso doctor --reward-ranks 2 --placement spread
#   Cluster/fake-hosts.sh down
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bridge=usobr0
subnet=10.99.0

up() {
    local k="$1"
    down >/dev/null 2>&1 || true
    ip link add "$bridge" type bridge
    ip addr add "$subnet.254/24" dev "$bridge"
    ip link set "$bridge" up
    for i in $(seq 1 "$k"); do
        local ns="usoh$i"
        ip netns add "$ns"
        ip link add "usov$i" type veth peer name eth0 netns "$ns"
        ip link set "usov$i" master "$bridge" up
        ip -n "$ns" addr add "$subnet.$i/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" link set lo up
    done
    echo "fake-hosts: usoh1..usoh$k up on $bridge ($subnet.0/24)"
}

down() {
    for ns in $(ip netns list | awk '/^usoh[0-9]+/ {print $1}'); do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        # A killed process leaves the namespace (and its link) only once it has exited.
        for _ in $(seq 1 50); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.1; done
        ip netns del "$ns"
    done
    for l in $(ip -o link show 2>/dev/null | awk -F': ' '$2 ~ /^usov[0-9]+/ {split($2, a, "@"); print a[1]}'); do
        ip link del "$l" 2>/dev/null || true
    done
    ip link del "$bridge" 2>/dev/null || true
}

link() {
    ip link set "usov${1:?which host?}" "${2:?up or down?}"
}

mpirun_args() {
    local k="$1" slots="${2:-2}" hosts=()
    for i in $(seq 1 "$k"); do hosts+=("usoh$i:$slots"); done
    local IFS=,
    echo "--host ${hosts[*]} --mca plm_rsh_agent $here/netns-rsh.sh" \
         "--mca oob_tcp_if_include $subnet.0/24 --mca btl_tcp_if_include $subnet.0/24" \
         "--mca btl self,vader,tcp --bind-to none --mca mpi_yield_when_idle 1" \
         "--mca oob_tcp_keepalive_time 3 --mca oob_tcp_keepalive_intvl 1 --mca oob_tcp_keepalive_probes 3"
}

case "${1:-}" in
    up) up "${2:?how many hosts?}" ;;
    down) down; echo "fake-hosts: removed" ;;
    link) link "${2:-}" "${3:-}" ;;
    mpirun-args) mpirun_args "${2:?how many hosts?}" "${3:-2}" ;;
    *) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 64 ;;
esac
