#!/usr/bin/env bash
# Disk full: chancery's state_dir on a size-limited filesystem.
#
# Mounts a small tmpfs as state_dir, runs `chancery run` on N pages of
# ../shared/bench/pagesrv.py (25-60 KB statement pages) with a webhook
# subscriber (a stdlib receiver answering 200), lets every page get its
# first snapshot, then fills the filesystem to the last byte with a filler
# file and edits every page every few seconds, so the daemon must write new
# bodies, snapshots, changes and alerts. Then it checks, one PASS/FAIL each:
#
#   full-error      the daemon logs a failed write that names the full disk
#   full-alive      the daemon is still running
#   full-no-record  no edit was recorded while the disk was full, or the
#                   ones recorded have their alerts (nothing half-written)
#   full-cli        `chancery status` and `chancery history` work (exit 0/1, output)
#   full-integrity  PRAGMA integrity_check on the live database says ok
#   recover-changes after space returns (round 1: filler deleted; round 2:
#                   `mount -o remount,size=…`), without a restart, every
#                   page's last revision is recorded (the watch's stored ETag
#                   is the page's current one)
#   recover-alerts  ... and the outbox drains: no pending alert, every
#                   alert delivered to the receiver
#   recover-alive   the same daemon pid, still running
#   integrity       integrity_check ok after recovery, and after SIGTERM
#   exit            the daemon exits 0 on SIGTERM
# Round 3 fills the disk while the daemon is stopped (no -wal/-shm files):
#   offline-cli     `chancery status` / `history` still read the history
#   offline-start   `chancery run` either starts or refuses with an error
#                   that names the full disk
#   offline-recover after space returns (the daemon started again if it had
#                   refused), every page's last revision is recorded and the
#                   outbox drains; integrity_check ok
#
# Usage: benches/harness/disk-full.sh [N_PAGES]   (default 20)
# Env:   CHANCERY_BIN (default target/release/chancery), PAGESRV,
#        SIZE (tmpfs size, default 8m), INTERVAL (s, default 5),
#        FULL_SECONDS (how long the disk stays full, default 45),
#        RECOVER_TIMEOUT (s, default 300), KEEP=1 keeps the work dir,
#        OUT=DIR copies the daemon log, round logs, CLI output and config there.
# Needs root (mount), python3. Everything on 127.0.0.1. Exit 0 only if
# every step passed.
set -uo pipefail
cd "$(dirname "$0")/../.."
n=${1:-20}
bin=${CHANCERY_BIN:-$PWD/target/release/chancery}
pagesrv=${PAGESRV:-$PWD/../shared/bench/pagesrv.py}
size=${SIZE:-8m}
interval=${INTERVAL:-5}
full_seconds=${FULL_SECONDS:-45}
recover_timeout=${RECOVER_TIMEOUT:-300}
[ -x "$bin" ] || { echo "no chancery binary at $bin (set CHANCERY_BIN)" >&2; exit 2; }
[ -f "$pagesrv" ] || { echo "page server not found at $pagesrv (set PAGESRV)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root (mount -t tmpfs)" >&2; exit 2; }

