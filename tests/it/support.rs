//! Test support: a real HTTP/1.1 server on 127.0.0.1 that the tests script
//! page by page, a runner for the real `chancery` binary with a temp
//! config and state dir and a cleared environment, and readers for what
//! alerts deliver (a parsed mail, a webhook signature check).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::smtp::base64_decode;

/// How the server answers one path.
#[derive(Clone, Debug)]
pub struct Route {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When set, the response carries this ETag and a request whose
    /// `If-None-Match` equals it gets a 304 with no body.
    pub etag: Option<String>,
    /// Replace `{{COUNTER}}` in the body with a number that grows on every
    /// request (a visit counter).
    pub counter: bool,
    pub behavior: Behavior,
    /// Statuses for the next requests, one each, before `status` applies.
    pub sequence: std::collections::VecDeque<u16>,
    /// When not empty, bodies served in turn, round and round (a page
    /// behind load-balanced servers with different builds).
    pub rotation: std::collections::VecDeque<Vec<u8>>,
}

/// Hostile or unusual ways to answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Behavior {
    Normal,
    /// Send headers, then one byte every `gap`, for `bytes` bytes.
    Slow {
        gap: Duration,
        bytes: usize,
    },
    /// Redirect to the same path forever.
    RedirectLoop,
    /// Declare no length and stream this many bytes.
    Endless {
        bytes: usize,
    },
    /// Wait this long before answering at all.
    Hang(Duration),
}

impl Route {
    /// A 200 HTML page.
    pub fn html(body: impl Into<Vec<u8>>) -> Route {
        Route {
            status: 200,
            headers: vec![("Content-Type".into(), "text/html; charset=utf-8".into())],
            body: body.into(),
            etag: None,
            counter: false,
            behavior: Behavior::Normal,
            sequence: std::collections::VecDeque::new(),
            rotation: std::collections::VecDeque::new(),
        }
    }

    /// A page with only `text/html` as its type: the charset must come from the body.
    pub fn html_unlabelled(body: impl Into<Vec<u8>>) -> Route {
        Route {
            headers: vec![("Content-Type".into(), "text/html".into())],
            ..Route::html(body)
        }
    }

    pub fn status(status: u16, body: &str) -> Route {
        Route {
            status,
            ..Route::html(body.as_bytes().to_vec())
        }
    }

    pub fn with_etag(mut self, etag: &str) -> Route {
        self.etag = Some(etag.to_owned());
        self
    }

    pub fn with_counter(mut self) -> Route {
        self.counter = true;
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Route {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Answers the next requests with these statuses, then with `status`.
    pub fn then_status(mut self, first: &[u16]) -> Route {
        self.sequence = first.iter().copied().collect();
        self
    }

    /// Serves these bodies in turn, one per request, round and round.
    pub fn rotating(mut self, bodies: &[&str]) -> Route {
        self.rotation = bodies.iter().map(|b| b.as_bytes().to_vec()).collect();
        self
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Route {
        Route::status(status, "").with_header("Location", location)
    }

    pub fn with_behavior(mut self, behavior: Behavior) -> Route {
        self.behavior = behavior;
        self
    }
}

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The request body (read by Content-Length).
    pub body: Vec<u8>,
    pub headers: HashMap<String, String>,
    pub at: Instant,
    /// What the server answered.
    pub status: u16,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    seen: Vec<Seen>,
    /// Requests being answered now, and the most at once.
    active: usize,
    max_active: usize,
}

/// A scripted HTTP server on 127.0.0.1. It stops when dropped.
pub struct Server {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let counter = Arc::new(AtomicU64::new(1000));
        let (st, sp) = (state.clone(), stop.clone());
        thread::spawn(move || {
            while !sp.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (st, counter) = (st.clone(), counter.clone());
                        thread::spawn(move || serve(stream, &st, &counter));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => break,
                }
            }
        });
        Server { addr, state, stop }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn set(&self, path: &str, route: Route) {
        self.state
            .lock()
            .expect("server state")
            .routes
            .insert(path.to_owned(), route);
    }

    /// The most requests the server was answering at the same time.
    pub fn max_concurrent(&self) -> usize {
        self.state.lock().expect("server state").max_active
    }

    /// Every request so far, in arrival order.
    pub fn all_requests(&self) -> Vec<Seen> {
        self.state.lock().expect("server state").seen.clone()
    }

