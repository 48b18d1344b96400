#!/usr/bin/env python3
"""Soak test of `chancery run`: many watches at short intervals for a long time.

Starts, all on 127.0.0.1:
  * the page server ../shared/bench/pagesrv.py with --watches pages (25-60 KB
    statement pages, weak ETag/Last-Modified, so an unchanged page is a 304);
  * a webhook receiver (stdlib, in this process) that answers 200, checks the
    HMAC signature and counts deliveries, distinct delivery ids and events;
  * `chancery run` with one [[watch]] per page at --interval, all notifying
    the webhook.

While it runs, one page is edited at a time at a steady rate (--edits-per-min,
through pagesrv's POST /__admin/mutate {"kind": "edit"}), so changes are
recorded and alerts flow. Every --sample seconds it reads /proc/<pid> of the
daemon (VmRSS, VmHWM, threads, entries in fd/, CPU seconds), the sizes of
chancery.db and chancery.db-wal, and from the store (read-only sqlite3): checks,
changes by kind, alerts by status.

At the end it stops editing, waits (bounded by --drain-timeout) until every
page's last edit has been recorded as a change and the outbox has no pending
alert, sends SIGTERM, and prints start / peak / end of every figure, with
growth flags. Writes <out>/samples.csv, <out>/summary.json, the config and
the daemon's log.

    benches/harness/soak.py --watches 2000 --minutes 30 --interval 30s --out /tmp/soak

Python 3.11+, stdlib only. Exit status: 0 when nothing was flagged, 1 when a
flag was raised (growth, pending alerts, missed edits, daemon died), 2 on a
setup error.
"""
import argparse
import csv
import datetime as dt
import hashlib
import hmac
import http.server
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLK_TCK = os.sysconf("SC_CLK_TCK")
SECRET = "soak-secret"


