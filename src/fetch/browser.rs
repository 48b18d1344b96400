//! Renders a page in headless Chromium, for watches whose statement is put
//! in place by JavaScript (`render = "browser"`).
//!
//! One browser process serves every browser watch: it is started on first
//! use, restarted after a crash or when its processes outgrow
//! `memory_max`, and closed after `idle` without a page. Each page gets a
//! fresh browser context (no cookies or storage carried between checks, as
//! with the HTTP client) and at most `max_tabs` are open at once. The page
//! load waits at the same host gate as every HTTP request; the requests the
//! page's own scripts make are the browser's. Images, fonts and media are
//! refused unless `block` says otherwise.
//!
//! What comes back is an ordinary [`Response`]: the status, final URL and
//! headers of the main document, and as body the DOM after the scripts ran
//! (`document.documentElement.outerHTML`, UTF-8), marked
//! [`Exchange::rendered_by`] so the evidence export says it is not the
//! bytes the server sent. A render that does not finish within `timeout`
//! fails with [`FetchError::RenderTimeout`] and its tab is closed; a
//! browser that cannot start or dies fails with [`FetchError::Browser`].
//!
//! Chromium is driven over the DevTools protocol with `chromiumoxide`
//! (its browser download feature off: the browser is the system's).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::fetch::{
    self as cdp_fetch, EventRequestPaused, FailRequestParams, RequestPattern, RequestStage,
};
use chromiumoxide::cdp::browser_protocol::network::{
    ErrorReason, EventResponseReceived, ResourceType,
};
use chromiumoxide::cdp::browser_protocol::page::NavigateParams;
use chromiumoxide::cdp::browser_protocol::target::{
    CreateBrowserContextParams, CreateTargetParams,
};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::{Mutex, Semaphore};
use url::Url;

use super::gate::HostGate;
use super::{Exchange, FetchError, Response};
use crate::model::Timestamp;

/// The names Chromium goes by on `PATH`, tried in this order when
/// `[browser] executable` is not set.
pub const EXECUTABLES: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// What the message for a missing browser tells people to install.
pub const PACKAGE_HINT: &str =
    "install Debian's \"chromium\" package (apt install chromium) or set [browser] executable";

/// How a watch's page is read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Render {
    /// One HTTP request; the body as the server sent it.
    #[default]
    Http,
    /// Loaded in headless Chromium; the body is the DOM after its scripts.
    Browser(PageWait),
}

impl Render {
    pub fn is_browser(&self) -> bool {
        matches!(self, Render::Browser(_))
    }
}

/// When a rendered page is read: once `wait_for` matches an element (if
/// set), `settle` later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageWait {
    /// A CSS selector (checked by the config) whose element must exist.
    pub wait_for: Option<String>,
    /// A pause after the load event (and `wait_for`) for scripts to finish.
    pub settle: Duration,
}

/// A kind of subresource the browser refuses to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Block {
    Image,
    Font,
    Media,
    Stylesheet,
}

impl Block {
    pub const DEFAULT: [Block; 3] = [Block::Image, Block::Font, Block::Media];

    fn resource_type(self) -> ResourceType {
        match self {
            Block::Image => ResourceType::Image,
            Block::Font => ResourceType::Font,
            Block::Media => ResourceType::Media,
            Block::Stylesheet => ResourceType::Stylesheet,
        }
    }
}

/// `[browser]`: how the shared browser is run, as the config sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSettings {
    /// The Chromium binary; `None`: the first of [`EXECUTABLES`] on `PATH`.
    pub executable: Option<PathBuf>,
    /// Chromium's own sandbox (off only where it cannot run, e.g. as root).
    pub sandbox: bool,
    /// Pages open at once.
    pub max_tabs: usize,
    /// Bound on one page: load, `wait_for`, `settle` and reading the DOM.
    pub timeout: Duration,
    pub block: Vec<Block>,
    /// Memory of the browser's processes (summed PSS) after which it is
    /// restarted (between pages).
    pub memory_max: u64,
    /// Closed after this long without a page.
    pub idle: Duration,
}