    pub fn requests(&self, path: &str) -> Vec<Seen> {
        let state = self.state.lock().expect("server state");
        state
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    /// The POSTs to `path` so far (webhook deliveries), in arrival order.
    pub fn posts(&self, path: &str) -> Vec<Seen> {
        self.requests(path)
            .into_iter()
            .filter(|s| s.method == "POST")
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(mut stream: TcpStream, state: &Mutex<State>, counter: &AtomicU64) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let split = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(head.len(), |i| i + 4);
    let mut body = head.split_off(split);
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let method = request_line.split(' ').next().unwrap_or("GET").to_owned();
    let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
    let headers: HashMap<String, String> = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while body.len() < length.min(16 * 1024 * 1024) {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    let route = {
        let mut st = state.lock().expect("server state");
        // "*" answers every path without a route of its own.
        let key = if st.routes.contains_key(&path) {
            path.clone()
        } else {
            "*".to_owned()
        };
        st.routes.get_mut(&key).map(|r| {
            let mut now = r.clone();
            if let Some(status) = r.sequence.pop_front() {
                now.status = status;
            }
            if let Some(body) = r.rotation.pop_front() {
                now.body = body.clone();
                r.rotation.push_back(body);
            }
            now
        })
    };
    let route =
        route.unwrap_or_else(|| Route::status(404, "<html><body><h1>Not Found</h1></body></html>"));
    let not_modified = route.etag.is_some() && headers.get("if-none-match") == route.etag.as_ref();
    let status = match (&route.behavior, not_modified) {
        (Behavior::RedirectLoop, _) => 302,
        (_, true) => 304,
        _ => route.status,
    };
    {
        let mut st = state.lock().expect("server state");
        st.seen.push(Seen {
            method,
            body,
            path: path.clone(),
            headers,
            at: Instant::now(),
            status,
        });
        st.active += 1;
        st.max_active = st.max_active.max(st.active);
    }
    respond(&mut stream, &route, &path, status, counter);
    state.lock().expect("server state").active -= 1;
}

fn respond(stream: &mut TcpStream, route: &Route, path: &str, status: u16, counter: &AtomicU64) {
    if let Behavior::Hang(pause) = route.behavior {
        thread::sleep(pause);
    }
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nConnection: close\r\n",
        reason(status)
    );
    if let Some(etag) = &route.etag {
        out.push_str(&format!("ETag: {etag}\r\n"));
    }
    if route.behavior == Behavior::RedirectLoop {
        out.push_str(&format!("Location: {path}\r\nContent-Length: 0\r\n\r\n"));
        let _ = stream.write_all(out.as_bytes());
        return;
    }
    for (k, v) in &route.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    let mut body = if status == 304 {
        Vec::new()
    } else {
        route.body.clone()
    };
    if route.counter {
        let n = counter.fetch_add(1, Ordering::SeqCst).to_string();
        body = replace(&body, b"{{COUNTER}}", n.as_bytes());
    }
    match route.behavior {
        Behavior::Normal | Behavior::RedirectLoop | Behavior::Hang(_) => {
            out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            let _ = stream.write_all(out.as_bytes());
            let _ = stream.write_all(&body);
        }
        Behavior::Slow { gap, bytes } => {
            out.push_str(&format!("Content-Length: {bytes}\r\n\r\n"));
            let _ = stream.write_all(out.as_bytes());
            for sent in 1..=bytes {
                if stream.write_all(b"a").is_err() {
                    break;
                }
                // Not after the last byte: the answer is complete then,
                // and counting it as still being answered would overstate
                // how many overlap.
                if sent < bytes {
                    thread::sleep(gap);
                }
            }
        }
        Behavior::Endless { bytes } => {
            out.push_str("\r\n");
            let _ = stream.write_all(out.as_bytes());
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < bytes {
                if stream.write_all(&chunk).is_err() {
                    break;
                }
                sent += chunk.len();
            }
        }
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        304 => "Not Modified",
        404 => "Not Found",
        410 => "Gone",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

pub fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// Replaces `old` by `new` exactly once in `haystack`, failing the test if
/// `old` is not there exactly once (so an edit can never silently miss).
pub fn edit_once(haystack: &str, old: &str, new: &str) -> String {
    assert_eq!(
        haystack.matches(old).count(),
        1,
        "edit target {old:?} must occur once"
    );
    haystack.replacen(old, new, 1)
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read fixture {}: {e}", path.display()))
}

/// A temp dir with a config file, and a way to run the binary on it.
pub struct Env {
    pub dir: tempfile::TempDir,
}

/// The outcome of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub raw_stdout: Vec<u8>,
    pub args: Vec<String>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "chancery {}\nexit: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }
}

impl Run {
    /// Asserts exit status 0 and returns self.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success:\n{self:?}");
        self
    }

    /// The stdout line for a watch in `check` output.
    #[track_caller]
    pub fn line_for(&self, watch: &str) -> String {
        self.stdout
            .lines()
            .find(|l| l.split(' ').next() == Some(watch))
            .unwrap_or_else(|| panic!("no line for {watch}:\n{self:?}"))
            .to_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self:?}"))
    }
}

impl Env {
    /// A config with `[daemon]` pointing at a temp state dir, plus `watches`
    /// (TOML `[[watch]]` tables). Removals and large edits are confirmed by
    /// an immediate second fetch (`confirm_delay = "0s"`; a watch can set
    /// its own).
    pub fn new(daemon_extra: &str, watches: &str) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let env = Env { dir };
        env.write_config(daemon_extra, watches);
        env
    }

