//! `chancery extract PATH|URL`: run the exact normalize code of a check on
//! a saved file or a live page, so filters can be tried before a watch is
//! added.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use url::Url;

use crate::cli::output::load_config_readonly;
use crate::cli::{Exit, UsageError};
use crate::fetch::browser::{PageWait, Render, Renderer};
use crate::fetch::{Fetcher, Validators};
use crate::normalize::{Content, Filters, Input, normalize};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A saved page (file path) or an http(s) URL to fetch
    source: String,
    /// The page's URL, when SOURCE is a file (a hint for charset detection)
    #[arg(long, value_name = "URL")]
    url: Option<Url>,
    /// The Content-Type to assume for a file (default: guessed from its extension)
    #[arg(long, value_name = "TYPE")]
    content_type: Option<String>,
    /// Keep only the parts matching this CSS selector (repeatable)
    #[arg(long, value_name = "CSS")]
    select: Vec<String>,
    /// Drop the parts matching this CSS selector (repeatable)
    #[arg(long, value_name = "CSS")]
    exclude: Vec<String>,
    /// Main content only (auto) or all visible text (full); ignored with --select
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = parse_content)]
    content: Content,
    /// Remove text matching this regex (repeatable)
    #[arg(long, value_name = "REGEX")]
    ignore: Vec<String>,
    /// How to read a URL: http (one request) or browser (headless Chromium,
    /// with the config's [browser] settings), as a watch's `render`
    #[arg(long, value_name = "MODE", default_value = "http", value_parser = parse_render)]
    render: RenderMode,
    /// With --render browser: read the page once an element matches this CSS selector
    #[arg(long, value_name = "CSS")]
    wait_for: Option<String>,
    /// Also print the title, encoding and SHA-256 on stderr
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Print the result as JSON: title, encoding, sha256 and text
    #[arg(long)]
    json: bool,
}

/// What `extract --json` prints.
#[derive(serde::Serialize)]
struct Extracted<'a> {
    source: &'a str,
    title: Option<&'a str>,
    encoding: &'a str,
    sha256: String,
    text: &'a str,
}

pub fn run(config_path: Option<&Path>, args: Args) -> anyhow::Result<Exit> {
    let mut filters = Filters::new(&args.select, &args.exclude, &args.ignore)
        .map_err(|e| UsageError(e.to_string()))?;
    filters.content = args.content;
    let live = Url::parse(&args.source)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    let render = match args.render {
        RenderMode::Http => Render::Http,
        RenderMode::Browser => Render::Browser(PageWait {
            wait_for: args.wait_for.clone(),
            settle: std::time::Duration::from_secs(1),
        }),
    };
    if let Some(css) = &args.wait_for {
        if !render.is_browser() {
            return Err(UsageError("--wait-for needs --render browser".to_owned()).into());
        }
        crate::normalize::compile_selector(css)
            .map_err(|e| UsageError(format!("invalid CSS selector {css:?}: {e}")))?;
    }
    let (body, content_type, url) = match live {
        Some(url) => fetch(config_path, &url, &render)?,
        None => {
            let path = Path::new(&args.source);
            let body =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let content_type = args
                .content_type
                .clone()
                .or_else(|| guess_content_type(path).map(str::to_owned));
            (body, content_type, args.url.clone())
        }
    };
    let input = Input {
        body: &body,
        content_type: content_type.as_deref(),
        url: url.as_ref(),
    };
    let normalized = normalize(&input, &filters)
        .with_context(|| format!("cannot extract text from {}", args.source))?;
    if args.json {
        crate::cli::output::print_json(&Extracted {
            source: &args.source,
            title: normalized.title.as_deref(),
            encoding: normalized.encoding,
            sha256: crate::hash::sha256_hex(normalized.text.as_bytes()),
            text: &normalized.text,
        })?;
        return Ok(Exit::Success);
    }
    if args.verbose {
        eprintln!("title: {}", normalized.title.as_deref().unwrap_or("-"));
        eprintln!("encoding: {}", normalized.encoding);
        eprintln!(
            "sha256: {}",
            crate::hash::sha256_hex(normalized.text.as_bytes())
        );
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", normalized.text)
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")?;
    Ok(Exit::Success)
}

type Fetched = (Vec<u8>, Option<String>, Option<Url>);

/// Fetches with the config's limits when a config is found, else defaults.
fn fetch(config_path: Option<&Path>, url: &Url, render: &Render) -> anyhow::Result<Fetched> {
    let config = match load_config_readonly(config_path) {
        Ok(config) => config,
        Err(_) if config_path.is_none() => crate::config::parse(Path::new("(defaults)"), "", None)?,
        Err(e) => return Err(e),
    };
    fetch_with(&config, url, render)
}

/// Fetches `url` once with `config`'s fetch settings (or renders it with
/// its browser settings), as a check would; anything but a 2xx answer is
/// an error.
pub(super) fn fetch_with(
    config: &crate::config::Config,
    url: &Url,
    render: &Render,
) -> anyhow::Result<Fetched> {
    let fetcher = Fetcher::new(config.daemon.fetch_options())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let response = runtime
        .block_on(async {
            match render {
                Render::Http => fetcher.fetch(url, &Validators::default()).await,
                Render::Browser(wait) => {
                    let renderer = Renderer::new(config.browser_options());
                    let rendered = renderer.render(fetcher.gate(), url, wait).await;
                    renderer.shutdown().await;
                    rendered
                }
            }
        })
        .with_context(|| format!("cannot fetch {url}"))?;
    if !(200..300).contains(&response.status) {
        anyhow::bail!("cannot fetch {url}: HTTP {}", response.status);
    }
    Ok((
        response.body,
        response.content_type,
        Some(response.final_url),
    ))
}

/// `--render`: how a page is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderMode {
    Http,
    Browser,
}

pub(super) fn parse_render(value: &str) -> Result<RenderMode, String> {
    match value {
        "http" => Ok(RenderMode::Http),
        "browser" => Ok(RenderMode::Browser),
        _ => Err(format!("expected http or browser, got {value:?}")),
    }
}

fn parse_content(value: &str) -> Result<Content, String> {
    match value {
        "auto" => Ok(Content::Auto),
        "full" => Ok(Content::Full),
        _ => Err(format!("expected auto or full, got {value:?}")),
    }
}

fn guess_content_type(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "html" | "htm" | "xhtml" | "shtml" => "text/html",
        "txt" | "text" => "text/plain",
        "json" => "application/json",
        "xml" | "rss" | "atom" => "application/xml",
        _ => return None,
    })
}
