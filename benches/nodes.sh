#!/usr/bin/env bash
# Checks per second and CPU per check of 1, 2, 3… daemons sharing one
# PostgreSQL store, on loopback pages.
#
# Serves N statement pages with ../shared/bench/pagesrv.py on 127.0.0.1,
# records a first sight of every page with one `chancery check` into the
# database, then for each node count K starts K daemons (each its own
# state dir, the same config, `default_interval` short enough that every
# watch is always due, so the nodes run flat out) and measures over
# WINDOW seconds:
#   checks/s      check rows the database gained, per second
#   node CPU      user+system seconds of the K daemons, per check
#   server CPU    user+system seconds of PostgreSQL's processes, per check
#   RSS           the largest daemon's peak (VmHWM)
# once with every page answering 304 and once with every page answering
# 200 with the same text (validators ignored).
#
# Usage: benches/nodes.sh N "1 2 3"
# Needs: a release build, python3, and a PostgreSQL to use:
#   CHANCERY_STORE_URL=postgres://user@127.0.0.1:PORT/DB  (an empty database)
#   PGPASSWORD=…                                          (its password)
#   PG_USER=postgres        (the OS user PostgreSQL runs as, for its CPU)
# e.g. eval "$(bash .ci/postgres)"; psql … -c 'CREATE DATABASE bench'
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
node_counts=${2:-"1 2 3"}
window=${WINDOW:-30}
bin=${CHANCERY_BIN:-$PWD/target/release/chancery}
pagesrv=${PAGESRV:-$PWD/../shared/bench/pagesrv.py}
port=${PORT:-18481}
pg_user=${PG_USER:-postgres}
url=${CHANCERY_STORE_URL:?set CHANCERY_STORE_URL to an empty PostgreSQL database}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }

work=$(mktemp -d)
pids=()
stop_nodes() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
trap 'stop_nodes; kill $srv_pid 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"; echo "work: $work" >&2' EXIT
python3 "$pagesrv" serve --port "$port" --n "$n" --ready-file "$work/ready.json" --max-lifetime 7200 >"$work/srv.log" 2>&1 &
srv_pid=$!
for _ in $(seq 1 6000); do [ -s "$work/ready.json" ] && break; sleep 0.1; done
[ -s "$work/ready.json" ] || { echo "page server did not start" >&2; exit 1; }

config() {
    local interval=$1 i
    echo "[daemon]"
    echo "state_dir = \"state\""
    echo "user_agent = \"chancery-bench\""
    echo "concurrency = 16"
    echo "per_host_concurrency = 16"
    echo "per_host_delay = \"0s\""
    echo "default_interval = \"$interval\""
    printf '[store]\nurl = "%s"\npassword_env = "PGPASSWORD"\n' "$url"
    for i in $(seq 0 $((n - 1))); do
        printf '[[watch]]\nname = "page-%d"\nurl = "http://127.0.0.1:%d/page/%d.html"\n' "$i" "$port" "$i"
    done
}

admin() { python3 - "$port" "$1" <<'PY'
import json, sys, urllib.request
port, body = sys.argv[1], sys.argv[2]
req = urllib.request.Request(f"http://127.0.0.1:{port}/__admin/config", data=body.encode(), method="POST",
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req).read()
PY
}

checks() { psql -X -A -t "$url" -c 'SELECT count(*) FROM checks'; }
# User+system seconds of processes: the given pids, or every process of a user.
# With the children they reaped (PostgreSQL's ended backends).
cpu_of_pids() { for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null; done | awk -v hz="$(getconf CLK_TCK)" '{s += $14 + $15 + $16 + $17} END {printf "%.2f", s / hz}'; }
cpu_of_user() { cpu_of_pids $(pgrep -u "$pg_user" || true); }

echo "chancery $("$bin" --version | awk '{print $2}'), N=$n, $(nproc) cores, window ${window} s, $(date -u +%F)"
mkdir -p "$work/cold"
config 1h >"$work/cold/chancery.toml"
start=$(date +%s.%N)
before=$(cpu_of_user)
/usr/bin/time -f '%U %S %M' -o "$work/cold.time" "$bin" --config "$work/cold/chancery.toml" check >/dev/null 2>&1 || true
read -r u s m <"$work/cold.time"
printf 'cold (one check, first sight of every page): wall %.1f s, CPU %.2f s, server CPU %.2f s, peak RSS %d MB\n' \
    "$(echo "$(date +%s.%N) - $start" | bc)" "$(echo "$u + $s" | bc)" "$(echo "$(cpu_of_user) - $before" | bc)" $((m / 1024))

# An interval no cluster here can keep up with: every watch is due.
interval=$((n / 2000 + 1))s
for pass in 304 full; do
    [ "$pass" = full ] && admin '{"conditional": false}'
    for k in $node_counts; do
        for i in $(seq 1 "$k"); do
            mkdir -p "$work/node$i"
            config "$interval" >"$work/node$i/chancery.toml"
            (cd "$work/node$i" && exec "$bin" --config chancery.toml run >run.out 2>run.err) &
            pids+=($!)
        done
        sleep 10 # start-up and the first claims
        c0=$(checks); n0=$(cpu_of_pids "${pids[@]}"); s0=$(cpu_of_user)
        sleep "$window"
        c1=$(checks); n1=$(cpu_of_pids "${pids[@]}"); s1=$(cpu_of_user)
        rss=0
        for pid in "${pids[@]}"; do
            r=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
            [ "$r" -gt "$rss" ] && rss=$r
        done
        stop_nodes
        done_checks=$((c1 - c0))
        printf '%-5s %d node(s): %6.0f checks/s  node CPU %.3f ms/check  server CPU %.3f ms/check  peak RSS %d MB\n' \
            "$pass" "$k" "$(echo "$done_checks / $window" | bc -l)" \
            "$(echo "($n1 - $n0) * 1000 / $done_checks" | bc -l)" \
            "$(echo "($s1 - $s0) * 1000 / $done_checks" | bc -l)" $((rss / 1024))
    done
done
