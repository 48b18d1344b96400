//! Raw TOML → validated [`Config`]: defaults filled in, every value
//! checked, filters and follow specs compiled, every problem collected
//! (not just the first) with its line and key.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use toml::Spanned;
use url::Url;

use super::raw::{RawConfig, RawFollow, RawSmtp, RawSubscriber, line_col};
use super::secret::{Secrets, read_secret};
use super::{Channel, Config, Daemon, Event, Problem, Smtp, SmtpTls, Subscriber, Watch};
use crate::fetch::browser::{BrowserSettings, PageWait, Render};
use crate::follow::{FollowSpec, Hosts};
use crate::normalize::{Filters, compile_selector};

const DEFAULT_USER_AGENT: &str = concat!(
    "chancery/",
    env!("CARGO_PKG_VERSION"),
    " (+https://example.invalid/chancery)"
);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub(super) const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
/// With the default concurrency and `max_body`, the daemon stays within the
/// shipped unit's `MemoryMax` with a measured margin (README, "Memory").
pub(super) const DEFAULT_MEMORY_BUDGET: u64 = 256 * 1024 * 1024;
const DEFAULT_MAX_REDIRECTS: usize = 10;
pub(super) const DEFAULT_INTERVAL: Duration = Duration::from_secs(15 * 60);
const DEFAULT_CONCURRENCY: usize = 16;
const DEFAULT_PER_HOST_CONCURRENCY: usize = 2;
const DEFAULT_PER_HOST_DELAY: Duration = Duration::from_secs(1);
const DEFAULT_CONFIRM_DELAY: Duration = Duration::from_secs(60);
const DEFAULT_FAILING_AFTER: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_FLAP_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Real statement pages normalize in milliseconds (a 200 KB page in about
/// 20 ms); thirty seconds is only ever a pathological page.
const DEFAULT_NORMALIZE_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_FLAP_SETTLE: usize = 2;

/// A settle count as stored (a check count far beyond any sane setting is
/// capped, not wrapped).
/// `http:///path`: the URL parser would take `path` for the host (as
/// browsers do); in a config it is a mistake.
fn lacks_host(url: &str) -> bool {
    url.trim()
        .split_once("://")
        .is_some_and(|(_, rest)| rest.is_empty() || rest.starts_with('/'))
}

fn settle(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Collects problems, each located in the config text.
pub(super) struct Validator<'a> {
    text: &'a str,
    problems: &'a mut Vec<Problem>,
    /// Whether secrets are read or left unread.
    pub(super) secrets: Secrets,
}

impl Validator<'_> {
    /// Records a problem at `at`'s position under `key`.
    pub(super) fn report<T>(&mut self, at: &Spanned<T>, key: String, message: impl fmt::Display) {
        let (line, column) = line_col(self.text, at.span().start);
        self.problems.push(Problem {
            line,
            column,
            key,
            message: message.to_string(),
        });
    }

    fn count(
        &mut self,
        value: &Option<Spanned<i64>>,
        key: &str,
        default: usize,
        range: std::ops::RangeInclusive<i64>,
    ) -> usize {
        match value {
            None => default,
            Some(v) => match usize::try_from(*v.get_ref()) {
                Ok(n) if range.contains(v.get_ref()) => n,
                _ => {
                    self.report(
                        v,
                        key.to_owned(),
                        format!(
                            "must be a whole number from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    );
                    default
                }
            },
        }
    }
}

pub(super) fn validate(
    path: &Path,
    text: &str,
    raw: RawConfig,
    state_directory: Option<&Path>,
    problems: &mut Vec<Problem>,
    secrets: Secrets,
) -> Config {
    let mut v = Validator {
        text,
        problems,
        secrets,
    };
    let d = raw.daemon;
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let state_dir = match &d.state_dir {
        Some(dir) => {
            let path = base_dir.join(dir.get_ref());
            if path.exists() && !path.is_dir() {
                v.report(
                    dir,
                    "daemon.state_dir".to_owned(),
                    format!("{} exists and is not a directory", path.display()),
                );
            }
            path
        }
        None => state_directory.map_or_else(|| PathBuf::from("chancery-state"), Path::to_owned),
    };
    let user_agent = match &d.user_agent {
        Some(ua)
            if ua.get_ref().trim().is_empty() || ua.get_ref().chars().any(char::is_control) =>
        {
            v.report(
                ua,
                "daemon.user_agent".to_owned(),
                "must be one line of text (no line breaks or control characters)",
            );
            DEFAULT_USER_AGENT.to_owned()
        }
        Some(ua) if ua.get_ref().len() > 512 => {
            v.report(
                ua,
                "daemon.user_agent".to_owned(),
                "is longer than 512 bytes",
            );
            DEFAULT_USER_AGENT.to_owned()
        }
        Some(ua) => ua.get_ref().clone(),
        None => DEFAULT_USER_AGENT.to_owned(),
    };
    let daemon = Daemon {
        state_dir,
        user_agent,
        timeout: d.timeout.unwrap_or(DEFAULT_TIMEOUT),
        max_body_bytes: d.max_body.unwrap_or(DEFAULT_MAX_BODY_BYTES),
        memory_budget: d.memory_budget.unwrap_or(DEFAULT_MEMORY_BUDGET),
        max_redirects: v.count(
            &d.max_redirects,
            "daemon.max_redirects",
            DEFAULT_MAX_REDIRECTS,
            0..=50,
        ),
        default_interval: d.default_interval.unwrap_or(DEFAULT_INTERVAL),
        concurrency: v.count(
            &d.concurrency,
            "daemon.concurrency",
            DEFAULT_CONCURRENCY,
            1..=1024,
        ),
        per_host_concurrency: v.count(
            &d.per_host_concurrency,
            "daemon.per_host_concurrency",
            DEFAULT_PER_HOST_CONCURRENCY,
            1..=256,
        ),
        per_host_delay: d.per_host_delay.unwrap_or(DEFAULT_PER_HOST_DELAY),
        respect_robots: d.respect_robots.unwrap_or(false),
        alert_retry: d.alert_retry.unwrap_or(Duration::from_secs(30)),
        alert_max_age: d
            .alert_max_age
            .unwrap_or(Duration::from_secs(3 * 24 * 3600)),
        confirm_delay: d.confirm_delay.unwrap_or(DEFAULT_CONFIRM_DELAY),
        failing_after: d.failing_after.unwrap_or(DEFAULT_FAILING_AFTER),
        flap_window: d.flap_window.unwrap_or(DEFAULT_FLAP_WINDOW),
        normalize_timeout: d.normalize_timeout.unwrap_or(DEFAULT_NORMALIZE_TIMEOUT),
        flap_settle: settle(v.count(
            &d.flap_settle,
            "daemon.flap_settle",
            DEFAULT_FLAP_SETTLE,
            1..=100,
        )),
        content: d.content.unwrap_or_default(),
    };

    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut watches = Vec::with_capacity(raw.watch.len());
    let notify_spans: Vec<Vec<Spanned<String>>> =
        raw.watch.iter().map(|w| w.notify.clone()).collect();
    // Watch lists repeat the same filters across hundreds of watches:
    // compile each distinct one once (compiled regexes share their program).
    let mut regex_cache: HashMap<String, Arc<Regex>> = HashMap::new();
    let mut selector_cache: HashMap<String, Arc<scraper::Selector>> = HashMap::new();
    // The first `render = "browser"`: where a missing browser is reported.
    let mut first_browser = None;
    for (w, i) in raw.watch.into_iter().zip(raw.watch_index.iter().copied()) {
        let name = w.name.get_ref().clone();
        let key = |field: &str| format!("watch[{i}].{field}");
        if !valid_name(&name) {
            v.report(
                &w.name,
                key("name"),
                format!(
                    "{name:?} is not a valid name: use lowercase letters, digits, '.', '_' and '-'"
                ),
            );
        } else if let Some(first) = seen.insert(name.clone(), i) {
            v.report(
                &w.name,
                key("name"),
                format!("duplicate watch name {name:?} (first used by watch[{first}])"),
            );
        }
        let url = match Url::parse(w.url.get_ref()) {
            Ok(_) if lacks_host(w.url.get_ref()) => {
                v.report(
                    &w.url,
                    key("url"),
                    format!("{:?} has no host after \"//\"", w.url.get_ref()),
                );
                None
            }
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            Ok(u) => {
                v.report(
                    &w.url,
                    key("url"),
                    format!(
                        "{:?} is not an http or https URL (scheme {:?})",
                        w.url.get_ref(),
                        u.scheme()
                    ),
                );
                None
            }
            Err(e) => {
                v.report(
                    &w.url,
                    key("url"),
                    format!("{:?} is not a valid URL: {e}", w.url.get_ref()),
                );
                None
            }
        };
        let strings =
            |list: &[Spanned<String>]| list.iter().map(|s| s.get_ref().clone()).collect::<Vec<_>>();
        let mut selectors = |field: &str, list: &[Spanned<String>]| {
            let mut compiled = Vec::with_capacity(list.len());
            for (j, css) in list.iter().enumerate() {
                let cached = selector_cache.get(css.get_ref()).cloned();
                match cached.map_or_else(|| compile_selector(css.get_ref()).map(Arc::new), Ok) {
                    Ok(sel) => {
                        selector_cache.insert(css.get_ref().clone(), sel.clone());
                        compiled.push(sel);
                    }
                    Err(e) => v.report(
                        css,
                        key(&format!("{field}[{j}]")),
                        format!("invalid CSS selector {:?}: {e}", css.get_ref()),
                    ),
                }
            }
            compiled
        };
        let select_compiled = selectors("select", &w.select);
        let exclude_compiled = selectors("exclude", &w.exclude);
        let mut ignore_compiled = Vec::with_capacity(w.ignore.len());
        for (j, pattern) in w.ignore.iter().enumerate() {
            let cached = regex_cache.get(pattern.get_ref()).cloned();
            match cached.map_or_else(|| Regex::new(pattern.get_ref()).map(Arc::new), Ok) {
                Ok(re) => {
                    regex_cache.insert(pattern.get_ref().clone(), re.clone());
                    ignore_compiled.push(re);
                }
                Err(e) => v.report(
                    pattern,
                    key(&format!("ignore[{j}]")),
                    format!(
                        "invalid regex {:?}: {}",
                        pattern.get_ref(),
                        crate::normalize::regex_message(&e)
                    ),
                ),
            }
        }
        let filters = Filters {
            select: select_compiled,
            exclude: exclude_compiled,
            ignore: ignore_compiled,
            content: w.content.unwrap_or(daemon.content),
        };
        let (select, exclude, ignore) =
            (strings(&w.select), strings(&w.exclude), strings(&w.ignore));
        for n in &w.notify {
            if n.get_ref().trim().is_empty() {
                v.report(n, key("notify"), "subscriber names cannot be empty");
            }
        }
        let follow = w
            .follow
            .as_ref()
            .and_then(|f| validate_follow(&mut v, &key("follow"), f));
        let interval = w.interval.unwrap_or(daemon.default_interval);
        let render = validate_render(&mut v, &key, &w);
        if render.is_browser() && first_browser.is_none() {
            first_browser = w.render.clone().map(|r| (r, i));
        }
        if let Some(url) = url {
            watches.push(Arc::new(Watch {
                name,
                url,
                render,
                interval,
                select,
                exclude,
                ignore,
                filters,
                notify: strings(&w.notify),
                confirm_delay: w.confirm_delay.unwrap_or(daemon.confirm_delay),
                failing_after: w.failing_after.unwrap_or(daemon.failing_after),
                flap_settle: settle(v.count(
                    &w.flap_settle,
                    &key("flap_settle"),
                    daemon.flap_settle as usize,
                    1..=100,
                )),
                follow,
                child_interval: w.child_interval.unwrap_or(interval * 4),
                parent: None,
            }));
        }
    }
    let smtp = raw.smtp.map(|smtp| validate_smtp(&mut v, base_dir, smtp));
    let subscribers = validate_subscribers(
        &mut v,
        base_dir,
        raw.subscriber.into_iter().zip(raw.subscriber_index),
        smtp.is_some(),
    );
    for (spans, i) in notify_spans.iter().zip(raw.watch_index.iter().copied()) {
        for (j, n) in spans.iter().enumerate() {
            if !n.get_ref().trim().is_empty() && !subscribers.iter().any(|s| &s.name == n.get_ref())
            {
                v.report(
                    n,
                    format!("watch[{i}].notify[{j}]"),
                    format!("no [[subscriber]] named {:?}", n.get_ref()),
                );
            }
        }
    }
    let browser = raw
        .browser
        .map(|b| validate_browser(&mut v, path, b))
        .unwrap_or_default();
    // Commands that check pages need the browser to exist (like secrets,
    // read only by them): said now, naming the package, not at each check.
    if let (Some((render, i)), Secrets::Read) = (first_browser, v.secrets)
        && let Err(e) = crate::fetch::browser::find_executable(browser.executable.as_deref())
    {
        v.report(
            &render,
            format!("watch[{i}].render"),
            format!("render = \"browser\" needs a browser: {e}"),
        );
    }
    Config {
        path: path.to_owned(),
        daemon,
        watches,
        smtp,
        subscribers,
        retention: super::Retention {
            checks: raw.retention.and_then(|r| r.checks),
        },
        web: raw.web.map(|w| validate_web(&mut v, path, w)),
        browser,
        store: raw.store.and_then(|s| validate_store(&mut v, base_dir, s)),
    }
}

/// `[store]`: a `postgres://` URL without a password, and the password
/// from the environment or a file. Read for every command (unlike other
/// secrets): reading the history needs it too.
fn validate_store(
    v: &mut Validator<'_>,
    base_dir: &Path,
    raw: Spanned<super::raw::RawStore>,
) -> Option<super::StoreSettings> {
    let raw = raw.into_inner();
    let skipping = v.secrets;
    v.secrets = Secrets::Read;
    let password = read_secret(
        v,
        base_dir,
        "store.password",
        raw.password_env.as_ref(),
        raw.password_file.as_ref(),
    );
    v.secrets = skipping;
    let url = raw.url.get_ref();
    let problem = match Url::parse(url) {
        Err(e) => Some(format!(
            "not a URL ({e}), e.g. \"postgres://chancery@db.example.org/chancery\""
        )),
        Ok(u) if !matches!(u.scheme(), "postgres" | "postgresql") => Some(format!(
            "{:?} is not a postgres:// URL (the SQLite history needs no [store]: it lives in state_dir)",
            u.scheme()
        )),
        Ok(u) if u.password().is_some() => Some(
            "the URL holds a password: anyone who can read this file could read it; \
             set store.password_env or store.password_file instead"
                .to_owned(),
        ),
        Ok(_) if !cfg!(feature = "postgres") => Some(crate::store::NO_POSTGRES.to_owned()),
        Ok(_) => None,
    };
    if let Some(problem) = problem {
        // The value is not echoed: a URL with a password must not reach
        // the terminal or a log.
        v.report(&raw.url, "store.url".to_owned(), problem);
        return None;
    }
    Some(super::StoreSettings {
        url: url.clone(),
        password,
        lease: raw.lease,
    })
}

/// `render`, `wait_for` and `settle` of one watch: the last two only with
/// `render = "browser"`, `wait_for` a CSS selector.
fn validate_render(
    v: &mut Validator<'_>,
    key: &dyn Fn(&str) -> String,
    w: &super::raw::RawWatch,
) -> Render {
    use super::raw::RawRender;
    let browser = w
        .render
        .as_ref()
        .is_some_and(|r| *r.get_ref() == RawRender::Browser);
    if !browser {
        if let Some(wait_for) = &w.wait_for {
            v.report(
                wait_for,
                key("wait_for"),
                "wait_for is only used with render = \"browser\"",
            );
        }
        if w.settle.is_some() {
            v.report(
                &w.name,
                key("settle"),
                "settle is only used with render = \"browser\"",
            );
        }
        return Render::Http;
    }
    let wait_for = w
        .wait_for
        .as_ref()
        .and_then(|css| match compile_selector(css.get_ref()) {
            Ok(_) => Some(css.get_ref().clone()),
            Err(e) => {
                v.report(
                    css,
                    key("wait_for"),
                    format!("invalid CSS selector {:?}: {e}", css.get_ref()),
                );
                None
            }
        });
    Render::Browser(PageWait {
        wait_for,
        settle: w.settle.unwrap_or(DEFAULT_SETTLE),
    })
}

/// A rendered page is read this long after its load event (and
/// `wait_for`), unless the watch says otherwise.
const DEFAULT_SETTLE: Duration = Duration::from_secs(1);

/// `[browser]`: every key optional.
fn validate_browser(
    v: &mut Validator<'_>,
    path: &Path,
    b: super::raw::RawBrowser,
) -> BrowserSettings {
    let defaults = BrowserSettings::default();
    let executable = b.executable.map(|e| {
        let file = PathBuf::from(e.get_ref());
        if file.is_relative() && file.components().count() > 1 {
            path.parent().unwrap_or(Path::new("")).join(file)
        } else {
            file
        }
    });
    BrowserSettings {
        executable,
        sandbox: b.sandbox.unwrap_or(defaults.sandbox),
        max_tabs: v.count(&b.max_tabs, "browser.max_tabs", defaults.max_tabs, 1..=16),
        timeout: b.timeout.unwrap_or(defaults.timeout),
        block: b.block.unwrap_or(defaults.block),
        memory_max: b.memory_max.unwrap_or(defaults.memory_max),
        idle: b.idle.unwrap_or(defaults.idle),
    }
}

/// `[web]`: an address to listen on, an http(s) base URL, a token file.
fn validate_web(v: &mut Validator<'_>, path: &Path, w: super::raw::RawWeb) -> super::Web {
    let listen = w
        .listen
        .and_then(|l| match l.get_ref().parse::<std::net::SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                v.report(
                    &l,
                    "web.listen".to_owned(),
                    format!(
                        "{:?} is not an address and port, e.g. \"127.0.0.1:8080\"",
                        l.get_ref()
                    ),
                );
                None
            }
        });
    let base_url = w.base_url.and_then(|b| match Url::parse(b.get_ref()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        _ => {
            v.report(
                &b,
                "web.base_url".to_owned(),
                format!(
                    "{:?} is not an http or https URL, e.g. \"https://chancery.example.org/\"",
                    b.get_ref()
                ),
            );
            None
        }
    });
    let token_file = w.token_file.map(|t| {
        let file = PathBuf::from(t.get_ref());
        if file.is_relative() {
            path.parent().unwrap_or(Path::new("")).join(file)
        } else {
            file
        }
    });
    super::Web {
        listen,
        base_url,
        token_file,
    }
}

