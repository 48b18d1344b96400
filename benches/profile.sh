#!/usr/bin/env bash
# Where the CPU of a check pass goes, by function, counted in instructions.
#
# Serves N statement pages with ../shared/bench/pagesrv.py on 127.0.0.1,
# makes a history with one cold `chancery check` (default config, no
# filters), then runs each pass once under valgrind's callgrind, which
# counts instructions (repeatable whatever else the machine does):
#   warm-304   every page answers 304 (validators honoured)
#   warm-full  every page answers 200 with the same text
# and prints, per pass, the instructions per page and the inclusive share
# of the functions that account for it (callgrind_annotate --inclusive).
# The raw callgrind files stay in OUT (default: a temp dir, printed) for
# `callgrind_annotate` or kcachegrind.
#
# Usage: benches/profile.sh [N]          (default 1000)
# Needs: cargo build --profile profiling (symbols), valgrind, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
bin=${CHANCERY_BIN:-$PWD/target/profiling/chancery}
pagesrv=${PAGESRV:-$PWD/../shared/bench/pagesrv.py}
[ -x "$bin" ] || { echo "build first: cargo build --profile profiling" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 2; }
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
work=$(mktemp -d)
trap 'kill $srv_pid 2>/dev/null || true; rm -rf "$work"' EXIT

python3 "$pagesrv" serve --port 0 --n "$n" --ready-file "$work/ready.json" --max-lifetime 3600 >"$work/srv.log" 2>&1 &
srv_pid=$!
for _ in $(seq 1 300); do [ -s "$work/ready.json" ] && break; sleep 0.1; done
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$work/ready.json")
config=$work/chancery.toml
{
    printf '[daemon]\nstate_dir = "%s"\nconcurrency = 16\nper_host_concurrency = 16\nper_host_delay = "0s"\n' "$work/state"
    for i in $(seq 0 $((n - 1))); do
        printf '[[watch]]\nname = "page-%d"\nurl = "http://127.0.0.1:%d/page/%d.html"\n' "$i" "$port" "$i"
    done
} >"$config"
"$bin" --config "$config" check --quiet >/dev/null || true

admin() {
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(
        f"http://127.0.0.1:{sys.argv[1]}/__admin/config", data=sys.argv[2].encode(), method="POST",
        headers={"Content-Type": "application/json"})).read()' "$port" "$1"
}

profile() {
    local pass=$1
    valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.$pass" --trace-children=no \
        "$bin" --config "$config" check --quiet >"$work/$pass.out" 2>"$work/$pass.err" || true
    local total
    total=$(callgrind_annotate "$out/callgrind.$pass" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    echo
    echo "== $pass: $total instructions, $((total / n)) per page ($(awk '{print $2}' "$work/$pass.out" | sort | uniq -c | tr -s ' ' | tr '\n' ' '))"
    callgrind_annotate --inclusive=yes --threshold=100 "$out/callgrind.$pass" 2>/dev/null |
        # awk stops printing, rather than head closing the pipe (pipefail).
        awk -v top="${TOP:-40}" '/^ *[0-9,]+ \(/ && shown < top { print; shown++ }'
}

echo "chancery $("$bin" --version | awk '{print $2}'), N=$n, $(date -u +%FT%RZ); callgrind files in $out"
profile warm-304
admin '{"conditional": false}'
profile warm-full
