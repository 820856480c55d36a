#!/usr/bin/env bash
# A one-node Slurm cluster on this machine (Debian's slurm-wlm and munge), for running
# Cluster/uso.sbatch for real without a cluster.
#
#   Cluster/slurm-local.sh up [DIR]     start munged, slurmctld and slurmd (state, spool, logs
#                                       and slurm.conf in DIR, default /tmp/uso-slurm)
#   Cluster/slurm-local.sh down [DIR]   stop them (by their pid files)
#   Cluster/slurm-local.sh env [DIR]    print the SLURM_CONF export that sbatch/squeue need
#
# The node is this machine (its host name, `nproc` CPUs), one partition "debug". Jobs run as
# the submitting user (root here). Needs root, slurm-wlm and munge (Scripts/bootstrap.sh
# installs them). Example:
#   Cluster/slurm-local.sh up
#   eval "$(Cluster/slurm-local.sh env)"
#   sbatch --wait --nodes=1 --ntasks-per-node=2 --output=uso-%j.out Cluster/uso.sbatch doctor
#   Cluster/slurm-local.sh down
set -euo pipefail
dir="${2:-/tmp/uso-slurm}"
host="$(hostname)"

# Runs a daemon without the descriptors this script inherited beyond 0-2, its input from
# /dev/null and its output in DIR/log/daemons.out. A caller that waits until this script's
# descriptors close (a pipe reader; Swift Foundation's Process, which watches a socket each
# child inherits) would otherwise wait for the daemon's whole life.
detached() {
    (
        for fd in /proc/$BASHPID/fd/*; do
            n="${fd##*/}"
            [ "$n" -gt 2 ] 2>/dev/null && eval "exec $n>&-" 2>/dev/null
        done
        exec "$@" </dev/null >>"$dir/log/daemons.out" 2>&1
    )
}

up() {
    for p in munged slurmctld slurmd; do
        command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || { echo "slurm-local: $p not found (apt-get install slurm-wlm munge)" >&2; exit 69; }
    done
    [ "$(id -u)" = 0 ] || { echo "slurm-local: needs root" >&2; exit 77; }
    down >/dev/null 2>&1 || true
    # Another cluster's daemons would take this one's node (same host name and ports).
    others="$(daemons | tr '\n' ' ')"
    if [ -n "${others// /}" ]; then
        echo "slurm-local: slurmctld/slurmd already running (pids $others): stop them first (Cluster/slurm-local.sh down DIR, or kill them)" >&2
        exit 75
    fi
    mkdir -p "$dir/state" "$dir/spool" "$dir/log" /etc/munge /run/munge /var/lib/munge /var/log/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
        chmod 400 /etc/munge/munge.key
    fi
    chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        detached /usr/sbin/munged --force --pid-file="$dir/munged.pid" || { cat "$dir/log/daemons.out" >&2; exit 1; }
    fi
    cat > "$dir/slurm.conf" <<CONF
ClusterName=uso
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldPort=6917
SlurmdPort=6918
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF="$dir/slurm.conf"
    detached /usr/sbin/slurmctld -f "$SLURM_CONF" || { cat "$dir/log/daemons.out" >&2; exit 1; }
    detached /usr/sbin/slurmd -f "$SLURM_CONF" || { cat "$dir/log/daemons.out" >&2; exit 1; }
    for _ in $(seq 1 50); do
        sinfo -h -o %t 2>/dev/null | grep -q idle && { echo "slurm-local: node $host idle ($SLURM_CONF)"; return 0; }
        sleep 0.2
    done
    echo "slurm-local: the node did not come up; see $dir/log" >&2
    exit 1
}

# Live (not zombie) slurmctld and slurmd processes, or those started with this DIR's config.
daemons() {
    local mine="${1:-}"
    for p in $(pgrep -x slurmctld; pgrep -x slurmd); do
        [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" = Z ] && continue
        if [ -z "$mine" ] || tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q -- "$dir/slurm.conf"; then echo "$p"; fi
    done
}

down() {
    # slurmd may not end on SIGTERM while it waits on a job: SIGKILL after 3 s.
    local pids
    pids="$(daemons mine) $(cat "$dir/slurmd.pid" "$dir/slurmctld.pid" 2>/dev/null || true)"
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for _ in $(seq 1 30); do [ -z "$(daemons mine)" ] && break; sleep 0.1; done
    for p in $(daemons mine); do kill -9 "$p" 2>/dev/null || true; done
    [ -f "$dir/munged.pid" ] && kill "$(cat "$dir/munged.pid")" 2>/dev/null || true
    rm -f "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munged.pid"
}

case "${1:-}" in
    up) up; echo "export SLURM_CONF=$dir/slurm.conf" > "$dir/env" ;;
    down) down; echo "slurm-local: stopped" ;;
    env) echo "export SLURM_CONF=$dir/slurm.conf" ;;
    *) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 64 ;;
esac