def log(msg):
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def parse_duration(s):
    """'30s', '2m', '1h', or a bare number of seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(s))
    if not m:
        raise argparse.ArgumentTypeError(f"{s!r} is not a duration (e.g. 30s, 1m)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


# ----------------------------------------------------------------------------
# webhook receiver
# ----------------------------------------------------------------------------
class Hooks:
    def __init__(self):
        self.lock = threading.Lock()
        self.posts = 0
        self.ids = set()
        self.duplicates = 0
        self.bad_signature = 0
        self.events = {}

    def snapshot(self):
        with self.lock:
            return {"posts": self.posts, "distinct": len(self.ids), "duplicates": self.duplicates,
                    "bad_signature": self.bad_signature, "events": dict(self.events)}


def make_receiver(hooks):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n)
            sig = self.headers.get("X-Chancery-Signature", "")
            want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            delivery = self.headers.get("X-Chancery-Delivery", "")
            event = self.headers.get("X-Chancery-Event", "?")
            with hooks.lock:
                hooks.posts += 1
                if delivery in hooks.ids:
                    hooks.duplicates += 1
                hooks.ids.add(delivery)
                hooks.events[event] = hooks.events.get(event, 0) + 1
                if not hmac.compare_digest(sig, want):
                    hooks.bad_signature += 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, name="hooks", daemon=True).start()
    return srv


# ----------------------------------------------------------------------------
# page server
# ----------------------------------------------------------------------------
def admin(port, path, body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                 method="POST" if data else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


class Mutator(threading.Thread):
    """Edits one random page every 60/rate seconds; remembers when each page was last edited."""

    def __init__(self, port, n, per_min, seed):
        super().__init__(name="mutator", daemon=True)
        self.port, self.n, self.gap = port, n, 60.0 / per_min if per_min > 0 else None
        self.rng = random.Random(seed)
        self.stop_evt = threading.Event()
        self.last_edit = {}   # page id -> unix time (s) of its last edit
        self.edits = 0
        self.errors = 0

    def run(self):
        if self.gap is None:
            return
        nxt = time.monotonic()
        while not self.stop_evt.is_set():
            i = self.rng.randrange(self.n)
            try:
                done = admin(self.port, "/__admin/mutate", {"ids": [i], "kind": "edit"})
                if i in done.get("mutated", []):
                    self.last_edit[i] = time.time()
                    self.edits += 1
            except OSError:
                self.errors += 1
            nxt += self.gap
            self.stop_evt.wait(max(0.0, nxt - time.monotonic()))

    def stop(self):
        self.stop_evt.set()
        self.join(timeout=15)


# ----------------------------------------------------------------------------
# sampling
# ----------------------------------------------------------------------------
def proc_sample(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])          # kB
            elif k == "Threads":
                out[k] = int(v)
    fds = os.listdir(f"/proc/{pid}/fd")
    socks = 0
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                socks += 1
        except OSError:
            pass
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read().rsplit(")", 1)[1].split()
    cpu = (int(stat[11]) + int(stat[12])) / CLK_TCK   # utime + stime
    return {"rss_kb": out.get("VmRSS", 0), "hwm_kb": out.get("VmHWM", 0), "threads": out.get("Threads", 0),
            "fds": len(fds), "fd_sockets": socks, "cpu_s": round(cpu, 2)}


def fsize(path):
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def store_sample(db):
    """Counts from the store, read-only. Returns {} if the db cannot be read yet."""
    if not os.path.exists(db):
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        checks = con.execute("SELECT count(*) FROM checks").fetchone()[0]
        kinds = dict(con.execute("SELECT kind, count(*) FROM changes GROUP BY kind").fetchall())
        alerts = dict(con.execute("SELECT status, count(*) FROM alerts GROUP BY status").fetchall())
    except sqlite3.Error:
        return {}
    finally:
        con.close()
    return {"checks": checks, "changes_edited": kinds.get("edited", 0),
            "changes_all": sum(v for k, v in kinds.items() if k not in ("first-seen", "rebaselined")),
            "first_seen": kinds.get("first-seen", 0),
            "alerts_delivered": alerts.get("delivered", 0), "outbox_pending": alerts.get("pending", 0),
            "alerts_failed": alerts.get("failed", 0)}


FIELDS = ["t_s", "phase", "rss_kb", "hwm_kb", "threads", "fds", "fd_sockets", "cpu_s", "db_bytes", "wal_bytes",
          "checks", "first_seen", "changes_edited", "changes_all", "alerts_delivered", "outbox_pending",
          "alerts_failed", "edits_made", "hook_posts", "hook_distinct"]


def slope_per_hour(points):
    """Least-squares slope of (t_s, value) points, in value units per hour."""
    if len(points) < 3:
        return 0.0
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    if den == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den * 3600


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--watches", type=int, default=2000)
    ap.add_argument("--minutes", type=float, default=30, help="run length, from the daemon's start to the end of editing")
    ap.add_argument("--interval", type=parse_duration, default=parse_duration("30s"), help="every watch's interval (default 30s)")
    ap.add_argument("--edits-per-min", type=float, default=30, help="page edits per minute while running (default 30)")
    ap.add_argument("--sample", type=parse_duration, default=parse_duration("10s"))
    ap.add_argument("--concurrency", type=int, default=16, help="daemon.concurrency = per_host_concurrency")
    ap.add_argument("--drain-timeout", type=parse_duration, default=parse_duration("5m"),
                    help="after editing stops, wait at most this long for the last edits and an empty outbox")
    ap.add_argument("--bin", default=os.environ.get("CHANCERY_BIN", os.path.join(REPO, "target/release/chancery")))
    ap.add_argument("--pagesrv", default=os.environ.get("PAGESRV", os.path.join(REPO, "..", "shared", "bench", "pagesrv.py")))
    ap.add_argument("--out", default=None, help="directory for samples.csv, summary.json, logs (default: a new temp dir)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    if not os.access(args.bin, os.X_OK):
        sys.exit(f"soak: no chancery binary at {args.bin} (build it, or set --bin / CHANCERY_BIN)")
    if not os.path.exists(args.pagesrv):
        sys.exit(f"soak: page server not found at {args.pagesrv} (set --pagesrv / PAGESRV)")
    out = os.path.abspath(args.out or tempfile.mkdtemp(prefix="chancery-soak-"))
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="chancery-soak-work-")
    state = os.path.join(work, "state")
    db = os.path.join(state, "chancery.db")
    procs = {}
    started_wall = dt.datetime.now(dt.timezone.utc)

    def cleanup():
        for name in ("daemon", "pagesrv"):
            p = procs.get(name)
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    def on_signal(signum, _frame):
        cleanup()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        return run(args, out, work, state, db, procs, started_wall)
    finally:
        cleanup()
        shutil.rmtree(work, ignore_errors=True)


def run(args, out, work, state, db, procs, started_wall):
    version = subprocess.run([args.bin, "--version"], capture_output=True, text=True).stdout.strip()
    interval = args.interval
    duration = args.minutes * 60
    log(f"{version}; {args.watches} watches every {interval:g}s for {args.minutes:g} min; "
        f"{args.edits_per_min:g} edits/min; {os.cpu_count()} cores; out {out}")

    # page server
    ready = os.path.join(work, "pagesrv.ready")
    srv_log = open(os.path.join(out, "pagesrv.log"), "w")
    lifetime = duration + args.drain_timeout + 1200
    procs["pagesrv"] = subprocess.Popen(
        [sys.executable, args.pagesrv, "serve", "--port", "0", "--n", str(args.watches), "--ready-file", ready,
         "--max-lifetime", str(int(lifetime))], stdout=srv_log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while not os.path.exists(ready):
        if procs["pagesrv"].poll() is not None or time.monotonic() > deadline:
            log("page server did not start; see pagesrv.log")
            return 2
        time.sleep(0.2)
    info = json.load(open(ready))
    port = info["port"]
    log(f"page server on 127.0.0.1:{port}: {info['n']} pages, mean {info['avg_kb']} KB")

    hooks = Hooks()
    receiver = make_receiver(hooks)
    hook_port = receiver.server_address[1]

    # config
    config = os.path.join(out, "chancery.toml")
    with open(config, "w") as f:
        f.write("[daemon]\n")
        f.write(f'state_dir = "{state}"\n')
        f.write('user_agent = "chancery-soak"\n')
        f.write(f"concurrency = {args.concurrency}\nper_host_concurrency = {args.concurrency}\n")
        f.write('per_host_delay = "0s"\n')
        f.write(f'default_interval = "{int(interval)}s"\n')
        f.write('alert_retry = "5s"\n\n')
        f.write('[[subscriber]]\nname = "hook"\n')
        f.write(f'webhook = "http://127.0.0.1:{hook_port}/hook"\nsecret_env = "SOAK_HOOK_SECRET"\n\n')
        for i in range(args.watches):
            f.write(f'[[watch]]\nname = "page-{i}"\nurl = "http://127.0.0.1:{port}/page/{i}.html"\n'
                    "ignore = ['Page generated: [^\\x0A]*', 'visits: \\d+']\nnotify = [\"hook\"]\n")
    env = dict(os.environ, SOAK_HOOK_SECRET=SECRET)
    env.setdefault("RUST_LOG", "info")
    chk = subprocess.run([args.bin, "--config", config, "config", "check"], capture_output=True, text=True, env=env)
    if chk.returncode != 0:
        log(f"config check failed: {chk.stderr.strip()[:500]}")
        return 2

    # daemon
    daemon_log_path = os.path.join(out, "daemon.log")
    daemon_log = open(daemon_log_path, "w")
    t0 = time.monotonic()
    daemon = subprocess.Popen([args.bin, "--config", config, "run"], stdout=daemon_log, stderr=subprocess.STDOUT,
                              env=env)
    procs["daemon"] = daemon
    pid = daemon.pid
    log(f"daemon pid {pid}; webhook receiver on 127.0.0.1:{hook_port}")

    mutator = Mutator(port, args.watches, args.edits_per_min, args.seed)
    warmup = interval * 1.1 + 5          # every watch has had its first (cold) check
    mut_started = False
    samples = []
    csv_path = os.path.join(out, "samples.csv")
    csv_f = open(csv_path, "w", newline="")
    w = csv.DictWriter(csv_f, fieldnames=FIELDS)
    w.writeheader()
    died = None

    def take(phase):
        nonlocal died
        if daemon.poll() is not None:
            died = daemon.returncode
            return None
        try:
            s = proc_sample(pid)
        except (FileNotFoundError, ProcessLookupError):
            died = daemon.poll()
            return None
        s["t_s"] = round(time.monotonic() - t0, 1)
        s["phase"] = phase
        s["db_bytes"] = fsize(db)
        s["wal_bytes"] = fsize(db + "-wal")
        s.update(store_sample(db))
        s["edits_made"] = mutator.edits
        h = hooks.snapshot()
        s["hook_posts"], s["hook_distinct"] = h["posts"], h["distinct"]
        row = {k: s.get(k, "") for k in FIELDS}
        w.writerow(row)
        csv_f.flush()
        samples.append(row)
        return row

    def show(row):
        log(f"t={row['t_s']:>6}s rss {row['rss_kb'] / 1024:6.1f} MiB fds {row['fds']:>4} thr {row['threads']:>3} "
            f"wal {row['wal_bytes'] / 2**20:6.2f} MiB db {row['db_bytes'] / 2**20:7.2f} MiB checks {row.get('checks', '')} "
            f"edited {row.get('changes_edited', '')} delivered {row.get('alerts_delivered', '')} "
            f"pending {row.get('outbox_pending', '')} edits {row['edits_made']}")

    # run phase
    next_sample = t0 + args.sample
    n = 0
    while time.monotonic() - t0 < duration:
        time.sleep(max(0.0, next_sample - time.monotonic()))
        next_sample += args.sample
        if not mut_started and time.monotonic() - t0 >= warmup:
            mutator.start()
            mut_started = True
            log("warm-up over: editing pages")
        row = take("warmup" if not mut_started else "run")
        if row is None:
            log(f"daemon exited during the run (status {died}); see {daemon_log_path}")
            break
        n += 1
        if n % 6 == 0 or n == 1:
            show(row)

    # drain phase: stop editing, wait for the last edits to be recorded and the outbox to empty
    if mut_started:
        mutator.stop()
    stop_edit_t = time.monotonic() - t0
    last_edit = dict(mutator.last_edit)
    log(f"editing stopped after {mutator.edits} edits of {len(last_edit)} pages; draining (at most {args.drain_timeout:g}s)")
    drained = False
    unseen = None
    drain_deadline = time.monotonic() + args.drain_timeout
    while died is None and time.monotonic() < drain_deadline:
        time.sleep(args.sample)
        row = take("drain")
        if row is None:
            break
        unseen = unseen_edits(db, port)
        if row.get("outbox_pending") == 0 and unseen == 0:
            drained = True
            show(row)
            break
    drain_s = round(time.monotonic() - t0 - stop_edit_t, 1)
    if died is None:
        log(f"drain {'complete' if drained else 'NOT complete'} after {drain_s}s; unseen edits {unseen}")

    # status and outbox as the CLI reports them, while the daemon still runs
    cli = {}
    for name, argv in (("status", ["status", "--json"]), ("outbox", ["outbox", "--json"])):
        r = subprocess.run([args.bin, "--config", config, *argv], capture_output=True, text=True, env=env, timeout=120)
        cli[name] = {"exit": r.returncode, "stdout": r.stdout[-4000:], "stderr": r.stderr[-2000:]}
        with open(os.path.join(out, f"{name}.json"), "w") as f:
            f.write(r.stdout)

    last_running = take("end") if died is None else None
    final = dict(last_running or (samples[-1] if samples else {}))
    exit_status = died
    stop_s = None
    if died is None:
        ts = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        try:
            exit_status = daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            exit_status = "killed after 60 s"
        stop_s = round(time.monotonic() - ts, 2)
    csv_f.close()
    receiver.shutdown()
    daemon_log.close()

    after = {"db_bytes": fsize(db), "wal_bytes": fsize(db + "-wal")}
    store_final = store_sample(db)
    integrity = outcomes = None
    try:
        con = sqlite3.connect(db, timeout=30)
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        outcomes = dict(con.execute("SELECT outcome, count(*) FROM checks GROUP BY outcome").fetchall())
        con.close()
    except sqlite3.Error as e:
        integrity = f"error: {e}"

    text = open(daemon_log_path, errors="replace").read()
    lines = text.splitlines()
    warn = [ln for ln in lines if re.search(r"\b(WARN|ERROR)\b", ln)]
    panics = [ln for ln in lines if "panicked" in ln]

    summary = summarize(args, samples, warmup, stop_edit_t)
    summary.update({
        "date_utc": started_wall.strftime("%Y-%m-%d %H:%M UTC"),
        "version": version, "cores": os.cpu_count(), "loadavg_end": os.getloadavg(),
        "command": " ".join(sys.argv),
        "watches": args.watches, "interval_s": interval, "minutes": args.minutes,
        "edits_per_min": args.edits_per_min, "concurrency": args.concurrency,
        "edits_made": mutator.edits, "pages_edited": len(last_edit), "mutate_errors": mutator.errors,
        "drained": drained, "drain_s": drain_s, "unseen_edits_at_end": unseen,
        "daemon_exit": exit_status, "daemon_died_during_run": died is not None, "stop_s": stop_s,
        "files_after_stop": after, "store_after_stop": store_final, "integrity_check": integrity,
        "check_outcomes": outcomes, "webhook": hooks.snapshot(),
        "log_lines": len(lines), "log_warn_error_lines": len(warn), "log_warn_error_first": warn[:20],
        "panics": panics[:5], "cli": cli,
    })
    flags = growth_flags(summary, final)
    summary["flags"] = flags
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2, default=str)
    report(summary)
    log(f"wrote {csv_path}, {os.path.join(out, 'summary.json')}, {daemon_log_path}")
    return 1 if flags else 0


def unseen_edits(db, port):
    """Edited pages whose latest revision the store has not recorded yet: the
    watch's stored ETag (W/"<id>-<rev>-<seed>" from pagesrv) is not the page's
    current one. None if either side cannot be read."""
    try:
        st = admin(port, "/__admin/state")
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        etags = dict(con.execute("SELECT name, etag FROM watches").fetchall())
        con.close()
    except (OSError, sqlite3.Error, ValueError):
        return None
    seed = st["seed"]
    return sum(1 for i, p in st["pages"].items()
               if p["rev"] and etags.get(f"page-{i}") != f'W/"{i}-{p["rev"]}-{seed}"')


def summarize(args, samples, warmup, stop_edit_t):
    def col(k, rows=samples):
        return [(r["t_s"], r[k]) for r in rows if r.get(k) not in ("", None)]

    out = {"samples": len(samples), "warmup_s": round(warmup, 1), "editing_stopped_at_s": round(stop_edit_t, 1)}
    figures = {}
    for k in ("rss_kb", "hwm_kb", "fds", "fd_sockets", "threads", "wal_bytes", "db_bytes", "cpu_s", "checks",
              "changes_edited", "alerts_delivered", "outbox_pending", "hook_posts"):
        c = col(k)
        if not c:
            continue
        peak = max(c, key=lambda p: p[1])
        figures[k] = {"start": c[0][1], "peak": peak[1], "peak_at_s": peak[0], "end": c[-1][1]}
        after = [p for p in c if p[0] >= warmup]
        if after:
            figures[k]["after_warmup"] = after[0][1]
    out["figures"] = figures
    run_rows = [r for r in samples if r["phase"] == "run"]
    if run_rows:
        half = [r for r in run_rows if r["t_s"] >= (run_rows[0]["t_s"] + run_rows[-1]["t_s"]) / 2]
        rss = col("rss_kb", half)
        out["rss_last_half"] = {
            "from_s": half[0]["t_s"], "to_s": half[-1]["t_s"],
            "min_kb": min(v for _, v in rss), "max_kb": max(v for _, v in rss),
            "mean_kb": round(statistics.fmean(v for _, v in rss)),
            "slope_kb_per_hour": round(slope_per_hour(rss)),
        }
        fds = col("fds", half)
        out["fds_last_half"] = {"min": min(v for _, v in fds), "max": max(v for _, v in fds),
                                "slope_per_hour": round(slope_per_hour(fds), 1)}
        wal = col("wal_bytes", half)
        out["wal_last_half"] = {"min": min(v for _, v in wal), "max": max(v for _, v in wal)}
        chk = col("checks", run_rows)
        if len(chk) > 1 and chk[-1][0] > chk[0][0]:
            out["checks_per_s_while_running"] = round((chk[-1][1] - chk[0][1]) / (chk[-1][0] - chk[0][0]), 1)
            out["checks_per_s_expected"] = round(args.watches / args.interval, 1)
        cpu = col("cpu_s", run_rows)
        if len(cpu) > 1 and cpu[-1][0] > cpu[0][0]:
            out["daemon_cpu_share_while_running"] = round((cpu[-1][1] - cpu[0][1]) / (cpu[-1][0] - cpu[0][0]), 3)
    return out


def growth_flags(s, final):
    flags = []
    f = s.get("figures", {})
    if s["daemon_died_during_run"]:
        flags.append(f"daemon exited during the run (status {s['daemon_exit']})")
    elif s["daemon_exit"] != 0:
        flags.append(f"daemon exit status {s['daemon_exit']} after SIGTERM")
    if s["panics"]:
        flags.append(f"panic in the log: {s['panics'][0]}")
    if not s["drained"]:
        flags.append(f"not drained within the timeout: outbox pending {final.get('outbox_pending')}, "
                     f"unseen edits {s['unseen_edits_at_end']}")
    if s.get("integrity_check") != "ok":
        flags.append(f"integrity_check: {s.get('integrity_check')}")
    if "fds" in f and "after_warmup" in f["fds"]:
        a, e = f["fds"]["after_warmup"], f["fds"]["end"]
        if e - a > max(10, a * 0.2):
            flags.append(f"open fds grew from {a} after warm-up to {e} at the end")
    if "threads" in f and "after_warmup" in f["threads"]:
        a, e = f["threads"]["after_warmup"], f["threads"]["end"]
        if e - a > max(4, a * 0.2):
            flags.append(f"threads grew from {a} after warm-up to {e} at the end")
    rh = s.get("rss_last_half")
    if rh:
        span_h = (rh["to_s"] - rh["from_s"]) / 3600
        grew = rh["slope_kb_per_hour"] * span_h
        if grew > max(5 * 1024, 0.10 * rh["mean_kb"]):
            flags.append(f"RSS trend over the last half of the run: +{grew / 1024:.1f} MiB "
                         f"({rh['slope_kb_per_hour'] / 1024:.1f} MiB/h)")
    wh = s.get("wal_last_half")
    if wh and wh["max"] > 256 * 2**20:
        flags.append(f"WAL reached {wh['max'] / 2**20:.0f} MiB in the last half")
    w = s.get("webhook", {})
    if w.get("bad_signature"):
        flags.append(f"{w['bad_signature']} webhook deliveries with a bad signature")
    sf = s.get("store_after_stop") or {}
    if sf and w and sf.get("alerts_delivered", 0) > w.get("distinct", 0):
        flags.append(f"store says {sf['alerts_delivered']} delivered, receiver saw {w.get('distinct')} distinct")
    if sf.get("alerts_failed"):
        flags.append(f"{sf['alerts_failed']} alerts failed")
    return flags


def report(s):
    f = s["figures"]

    def mb(v):
        return f"{v / 2**20:.2f} MiB"

    def kb(v):
        return f"{v / 1024:.1f} MiB"

    rows = [("RSS (VmRSS)", "rss_kb", kb), ("VmHWM", "hwm_kb", kb), ("open fds", "fds", str),
            ("  of which sockets", "fd_sockets", str), ("threads", "threads", str),
            ("WAL file", "wal_bytes", mb), ("db file", "db_bytes", mb), ("checks", "checks", str),
            ("edited changes", "changes_edited", str), ("alerts delivered", "alerts_delivered", str),
            ("outbox pending", "outbox_pending", str), ("daemon CPU s", "cpu_s", str)]
    print()
    print(f"chancery soak — {s['version']}, {s['watches']} watches every {s['interval_s']:g} s, "
          f"{s['minutes']:g} min, {s['cores']} cores, {s['date_utc']}")
    print(f"{'':22} {'start':>12} {'after warm-up':>14} {'peak':>12} {'(at s)':>8} {'end':>12}")
    for label, k, fmt in rows:
        if k not in f:
            continue
        x = f[k]
        print(f"{label:22} {fmt(x['start']):>12} {fmt(x.get('after_warmup', x['start'])):>14} "
              f"{fmt(x['peak']):>12} {x['peak_at_s']:>8} {fmt(x['end']):>12}")
    print(f"checks/s while running: {s.get('checks_per_s_while_running')} (expected ≈ {s.get('checks_per_s_expected')}); "
          f"daemon CPU share: {s.get('daemon_cpu_share_while_running')}")
    rh = s.get("rss_last_half")
    if rh:
        print(f"RSS over the last half ({rh['from_s']}–{rh['to_s']} s): {kb(rh['min_kb'])}–{kb(rh['max_kb'])}, "
              f"slope {rh['slope_kb_per_hour'] / 1024:+.1f} MiB/h")
    print(f"edits made {s['edits_made']} on {s['pages_edited']} pages; webhook: {s['webhook']}")
    print(f"drained: {s['drained']} in {s['drain_s']} s; unseen edits {s['unseen_edits_at_end']}; "
          f"after SIGTERM: exit {s['daemon_exit']} in {s['stop_s']} s, files {s['files_after_stop']}, "
          f"integrity {s['integrity_check']}")
    print(f"check outcomes: {s['check_outcomes']}")
    print(f"log: {s['log_lines']} lines, {s['log_warn_error_lines']} WARN/ERROR")
    for ln in s["log_warn_error_first"][:5]:
        print(f"  {ln[:200]}")
    if s["flags"]:
        print("FLAGS:")
        for fl in s["flags"]:
            print(f"  - {fl}")
    else:
        print("no flags: no growth, outbox drained, clean exit")


if __name__ == "__main__":
    sys.exit(main())