work=$(mktemp -d /tmp/chancery-diskfull.XXXXXX)
state=$work/state
mkdir -p "$state"
srv_pid= hook_pid= daemon_pid=
cleanup() {
    for p in $daemon_pid $hook_pid $srv_pid; do
        kill -TERM "$p" 2>/dev/null && { timeout 20 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null; }
    done
    mountpoint -q "$state" && umount "$state"
    if [ "${KEEP:-0}" = 1 ]; then echo "work dir kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fails=0
verdict() { # name PASS|FAIL detail
    printf '%-16s %s  %s\n' "$1" "$2" "$3"
    [ "$2" = PASS ] || fails=$((fails + 1))
}
say() { printf '[disk-full %s] %s\n' "$(date +%T)" "$*"; }

mount -t tmpfs -o "size=$size,mode=0755" chancery-diskfull "$state" || { echo "cannot mount tmpfs" >&2; exit 2; }
say "$("$bin" --version), $n pages every ${interval}s, state_dir on tmpfs size=$size ($(df -k --output=size "$state" | tail -1 | tr -d ' ') KiB), $(date -u '+%F %H:%M UTC')"

# --- page server and webhook receiver -----------------------------------
python3 "$pagesrv" serve --port 0 --n "$n" --ready-file "$work/srv.ready" --max-lifetime 3600 >"$work/srv.log" 2>&1 &
srv_pid=$!
python3 - "$work" >"$work/hook.log" 2>&1 <<'PY' &
import http.server, json, os, sys, threading
work = sys.argv[1]
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        rec = {"id": self.headers.get("X-Chancery-Delivery"), "event": self.headers.get("X-Chancery-Event"),
               "watch": json.loads(body).get("watch", {}).get("name")}
        with lock, open(os.path.join(work, "deliveries.jsonl"), "a") as f:
            f.write(json.dumps(rec) + "\n")
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(os.path.join(work, "hook.port.tmp"), "w") as f: f.write(str(srv.server_address[1]))
os.replace(os.path.join(work, "hook.port.tmp"), os.path.join(work, "hook.port"))
srv.serve_forever()
PY
hook_pid=$!
touch "$work/deliveries.jsonl"
for _ in $(seq 1 300); do [ -s "$work/srv.ready" ] && [ -s "$work/hook.port" ] && break; sleep 0.1; done
[ -s "$work/srv.ready" ] && [ -s "$work/hook.port" ] || { echo "page server or receiver did not start" >&2; cat "$work/srv.log" "$work/hook.log" >&2; exit 2; }
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$work/srv.ready")
hook_port=$(cat "$work/hook.port")

admin_edit_all() { # edit every page once; prints nothing
    python3 - "$port" "$n" <<'PY'
import json, sys, urllib.request
port, n = sys.argv[1], int(sys.argv[2])
req = urllib.request.Request(f"http://127.0.0.1:{port}/__admin/mutate", method="POST",
                             data=json.dumps({"ids": list(range(n)), "kind": "edit"}).encode(),
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=10).read()
PY
}

# q SQL: one value from the live database, read-only (never writes the full disk)
q() { python3 - "$state/chancery.db" "$1" <<'PY'
import sqlite3, sys
con = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=10)
r = con.execute(sys.argv[2]).fetchone()
print("" if r is None or r[0] is None else r[0])
PY
}
# integrity [rw]: PRAGMA integrity_check; read-only while a daemon runs, "rw" once
# it is stopped (a read-write connection checkpoints and removes -wal/-shm on
# close, as the daemon does; a read-only one would leave them behind)
integrity() { python3 - "$state/chancery.db" "${1:-ro}" <<'PY'
import sqlite3, sys
try:
    con = sqlite3.connect(f"file:{sys.argv[1]}?mode={sys.argv[2]}", uri=True, timeout=30)
    print(";".join(r[0] for r in con.execute("PRAGMA integrity_check").fetchall()))
except sqlite3.Error as e:
    print(f"error: {e}")
PY
}

# seen_latest: how many pages' current revision the store has recorded
# (the watch's stored ETag is pagesrv's W/"<id>-<rev>-<seed>" of the page now)
seen_latest() { python3 - "$state/chancery.db" "$port" <<'PY'
import json, sqlite3, sys, urllib.request
st = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[2]}/__admin/state", timeout=10))
con = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=10)
etags = dict(con.execute("SELECT name, etag FROM watches").fetchall())
revs = {int(i): p["rev"] for i, p in st["pages"].items()}
print(sum(1 for i in range(st["n"]) if etags.get(f"page-{i}") == f'W/"{i}-{revs.get(i, 0)}-{st["seed"]}"'))
PY
}

# --- config and daemon ----------------------------------------------------
config=$work/chancery.toml
{
    echo "[daemon]"
    echo "state_dir = \"$state\""
    echo "user_agent = \"chancery-diskfull\""
    echo "per_host_delay = \"0s\""
    echo "per_host_concurrency = 4"
    echo "default_interval = \"${interval}s\""
    echo "confirm_delay = \"0s\""
    echo "alert_retry = \"2s\""
    echo
    echo "[[subscriber]]"
    echo "name = \"hook\""
    echo "webhook = \"http://127.0.0.1:$hook_port/hook\""
    for i in $(seq 0 $((n - 1))); do
        printf '\n[[watch]]\nname = "page-%d"\nurl = "http://127.0.0.1:%d/page/%d.html"\nignore = ['"'"'Page generated: [^\\x0A]*'"'"', '"'"'visits: \\d+'"'"']\nnotify = ["hook"]\n' "$i" "$port" "$i"
    done
} >"$config"
"$bin" --config "$config" config check >/dev/null || { echo "config invalid" >&2; exit 2; }
RUST_LOG=${RUST_LOG:-info} "$bin" --config "$config" run >"$work/daemon.log" 2>&1 &
daemon_pid=$!
say "daemon pid $daemon_pid; waiting for $n first-seen"
for _ in $(seq 1 $((interval * 40))); do
    [ -f "$state/chancery.db" ] && [ "$(q "SELECT count(*) FROM changes WHERE kind='first-seen'")" = "$n" ] && break
    sleep 0.5