impl Default for BrowserSettings {
    fn default() -> BrowserSettings {
        BrowserSettings {
            executable: None,
            sandbox: true,
            max_tabs: 2,
            timeout: Duration::from_secs(30),
            block: Block::DEFAULT.to_vec(),
            memory_max: 1 << 30,
            idle: Duration::from_secs(300),
        }
    }
}

/// The browser's settings with what it takes from `[daemon]`
/// (`config::Config::browser_options`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserOptions {
    pub settings: BrowserSettings,
    /// Sent as the browser's `User-Agent`.
    pub user_agent: String,
    /// The rendered DOM beyond this many bytes fails the check.
    pub max_body_bytes: u64,
}

/// Finds the browser: the configured path, or the first of
/// [`EXECUTABLES`] on `PATH`. The error names the package to install.
pub fn find_executable(configured: Option<&Path>) -> Result<PathBuf, FetchError> {
    if let Some(path) = configured {
        return if path.is_file() {
            Ok(path.to_owned())
        } else {
            Err(FetchError::Browser(format!(
                "[browser] executable {} does not exist",
                path.display()
            )))
        };
    }
    let paths = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&paths)
        .flat_map(|dir| EXECUTABLES.iter().map(move |name| dir.join(name)))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            FetchError::Browser(format!(
                "no browser found on PATH (looked for {}): {PACKAGE_HINT}",
                EXECUTABLES.join(", ")
            ))
        })
}

/// The shared browser. Cheap to clone; clones share the process.
#[derive(Clone)]
pub struct Renderer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

struct Inner {
    options: BrowserOptions,
    tabs: Semaphore,
    browser: Mutex<Option<Arc<Running>>>,
    /// Pages being rendered now.
    busy: AtomicUsize,
    /// Bumped by every page: an idle close started before a later page
    /// does nothing.
    uses: AtomicU64,
}

/// A started browser.
struct Running {
    browser: chromiumoxide::Browser,
    handler: tokio::task::JoinHandle<()>,
    /// `Chrome/148.0.7778.167`, as the browser reports itself.
    product: String,
    pid: Option<u32>,
    /// Dropped after `browser` (fields drop in order): the process is
    /// killed before its profile is removed.
    _profile: Profile,
}

impl Running {
    /// Whether the browser still runs and its connection stands. (A dead
    /// browser does not always end the protocol stream, so the process is
    /// looked at too: gone, or a zombie not yet reaped.)
    fn alive(&self) -> bool {
        !self.handler.is_finished() && self.pid.is_none_or(process_runs)
    }