/// Compiles `follow = { … }`; problems are reported at the key that has them.
fn validate_follow(
    v: &mut Validator<'_>,
    key: &str,
    raw: &Spanned<RawFollow>,
) -> Option<FollowSpec> {
    let f = raw.get_ref();
    let compile = |v: &mut Validator<'_>, css: &Spanned<String>, field: &str| match compile_selector(
        css.get_ref(),
    ) {
        Ok(sel) => Some(Arc::new(sel)),
        Err(e) => {
            v.report(
                css,
                format!("{key}.{field}"),
                format!("invalid CSS selector {:?}: {e}", css.get_ref()),
            );
            None
        }
    };
    let mut spec = match (&f.links, f.feed) {
        (Some(links), None | Some(false)) => FollowSpec::links(compile(v, links, "links")?),
        (None, Some(true)) => FollowSpec::feed(),
        (Some(links), Some(true)) => {
            v.report(
                links,
                format!("{key}.links"),
                "set links or feed = true, not both",
            );
            return None;
        }
        (None, _) => {
            v.report(
                raw,
                key.to_owned(),
                "needs links = \"CSS selector\" or feed = true",
            );
            return None;
        }
    };
    if let Some(same) = f.same_host {
        spec.hosts = if same { Hosts::Same } else { Hosts::Any };
    }
    if let Some(max) = &f.max {
        match usize::try_from(*max.get_ref()) {
            Ok(n) if n <= 1_000_000 => spec.max = n,
            _ => v.report(
                max,
                format!("{key}.max"),
                "must be a whole number from 0 to 1000000",
            ),
        }
    }
    if let Some(pages) = &f.pages {
        match usize::try_from(*pages.get_ref()) {
            Ok(n) if (1..=crate::follow::MAX_PAGES).contains(&n) => spec.pages = n,
            _ => v.report(
                pages,
                format!("{key}.pages"),
                format!("must be between 1 and {}", crate::follow::MAX_PAGES),
            ),
        }
    }
    if let Some(next) = &f.next {
        spec.next = Some(compile(v, next, "next")?);
    }
    Some(spec)
}