    pub fn write_config(&self, daemon_extra: &str, watches: &str) {
        let text = format!(
            "[daemon]\nstate_dir = \"state\"\nuser_agent = \"chancery-test\"\ntimeout = \"5s\"\nconfirm_delay = \"0s\"\n{daemon_extra}\n\n{watches}\n"
        );
        std::fs::write(self.config_path(), text).expect("write config");
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("chancery.toml")
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("state/chancery.db")
    }

    /// Runs `chancery --config <config> args…` and waits (60 s at most).
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(args, &[])
    }

    /// Like [`Env::run`], with extra environment variables.
    pub fn run_with_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut all = vec![
            "--config".to_owned(),
            self.config_path().display().to_string(),
        ];
        all.extend(args.iter().map(|s| (*s).to_owned()));
        run_binary_env(&all, self.dir.path(), vars)
    }

    /// Runs `chancery --config <config> args…` on a pseudo-terminal (as a
    /// person's shell does) through util-linux `script`, and returns what
    /// the terminal received: stdout and stderr together, escapes included.
    pub fn run_on_terminal(&self, args: &[&str]) -> String {
        let mut line = format!(
            "{} --config {}",
            env!("CARGO_BIN_EXE_chancery"),
            self.config_path().display()
        );
        for arg in args {
            line.push(' ');
            line.push_str(arg);
        }
        let mut cmd = Command::new("script");
        cmd.env_clear()
            .current_dir(self.dir.path())
            .env("TERM", "xterm-256color")
            .env("COLUMNS", "200")
            .args(["--quiet", "--return", "--command", &line, "/dev/null"])
            .stdin(Stdio::null());
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        let output = cmd
            .output()
            .expect("util-linux `script` runs (Debian's bsdutils, always installed)");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Starts `chancery --config <config> args…` without waiting; its
    /// output goes to files in the temp dir (a pipe nobody reads could fill).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.spawn_logged(args, "spawned")
    }

    fn spawn_logged(&self, args: &[&str], log: &str) -> std::process::Child {
        self.spawn_logged_env(args, log, &[])
    }

    fn spawn_logged_env(
        &self,
        args: &[&str],
        log: &str,
        vars: &[(&str, &str)],
    ) -> std::process::Child {
        let mut cmd = command(self.dir.path());
        cmd.envs(vars.iter().copied());
        cmd.arg("--config").arg(self.config_path()).args(args);
        let out =
            std::fs::File::create(self.dir.path().join(format!("{log}.out"))).expect("log file");
        let err =
            std::fs::File::create(self.dir.path().join(format!("{log}.err"))).expect("log file");
        cmd.stdout(out).stderr(err);
        cmd.spawn().expect("spawn chancery")
    }

    /// Starts `chancery run` with `RUST_LOG=info`-level logs in a file.
    pub fn daemon(&self, log: &str) -> Daemon {
        self.daemon_with_env(log, &[])
    }

    /// Like [`Env::daemon`], with extra environment variables.
    pub fn daemon_with_env(&self, log: &str, vars: &[(&str, &str)]) -> Daemon {
        self.background(&["run"], log, vars)
    }

    /// Any long-running command (`serve`), its stderr in `<log>.err`.
    pub fn background(&self, args: &[&str], log: &str, vars: &[(&str, &str)]) -> Daemon {
        let child = self.spawn_logged_env(args, log, vars);
        Daemon {
            child: Some(child),
            log: self.dir.path().join(format!("{log}.err")),
        }
    }
}

