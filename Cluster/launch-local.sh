#!/usr/bin/env bash
# Launch a uso job on this machine under mpirun, with the settings every job here needs.
#
#   Cluster/launch-local.sh -np N [--timeout SECONDS] [--hostfile FILE] [--] PROGRAM [ARGS...]
#
# PROGRAM "uso" means this checkout's release build (.build/release/uso; the debug build
# when there is no release build). What the wrapper adds to mpirun:
#   - OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM)=1 when run as root (Open MPI refuses root otherwise);
#   - --oversubscribe when N exceeds this machine's cores (idle ranks then yield);
#   - one BLAS thread per rank (OPENBLAS_NUM_THREADS=1; set USO_BLAS_THREADS to change it,
#     which also turns off core binding so the threads can spread);
#   - --timeout (default 3600 s, or USO_TIMEOUT): a hung job is aborted with exit code 110
#     instead of hanging forever;
#   - with --hostfile, a check before anything starts: every host known, one line each, and
#     slots for N ranks (else the file, line and host are named: exit 68 unknown host, 65
#     too few slots or a host listed twice, 66 unreadable file).
# Everything after the options is passed on unchanged. Examples:
#   Cluster/launch-local.sh -np 2 uso doctor
#   Cluster/launch-local.sh -np 3 --timeout 120 uso doctor --reward-ranks 1
#   Cluster/launch-local.sh -np 4 --hostfile Cluster/hostfile.example uso doctor --placement spread
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

usage() {
    sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit "${1:-64}"
}

np=""
hostfile=""
timeout="${USO_TIMEOUT:-3600}"
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        -np|-n) np="${2:?-np needs a rank count}"; shift 2 ;;
        --timeout) timeout="${2:?--timeout needs seconds}"; shift 2 ;;
        --hostfile) hostfile="${2:?--hostfile needs a file}"; extra+=(--hostfile "$hostfile"); shift 2 ;;
        -h|--help) usage 0 ;;
        --) shift; break ;;
        -*) echo "launch-local.sh: unknown option $1 (options go before the program)" >&2; usage ;;
        *) break ;;
    esac
done
[ -n "$np" ] || { echo "launch-local.sh: give the number of ranks with -np N" >&2; usage; }
[[ "$np" =~ ^[1-9][0-9]*$ ]] || { echo "launch-local.sh: -np must be a positive integer, got '$np'" >&2; exit 64; }
[[ "$timeout" =~ ^[1-9][0-9]*$ ]] || { echo "launch-local.sh: --timeout must be a positive number of seconds, got '$timeout'" >&2; exit 64; }
[ $# -gt 0 ] || { echo "launch-local.sh: no program given" >&2; usage; }
command -v mpirun >/dev/null || { echo "launch-local.sh: mpirun not found; run Scripts/bootstrap.sh first" >&2; exit 69; }

# A hostfile is checked before any rank starts: every host must be known (it resolves, or it
# is a namespace host of Cluster/fake-hosts.sh), and its slots must hold the ranks (mpirun
# would otherwise fail after starting daemons, or hang on ssh to a name that does not exist).
check_hostfile() {
    local file="$1" line=0 slots=0 counted=1 listing="" seen="" text host n
    [ -r "$file" ] || { echo "launch-local.sh: hostfile $file: cannot read it" >&2; exit 66; }
    local known_netns
    known_netns="$(ip netns list 2>/dev/null | awk '{print $1}' || true)"
    while IFS= read -r text || [ -n "$text" ]; do
        line=$((line + 1))
        text="${text%%#*}"
        read -r host rest <<< "$text" || true
        [ -n "${host:-}" ] || continue
        if ! getent hosts "$host" >/dev/null 2>&1 && ! grep -qx -- "$host" <<< "$known_netns" \
            && [ "$host" != "$(hostname)" ] && [ "$host" != localhost ]; then
            echo "launch-local.sh: hostfile $file line $line: host '$host' is unknown (it does not resolve: getent hosts $host); fix the name, or add it to DNS or /etc/hosts. No rank was started." >&2
            exit 68
        fi
        if grep -q "^$host " <<< "$seen"; then
            echo "launch-local.sh: hostfile $file line $line: host '$host' is listed again (first on line $(grep "^$host " <<< "$seen" | head -1 | cut -d' ' -f2)); give each host one line with its slots=N" >&2
            exit 65
        fi
        seen+="$host $line"$'\n'
        n="$(sed -n 's/.*\bslots *= *\([0-9][0-9]*\).*/\1/p' <<< "${rest:-}")"
        if [ -z "$n" ]; then counted=0; n="?"; else slots=$((slots + n)); fi
        listing+="${listing:+, }$host $n"
    done < "$file"
    [ -n "$listing" ] || { echo "launch-local.sh: hostfile $file names no host" >&2; exit 65; }
    if [ "$counted" = 1 ] && [ "$np" -gt "$slots" ]; then
        echo "launch-local.sh: hostfile $file gives $slots slots in all ($listing) for -np $np: start fewer ranks or give the hosts more slots (slots=N; Open MPI would refuse, or oversubscribe a host). No rank was started." >&2
        exit 65
    fi
}
[ -z "$hostfile" ] || check_hostfile "$hostfile"

program="$1"; shift
if [ "$program" = "uso" ]; then
    if [ -x "$root/.build/release/uso" ]; then
        program="$root/.build/release/uso"
    elif [ -x "$root/.build/debug/uso" ]; then
        program="$root/.build/debug/uso"
    else
        echo "launch-local.sh: no uso build found; run Scripts/bootstrap.sh (it builds release)" >&2
        exit 69
    fi
fi

if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OPENBLAS_NUM_THREADS="${USO_BLAS_THREADS:-1}"
args=(-np "$np" --timeout "$timeout" -x OPENBLAS_NUM_THREADS)
cores="$(nproc)"
if [ "$np" -gt "$cores" ] && [ ${#extra[@]} -eq 0 ]; then
    args+=(--oversubscribe)
fi
if [ "$OPENBLAS_NUM_THREADS" -gt 1 ]; then
    args+=(--bind-to none)
fi
exec mpirun "${args[@]}" "${extra[@]}" "$program" "$@"