fn validate_smtp(v: &mut Validator<'_>, base_dir: &Path, raw: Spanned<RawSmtp>) -> Smtp {
    let at = raw.span();
    let raw = raw.into_inner();
    let tls = raw.tls.unwrap_or(SmtpTls::Starttls);
    let password = read_secret(
        v,
        base_dir,
        "smtp.password",
        raw.password_env.as_ref(),
        raw.password_file.as_ref(),
    );
    if password.is_some() && raw.username.is_none() {
        let spanned = Spanned::new(at.clone(), ());
        v.report(
            &spanned,
            "smtp.username".to_owned(),
            "a password needs a username",
        );
    }
    if !raw.from.get_ref().contains('@') {
        v.report(
            &raw.from,
            "smtp.from".to_owned(),
            format!(
                "{:?} is not a mailbox like \"Chancery <alerts@example.org>\"",
                raw.from.get_ref()
            ),
        );
    }
    Smtp {
        host: raw.host,
        port: raw.port.unwrap_or(match tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        }),
        tls,
        username: raw.username,
        password,
        from: raw.from.into_inner(),
        timeout: raw.timeout.unwrap_or(Duration::from_secs(30)),
    }
}

fn validate_subscribers(
    v: &mut Validator<'_>,
    base_dir: &Path,
    raw: impl Iterator<Item = (RawSubscriber, usize)>,
    have_smtp: bool,
) -> Vec<Subscriber> {
    let mut out: Vec<Subscriber> = Vec::new();
    for (s, i) in raw {
        let key = |field: &str| format!("subscriber[{i}].{field}");
        let name = s.name.get_ref().clone();
        if !valid_name(&name) {
            v.report(
                &s.name,
                key("name"),
                format!(
                    "{name:?} is not a valid name: use lowercase letters, digits, '.', '_' and '-'"
                ),
            );
        } else if out.iter().any(|o| o.name == name) {
            v.report(
                &s.name,
                key("name"),
                format!("duplicate subscriber name {name:?}"),
            );
        }
        let channel = match (s.email.is_empty(), &s.webhook) {
            (false, Some(hook)) => {
                v.report(
                    hook,
                    key("webhook"),
                    "a subscriber has email or webhook, not both: define two subscribers",
                );
                None
            }
            (false, None) => {
                for (j, addr) in s.email.iter().enumerate() {
                    let a = addr.get_ref();
                    if a.parse::<lettre::Address>().is_err() {
                        v.report(
                            addr,
                            key(&format!("email[{j}]")),
                            format!("{a:?} is not an email address"),
                        );
                    }
                }
                if !have_smtp {
                    v.report(&s.name, key("email"), "email needs an [smtp] table");
                }
                Some(Channel::Email(
                    s.email.iter().map(|e| e.get_ref().clone()).collect(),
                ))
            }
            (true, Some(hook)) => match Url::parse(hook.get_ref()) {
                Ok(url)
                    if matches!(url.scheme(), "http" | "https") && !lacks_host(hook.get_ref()) =>
                {
                    let secret = read_secret(
                        v,
                        base_dir,
                        &key("secret"),
                        s.secret_env.as_ref(),
                        s.secret_file.as_ref(),
                    );
                    Some(Channel::Webhook { url, secret })
                }
                _ => {
                    v.report(
                        hook,
                        key("webhook"),
                        format!("{:?} is not an http or https URL", hook.get_ref()),
                    );
                    None
                }
            },
            (true, None) => {
                v.report(&s.name, key("name"), "a subscriber needs email or webhook");
                None
            }
        };
        if s.webhook.is_none()
            && let Some(at) = s.secret_env.as_ref().or(s.secret_file.as_ref())
        {
            v.report(at, key("secret_env"), "a secret is only used with webhook");
        }
        let min_change = match &s.min_change {
            Some(m) if !(0.0..=1.0).contains(m.get_ref()) => {
                v.report(
                    m,
                    key("min_change"),
                    "must be between 0.0 and 1.0 (a share of the text)",
                );
                0.0
            }
            Some(m) => *m.get_ref(),
            None => 0.0,
        };
        let mut patterns = Vec::with_capacity(s.patterns.len());
        for (j, pattern) in s.patterns.iter().enumerate() {
            match Regex::new(pattern.get_ref()) {
                Ok(re) => patterns.push(Arc::new(re)),
                Err(e) => v.report(
                    pattern,
                    key(&format!("match[{j}]")),
                    format!(
                        "invalid regex {:?}: {}",
                        pattern.get_ref(),
                        crate::normalize::regex_message(&e)
                    ),
                ),
            }
        }
        if let Some(channel) = channel {
            out.push(Subscriber {
                name,
                channel,
                events: s.events.unwrap_or_else(|| Event::DEFAULT.to_vec()),
                min_change,
                patterns,
                changes: s.changes.unwrap_or_default(),
            });
        }
    }
    out
}

/// `[a-z0-9._-]+`, not starting with a dot (names become CLI arguments).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}
