#!/usr/bin/env bash
# Cost of render = "browser" against render = "http" on the same page.
#
# Serves the seed embassy page (tests/fixtures/seed/embassy-en.html) on
# 127.0.0.1 with its statement put in place by a script from a JSON
# endpoint, and checks it as WATCHES watches (distinct query strings) with
# each render mode: a first pass (first sight) and a second (unchanged).
# Prints wall time and CPU per pass (chancery and every process it started,
# the browser included: GNU time counts waited-for children) and, for the
# browser, the peak memory of its processes sampled every 100 ms: the sum
# of their RSS and of their PSS (shared pages counted once).
#
# Usage: benches/harness/browser.sh [WATCHES] [MAX_TABS]   (defaults: 20, 2)
# Needs: a release build (cargo build --release), python3, GNU time, chromium.
set -euo pipefail
cd "$(dirname "$0")/../.."
watches=${1:-20}
tabs=${2:-2}
bin=${CHANCERY_BIN:-$PWD/target/release/chancery}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
chromium=${CHANCERY_CHROMIUM:-$(command -v chromium || true)}
[ -n "$chromium" ] || { echo "install chromium or set CHANCERY_CHROMIUM" >&2; exit 2; }

work=$(mktemp -d)
trap 'kill $srv_pid $sampler_pid 2>/dev/null || true; rm -rf "$work"' EXIT
sampler_pid=
python3 - "$work/site" tests/fixtures/seed/embassy-en.html tests/fixtures/seed/embassy-uk-liu-presser-2020-07-30.txt <<'PY'
import json, os, sys
site, template, seed = sys.argv[1:4]
os.makedirs(site + "/api", exist_ok=True)
title = "Ambassador Liu Xiaoming Holds Press Conference on China-UK Relationship"
lines = open(seed, encoding="utf-8").read().splitlines()
start = lines.index(title) + 1
paragraphs = []
for line in lines[start:]:
    line = line.strip()
    if line == "Suggest to a Friend":
        break
    if line:
        paragraphs.append(line)
script = """<div id="statement">Loading</div>
<script>
fetch('/api/statement.json').then(function (r) { return r.json(); }).then(function (j) {
  var box = document.getElementById('statement'); box.textContent = '';
  j.paragraphs.forEach(function (t) { var p = document.createElement('p'); p.textContent = t; box.appendChild(p); });
  box.setAttribute('data-loaded', '1');
});
</script>"""
page = open(template, encoding="utf-8").read()
page = page.replace("{{TITLE}}", title).replace("{{DATE}}", "2020/07/30").replace("{{BODY}}", script).replace("{{COUNTER}}", "1")
open(site + "/index.html", "w", encoding="utf-8").write(page)
json.dump({"paragraphs": paragraphs}, open(site + "/api/statement.json", "w", encoding="utf-8"))
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$work/site" "$port" >"$work/srv.log" 2>&1 &
srv_pid=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/index.html" && break; sleep 0.1; done
echo "page: $(stat -c %s "$work/site/index.html") bytes + $(stat -c %s "$work/site/api/statement.json") bytes of JSON; $watches watches, max_tabs $tabs, $(nproc) cores, $("$chromium" --version 2>/dev/null)"

# Peak memory of the browser's processes (those with a chancery profile).
sample() {
    python3 - "$1" <<'PY'
import os, sys, time
out = sys.argv[1]
peak_rss = peak_pss = 0
while not os.path.exists(out + ".stop"):
    rss = pss = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if b"chancery-browser-" not in open(f"/proc/{pid}/cmdline", "rb").read():
                continue
            for line in open(f"/proc/{pid}/smaps_rollup"):
                if line.startswith("Rss:"): rss += int(line.split()[1])
                elif line.startswith("Pss:"): pss += int(line.split()[1])
        except OSError:
            pass
    peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
    time.sleep(0.1)
open(out, "w").write(f"{peak_rss // 1024} {peak_pss // 1024}\n")
PY
}

for mode in http browser; do
    state=$work/state-$mode
    config=$work/$mode.toml
    {
        echo "[daemon]"
        echo "state_dir = \"$state\""
        echo "concurrency = 4"
        echo "per_host_concurrency = 4"
        echo "per_host_delay = \"0s\""
        echo
        echo "[browser]"
        echo "executable = \"$chromium\""
        # Chromium's sandbox cannot run as root.
        [ "$(id -u)" = 0 ] && echo "sandbox = false"
        echo "max_tabs = $tabs"
        for i in $(seq 1 "$watches"); do
            echo
            echo "[[watch]]"
            echo "name = \"page-$i\""
            echo "url = \"http://127.0.0.1:$port/index.html?w=$i\""
            if [ "$mode" = browser ]; then
                echo "render = \"browser\""
                echo "wait_for = \"#statement[data-loaded]\""
                echo "settle = \"0s\""
            fi
        done
    } >"$config"
    for pass in first unchanged; do
        rm -f "$work/peak" "$work/peak.stop"
        sample "$work/peak" &
        sampler_pid=$!
        /usr/bin/time -f '%e %U %S' -o "$work/time" "$bin" --config "$config" check --quiet >"$work/out" 2>&1 || true
        touch "$work/peak.stop"
        wait "$sampler_pid" || true
        read -r wall user sys < <(tail -1 "$work/time")
        read -r rss pss < "$work/peak"
        seen=$(grep -c -E "first-seen|unchanged" "$work/out" || true)
        cpu=$(echo "$user + $sys" | bc)
        per=$(echo "scale=3; $cpu / $watches" | bc)
        if [ "$mode" = browser ]; then
            printf '%-7s %-9s wall %6.2f s  CPU %6.2f s (%s s per page)  ok %d/%d  browser peak RSS %d MiB, PSS %d MiB\n' \
                "$mode" "$pass" "$wall" "$cpu" "$per" "$seen" "$watches" "$rss" "$pss"
        else
            printf '%-7s %-9s wall %6.2f s  CPU %6.2f s (%s s per page)  ok %d/%d\n' \
                "$mode" "$pass" "$wall" "$cpu" "$per" "$seen" "$watches"
        fi
    done
    grep -q "first-seen" "$work/out" 2>/dev/null || true
done
# The text each mode keeps of the page (the last watch):
for mode in http browser; do
    echo "--- $mode sees:"
    "$bin" --config "$work/$mode.toml" show "page-$watches" | head -c 300
    echo
done
