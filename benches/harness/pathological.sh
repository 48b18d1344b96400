#!/usr/bin/env bash
# CPU and memory of reading tag soup built to make HTML parsers slow.
#
# Each page is written to a file and read with `chancery extract` (the same
# normalize every check calls); GNU time reports its CPU seconds and peak
# RSS. The shapes are the ones a probe found quadratic before the nesting
# cap counted them (issue 14): unclosed <math> or <svg> followed by deep
# nesting, <rb>/<rt> runs against stray end tags, plus plain deep nesting.
#
# Usage: benches/harness/pathological.sh
# Needs: a release build (cargo build --release), python3, GNU time.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${CHANCERY_BIN:-$PWD/target/release/chancery}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import sys
d = sys.argv[1]
pages = {
    "math-div-100k": "<math>" + "<div>" * 100_000,
    "math-div-200k": "<math>" + "<div>" * 200_000,
    "svg-div-200k": "<svg>" + "<div>" * 200_000,
    "rb-p-100k": "<ruby>" + "<rb>" * 100_000 + "</p>" * 100_000,
    "rt-p-100k": "<ruby>" + "<rt>" * 100_000 + "</p>" * 100_000,
    "div-500k": "<div>" * 500_000,
    "table-200k": "<table>" * 200_000,
    "a-b-100k": "<a><b>" * 100_000,
    "b-p-misnest-100k": "<b><p></b>" * 100_000,
    "font-100k": "<font>" * 100_000 + "<p>x" * 100_000,
    "template-100k": "<template>" * 100_000,
    "select-option-100k": "<select>" + "<option><optgroup>" * 100_000,
}
for name, body in pages.items():
    with open(f"{d}/{name}.html", "w") as f:
        f.write("<html><body><p>Statement.</p>" + body)
PY

printf '%-20s %10s %9s %9s  %s\n' page bytes "CPU s" "RSS MiB" result
for page in "$work"/*.html; do
    name=$(basename "$page" .html)
    if /usr/bin/time -f '%U %S %M' -o "$work/time" "$bin" extract "$page" >"$work/out" 2>&1; then
        result="ok, $(wc -l <"$work/out") lines"
    else
        result="error: $(head -c 80 "$work/out" | tr '\n' ' ')"
    fi
    read -r user sys rss <"$work/time"
    printf '%-20s %10d %9.2f %9d  %s\n' "$name" "$(stat -c %s "$page")" \
        "$(echo "$user + $sys" | bc)" $((rss / 1024)) "$result"
done
