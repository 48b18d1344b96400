#!/usr/bin/env bash
# Rendering time of the web view: `/` with N watches and a change page
# whose two versions hold about 200 KB of text each.
#
# Serves N small statement pages and one long one on 127.0.0.1, checks them
# all once with a release build, edits the long page in a few places and
# checks it again, then starts `chancery serve` and times ROUNDS requests
# of each page with curl (time to the last byte, loopback). Prints the
# median and the slowest.
#
# Usage: benches/harness/web.sh [N] [ROUNDS]      (defaults: 1000 30)
# Needs: a release build (cargo build --release), python3, curl.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000}
rounds=${2:-30}
bin=${CHANCERY_BIN:-$PWD/target/release/chancery}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
work=$(mktemp -d)
trap 'kill $srv_pid $serve_pid 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
python3 - "$work/site" "$n" <<'PY'
import os, sys
site, n = sys.argv[1], int(sys.argv[2])
os.makedirs(site)
for i in range(n):
    with open(f"{site}/s{i}.html", "w") as f:
        f.write(f"<html><head><title>Statement {i}</title></head><body><main><h1>Statement {i}</h1>"
                f"<p>The ministry's spokesperson answered questions on item {i} at the regular briefing.</p>"
                f"<p>Both sides agreed to continue consultations on the matter in the coming weeks.</p></main></body></html>")
paras = [f"<p>Paragraph {k}: the delegation reaffirmed its position on the questions raised in the note of the previous session, "
         f"recalled the agreements already reached and asked for the next round to be held without delay.</p>" for k in range(1000)]
with open(f"{site}/long.html", "w") as f:
    f.write("<html><head><title>Long statement</title></head><body><main><h1>Long statement</h1>" + "".join(paras) + "</main></body></html>")
PY
port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$work/site" "$port" >"$work/srv.log" 2>&1 &
srv_pid=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/long.html" && break; sleep 0.1; done

config=$work/chancery.toml
{
    printf '[daemon]\nstate_dir = "%s"\nper_host_delay = "0s"\nconcurrency = 16\nper_host_concurrency = 16\n' "$work/state"
    printf '\n[[watch]]\nname = "long"\nurl = "http://127.0.0.1:%s/long.html"\n' "$port"
    for i in $(seq 0 $((n - 1))); do
        printf '\n[[watch]]\nname = "s%d"\nurl = "http://127.0.0.1:%s/s%d.html"\n' "$i" "$port" "$i"
    done
} >"$config"
"$bin" --config "$config" check --quiet >/dev/null
sleep 1.1   # http.server's Last-Modified has one-second steps
sed -i 's/Paragraph 10:/Paragraph ten:/; s/Paragraph 500: the delegation/Paragraph 500: the new delegation/; s/Paragraph 900:/Paragraph nine hundred:/' "$work/site/long.html"
"$bin" --config "$config" check long --no-confirm --quiet >/dev/null
change=$("$bin" --config "$config" history long --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["changes"][0]["id"])')
text_bytes=$("$bin" --config "$config" show long | wc -c)

wport=$(free_port)
"$bin" --config "$config" serve --listen "127.0.0.1:$wport" 2>"$work/serve.log" &
serve_pid=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$wport/" && break; sleep 0.1; done

measure() {
    local path=$1 label=$2
    local times=() bytes
    bytes=$(curl -s "http://127.0.0.1:$wport$path" | wc -c)
    for _ in $(seq 1 "$rounds"); do
        times+=("$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$wport$path")")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk -v label="$label" -v bytes="$bytes" -v n="$rounds" '
        { t[NR] = $1 * 1000 }
        END { printf "%-44s median %6.1f ms  slowest %6.1f ms  (%d requests, %d bytes)\n", label, t[int((n + 1) / 2)], t[n], n, bytes }'
}
echo "chancery web view, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
measure "/" "/ with $((n + 1)) watches"
measure "/w/long/changes/$change" "change page, versions of $text_bytes bytes"
measure "/feed.atom" "/feed.atom"
