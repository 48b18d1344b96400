//! robots.txt (RFC 9309), for watches run with `respect_robots = true`.
//!
//! Parsing and matching are pure; [`RobotsCache`] fetches each origin's file
//! once a day through the ordinary [`Fetcher`](super::Fetcher) and answers
//! whether a URL may be fetched.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use url::Url;

use super::{Fetcher, Validators};

/// The rules of one robots.txt that apply to one user agent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rules {
    /// `(allow, pattern)` pairs.
    rules: Vec<(bool, String)>,
    /// True when the file could not be read for a reason that means "stay
    /// out" (a server error): RFC 9309 asks to assume complete disallow.
    disallow_all: bool,
}

impl Rules {
    /// Everything is allowed (no file, or a 4xx).
    pub fn allow_all() -> Rules {
        Rules::default()
    }

    /// Nothing is allowed (the file is unreachable).
    pub fn disallow_all() -> Rules {
        Rules {
            rules: Vec::new(),
            disallow_all: true,
        }
    }

    /// Parses `text` for the product token `agent` (e.g. `chancery`): the
    /// groups naming it (case-insensitively) apply, else the `*` groups.
    pub fn parse(text: &str, agent: &str) -> Rules {
        let agent = agent.to_ascii_lowercase();
        let mut specific = Vec::new();
        let mut wildcard = Vec::new();
        let mut group_agents: Vec<String> = Vec::new();
        let mut in_rules = false;
        for raw in text.lines() {
            let line = raw.split('#').next().unwrap_or("").trim();
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
            match key.as_str() {
                "user-agent" => {
                    if in_rules {
                        group_agents.clear();
                        in_rules = false;
                    }
                    group_agents.push(value.to_ascii_lowercase());
                }
                "allow" | "disallow" => {
                    in_rules = true;
                    if value.is_empty() {
                        continue;
                    }
                    let rule = (key == "allow", value.to_owned());
                    if group_agents
                        .iter()
                        .any(|a| !a.is_empty() && a != "*" && agent.starts_with(a.as_str()))
                    {
                        specific.push(rule);
                    } else if group_agents.iter().any(|a| a == "*") {
                        wildcard.push(rule);
                    }
                }
                _ => {}
            }
        }
        let named = text
            .lines()
            .filter_map(|l| l.split('#').next())
            .filter_map(|l| l.split_once(':'))
            .any(|(k, v)| {
                let v = v.trim().to_ascii_lowercase();
                k.trim().eq_ignore_ascii_case("user-agent")
                    && !v.is_empty()
                    && v != "*"
                    && agent.starts_with(v.as_str())
            });
        Rules {
            rules: if named { specific } else { wildcard },
            disallow_all: false,
        }
    }

    /// Whether `path` (path and query of a URL) may be fetched: the longest
    /// matching pattern wins, `Allow` on a tie.
    pub fn allows(&self, path: &str) -> bool {
        if self.disallow_all {
            return false;
        }
        let mut best: Option<(usize, bool)> = None;
        for (allow, pattern) in &self.rules {
            if matches(pattern, path) {
                let len = pattern.len();
                best = match best {
                    Some((l, a)) if l > len || (l == len && a) => Some((l, a)),
                    _ => Some((len, *allow)),
                };
            }
        }
        best.is_none_or(|(_, allow)| allow)
    }
}

/// Pattern match with `*` (any run) and a final `$` (end of path).
fn matches(pattern: &str, path: &str) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = path;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 && anchored {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    // Only a pattern without `*` gets here anchored.
    !anchored || rest.is_empty()
}

/// robots.txt per origin, fetched at most once a day (an hour after a
/// failure).
#[derive(Debug)]
pub struct RobotsCache {
    agent: String,
    entries: Mutex<HashMap<String, (Instant, Rules)>>,
}

const FRESH: Duration = Duration::from_secs(24 * 3600);
const FRESH_AFTER_ERROR: Duration = Duration::from_secs(3600);

impl RobotsCache {
    /// A cache for the product token of `user_agent` (the text before the
    /// first `/` or space, e.g. `chancery`).
    pub fn new(user_agent: &str) -> RobotsCache {
        let agent = user_agent
            .split(['/', ' '])
            .next()
            .unwrap_or("chancery")
            .to_owned();
        RobotsCache {
            agent,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `url` may be fetched, fetching its origin's robots.txt if
    /// needed. The lock is held while fetching, so one origin's file is
    /// never fetched twice at once.
    pub async fn allows(&self, fetcher: &Fetcher, url: &Url) -> bool {
        let origin = url.origin().ascii_serialization();
        let mut entries = self.entries.lock().await;
        let fresh = entries.get(&origin).filter(|(at, rules)| {
            let ttl = if rules.disallow_all {
                FRESH_AFTER_ERROR
            } else {
                FRESH
            };
            at.elapsed() < ttl
        });
        let rules = match fresh {
            Some((_, rules)) => rules.clone(),
            None => {
                let rules = self.fetch(fetcher, url).await;
                entries.insert(origin, (Instant::now(), rules.clone()));
                rules
            }
        };
        let mut path = url.path().to_owned();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        rules.allows(&path)
    }

    async fn fetch(&self, fetcher: &Fetcher, url: &Url) -> Rules {
        let mut robots = url.clone();
        robots.set_path("/robots.txt");
        robots.set_query(None);
        robots.set_fragment(None);
        match fetcher.fetch(&robots, &Validators::default()).await {
            Ok(r) if (200..300).contains(&r.status) => {
                Rules::parse(&String::from_utf8_lossy(&r.body), &self.agent)
            }
            Ok(r) if (400..500).contains(&r.status) => Rules::allow_all(),
            Ok(_) | Err(_) => Rules::disallow_all(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "
# comment
User-agent: *
Disallow: /private/
Allow: /private/open
Disallow: /*.pdf$

User-agent: otherbot
Disallow: /
";

    #[test]
    fn wildcard_group_with_longest_match() {
        let r = Rules::parse(FILE, "chancery");
        assert!(r.allows("/eng/remarks/"));
        assert!(!r.allows("/private/x"));
        assert!(r.allows("/private/open/statement"));
        assert!(!r.allows("/docs/a.pdf"));
        assert!(r.allows("/docs/a.pdf?x=1"));
    }

    #[test]
    fn a_named_group_replaces_the_wildcard() {
        let r = Rules::parse(FILE, "otherbot");
        assert!(!r.allows("/eng/remarks/"));
        let text = "User-agent: *\nDisallow: /\n\nUser-agent: Chancery\nDisallow: /secret\n";
        let r = Rules::parse(text, "chancery");
        assert!(r.allows("/eng/"));
        assert!(!r.allows("/secret/page"));
    }

    #[test]
    fn empty_disallow_and_failures() {
        assert!(Rules::parse("User-agent: *\nDisallow:\n", "chancery").allows("/anything"));
        assert!(Rules::allow_all().allows("/x"));
        assert!(!Rules::disallow_all().allows("/x"));
    }

    #[test]
    fn agent_token_from_user_agent() {
        assert_eq!(
            RobotsCache::new("chancery/0.1 (+mailto:ops@example.org)").agent,
            "chancery"
        );
    }
}