/// A running `chancery run`, killed when dropped.
pub struct Daemon {
    child: Option<std::process::Child>,
    log: PathBuf,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends a signal by name (`HUP`, `TERM`, `KILL`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit, at most `limit`; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut().expect("running");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return Some(status.code().unwrap_or(-1));
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the daemon logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle`, at most `limit`.
    #[track_caller]
    pub fn wait_log(&self, needle: &str, limit: Duration) {
        let ok = wait_until(limit, || self.log().contains(needle));
        assert!(ok, "daemon log never said {needle:?}:\n{}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `cond` every 20 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn command(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chancery"));
    cmd.env_clear().current_dir(cwd).stdin(Stdio::null());
    cmd.env("RUST_LOG", "info");
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd
}

impl Env {
    /// Runs `chancery --config <config> args…` with stdout a pipe whose
    /// reader has already gone (`… | head -0`): the exit status and what
    /// was written on stderr.
    pub fn run_into_closed_pipe(&self, args: &[&str]) -> (Option<i32>, String) {
        let mut child = command(self.dir.path())
            .arg("--config")
            .arg(self.config_path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chancery");
        drop(child.stdout.take());
        let mut stderr = String::new();
        if let Some(mut err) = child.stderr.take() {
            err.read_to_string(&mut stderr).expect("read stderr");
        }
        let status = child.wait().expect("wait for chancery");
        (status.code(), stderr)
    }
}

/// Runs the binary with exactly `args`, in `cwd`, with a cleared environment.
pub fn run_binary(args: &[String], cwd: &Path) -> Run {
    run_binary_env(args, cwd, &[])
}

/// Like [`run_binary`], with extra environment variables.
pub fn run_binary_env(args: &[String], cwd: &Path, vars: &[(&str, &str)]) -> Run {
    let child = command(cwd)
        .envs(vars.iter().copied())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chancery");
    let pid = child.id();
    // Read the pipes on another thread so a large stdout cannot block the
    // child, and bound the wait.
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output: Output = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(output) => output.expect("wait for chancery"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("chancery {} did not finish in 60 s", args.join(" "));
        }
    };
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        raw_stdout: output.stdout,
        args: args.to_vec(),
    }
}

/// Row count of a table in the database file, read with our own SQLite.
pub fn count(db: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open db");
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

/// A received multipart message, parsed enough for assertions: unfolded
/// headers with RFC 2047 words decoded, in the order sent, and the decoded
/// bodies of its parts (CRLF line ends turned into `\n`).
#[derive(Debug)]
pub struct Mail {
    pub headers: Vec<(String, String)>,
    /// The multipart boundary from `Content-Type`.
    pub boundary: String,
    pub parts: Vec<Part>,
}

/// One part of a [`Mail`].
#[derive(Debug)]
pub struct Part {
    /// The part's own headers, parsed like the message's.
    pub headers: Vec<(String, String)>,
    pub content_type: String,
    /// The body after undoing its `Content-Transfer-Encoding`.
    pub body: String,
}

impl Mail {
    /// Parses a message as the test SMTP server received it.
    pub fn parse(raw: &str) -> Mail {
        let (head, body) = raw.split_once("\r\n\r\n").expect("header/body separator");
        let headers = parse_headers(head);
        let content_type = header_in(&headers, "Content-Type").expect("Content-Type");
        let boundary = content_type
            .split("boundary=")
            .nth(1)
            .expect("multipart boundary")
            .trim_matches('"')
            .to_owned();
        let delimiter = format!("--{boundary}");
        let parts = body
            .split(&delimiter)
            .skip(1)
            .filter(|p| !p.starts_with("--"))
            .map(|p| {
                // The CRLFs around a delimiter belong to it (RFC 2046 5.1.1).
                let p = p.strip_prefix("\r\n").unwrap_or(p);
                let p = p.strip_suffix("\r\n").unwrap_or(p);
                let (head, body) = p.split_once("\r\n\r\n").expect("part separator");
                let headers = parse_headers(head);
                let encoding = header_in(&headers, "Content-Transfer-Encoding")
                    .unwrap_or_else(|| "7bit".to_owned())
                    .to_ascii_lowercase();
                let bytes = match encoding.as_str() {
                    "base64" => base64_decode(body).expect("valid base64"),
                    "quoted-printable" => quoted_printable_decode(body),
                    _ => body.as_bytes().to_vec(),
                };
                Part {
                    content_type: header_in(&headers, "Content-Type").expect("part Content-Type"),
                    headers,
                    body: String::from_utf8(bytes)
                        .expect("utf-8 body")
                        .replace("\r\n", "\n"),
                }
            })
            .collect();
        Mail {
            headers,
            boundary,
            parts,
        }
    }

    /// The value of header `name`; fails the test when it is missing.
    pub fn header(&self, name: &str) -> String {
        header_in(&self.headers, name).unwrap_or_else(|| panic!("no {name} header in {self:#?}"))
    }

    /// The decoded body of the first part whose type starts with
    /// `content_type`; fails the test when there is none.
    pub fn part(&self, content_type: &str) -> &str {
        &self
            .parts
            .iter()
            .find(|p| p.content_type.starts_with(content_type))
            .unwrap_or_else(|| panic!("no {content_type} part in {self:#?}"))
            .body
    }
}

fn header_in(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

fn parse_headers(head: &str) -> Vec<(String, String)> {
    let mut unfolded: Vec<String> = Vec::new();
    for line in head.split("\r\n") {
        match unfolded.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => last.push_str(line),
            _ => unfolded.push(line.to_owned()),
        }
    }
    unfolded
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), decode_words(v.trim())))
        .collect()
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?...?=`, `?q?`), dropping the
/// whitespace between adjacent ones, and joining their bytes before UTF-8
/// decoding (a character may be split across words).
pub fn decode_words(value: &str) -> String {
    let word = regex::Regex::new(r"=\?([^?]+)\?([bBqQ])\?([^?]*)\?=").expect("regex");
    let between = regex::Regex::new(r"\?=\s+=\?").expect("regex");
    let value = between.replace_all(value, "?==?");
    let mut bytes = Vec::new();
    let mut last = 0;
    for captures in word.captures_iter(&value) {
        let whole = captures.get(0).expect("match");
        bytes.extend_from_slice(value[last..whole.start()].as_bytes());
        let text = &captures[3];
        if captures[2].eq_ignore_ascii_case("b") {
            bytes.extend(base64_decode(text).expect("base64 word"));
        } else {
            bytes.extend(quoted_printable_decode(&text.replace('_', " ")));
        }
        last = whole.end();
    }
    bytes.extend_from_slice(value[last..].as_bytes());
    String::from_utf8(bytes).expect("utf-8 header")
}

fn quoted_printable_decode(text: &str) -> Vec<u8> {
    let text = text.replace("=\r\n", "");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
            out.push(u8::from_str_radix(hex, 16).expect("=XX escape"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Checks `X-Chancery-Signature` of a webhook request: `sha256=` and the
/// hex HMAC-SHA256 of the exact body keyed with `secret`.
#[track_caller]
pub fn verify_signature(seen: &Seen, secret: &str) {
    let header = seen
        .headers
        .get("x-chancery-signature")
        .expect("signature header");
    let hex_sig = header.strip_prefix("sha256=").expect("sha256= prefix");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(&seen.body);
    mac.verify_slice(&hex::decode(hex_sig).expect("hex"))
        .expect("signature verifies over the exact body");
}

/// Checks a webhook body against the schema the README documents
/// (`docs/webhook.schema.json`), every error listed.
#[track_caller]
pub fn assert_webhook_schema(body: &serde_json::Value) {
    static SCHEMA: std::sync::LazyLock<jsonschema::Validator> = std::sync::LazyLock::new(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/webhook.schema.json");
        let schema: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("schema file"))
                .expect("schema JSON");
        jsonschema::validator_for(&schema).expect("a valid JSON Schema")
    });
    let errors: Vec<String> = SCHEMA
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "webhook body does not match docs/webhook.schema.json:\n{}\n{body:#}",
        errors.join("\n")
    );
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released), for
/// "the server is unreachable".
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// The kinds of the changes in a `history --json` document, newest first.
pub fn change_kinds(history: &serde_json::Value) -> Vec<String> {
    history["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["kind"].as_str().expect("kind").to_owned())
        .collect()
}

/// The Python that `.ci/run` installed `package` for, from the environment
/// variable `var`: an independent reader of what chancery wrote. Under CI a
/// missing one fails the test; a local run without it skips `check` (what
/// the reader would have done) with a notice.
pub fn ci_python(var: &str, package: &str, check: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(python) if !python.is_empty() => Some(python),
        _ if std::env::var_os("CI").is_some() => panic!(
            "{var} is unset: .ci/run installs {package} in a venv and sets it to that venv's python"
        ),
        _ => {
            eprintln!(
                "NOTICE: skipping {check}: set {var} to a python with {package} (see .ci/run)"
            );
            None
        }
    }
}