done
[ "$(q "SELECT count(*) FROM changes WHERE kind='first-seen'")" = "$n" ] || { echo "not every page was seen" >&2; tail "$work/daemon.log" >&2; exit 1; }
say "baseline: db $(stat -c %s "$state/chancery.db") B, wal $(stat -c %s "$state/chancery.db-wal" 2>/dev/null || echo 0) B; $(df -k --output=used,avail "$state" | tail -1 | awk '{print "used " $1 " KiB, free " $2 " KiB"}')"

# One round: fill the disk, edit pages while full, check, give the space back ($1), check recovery.
round() {
    local how=$1 r=$2
    local log_from checks_before edited_before t_fill
    log_from=$(($(wc -l <"$work/daemon.log") + 1))
    checks_before=$(q "SELECT count(*) FROM checks")
    edited_before=$(q "SELECT count(*) FROM changes WHERE kind='edited'")
    say "round $r: filling $state (free before: $(df -k --output=avail "$state" | tail -1 | tr -d ' ') KiB)"
    dd if=/dev/zero of="$state/filler" bs=64k status=none 2>/dev/null
    dd if=/dev/zero of="$state/filler2" bs=512 status=none 2>/dev/null   # the last partial block too
    t_fill=$(date +%s%3N)
    say "round $r: full ($(df -k --output=avail "$state" | tail -1 | tr -d ' ') KiB free); editing all $n pages every ${interval}s for ${full_seconds}s"
    local end=$(( $(date +%s) + full_seconds ))
    while [ "$(date +%s)" -lt "$end" ]; do
        admin_edit_all
        sleep "$interval"
    done
    admin_edit_all   # the last edit: what recovery must record
    sed -n "${log_from},\$p" "$work/daemon.log" >"$work/round$r-full.log"

    # full-error: a logged failure naming the full disk
    local lines
    lines=$(grep -Eic 'disk is full|disk holding .* is full|no space|ENOSPC|storage full' "$work/round$r-full.log")
    if [ "$lines" -gt 0 ]; then
        verdict "full-error" PASS "round $r: $lines log lines name the full disk, first: $(grep -Ei -m1 'disk is full|disk holding .* is full|no space|ENOSPC|storage full' "$work/round$r-full.log" | cut -c1-220)"
    else
        verdict "full-error" FAIL "round $r: no log line names the full disk ($(grep -Ec 'WARN|ERROR' "$work/round$r-full.log") WARN/ERROR lines; see round$r-full.log)"
    fi
    # full-alive
    if kill -0 "$daemon_pid" 2>/dev/null; then verdict "full-alive" PASS "round $r: pid $daemon_pid running"
    else verdict "full-alive" FAIL "round $r: the daemon exited: $(tail -3 "$work/daemon.log" | tr '\n' ' ')"; return; fi
    # full-no-record: what was recorded while full, and whether it is whole
    local checks_full edited_full orphan
    checks_full=$(q "SELECT count(*) FROM checks WHERE started_at >= $t_fill")
    edited_full=$(q "SELECT count(*) FROM changes WHERE kind='edited' AND detected_at >= $t_fill")
    orphan=$(q "SELECT count(*) FROM changes c WHERE c.kind='edited' AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.change_id = c.id)")
    if [ "$orphan" = 0 ]; then
        verdict "full-no-record" PASS "round $r: while full, $checks_full checks and $edited_full edits recorded (checks before: $checks_before); every edit has its alert"
    else
        verdict "full-no-record" FAIL "round $r: $orphan edited changes without an alert"
    fi
    # full-cli
    local st hi st_rc hi_rc
    st=$("$bin" --config "$config" status 2>&1); st_rc=$?
    hi=$("$bin" --config "$config" history page-0 -n 3 2>&1); hi_rc=$?
    echo "$st" >"$work/round$r-status.txt"; echo "$hi" >"$work/round$r-history.txt"
    if [ "$st_rc" -le 1 ] && [ -n "$st" ] && [ "$hi_rc" = 0 ] && [ -n "$hi" ]; then
        verdict "full-cli" PASS "round $r: status exit $st_rc ($(echo "$st" | head -1 | cut -c1-100)), history exit 0"
    else
        verdict "full-cli" FAIL "round $r: status exit $st_rc: $(echo "$st" | head -2 | tr '\n' ' ' | cut -c1-200); history exit $hi_rc: $(echo "$hi" | head -2 | tr '\n' ' ' | cut -c1-200)"
    fi
    # full-integrity
    local ic
    ic=$(integrity)
    if [ "$ic" = ok ]; then verdict "full-integrity" PASS "round $r: integrity_check ok while full"
    else verdict "full-integrity" FAIL "round $r: integrity_check: $ic"; fi

    # give the space back
    local t_free
    t_free=$(date +%s)
    case $how in
        delete) rm -f "$state/filler" "$state/filler2" ;;
        remount) mount -o "remount,size=$3" "$state" ;;
    esac
    say "round $r: space back by $how ($(df -k --output=avail "$state" | tail -1 | tr -d ' ') KiB free); waiting for every page's last edit and an empty outbox (at most ${recover_timeout}s)"
    local seen pending delivered_store received ok=0
    for _ in $(seq 1 "$recover_timeout"); do
        seen=$(seen_latest)
        pending=$(q "SELECT count(*) FROM alerts WHERE status='pending'")
        if [ "$seen" = "$n" ] && [ "$pending" = 0 ]; then ok=1; break; fi
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 1
    done
    local took=$(( $(date +%s) - t_free ))
    if [ "$seen" = "$n" ]; then verdict "recover-changes" PASS "round $r: every page's last revision recorded ($n/$n) ${took}s after the space came back"
    else verdict "recover-changes" FAIL "round $r: $seen of $n pages' last revision recorded after ${took}s"; fi
    say "round $r: edited changes recorded in the round: $(( $(q "SELECT count(*) FROM changes WHERE kind='edited'") - edited_before ))"
    delivered_store=$(q "SELECT count(*) FROM alerts WHERE status='delivered'")
    local failed_alerts
    failed_alerts=$(q "SELECT count(*) FROM alerts WHERE status='failed'")
    received=$(python3 -c 'import json,sys; print(len({json.loads(l)["id"] for l in open(sys.argv[1]) if l.strip()}))' "$work/deliveries.jsonl")
    local posts
    posts=$(wc -l <"$work/deliveries.jsonl")
    if [ "$ok" = 1 ] && [ "$failed_alerts" = 0 ] && [ "$received" -ge "$delivered_store" ]; then
        verdict "recover-alerts" PASS "round $r: outbox empty; $delivered_store alerts delivered (receiver: $received distinct ids in $posts posts), 0 failed"
    else
        verdict "recover-alerts" FAIL "round $r: pending $pending, failed $failed_alerts, delivered $delivered_store, receiver $received distinct in $posts posts"
    fi
    if kill -0 "$daemon_pid" 2>/dev/null; then verdict "recover-alive" PASS "round $r: same pid $daemon_pid, no restart"
    else verdict "recover-alive" FAIL "round $r: the daemon is gone"; fi
    sed -n "${log_from},\$p" "$work/daemon.log" >"$work/round$r.log"
    say "round $r log: $(grep -c ' INFO ' "$work/round$r.log") INFO, $(grep -c ' WARN ' "$work/round$r.log") WARN, $(grep -c ' ERROR ' "$work/round$r.log") ERROR lines; distinct ERROR/WARN messages:"
    sed -E 's/^[^ ]+ +//; s/page-[0-9]+/page-N/g; s/[0-9]{4}-[0-9-]+T[0-9:.]+Z//g' "$work/round$r.log" | grep -E 'WARN|ERROR' | sort | uniq -c | sort -rn | head -8 | sed 's/^/    /'
}

