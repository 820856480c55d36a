#!/usr/bin/env bash
# mpirun's remote-shell agent for the hosts of Cluster/fake-hosts.sh: runs the command
# inside the host's network namespace, under its own host name. Called by mpirun as
#   netns-rsh.sh [ssh-style options] HOST COMMAND...
set -euo pipefail
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
host="${1:?netns-rsh.sh: no host given}"; shift
ip netns list | grep -q "^$host\b" || { echo "netns-rsh.sh: no fake host '$host' (Cluster/fake-hosts.sh up K)" >&2; exit 255; }
exec ip netns exec "$host" unshare --uts sh -c "hostname $host; $*"
