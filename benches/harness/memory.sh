#!/usr/bin/env bash
# Peak memory of one pass over large pages, all in flight at once.
#
# Serves one ~9.8 MB statement page holding 200,000 links on 127.0.0.1 and
# checks it as WATCHES watches (distinct query strings) with
# concurrency = per_host_concurrency = WATCHES, so every body and every
# page being read is in flight together: the worst case for memory. Prints
# the peak RSS of `chancery check` (GNU time) for each memory_budget given.
#
# Usage: benches/harness/memory.sh [WATCHES] [BUDGET...]   (defaults: 16, the default budget)
# Needs: a release build (cargo build --release), python3, GNU time.
set -euo pipefail
cd "$(dirname "$0")/../.."
watches=${1:-16}
shift || true
budgets=("$@")
[ ${#budgets[@]} -gt 0 ] || budgets=(default)
bin=${CHANCERY_BIN:-$PWD/target/release/chancery}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }

work=$(mktemp -d)
trap 'kill $srv_pid 2>/dev/null || true; rm -rf "$work"' EXIT
python3 - "$work/site/index.html" <<'PY'
import os, sys
path = sys.argv[1]
os.makedirs(os.path.dirname(path), exist_ok=True)
parts = ['<!doctype html><html><head><meta charset="utf-8"><title>Statement</title></head><body>',
         '<nav><a href="/">Home</a></nav><article><h1>Statement of the Embassy</h1>',
         '<p>The Embassy firmly opposes the remarks made on Tuesday.</p><ul>']
parts += [f'<li><a href="/a/{i:07d}.htm">Item {i:07d}</a></li>\n' for i in range(200_000)]
parts.append('</ul></article></body></html>')
with open(path, 'w') as f:
    f.write(''.join(parts))
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$work/site" "$port" >"$work/srv.log" 2>&1 &
srv_pid=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/index.html" && break; sleep 0.1; done
echo "page: $(stat -c %s "$work/site/index.html") bytes, $watches watches, $(nproc) cores"

run=0
for budget in "${budgets[@]}"; do
    run=$((run + 1))
    state=$work/state-$run
    config=$work/chancery-$run.toml
    {
        echo "[daemon]"
        echo "state_dir = \"$state\""
        echo "concurrency = $watches"
        echo "per_host_concurrency = $watches"
        echo "per_host_delay = \"0s\""
        echo "respect_robots = false"
        [ "$budget" = default ] || echo "memory_budget = \"$budget\""
        for i in $(seq 1 "$watches"); do
            echo
            echo "[[watch]]"
            echo "name = \"big-$i\""
            echo "url = \"http://127.0.0.1:$port/index.html?w=$i\""
        done
    } >"$config"
    /usr/bin/time -f '%M %e %U %S' -o "$work/time" "$bin" --config "$config" check --quiet >"$work/out" 2>&1 || true
    read -r rss wall user sys < <(tail -1 "$work/time")
    ok=$(grep -c "first-seen" "$work/out" || true)
    printf 'memory_budget %-8s peak RSS %4d MiB  wall %5.2f s  CPU %5.2f s  first seen %d/%d\n' \
        "$budget" $((rss / 1024)) "$wall" "$(echo "$user + $sys" | bc)" "$ok" "$watches"
done