round delete 1
ic=$(integrity)
if [ "$ic" = ok ]; then verdict "integrity" PASS "after round 1: ok"; else verdict "integrity" FAIL "after round 1: $ic"; fi
round remount 2 "$(( $(df -k --output=size "$state" | tail -1) * 2 ))k"
ic=$(integrity)
if [ "$ic" = ok ]; then verdict "integrity" PASS "after round 2: ok"; else verdict "integrity" FAIL "after round 2: $ic"; fi

stop_daemon() { # SIGTERM, at most 30 s; sets rc
    kill -TERM "$daemon_pid"
    if ! timeout 30 tail --pid="$daemon_pid" -f /dev/null; then kill -KILL "$daemon_pid"; fi
    wait "$daemon_pid"; rc=$?
    daemon_pid=
}
if kill -0 "$daemon_pid" 2>/dev/null; then
    stop_daemon
    if [ "$rc" = 0 ]; then verdict "exit" PASS "SIGTERM: exit 0"; else verdict "exit" FAIL "SIGTERM: exit $rc"; fi
    ic=$(integrity rw)
    if [ "$ic" = ok ]; then verdict "integrity" PASS "after stop: ok"; else verdict "integrity" FAIL "after stop: $ic"; fi
fi

# --- round 3: the disk fills while no chancery process has the database open
# (after a stop, SQLite has removed chancery.db-wal and -shm). Then the CLI and
# a daemon start must open the database on a full disk.
say "round 3: daemon stopped; files: $(ls "$state" | tr '\n' ' ')"
dd if=/dev/zero of="$state/filler" bs=64k status=none 2>/dev/null
dd if=/dev/zero of="$state/filler2" bs=512 status=none 2>/dev/null
admin_edit_all
say "round 3: full ($(df -k --output=avail "$state" | tail -1 | tr -d ' ') KiB free), every page edited"
st=$("$bin" --config "$config" status 2>&1); st_rc=$?
hi=$("$bin" --config "$config" history page-0 -n 3 2>&1); hi_rc=$?
echo "$st" >"$work/round3-status.txt"; echo "$hi" >"$work/round3-history.txt"
if [ "$st_rc" -le 1 ] && [ "$hi_rc" = 0 ] && ! grep -q '^chancery:' <<<"$st$hi"; then
    verdict "offline-cli" PASS "round 3: status exit $st_rc, history exit 0 with the daemon stopped"
