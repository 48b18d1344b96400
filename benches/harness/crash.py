#!/usr/bin/env python3
"""Crash-injection harness for chancery (a repeatable run, not a CI test).

Starts, all on 127.0.0.1:
  * the page server ../shared/bench/pagesrv.py with N statement pages, which this
    script edits, deletes and restores at random through its admin API;
  * a webhook receiver (a subprocess of this script) that answers 500 to ~30% of
    the POSTs, verifies the HMAC signature, logs every POST and answers 0-0.2 s
    later; it is SIGKILLed and restarted now and then;
  * `chancery run` with one watch per page and one webhook subscriber, SIGKILLed at
    random moments --kills times and restarted after 0.2-3 s;
  * beside it, `chancery check WATCH` and the read commands (history, status, list,
    outbox, diff) against the same config.

Then it stops mutating, lets the daemon check every page again and drain its
outbox, stops it with SIGTERM and reads the store (sqlite3) and the receiver's log:
kills, checks, changes, alerts, deliveries, redeliveries under the same id,
duplicates under different ids, lost alerts, duplicate change rows, CLI failures,
PRAGMA integrity_check. Exit status 1 when an alert is lost, an alert or change is
duplicated under a different id, a signature is wrong, the daemon panicked or the
database is not intact; 2 on a usage or setup error.

    python3 benches/harness/crash.py --json-out crash.json   # 200 watches, 100 kills (~11 min)
    python3 benches/harness/crash.py --kills 10 --watches 50      # quick (~1.5 min)

Write-up and measured figures: docs/harness/crash.md. Python 3.11+, stdlib only.
"""

import argparse
import collections
import hashlib
import hmac
import json
import os
import platform
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRET_ENV = "CHANCERY_CRASH_SECRET"
# Change kinds that alert a subscriber without an `events` filter (README, "Alerts").
ALERTED = {"edited", "removed", "restored", "flapping", "failing", "recovered", "published", "delisted"}
PAGESRV_SEED = 42  # pagesrv's default; its ETags are W/"<id>-<rev>-<seed>"


