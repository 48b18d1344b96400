#!/usr/bin/env bash
# Full-cycle benchmark of chancery against a local page server.
#
# Serves N realistic statement pages (30-60 KB, English/Chinese, some GBK) with
# ../shared/bench/pagesrv.py on 127.0.0.1, then measures with GNU time:
#   cold       first check of every page (all first-seen)
#   warm-304   every page again, validators honoured (all 304)
#   warm-full  every page again, server ignoring validators (all 200, same text)
# and the daemon's peak RSS over one full cycle with all N watches loaded.
#
# Usage: benches/cycle.sh [N] [CONCURRENCY]      (defaults: 10000 16)
# Needs: a release build (cargo build --release), python3, GNU time.
#
# With CHANCERY_STORE_URL=postgres://user@host:port/db (an empty database;
# password in PGPASSWORD) the history goes there instead of SQLite, and
# each pass also reports the CPU PostgreSQL's server processes spent
# (POSTMASTER_PID: the postmaster's pid, whose children's times include
# every finished backend's). The daemon step is skipped then.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
concurrency=${2:-16}
bin=${CHANCERY_BIN:-$PWD/target/release/chancery}
pagesrv=${PAGESRV:-$PWD/../shared/bench/pagesrv.py}
port=${PORT:-18480}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
[ -f "$pagesrv" ] || { echo "page server not found at $pagesrv (set PAGESRV)" >&2; exit 2; }

work=$(mktemp -d)
trap 'kill $srv_pid 2>/dev/null || true; [ -n "${daemon_pid:-}" ] && kill $daemon_pid 2>/dev/null; rm -rf "$work"' EXIT
python3 "$pagesrv" serve --port "$port" --n "$n" --ready-file "$work/ready.json" --max-lifetime 3600 >"$work/srv.log" 2>&1 &
srv_pid=$!
# A large N takes the page server a while to lay out its pages.
for _ in $(seq 1 6000); do [ -s "$work/ready.json" ] && break; sleep 0.1; done
[ -s "$work/ready.json" ] || { echo "page server did not start" >&2; cat "$work/srv.log" >&2; exit 1; }

config=$work/chancery.toml
{
    echo "[daemon]"
    echo "state_dir = \"$work/state\""
    echo "user_agent = \"chancery-bench\""
    echo "concurrency = $concurrency"
    echo "per_host_concurrency = $concurrency"
    echo "per_host_delay = \"0s\""
    echo "default_interval = \"1h\""
    if [ -n "${CHANCERY_STORE_URL:-}" ]; then
        printf '[store]\nurl = "%s"\npassword_env = "PGPASSWORD"\n' "$CHANCERY_STORE_URL"
    fi
    for i in $(seq 0 $((n - 1))); do
        printf '[[watch]]\nname = "page-%d"\nurl = "http://127.0.0.1:%d/page/%d.html"\nignore = ['"'"'Page generated: [^\\n]*'"'"', '"'"'visits: \\d+'"'"']\n' "$i" "$port" "$i"
    done
} >"$config"

admin() { python3 - "$port" "$1" <<'PY'
import json, sys, urllib.request
port, body = sys.argv[1], sys.argv[2]
req = urllib.request.Request(f"http://127.0.0.1:{port}/__admin/config", data=body.encode(), method="POST",
                             headers={"Content-Type": "application/json"})
print(urllib.request.urlopen(req).read().decode())
PY
}

# CPU seconds the PostgreSQL server has spent (itself and finished backends).
server_cpu() {
    [ -n "${POSTMASTER_PID:-}" ] || { echo 0; return; }
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15 + $16 + $17) / hz}' "/proc/$POSTMASTER_PID/stat"
}

measure() {
    local label=$1
    local before
    before=$(server_cpu)
    /usr/bin/time -v "$bin" --config "$config" check >"$work/$label.out" 2>"$work/$label.time" || true
    local server
    server=$(echo "$(server_cpu) - $before" | bc)
    local wall cpu_u cpu_s rss
    wall=$(grep 'Elapsed (wall clock)' "$work/$label.time" | awk '{print $NF}')
    cpu_u=$(grep 'User time' "$work/$label.time" | awk '{print $NF}')
    cpu_s=$(grep 'System time' "$work/$label.time" | awk '{print $NF}')
    rss=$(grep 'Maximum resident' "$work/$label.time" | awk '{print $NF}')
    local outcomes
    outcomes=$(awk '{print $2}' "$work/$label.out" | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')
    printf '%-10s wall %8s  cpu %6.2f s  peak RSS %6.1f MB  %s\n' "$label" "$wall" \
        "$(echo "$cpu_u + $cpu_s" | bc)" "$(echo "$rss / 1024" | bc -l)" "$outcomes"
    if [ -n "${CHANCERY_STORE_URL:-}" ]; then
        printf '%-10s PostgreSQL server cpu %6.2f s\n' "" "$server"
    fi
}

echo "chancery $("$bin" --version | awk '{print $2}'), N=$n, concurrency=$concurrency, $(nproc) cores, $(date -u +%F)"
measure cold
measure warm-304
admin '{"conditional": false}' >/dev/null
measure warm-full

if [ -n "${CHANCERY_STORE_URL:-}" ]; then
    exit 0
fi

# The daemon: an empty history and a 60 s interval, so the first cycle
# spreads all N first checks over 60 s; sample its peak RSS over 75 s.
sed -i 's/^default_interval = "1h"/default_interval = "60s"/' "$config"
rm -rf "$work/state"
"$bin" --config "$config" run >"$work/daemon.out" 2>"$work/daemon.err" &
daemon_pid=$!
peak=0
for _ in $(seq 1 "${DAEMON_SECONDS:-75}"); do
    sleep 1
    rss=$(awk '/VmHWM/ {print $2}' "/proc/$daemon_pid/status" 2>/dev/null || echo 0)
    [ "$rss" -gt "$peak" ] && peak=$rss
done
checks=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from checks').fetchone()[0])" "$work/state/chancery.db")
kill -TERM $daemon_pid; wait $daemon_pid || true
daemon_pid=
printf 'daemon     %d checks in %d s, peak RSS (VmHWM) %.1f MB\n' "$checks" "${DAEMON_SECONDS:-75}" "$(echo "$peak / 1024" | bc -l)"