else
    verdict "offline-cli" FAIL "round 3: status exit $st_rc: $(head -1 <<<"$st" | cut -c1-220); history exit $hi_rc: $(head -1 <<<"$hi" | cut -c1-220)"
fi
: >"$work/daemon3.log"
RUST_LOG=${RUST_LOG:-info} "$bin" --config "$config" run >"$work/daemon3.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 20); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.5; done
if kill -0 "$daemon_pid" 2>/dev/null; then
    started=1
    verdict "offline-start" PASS "round 3: the daemon started on the full disk: $(grep -Ei -m1 'disk is full|disk holding .* is full|no space|ENOSPC' "$work/daemon3.log" | cut -c1-200)"
else
    wait "$daemon_pid"; rc=$?; daemon_pid=; started=0
    msg=$(tail -1 "$work/daemon3.log" | cut -c1-240)
    if grep -Eqi 'disk is full|disk holding .* is full|no space|ENOSPC|storage full' "$work/daemon3.log"; then
        verdict "offline-start" PASS "round 3: the daemon refused to start (exit $rc) and says why: $msg"
    else
        verdict "offline-start" FAIL "round 3: the daemon exited ($rc) without naming the full disk: $msg"
    fi
fi
rm -f "$state/filler" "$state/filler2"
say "round 3: space back ($(df -k --output=avail "$state" | tail -1 | tr -d ' ') KiB free)"
if [ "$started" = 0 ]; then
    RUST_LOG=${RUST_LOG:-info} "$bin" --config "$config" run >>"$work/daemon3.log" 2>&1 &
    daemon_pid=$!
fi
ok=0
for _ in $(seq 1 "$recover_timeout"); do
    kill -0 "$daemon_pid" 2>/dev/null || break
    if [ -f "$state/chancery.db-shm" ] && [ "$(seen_latest 2>/dev/null)" = "$n" ] && [ "$(q "SELECT count(*) FROM alerts WHERE status='pending'" 2>/dev/null)" = 0 ]; then ok=1; break; fi
    sleep 1
done
if [ "$ok" = 1 ]; then verdict "offline-recover" PASS "round 3: every page's last revision recorded and the outbox empty$([ "$started" = 0 ] && echo ' (daemon started again by hand)')"
else verdict "offline-recover" FAIL "round 3: seen $(seen_latest 2>/dev/null)/$n, pending $(q "SELECT count(*) FROM alerts WHERE status='pending'" 2>/dev/null)"; fi
if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    stop_daemon
    if [ "$rc" = 0 ]; then verdict "exit" PASS "round 3: SIGTERM: exit 0"; else verdict "exit" FAIL "round 3: SIGTERM: exit $rc"; fi
fi
ic=$(integrity rw)
if [ "$ic" = ok ]; then verdict "integrity" PASS "after round 3: ok"; else verdict "integrity" FAIL "after round 3: $ic"; fi
cat "$work/daemon3.log" >>"$work/daemon.log"
if grep -q panicked "$work/daemon.log"; then verdict "no-panic" FAIL "$(grep -m1 panicked "$work/daemon.log")"; else verdict "no-panic" PASS "no panic in the log"; fi
if [ -n "${OUT:-}" ]; then mkdir -p "$OUT" && cp "$work"/*.log "$work"/*.txt "$work"/*.jsonl "$config" "$OUT"/ && echo "logs copied to $OUT"; fi
echo
if [ "$fails" = 0 ]; then echo "disk-full: PASS (every step)"; exit 0; else echo "disk-full: FAIL ($fails steps failed; log: $work/daemon.log${KEEP:+ (kept)})"; exit 1; fi