    /// Returns once the browser is no longer [`alive`](Running::alive).
    async fn died(&self) {
        while self.alive() {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Asks the browser to exit, then makes sure it did (dropping the
    /// child kills it).
    async fn close(self: Arc<Running>) {
        let _ = tokio::time::timeout(
            Duration::from_secs(3),
            self.browser
                .execute(chromiumoxide::cdp::browser_protocol::browser::CloseParams::default()),
        )
        .await;
        self.handler.abort();
        // Another holder (a page still finishing) drops it later.
        if let Ok(mut running) = Arc::try_unwrap(self) {
            let _ = tokio::time::timeout(Duration::from_secs(3), running.browser.wait()).await;
        }
    }

    /// Memory of the browser and every process it started (PSS).
    fn memory(&self) -> Option<u64> {
        self.pid.map(tree_pss)
    }
}

impl Renderer {
    /// A renderer with `options`; no browser is started until a page needs
    /// one.
    pub fn new(options: BrowserOptions) -> Renderer {
        Renderer {
            inner: Arc::new(Inner {
                tabs: Semaphore::new(options.settings.max_tabs.max(1)),
                options,
                browser: Mutex::new(None),
                busy: AtomicUsize::new(0),
                uses: AtomicU64::new(0),
            }),
        }
    }

    pub fn options(&self) -> &BrowserOptions {
        &self.inner.options
    }

    /// Loads `url` in a fresh tab and returns the DOM once `wait` says the
    /// page is ready.
    pub async fn render(
        &self,
        gate: &HostGate,
        url: &Url,
        wait: &PageWait,
    ) -> Result<Response, FetchError> {
        let _tab = self
            .inner
            .tabs
            .acquire()
            .await
            .map_err(|_| FetchError::Browser("the browser is shutting down".to_owned()))?;
        self.inner.uses.fetch_add(1, Ordering::SeqCst);
        let result = {
            // Counted until this page is done, even if the check is
            // abandoned mid-page (its future dropped at shutdown).
            let _busy = Busy::new(&self.inner.busy);
            self.render_in_tab(gate, url, wait).await
        };
        self.after_page().await;
        result
    }

    async fn render_in_tab(
        &self,
        gate: &HostGate,
        url: &Url,
        wait: &PageWait,
    ) -> Result<Response, FetchError> {
        let running = self.running().await?;
        let options = &self.inner.options;
        let context = running
            .browser
            .create_browser_context(CreateBrowserContextParams::default())
            .await
            .map_err(|e| self.failed(&running, "cannot open a browser context", &e))?;
        gate.wait(url).await;
        let started = Instant::now();
        let result = tokio::select! {
            result = tokio::time::timeout(
                options.settings.timeout,
                load(&running, &context, url, wait, options, started),
            ) => result,
            () = running.died() => {
                self.retire(&running).await;
                return Err(FetchError::Browser(
                    "the browser exited while rendering the page (it is started again for the next one)"
                        .to_owned(),
                ));
            }
        };
        // Disposing of the context closes its tab, even one whose script
        // never returns (the browser process kills the renderer).
        let disposed = tokio::time::timeout(
            Duration::from_secs(5),
            running.browser.dispose_browser_context(context),
        )
        .await;
        if !matches!(disposed, Ok(Ok(()))) {
            tracing::warn!(url = %url, "the browser did not close a tab; restarting it");
            self.retire(&running).await;
        }
        match result {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(Failure::Page(e))) => Err(e),
            Ok(Err(Failure::Cdp(what, e))) => Err(self.failed(&running, what, &e)),
            Err(_) => Err(FetchError::RenderTimeout {
                after: options.settings.timeout,
            }),
        }
    }

    /// The running browser, started if there is none or it died.
    async fn running(&self) -> Result<Arc<Running>, FetchError> {
        let mut slot = self.inner.browser.lock().await;
        if let Some(running) = slot.as_ref() {
            if running.alive() {
                return Ok(running.clone());
            }
            tracing::warn!("the browser exited; starting it again");
            slot.take();
        }
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(sweep_orphans);
        let running = Arc::new(launch(&self.inner.options).await?);
        tracing::info!(browser = %running.product, pid = ?running.pid, "browser started");
        *slot = Some(running.clone());
        Ok(running)
    }

    /// A protocol error: if the browser is gone, it is forgotten so the
    /// next page starts another.
    fn failed(
        &self,
        running: &Arc<Running>,
        what: &str,
        e: &chromiumoxide::error::CdpError,
    ) -> FetchError {
        if !running.alive() {
            return FetchError::Browser(format!("{what}: the browser exited ({e})"));
        }
        FetchError::Browser(format!("{what}: {e}"))
    }

    /// Stops `running` if it is still the current browser.
    async fn retire(&self, running: &Arc<Running>) {
        let mut slot = self.inner.browser.lock().await;
        if slot.as_ref().is_some_and(|r| Arc::ptr_eq(r, running)) {
            let old = slot.take().expect("checked above");
            drop(slot);
            old.close().await;
        }
    }

    /// Between pages: restart a browser over `memory_max`, and close it
    /// after `idle` with no page.
    async fn after_page(&self) {
        if self.inner.busy.load(Ordering::SeqCst) > 0 {
            return;
        }
        let current = self.inner.browser.lock().await.clone();
        let Some(running) = current else { return };
        if !running.alive() {
            self.retire(&running).await;
            return;
        }
        if let Some(memory) = running.memory()
            && memory > self.inner.options.settings.memory_max
        {
            tracing::info!(
                pss = memory,
                memory_max = self.inner.options.settings.memory_max,
                "browser over memory_max; restarting it"
            );
            self.retire(&running).await;
            return;
        }
        let uses = self.inner.uses.load(Ordering::SeqCst);
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let running = Arc::downgrade(&running);
        let idle = self.inner.options.settings.idle;
        tokio::spawn(async move {
            tokio::time::sleep(idle).await;
            let Some(inner) = weak.upgrade() else { return };
            let renderer = Renderer { inner };
            let Some(running) = running.upgrade() else {
                return;
            };
            if renderer.inner.uses.load(Ordering::SeqCst) == uses
                && renderer.inner.busy.load(Ordering::SeqCst) == 0
            {
                tracing::debug!("browser idle; closing it");
                renderer.retire(&running).await;
            }
        });
    }

    /// Closes the browser now (the daemon stopping, a reload replacing it).
    pub async fn shutdown(&self) {
        self.inner.tabs.close();
        let running = self.inner.browser.lock().await.take();
        if let Some(running) = running {
            running.close().await;
        }
    }
}

/// One page being rendered, counted in `Inner::busy` while it lives.
struct Busy<'a>(&'a AtomicUsize);

impl<'a> Busy<'a> {
    fn new(count: &'a AtomicUsize) -> Busy<'a> {
        count.fetch_add(1, Ordering::SeqCst);
        Busy(count)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why a page failed: the page's own doing, or the protocol.
enum Failure {
    Page(FetchError),
    Cdp(&'static str, chromiumoxide::error::CdpError),
}

fn cdp(what: &'static str) -> impl FnOnce(chromiumoxide::error::CdpError) -> Failure {
    move |e| Failure::Cdp(what, e)
}

/// Starts the browser.
async fn launch(options: &BrowserOptions) -> Result<Running, FetchError> {
    let executable = find_executable(options.settings.executable.as_deref())?;
    if options.settings.sandbox && rustix::process::geteuid().is_root() {
        return Err(FetchError::Browser(
            "Chromium's sandbox cannot run as root: run chancery as another user, or set [browser] sandbox = false".to_owned(),
        ));
    }
    let profile = Profile::create()?;
    let mut config = chromiumoxide::BrowserConfig::builder()
        .chrome_executable(executable)
        .user_data_dir(&profile.0)
        .respect_https_errors()
        .launch_timeout(Duration::from_secs(20))
        // The whole page is bounded by `timeout`; a protocol call by this.
        .request_timeout(options.settings.timeout + Duration::from_secs(5))
        .arg(("user-agent", options.user_agent.as_str()))
        .args([
            // No traffic of the browser's own: updates, metrics, sync.
            "disable-background-networking",
            "disable-component-update",
            "disable-sync",
            "no-first-run",
            "disable-quic",
            "disable-gpu",
            // /dev/shm is small or absent under PrivateDevices=.
            "disable-dev-shm-usage",
        ])
        // V8 without its JIT: no memory both writable and executable, so
        // the unit keeps MemoryDenyWriteExecute=yes (with the JIT, V8
        // cannot start under it), and a statement page's scripts need no
        // compiler. It also takes away the JIT's share of browser exploits.
        .arg(("js-flags", "--jitless"))
        // Crash reports and caches land in the profile too, and go with it.
        .env("HOME", profile.0.display().to_string())
        .env(
            "XDG_CONFIG_HOME",
            profile.0.join(".config").display().to_string(),
        )
        .env(
            "XDG_CACHE_HOME",
            profile.0.join(".cache").display().to_string(),
        );
    if !options.settings.sandbox {
        config = config.no_sandbox();
    }
    let config = config.build().map_err(FetchError::Browser)?;
    let (mut browser, mut handler) = chromiumoxide::Browser::launch(config)
        .await
        .map_err(|e| FetchError::Browser(format!("cannot start the browser: {e}")))?;
    let handler = tokio::spawn(async move {
        while let Some(event) = handler.next().await {
            if let Err(e) = event {
                // A closed connection ends the stream; other errors are
                // one bad message.
                tracing::debug!(error = %e, "browser protocol");
            }
        }
    });
    let pid = browser.get_mut_child().and_then(|c| c.as_mut_inner().id());
    let product = match browser.version().await {
        Ok(v) => v.product.clone(),
        Err(e) => {
            handler.abort();
            drop(browser);
            return Err(FetchError::Browser(format!(
                "the browser does not answer: {e}"
            )));
        }
    };
    Ok(Running {
        browser,
        handler,
        product,
        pid,
        _profile: profile,
    })
}

/// A fresh, empty browser profile for one browser process, removed with
/// it: nothing (cookies, cache, storage) outlives the process.
struct Profile(PathBuf);

impl Profile {
    fn create() -> Result<Profile, FetchError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "{PROFILE_PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        // A leftover of an earlier process with this pid is not ours to keep.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| {
            FetchError::Browser(format!(
                "cannot create the browser profile {}: {e}",
                dir.display()
            ))
        })?;
        Ok(Profile(dir))
    }
}

impl Drop for Profile {
    /// Kills whatever still runs on the profile (the browser's helpers
    /// outlive a killed main process for a moment), then removes it.
    fn drop(&mut self) {
        kill_users_of(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The prefix of every profile directory's name.
const PROFILE_PREFIX: &str = "chancery-browser-";

/// Removes the profiles (and kills the browsers) left behind by chancery
/// processes that no longer run: one killed with SIGKILL cannot close its
/// browser. Under systemd the unit's cgroup and private /tmp already see
/// to that; this is for everywhere else.
fn sweep_orphans() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PROFILE_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if owner != std::process::id() && !process_runs(owner) {
            tracing::info!(profile = %entry.path().display(), "removing a browser left by an earlier run");
            kill_users_of(&entry.path());
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// SIGKILLs every process with `dir` in its arguments: the browser
/// (`--user-data-dir=<dir>`), its helpers, and its crash reporter (whose
/// database is under `dir`, as `HOME` points there).
fn kill_users_of(dir: &Path) {
    let needle = dir.display().to_string();
    for pid in pids() {
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if cmdline
            .split(|b| *b == 0)
            .any(|arg| memchr::memmem::find(arg, needle.as_bytes()).is_some())
            && let Some(pid) = i32::try_from(pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// Loads `url` in a new tab of `context` and reads its DOM.
async fn load(
    running: &Running,
    context: &BrowserContextId,
    url: &Url,
    wait: &PageWait,
    options: &BrowserOptions,
    started: Instant,
) -> Result<Response, Failure> {
    let target = CreateTargetParams::builder()
        .url("about:blank")
        .browser_context_id(context.clone())
        .build()
        .map_err(|e| Failure::Page(FetchError::Browser(e)))?;
    let page = running
        .browser
        .new_page(target)
        .await
        .map_err(cdp("cannot open a tab"))?;
    if !options.settings.block.is_empty() {
        refuse(&page, &options.settings.block)
            .await
            .map_err(cdp("cannot set up blocking"))?;
    }
    let mut responses = page
        .event_listener::<EventResponseReceived>()
        .await
        .map_err(cdp("cannot listen to the page"))?;
    let requested_at = Timestamp::now();
    let navigated = page
        .execute(NavigateParams::new(url.as_str()))
        .await
        .map_err(cdp("cannot load the page"))?;
    if let Some(error) = &navigated.result.error_text {
        return Err(Failure::Page(FetchError::Connect(error.clone())));
    }
    // The main document's response: its request id is the loader id.
    let loader = navigated.result.loader_id.clone();
    let mut main = None;
    while let Some(event) = responses.next().await {
        if loader
            .as_ref()
            .is_some_and(|l| l.inner() == event.request_id.inner())
        {
            main = Some(event);
            break;
        }
    }
    let main = main.ok_or_else(|| {
        Failure::Page(FetchError::Browser(
            "the browser reported no response for the page".to_owned(),
        ))
    })?;
    let final_url = Url::parse(&main.response.url).unwrap_or_else(|_| url.clone());
    let status = u16::try_from(main.response.status).unwrap_or(0);
    let mime = main.response.mime_type.to_ascii_lowercase();
    if !(mime.contains("html") || mime.is_empty()) {
        return Err(Failure::Page(
            FetchError::Request(format!(
                "render = \"browser\" reads HTML pages; this one is {mime}: use render = \"http\""
            ))
            .after_headers(status, &final_url),
        ));
    }
    // An error document (a 404 for a statement taken down) will never
    // grow the statement's element: it is read as it loaded, so the check
    // can record the removal rather than time out.
    let ready_to_wait = (200..300).contains(&status);
    if let Some(selector) = wait.wait_for.as_ref().filter(|_| ready_to_wait) {
        // A JSON string literal: the selector cannot end the expression.
        let quoted = serde_json::to_string(selector).expect("a string serializes");
        let test = format!("document.querySelector({quoted}) !== null");
        loop {
            let found = page
                .evaluate(test.as_str())
                .await
                .map_err(cdp("cannot test wait_for"))?;
            if found.into_value::<bool>().unwrap_or(false) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(wait.settle).await;
    let html = page.content().await.map_err(cdp("cannot read the DOM"))?;
    if html.len() as u64 > options.max_body_bytes {
        return Err(Failure::Page(
            FetchError::TooLarge {
                limit: options.max_body_bytes,
                received: html.len() as u64,
            }
            .after_headers(status, &final_url),
        ));
    }
    let response_headers = headers_of(main.response.headers.inner());
    let header = |name: &str| {
        response_headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| String::from_utf8(v.clone()).ok())
    };
    let request_headers = main
        .response
        .request_headers
        .as_ref()
        .map(|h| headers_of(h.inner()))
        .unwrap_or_else(|| {
            vec![(
                "user-agent".to_owned(),
                options.user_agent.clone().into_bytes(),
            )]
        });
    let reason = if main.response.status_text.is_empty() {
        http_reason(status)
    } else {
        main.response.status_text.clone()
    };
    Ok(Response {
        status,
        content_type: Some("text/html; charset=utf-8".to_owned()),
        etag: None,
        last_modified: None,
        retry_after: header("retry-after"),
        body: html.into_bytes(),
        elapsed: started.elapsed(),
        exchange: Exchange {
            requested_at,
            remote_ip: main
                .response
                .remote_ip_address
                .as_deref()
                .and_then(|ip| ip.trim_matches(['[', ']']).parse().ok()),
            version: http_version(main.response.protocol.as_deref()),
            reason,
            request_headers,
            response_headers,
            rendered_by: Some(running.product.clone()),
        },
        final_url,
    })
}

/// Makes the page refuse the `block`ed kinds of subresource.
async fn refuse(
    page: &chromiumoxide::Page,
    block: &[Block],
) -> Result<(), chromiumoxide::error::CdpError> {
    let mut paused = page.event_listener::<EventRequestPaused>().await?;
    let refuser = page.clone();
    // Ends with the page (its event stream closes).
    tokio::spawn(async move {
        while let Some(request) = paused.next().await {
            let _ = refuser
                .execute(FailRequestParams::new(
                    request.request_id.clone(),
                    ErrorReason::BlockedByClient,
                ))
                .await;
        }
    });
    let patterns = block
        .iter()
        .map(|b| {
            RequestPattern::builder()
                .resource_type(b.resource_type())
                .request_stage(RequestStage::Request)
                .build()
        })
        .collect::<Vec<_>>();
    page.execute(
        cdp_fetch::EnableParams::builder()
            .patterns(patterns)
            .build(),
    )
    .await?;
    Ok(())
}

/// Headers as the protocol gives them (an object; repeated headers joined
/// by newlines), as name/value pairs with lowercase names.
fn headers_of(object: &serde_json::Value) -> Vec<(String, Vec<u8>)> {
    let Some(map) = object.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(map.len());
    for (name, value) in map {
        let name = name.to_ascii_lowercase();
        let value = value.as_str().unwrap_or_default();
        for line in value.split('\n') {
            out.push((name.clone(), line.as_bytes().to_vec()));
        }
    }
    out
}

/// `HTTP/1.1`, `HTTP/2.0`: the protocol as the exchange records it.
fn http_version(protocol: Option<&str>) -> String {
    match protocol.map(str::to_ascii_lowercase).as_deref() {
        Some("h2") => "HTTP/2.0".to_owned(),
        Some("h3") => "HTTP/3.0".to_owned(),
        Some("http/1.0") => "HTTP/1.0".to_owned(),
        _ => "HTTP/1.1".to_owned(),
    }
}

fn http_reason(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
        .to_owned()
}

/// Whether process `pid` exists and is not a zombie.
fn process_runs(pid: u32) -> bool {
    stat(pid).is_some_and(|fields| {
        fields
            .split_whitespace()
            .next()
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// The processes there are now: the numeric entries of `/proc`.
fn pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
}

/// `/proc/PID/stat` after the command name: `state ppid …` (the name, in
/// parentheses, may itself hold spaces and parentheses).
fn stat(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat.rsplit_once(')')?.1.to_owned())
}

/// Memory of process `root` and its descendants, from `/proc`: the sum of
/// their proportional set sizes (PSS: a page shared by N of them counts
/// 1/N in each), so the browser binary's pages mapped by every helper are
/// counted once. Summed RSS would count them in each: 780 MB for one
/// headless tab whose processes hold about 200 MB.
fn tree_pss(root: u32) -> u64 {
    let parents: Vec<(u32, u32)> = pids()
        .filter_map(|pid| {
            let ppid = stat(pid)?.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    tree.iter().map(|pid| pss(*pid)).sum()
}

/// One process's PSS in bytes (`/proc/PID/smaps_rollup`), or its RSS
/// where the kernel has no rollup.
fn pss(pid: u32) -> u64 {
    if let Ok(rollup) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
        return rollup
            .lines()
            .find_map(|line| line.strip_prefix("Pss:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024);
    }
    let page = rustix::param::page_size() as u64;
    std::fs::read_to_string(format!("/proc/{pid}/statm"))
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_headers_become_pairs_with_lowercase_names() {
        let object = serde_json::json!({"Set-Cookie": "a=1\nb=2", "Content-Type": "text/html"});
        let mut pairs = headers_of(&object);
        pairs.sort();
        assert_eq!(
            pairs,
            vec![
                ("content-type".to_owned(), b"text/html".to_vec()),
                ("set-cookie".to_owned(), b"a=1".to_vec()),
                ("set-cookie".to_owned(), b"b=2".to_vec()),
            ]
        );
    }

    #[test]
    fn protocols_read_as_http_versions() {
        assert_eq!(http_version(Some("h2")), "HTTP/2.0");
        assert_eq!(http_version(Some("http/1.1")), "HTTP/1.1");
        assert_eq!(http_version(Some("http/1.0")), "HTTP/1.0");
        assert_eq!(http_version(None), "HTTP/1.1");
    }

    #[test]
    fn a_missing_configured_browser_is_named() {
        let e = find_executable(Some(Path::new("/nonexistent/chromium"))).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/chromium"), "{e}");
    }

    #[test]
    fn this_process_tree_has_resident_memory() {
        assert!(tree_pss(std::process::id()) > 0);
    }

    #[test]
    fn a_running_process_runs_and_a_reaped_one_does_not() {
        assert!(process_runs(std::process::id()));
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        assert!(!process_runs(pid));
    }
}