# --------------------------------------------------------------------------------------
# the webhook receiver (runs as `crash.py _receiver ...`, so it can be SIGKILLed)
# --------------------------------------------------------------------------------------
def receiver_main(argv):
    import http.server

    ap = argparse.ArgumentParser(prog="crash.py _receiver")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--fail-rate", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--delay", type=float, default=0.0)
    a = ap.parse_args(argv)
    secret = os.environ.get(SECRET_ENV, "").encode()
    rng = random.Random(a.seed)
    rng_lock = threading.Lock()
    # One write(2) per POST on an O_APPEND fd: a line is in the file (page cache)
    # before the answer is sent, and a SIGKILL cannot leave half a line buffered.
    fd = os.open(a.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            sig = self.headers.get("X-Chancery-Signature", "")
            expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            rec = {"t": round(time.time(), 3), "pid": os.getpid(),
                   "id": self.headers.get("X-Chancery-Delivery"),
                   "event_h": self.headers.get("X-Chancery-Event"),
                   "sig_ok": hmac.compare_digest(expected, sig)}
            try:
                doc = json.loads(body)
                rec.update({"json_id": doc.get("id"), "event": doc.get("event"),
                            "watch": (doc.get("watch") or {}).get("name"),
                            "prev": (doc.get("previous") or {}).get("snapshot"),
                            "cur": (doc.get("current") or {}).get("snapshot"),
                            "detected_at": doc.get("detected_at")})
            except ValueError:
                rec["bad_json"] = True
            with rng_lock:
                status = 500 if rng.random() < a.fail_rate else 200
                delay = rng.uniform(0, a.delay)
            rec["status"] = status
            os.write(fd, (json.dumps(rec) + "\n").encode())
            # The receiver has taken the alert (logged it: a receiver's commit) and now
            # takes a moment to answer. A daemon SIGKILLed in this moment never records
            # the delivery and sends the alert again after its restart, same id.
            time.sleep(delay)
            out = b"fail\n" if status == 500 else b"ok\n"
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    class Server(http.server.ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True

    srv = Server(("127.0.0.1", a.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    tmp = a.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(os.getpid()))
    os.replace(tmp, a.ready_file)
    srv.serve_forever(poll_interval=0.2)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_file(path, timeout, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def fmt_dur(s):
    s = int(round(s))
    return f"{s // 60}m{s % 60:02d}s"


class Children:
    """Every process this script starts, each in its own session, so cleanup can end
    each one (and only those) by its own process-group id."""

    def __init__(self):
        self.lock = threading.Lock()
        self.procs = set()
        self.closed = False

    def popen(self, cmd, **kw):
        with self.lock:
            if self.closed:
                raise KeyboardInterrupt   # the harness is stopping: start nothing new
            p = subprocess.Popen(cmd, start_new_session=True, **kw)
            self.procs.add(p)
        return p

    def forget(self, p):
        with self.lock:
            self.procs.discard(p)

    def kill_all(self):
        with self.lock:
            self.closed = True
            procs = list(self.procs)
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def db_connect(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    con.execute("PRAGMA busy_timeout = 30000")
    return con


# --------------------------------------------------------------------------------------
# the harness
# --------------------------------------------------------------------------------------
class Harness:
    def __init__(self, args):
        self.a = args
        self.rng = random.Random(args.seed)
        self.kids = Children()
        self.stop = threading.Event()          # Ctrl-C / time bound: everything stops
        self.stop_mutating = threading.Event()
        self.stop_cli = threading.Event()
        self.stop_chaos = threading.Event()
        self.work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="chancery-crash-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.state_dir = self.work / "state"
        self.db = self.state_dir / "chancery.db"
        self.config = self.work / "chancery.toml"
        self.recv_log = self.work / "receiver.jsonl"
        self.daemon_log = self.work / "daemon.log"
        self.cli_log = self.work / "cli.jsonl"
        self.secret = "%032x" % self.rng.getrandbits(128)
        self.env = dict(os.environ, **{SECRET_ENV: self.secret})
        self.env.pop("CHANCERY_CONFIG", None)
        self.env.setdefault("RUST_LOG", "info")
        # figures
        self.f = collections.Counter()
        self.daemon = None
        self.daemon_lives = []          # (start, end, how it ended, rc)
        self.receiver = None
        self.recv_restarts = 0
        self.pages = {}                  # id -> {"rev": int, "status": "ok"|"gone"}
        self.last_mutation = 0.0
        self.recent = collections.deque(maxlen=20)
        self.mut_lock = threading.Lock()
        self.cli_runs = []
        self.integrity_during = []
        self.notes = []

    # ---- processes -------------------------------------------------------------------
    def start_pagesrv(self):
        self.page_port = free_port()
        ready = self.work / "pagesrv.ready.json"
        self.pagesrv = self.kids.popen(
            [sys.executable, str(self.a.pagesrv), "serve", "--port", str(self.page_port),
             "--n", str(self.a.watches), "--seed", str(PAGESRV_SEED), "--ready-file", str(ready),
             "--max-lifetime", str(int(self.a.max_minutes * 60 + 600))],
            stdout=open(self.work / "pagesrv.log", "wb"), stderr=subprocess.STDOUT)
        if not wait_file(ready, 120, self.pagesrv):
            raise SystemExit(f"crash.py: page server did not start (see {self.work}/pagesrv.log)")
        for i in range(self.a.watches):
            self.pages[i] = {"rev": 0, "status": "ok"}

    def start_receiver(self):
        ready = self.work / "receiver.ready"
        if ready.exists():
            ready.unlink()
        self.receiver = self.kids.popen(
            [sys.executable, str(Path(__file__).resolve()), "_receiver", "--port", str(self.recv_port),
             "--log", str(self.recv_log), "--ready-file", str(ready), "--fail-rate", str(self.a.fail_rate),
             "--seed", str(self.a.seed * 1000 + self.recv_restarts), "--delay", str(self.a.receiver_delay)],
            env=self.env, stdout=subprocess.DEVNULL, stderr=open(self.work / "receiver.err", "ab"))
        if not wait_file(ready, 30, self.receiver):
            raise SystemExit(f"crash.py: receiver did not start (see {self.work}/receiver.err)")

    def kill_receiver(self):
        p = self.receiver
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
        self.kids.forget(p)
        self.receiver = None

    def start_daemon(self):
        with open(self.daemon_log, "ab") as log:
            log.write(f"==== crash.py: start #{len(self.daemon_lives) + 1} at {time.time():.3f}\n".encode())
            self.daemon = self.kids.popen([str(self.a.bin), "--config", str(self.config), "run"],
                                          env=self.env, stdout=log, stderr=log, cwd=self.work)
        self.daemon_started = time.time()

    def end_daemon(self, sig):
        """Sends `sig` to the running daemon and reaps it. Returns its exit status."""
        p = self.daemon
        died_alone = p.poll() is not None
        if died_alone:
            how = "exited-by-itself"
            self.f["daemon_unexpected_exits"] += 1
            self.notes.append(f"daemon exited by itself with status {p.returncode} "
                              f"after {time.time() - self.daemon_started:.1f}s (see daemon.log)")
        else:
            p.send_signal(sig)
            how = "SIGKILL" if sig == signal.SIGKILL else "SIGTERM"
            try:
                p.wait(timeout=30 if sig == signal.SIGTERM else 10)
            except subprocess.TimeoutExpired:
                how += "-timeout"
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.daemon_lives.append((self.daemon_started, time.time(), how, p.returncode))
        self.kids.forget(p)
        self.daemon = None
        return p.returncode

    def write_config(self):
        L = ["# written by benches/harness/crash.py", "[daemon]",
             f'state_dir = "{self.state_dir}"',
             'user_agent = "chancery-crash-harness"',
             'timeout = "10s"',
             f'default_interval = "{self.a.interval}s"',
             "concurrency = 16", "per_host_concurrency = 16",
             'per_host_delay = "0s"',           # every page is on one host, 127.0.0.1
             'confirm_delay = "1s"',            # removals are confirmed by a second fetch 1 s later
             'alert_retry = "1s"',              # 1 s, doubling (at most 1 h)
             'alert_max_age = "1d"',            # nothing gives up during a run
             "", "[[subscriber]]", 'name = "hook"',
             f'webhook = "http://127.0.0.1:{self.recv_port}/hook"',
             f'secret_env = "{SECRET_ENV}"', ""]
        for i in range(self.a.watches):
            L += ["[[watch]]", f'name = "page-{i}"',
                  f'url = "http://127.0.0.1:{self.page_port}/page/{i}.html"',
                  r"""ignore = ['Page generated: [^\n]*', 'visits: \d+']""",
                  'notify = ["hook"]', ""]
        self.config.write_text("\n".join(L))

    # ---- the page server's admin API -------------------------------------------------
    def mutate(self, ids, kind):
        req = urllib.request.Request(f"http://127.0.0.1:{self.page_port}/__admin/mutate",
                                     data=json.dumps({"ids": ids, "kind": kind}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)["mutated"]

    def mutator(self):
        rng = random.Random(self.a.seed + 1)
        while not (self.stop.is_set() or self.stop_mutating.is_set()):
            time.sleep(rng.uniform(0.5, 1.5) * self.a.mutate_every)
            if self.stop.is_set() or self.stop_mutating.is_set():
                break
            with self.mut_lock:
                gone = [i for i, p in self.pages.items() if p["status"] == "gone"]
                live = [i for i, p in self.pages.items() if p["status"] == "ok"]
                r = rng.random()
                if r < 0.1 and gone:
                    kind, i = "restore", rng.choice(gone)
                elif r < 0.2 and live and len(gone) < len(self.pages) // 10:
                    kind, i = "delete", rng.choice(live)
                else:
                    kind, i = "edit", rng.randrange(len(self.pages))
                try:
                    done = self.mutate([i], kind)
                except OSError as e:
                    self.f["mutation_errors"] += 1
                    self.notes.append(f"mutation failed: {e}")
                    continue
                if done != [i]:
                    continue
                p = self.pages[i]
                if kind == "edit":
                    p["rev"] += 1
                    p["status"] = "ok"
                elif kind == "delete":
                    p["status"] = "gone"
                else:
                    p["status"] = "ok"
                self.f[f"mutations_{kind}"] += 1
                self.last_mutation = time.time()
                self.recent.append(i)

    # ---- receiver chaos ----------------------------------------------------------------
    def receiver_chaos(self):
        rng = random.Random(self.a.seed + 2)
        while not (self.stop.is_set() or self.stop_chaos.is_set()):
            if self.stop_chaos.wait(rng.uniform(*self.a.receiver_up)):
                break
            if self.stop.is_set():
                break
            self.kill_receiver()
            self.f["receiver_kills"] += 1
            time.sleep(rng.uniform(0.5, 3.0))
            self.recv_restarts += 1
            self.start_receiver()

    # ---- CLI beside the daemon ---------------------------------------------------------
    def cli_worker(self):
        rng = random.Random(self.a.seed + 3)
        with open(self.cli_log, "a") as log:
            while not (self.stop.is_set() or self.stop_cli.is_set()):
                with self.mut_lock:
                    recent = list(self.recent)
                w = f"page-{rng.choice(recent) if recent and rng.random() < 0.5 else rng.randrange(self.a.watches)}"
                cmd = rng.choices([["check", w], ["history", w], ["status"], ["list"], ["outbox"], ["diff", w]],
                                  weights=[0 if self.a.no_cli_check else 30, 14, 14, 14, 14, 14])[0]
                t0 = time.monotonic()
                p = self.kids.popen([str(self.a.bin), "--config", str(self.config)] + cmd, env=self.env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    cwd=self.work)
                try:
                    out, err = p.communicate(timeout=120)
                    rc = p.returncode
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    out, err = p.communicate()
                    rc = "timeout"
                self.kids.forget(p)
                if self.stop.is_set() and rc not in (0, "timeout"):
                    break   # killed by the cleanup
                err = err.decode("utf-8", "replace")
                out = out.decode("utf-8", "replace")
                rec = {"t": round(time.time(), 3), "cmd": cmd, "rc": rc,
                       "secs": round(time.monotonic() - t0, 2),
                       "daemon_up": self.daemon is not None and self.daemon.poll() is None,
                       "stderr": err[-2000:]}
                # `check` exits 1 when a check failed; its line says why (`error`). Anything
                # else non-zero, a timeout, a lock error or a panic is a CLI failure.
                failed = rc != 0
                if cmd[0] == "check" and rc == 1 and " error" in out and "panicked" not in err:
                    failed = False
                    rec["check_error_line"] = out.strip()[-500:]
                    self.f["cli_check_reported_error"] += 1
                if "database is locked" in err or "database is busy" in err or "panicked" in err:
                    failed = True
                rec["failed"] = failed
                if failed:
                    rec["stdout"] = out[-1000:]
                log.write(json.dumps(rec) + "\n")
                log.flush()
                self.cli_runs.append(rec)
                if self.stop_cli.wait(rng.uniform(0.1, 0.8)):
                    break

    # ---- store -------------------------------------------------------------------------
    def quick_check(self, label):
        try:
            con = db_connect(self.db)
            try:
                res = [r[0] for r in con.execute("PRAGMA quick_check")]
            finally:
                con.close()
        except sqlite3.Error as e:
            res = [f"error: {e}"]
        self.integrity_during.append({"after": label, "result": res[:5]})

    def wait_all_checked_since(self, since, timeout):
        """Waits until every watch has a check that started after `since` (Unix s)."""
        end = time.monotonic() + timeout
        since_ms = int(since * 1000)
        behind = None
        while time.monotonic() < end and not self.stop.is_set():
            try:
                con = db_connect(self.db)
                try:
                    behind = con.execute("SELECT count(*) FROM watches WHERE last_check_at IS NULL "
                                         "OR last_check_at <= ?", (since_ms,)).fetchone()[0]
                    total = con.execute("SELECT count(*) FROM watches").fetchone()[0]
                finally:
                    con.close()
                if total >= self.a.watches and behind == 0:
                    return 0
            except sqlite3.Error:
                pass
            time.sleep(1)
        return behind

    def pending_alerts(self):
        con = db_connect(self.db)
        try:
            return con.execute("SELECT count(*) FROM alerts WHERE status = 'pending'").fetchone()[0]
        finally:
            con.close()

    # ---- the run -----------------------------------------------------------------------
    def run(self):
        a = self.a
        t_start = time.time()
        self.date = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        self.load_start = os.getloadavg()
        deadline = time.monotonic() + a.max_minutes * 60
        self.recv_port = free_port()
        self.start_pagesrv()
        self.start_receiver()
        self.write_config()
        version = subprocess.run([str(a.bin), "--version"], capture_output=True, text=True).stdout.strip()
        print(f"crash.py: {version}; {a.watches} watches, {a.kills} kills, seed {a.seed}; work dir {self.work}",
              flush=True)

        # Phase 1: a first life that baselines every page (not counted as a kill).
        self.start_daemon()
        behind = self.wait_all_checked_since(0, max(60, 4 * a.interval))
        if behind:
            self.notes.append(f"{behind} watches had no first check after the baseline wait")
        print(f"crash.py: baseline done after {time.time() - t_start:.0f}s", flush=True)

        # Phase 2: mutations, receiver chaos, CLI beside the daemon, and the kills.
        threads = [threading.Thread(target=fn, name=fn.__name__, daemon=True)
                   for fn in (self.mutator, self.receiver_chaos, self.cli_worker)]
        for t in threads:
            t.start()
        krng = random.Random(a.seed + 4)
        for k in range(a.kills):
            if self.stop.wait(krng.uniform(*a.daemon_up)):
                break
            if time.monotonic() > deadline - 300:
                self.notes.append(f"time bound: stopped after {k} kills")
                break
            self.end_daemon(signal.SIGKILL)
            self.f["daemon_kills"] += 1
            if (k + 1) % 10 == 0:
                self.quick_check(f"kill {k + 1}")
            time.sleep(krng.uniform(0.2, 3.0))
            self.start_daemon()
            if (k + 1) % 10 == 0:
                print(f"crash.py: {k + 1} kills, {fmt_dur(time.time() - t_start)}", flush=True)

        # Phase 3: quiet down and drain.
        self.stop_mutating.set()
        self.stop_chaos.set()
        self.stop_cli.set()
        for t in threads:
            t.join(timeout=150)
        if self.receiver is None or self.receiver.poll() is not None:
            self.recv_restarts += 1
            self.start_receiver()
        if self.daemon is None or self.daemon.poll() is not None:
            if self.daemon is not None:
                self.end_daemon(signal.SIGKILL)
            self.start_daemon()
        t_quiet = max(self.last_mutation, time.time() - 0.001)
        behind = self.wait_all_checked_since(t_quiet + 0.5, max(60, 6 * a.interval))
        if behind:
            self.notes.append(f"{behind} watches not checked again after the last mutation (bounded wait)")
        end = time.monotonic() + a.drain_timeout
        pending = None
        while time.monotonic() < end and not self.stop.is_set():
            try:
                pending = self.pending_alerts()
            except sqlite3.Error:
                pending = None
            if pending == 0:
                break
            time.sleep(1)
        if pending:
            self.notes.append(f"outbox not drained after {a.drain_timeout}s: {pending} pending")
        rc = self.end_daemon(signal.SIGTERM)
        self.f["sigterm_exit_status"] = rc
        if self.receiver is not None:
            self.receiver.send_signal(signal.SIGTERM)
            try:
                self.receiver.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill_receiver()
        self.elapsed = time.time() - t_start
        self.version = version
        self.load = [self.load_start, os.getloadavg()]
        self.save_state()
        return self.analyze()

    def save_state(self):
        """What analyze() needs besides the store and the logs, so a kept work dir can be
        read again with --reanalyze."""
        (self.work / "harness-state.json").write_text(json.dumps({
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self.a).items()},
            "f": dict(self.f), "pages": self.pages, "cli_runs": self.cli_runs,
            "integrity_during": self.integrity_during, "notes": self.notes,
            "daemon_lives": self.daemon_lives, "elapsed": self.elapsed, "version": self.version, "date": self.date,
            "load": [self.load_start, os.getloadavg()]}))

    def load_state(self):
        st = json.loads((self.work / "harness-state.json").read_text())
        self.f.update(st["f"])
        self.pages = {int(k): v for k, v in st["pages"].items()}
        self.cli_runs, self.integrity_during = st["cli_runs"], st["integrity_during"]
        self.notes, self.daemon_lives = st["notes"], st["daemon_lives"]
        self.elapsed, self.version = st["elapsed"], st["version"]
        self.load = st.get("load")
        self.date = st.get("date", "?")
        for k in ("watches", "kills", "seed", "interval", "mutate_every", "fail_rate", "daemon_up", "receiver_up",
                  "receiver_delay", "no_cli_check"):
            setattr(self.a, k, st["args"].get(k))

    # ---- figures -----------------------------------------------------------------------
    def analyze(self):
        f = self.f
        r = collections.OrderedDict()
        # store
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        q = lambda sql, *p: con.execute(sql, p).fetchall()
        integrity = [row[0] for row in q("PRAGMA integrity_check")]
        fk = q("PRAGMA foreign_key_check")
        checks_by_outcome = dict(q("SELECT outcome, count(*) FROM checks GROUP BY outcome"))
        changes_by_kind = dict(q("SELECT kind, count(*) FROM changes GROUP BY kind"))
        alerts_by_status = dict(q("SELECT status, count(*) FROM alerts GROUP BY status"))
        alerts = q("SELECT id, change_id, subscriber, status, attempts FROM alerts")
        changes = q("SELECT c.id, w.name, c.kind, c.from_snapshot, c.to_snapshot, c.detected_at "
                    "FROM changes c JOIN watches w ON w.id = c.watch_id ORDER BY c.watch_id, c.id")
        no_alert = q("SELECT c.id, w.name, c.kind FROM changes c JOIN watches w ON w.id = c.watch_id "
                     "WHERE c.kind IN (%s) AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.change_id = c.id)"
                     % ",".join("?" * len(ALERTED)), *sorted(ALERTED))
        alerts_per_change = q("SELECT change_id, subscriber, count(*) FROM alerts "
                              "GROUP BY change_id, subscriber HAVING count(*) > 1")
        watches = {name: (presence, etag) for name, presence, etag in
                   q("SELECT name, presence, etag FROM watches")}
        con.close()

        # duplicate change rows: a watch recording the same transition twice in a row
        # (the same snapshot pair, whatever the kind: `edited` 32->52 then `flapping`
        # 32->52 is one edit told twice). A page deleted and restored twice legitimately
        # repeats a pair, but never without another change in between. Two first-seen
        # for one watch are duplicates too.
        dup_changes = []
        prev = {}
        first_seen = collections.Counter()
        for cid, name, kind, frm, to, det in changes:
            if kind == "first-seen":
                first_seen[name] += 1
                if first_seen[name] > 1:
                    dup_changes.append({"change": cid, "watch": name, "kind": kind})
            elif kind in ALERTED and name in prev and prev[name][1:3] == (frm, to):
                dup_changes.append({"change": cid, "watch": name, "kind": kind, "from": frm, "to": to,
                                    "after": {"change": prev[name][0], "kind": prev[name][3]}})
            if kind in ALERTED or kind == "first-seen":
                prev[name] = (cid, frm, to, kind)
        # Was a `chancery check` of that watch running at the time (a race between two
        # checkers rather than a crash)?
        det_at = {c[0]: c[5] / 1000 for c in changes}
        for d in dup_changes:
            t = det_at[d["change"]]
            d["cli_check_of_watch_running"] = any(
                c["cmd"] == ["check", d["watch"]] and c["t"] - c["secs"] - 2 <= t <= c["t"] + 2
                for c in self.cli_runs)

        # receiver log
        posts = []
        if self.recv_log.exists():
            for line in self.recv_log.read_text().splitlines():
                try:
                    posts.append(json.loads(line))
                except ValueError:
                    f["receiver_log_bad_lines"] += 1
        ok = [p for p in posts if 200 <= p["status"] < 300]
        ok_ids = collections.Counter(p["id"] for p in ok)
        redelivered_same_id = sum(n - 1 for n in ok_ids.values())
        by_content = collections.defaultdict(set)
        for p in ok:
            by_content[(p.get("watch"), p.get("event"), p.get("prev"), p.get("cur"), p.get("detected_at"))].add(p["id"])
        dup_diff_ids = {str(k): sorted(v) for k, v in by_content.items() if len(v) > 1}
        bad_sig = sum(1 for p in posts if not p.get("sig_ok"))
        id_mismatch = sum(1 for p in posts if p.get("json_id") != p.get("id"))

        store_ids = {a[0]: a for a in alerts}
        # Alerts that told a receiver something it had already been told under another id:
        # the alerts of a duplicate change row, a second alert of one change for one
        # subscriber, and 2xx POSTs with the same content under different ids.
        dup_rows = {d["change"] for d in dup_changes}
        dup_ids = {a[0] for a in alerts if a[1] in dup_rows}
        seen = set()
        for a in sorted(alerts, key=lambda a: a[0]):
            if (a[1], a[2]) in seen:
                dup_ids.add(a[0])
            seen.add((a[1], a[2]))
        for ids in dup_diff_ids.values():
            dup_ids.update(ids[1:])
        undelivered = [{"alert": a[0], "status": a[3], "attempts": a[4]} for a in alerts if a[3] != "delivered"]
        delivered_never_2xx = [a[0] for a in alerts if a[3] == "delivered" and a[0] not in ok_ids]
        unknown_2xx = [i for i in ok_ids if i not in store_ids]
        lost = len(no_alert) + len(undelivered) + len(delivered_never_2xx)

        # final state: each page as the page server last served it vs the store
        mismatch = []
        for i, pg in self.pages.items():
            presence, etag = watches.get(f"page-{i}", (None, None))
            if pg["status"] == "gone":
                good = presence == "removed"
            else:
                good = presence == "present" and etag == f'W/"{i}-{pg["rev"]}-{PAGESRV_SEED}"'
            if not good:
                mismatch.append({"page": i, "server": pg, "presence": presence, "etag": etag})

        cli_fail = [c for c in self.cli_runs if c["failed"]]
        cli_kinds = collections.Counter()
        for c in cli_fail:
            e = c["stderr"]
            cli_kinds["locked" if "locked" in e or "busy" in e else "panic" if "panicked" in e
                      else "timeout" if c["rc"] == "timeout" else "other"] += 1
        daemon_text = self.daemon_log.read_text(errors="replace") if self.daemon_log.exists() else ""
        panics = daemon_text.count("panicked")
        locked_in_daemon = daemon_text.count("database is locked")
        # A daemon killed while it held a claim on an alert (mid-attempt): the next
        # delivery pass (a new daemon, or a `check`) releases it.
        released = daemon_text.count("released the alerts of a delivery worker that is gone") + sum(
            c["stderr"].count("released the alerts of a delivery worker that is gone") for c in self.cli_runs)

        r["date"] = self.date
        r["chancery"] = self.version
        r["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                        "loadavg_1_5_15_at_start_and_end": getattr(self, "load", None)}
        r["params"] = {"watches": self.a.watches, "kills": self.a.kills, "seed": self.a.seed,
                       "interval_s": self.a.interval, "mutate_every_s": self.a.mutate_every,
                       "fail_rate": self.a.fail_rate, "receiver_delay_s": self.a.receiver_delay, "daemon_up_s": self.a.daemon_up,
                       "receiver_up_s": self.a.receiver_up, "no_cli_check": self.a.no_cli_check}
        r["elapsed_s"] = round(self.elapsed, 1)
        r["daemon_kills"] = f["daemon_kills"]
        r["daemon_starts"] = len(self.daemon_lives)
        r["daemon_unexpected_exits"] = f["daemon_unexpected_exits"]
        r["daemon_panics"] = panics
        r["daemon_log_database_locked"] = locked_in_daemon
        r["sigterm_exit_status"] = f["sigterm_exit_status"]
        r["receiver_kills"] = f["receiver_kills"]
        r["mutations"] = {k: f[f"mutations_{k}"] for k in ("edit", "delete", "restore")}
        r["checks"] = sum(checks_by_outcome.values())
        r["checks_by_outcome"] = checks_by_outcome
        r["changes"] = sum(changes_by_kind.values())
        r["changes_by_kind"] = changes_by_kind
        r["alerts_queued"] = len(alerts)
        r["alerts_by_status"] = alerts_by_status
        r["posts"] = len(posts)
        r["posts_2xx"] = len(ok)
        r["posts_500"] = sum(1 for p in posts if p["status"] == 500)
        r["deliveries"] = len(ok_ids)
        r["redelivered_same_id"] = redelivered_same_id
        r["dead_claims_released"] = released
        r["duplicates_different_ids"] = len(dup_ids)
        r["duplicate_change_rows"] = len(dup_changes)
        r["duplicate_change_rows_cli_check_running"] = sum(1 for d in dup_changes if d["cli_check_of_watch_running"])
        r["lost_alerts"] = lost
        r["lost_detail"] = {"changes_without_alert": no_alert[:20], "not_delivered": undelivered[:20],
                            "delivered_but_never_2xx": delivered_never_2xx[:20],
                            "counts": [len(no_alert), len(undelivered), len(delivered_never_2xx)]}
        r["duplicate_detail"] = {"alert_ids": sorted(dup_ids)[:50],
                                 "receiver_same_content_different_ids": dict(list(dup_diff_ids.items())[:20]),
                                 "store_alerts_per_change": alerts_per_change[:20],
                                 "change_rows": dup_changes[:20]}
        r["unknown_ids_2xx"] = len(unknown_2xx)
        r["bad_signatures"] = bad_sig
        r["header_body_id_mismatch"] = id_mismatch
        r["final_state_mismatches"] = len(mismatch)
        r["final_state_detail"] = mismatch[:20]
        r["cli_runs"] = len(self.cli_runs)
        r["cli_runs_by_command"] = dict(collections.Counter(c["cmd"][0] for c in self.cli_runs))
        r["cli_runs_daemon_down"] = sum(1 for c in self.cli_runs if not c["daemon_up"])
        r["cli_check_reported_error"] = f["cli_check_reported_error"]
        r["cli_failures"] = len(cli_fail)
        r["cli_failures_by_kind"] = dict(cli_kinds)
        r["cli_failure_samples"] = [{k: c[k] for k in ("cmd", "rc", "stderr")} for c in cli_fail[:10]]
        r["integrity_check"] = integrity if integrity != ["ok"] else "ok"
        r["foreign_key_violations"] = len(fk)
        r["integrity_during_run"] = self.integrity_during
        r["notes"] = self.notes
        problems = []
        if lost:
            problems.append(f"{lost} lost alerts")
        if r["duplicates_different_ids"]:
            problems.append(f"{r['duplicates_different_ids']} duplicates under different ids")
        if dup_changes:
            problems.append(f"{len(dup_changes)} duplicate change rows")
        if integrity != ["ok"] or fk or any(x["result"] != ["ok"] for x in self.integrity_during):
            problems.append("database integrity")
        if bad_sig or id_mismatch:
            problems.append("bad webhook signatures/ids")
        if panics or f["daemon_unexpected_exits"]:
            problems.append("daemon panicked or exited by itself")
        if unknown_2xx:
            problems.append(f"{len(unknown_2xx)} delivered ids unknown to the store")
        r["problems"] = problems
        r["result"] = "PASS" if not problems else "FAIL"
        return r


def print_table(r):
    def kv(d):
        return ", ".join(f"{k} {v}" for k, v in sorted(d.items(), key=lambda x: -x[1]))

    m = r["mutations"]
    lost_c = r["lost_detail"]["counts"]
    rows = [
        ("daemon SIGKILLs", r["daemon_kills"], f"{r['daemon_starts']} starts; SIGTERM exit {r['sigterm_exit_status']}"),
        ("receiver SIGKILLs", r["receiver_kills"], ""),
        ("page mutations", sum(m.values()), f"edit {m['edit']}, delete {m['delete']}, restore {m['restore']}"),
        ("checks recorded", r["checks"], kv(r["checks_by_outcome"])),
        ("changes recorded", r["changes"], kv(r["changes_by_kind"])),
        ("alerts queued", r["alerts_queued"], kv(r["alerts_by_status"])),
        ("webhook POSTs", r["posts"], f"2xx {r['posts_2xx']}, 500 {r['posts_500']}"),
        ("deliveries (ids answered 2xx)", r["deliveries"], ""),
        ("redelivered, same id", r["redelivered_same_id"], "at-least-once across SIGKILL; dedup by id"),
        ("claims of killed workers released", r["dead_claims_released"], "a kill landed mid-delivery"),
        ("duplicates, different ids", r["duplicates_different_ids"], "must be 0"),
        ("duplicate change rows", r["duplicate_change_rows"],
         f"must be 0; {r['duplicate_change_rows_cli_check_running']} with a `check` of that watch running"),
        ("lost alerts", r["lost_alerts"],
         f"no alert {lost_c[0]}, not delivered {lost_c[1]}, delivered w/o 2xx {lost_c[2]}; must be 0"),
        ("final-state mismatches", r["final_state_mismatches"], "store vs page server after the quiet period"),
        ("bad signatures", r["bad_signatures"], ""),
        ("CLI runs", r["cli_runs"], f"{r['cli_runs_daemon_down']} while the daemon was down; "
                                    + kv(r["cli_runs_by_command"])),
        ("CLI failures", r["cli_failures"], kv(r["cli_failures_by_kind"]) or "none"),
        ("daemon panics", r["daemon_panics"], f"unexpected exits {r['daemon_unexpected_exits']}"),
        ("integrity_check", r["integrity_check"] if r["integrity_check"] == "ok" else "NOT OK",
         f"foreign-key violations {r['foreign_key_violations']}; quick_check during run: "
         f"{sum(1 for x in r['integrity_during_run'] if x['result'] == ['ok'])}/{len(r['integrity_during_run'])} ok"),
    ]
    print()
    print(f"chancery crash harness: {r['chancery']}, seed {r['params']['seed']}, {r['params']['watches']} watches, "
          f"{fmt_dur(r['elapsed_s'])}, {r['machine']['cpus']} CPUs")
    w = max(len(x[0]) for x in rows)
    for name, val, note in rows:
        print(f"  {name:<{w}}  {str(val):>7}  {note}")
    for n in r["notes"]:
        print(f"  note: {n}")
    print(f"  result: {r['result']}" + (f" ({'; '.join(r['problems'])})" if r["problems"] else ""))


def parse_range(s):
    lo, _, hi = s.partition(",")
    return (float(lo), float(hi or lo))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_receiver":
        return receiver_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--watches", type=int, default=200)
    ap.add_argument("--kills", type=int, default=100, help="SIGKILLs of the daemon (default 100)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (config, store, logs)")
    ap.add_argument("--bin", default=None, help="chancery binary (default $CHANCERY_BIN, else target/release/chancery)")
    ap.add_argument("--json-out", default=None, help="write the figures as JSON here")
    ap.add_argument("--pagesrv", default=os.environ.get("PAGESRV", str(ROOT.parent / "shared/bench/pagesrv.py")),
                    help="the page server (default $PAGESRV, else ../shared/bench/pagesrv.py)")
    ap.add_argument("--work-dir", default=None, help="work here instead of a new temp dir (implies --keep)")
    ap.add_argument("--interval", type=int, default=5, help="watch interval in seconds (default 5)")
    ap.add_argument("--mutate-every", type=float, default=0.5, help="mean seconds between page mutations")
    ap.add_argument("--fail-rate", type=float, default=0.3, help="share of POSTs answered 500 (default 0.3)")
    ap.add_argument("--receiver-delay", type=float, default=0.2,
                    help="the receiver answers each POST after 0..this many seconds, once it has logged it")
    ap.add_argument("--daemon-up", type=parse_range, default=(1.0, 8.0),
                    help="seconds the daemon runs before each kill, LO,HI (default 1,8)")
    ap.add_argument("--receiver-up", type=parse_range, default=(10.0, 40.0),
                    help="seconds the receiver runs between its kills, LO,HI (default 10,40)")
    ap.add_argument("--no-cli-check", action="store_true",
                    help="run only the read commands beside the daemon, no `chancery check`")
    ap.add_argument("--drain-timeout", type=int, default=300, help="bound on the final outbox drain (s)")
    ap.add_argument("--max-minutes", type=float, default=30, help="bound on the whole run")
    ap.add_argument("--reanalyze", metavar="WORK_DIR", default=None,
                    help="read the figures again from a kept work dir; runs nothing")
    a = ap.parse_args()
    if a.reanalyze:
        a.work_dir, a.seed, a.bin = a.reanalyze, 0, None
        h = Harness(a)
        h.load_state()
        r = h.analyze()
        print_table(r)
        if a.json_out:
            Path(a.json_out).write_text(json.dumps(r, indent=2, default=str) + "\n")
        return 0 if r["result"] == "PASS" else 1
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 1_000_000)
    a.bin = Path(a.bin or os.environ.get("CHANCERY_BIN") or ROOT / "target/release/chancery")
    if not a.bin.is_absolute():
        a.bin = (ROOT / a.bin) if not a.bin.exists() else a.bin.resolve()
    a.pagesrv = Path(a.pagesrv)
    if not os.access(a.bin, os.X_OK):
        print(f"crash.py: no chancery binary at {a.bin} (cargo build --release, or set CHANCERY_BIN)", file=sys.stderr)
        return 2
    if not a.pagesrv.is_file():
        print(f"crash.py: page server not found at {a.pagesrv} (set --pagesrv or PAGESRV)", file=sys.stderr)
        return 2
    if a.work_dir:
        a.keep = True

    h = Harness(a)

    def on_signal(signum, _frame):
        h.stop.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    status = 2
    try:
        r = h.run()
        print_table(r)
        if a.json_out:
            Path(a.json_out).write_text(json.dumps(r, indent=2, default=str) + "\n")
        status = 0 if r["result"] == "PASS" else 1
    except KeyboardInterrupt:
        print("\ncrash.py: interrupted; stopping every process it started", file=sys.stderr)
        status = 130
    finally:
        h.stop.set()
        h.kids.kill_all()
        if a.keep or status not in (0, 130):
            print(f"crash.py: work dir kept: {h.work}", file=sys.stderr)
        else:
            shutil.rmtree(h.work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
