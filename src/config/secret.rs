//! Secrets (the SMTP password, webhook keys): read from an environment
//! variable or a file named in the config, never from the TOML itself, and
//! held in a type that cannot be printed.

use std::fmt;
use std::path::Path;

use toml::Spanned;

use super::validate::Validator;

/// A secret (SMTP password, webhook key) read from the environment or a
/// file. Its `Debug` and `Display` never show the value, so it cannot leak
/// into logs or error messages by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Wraps a value (tests and `notify test`).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Whether to read secrets (SMTP password, webhook keys) while loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// Read them; a missing variable or file is a config error. For
    /// commands that send alerts.
    Read,
    /// Leave them unread (as `None`). For commands that only read the
    /// history, so `history` works without the daemon's environment.
    Skip,
}

/// Reads a secret from `NAME_env` or `NAME_file`; errors name the key and
/// the variable or file, never the value.
pub(super) fn read_secret(
    v: &mut Validator<'_>,
    base_dir: &Path,
    key: &str,
    env: Option<&Spanned<String>>,
    file: Option<&Spanned<String>>,
) -> Option<Secret> {
    match (env, file) {
        (Some(env), Some(_)) => {
            v.report(
                env,
                format!("{key}_env"),
                format!("set either {key}_env or {key}_file, not both"),
            );
            None
        }
        _ if v.secrets == Secrets::Skip => None,
        (Some(env), None) => match std::env::var(env.get_ref()) {
            Ok(value) if !value.is_empty() => Some(Secret::new(value)),
            _ => {
                v.report(
                    env,
                    format!("{key}_env"),
                    format!("environment variable {} is not set", env.get_ref()),
                );
                None
            }
        },
        (None, Some(file)) => {
            let path = base_dir.join(file.get_ref());
            match std::fs::read_to_string(&path) {
                Ok(value) => Some(Secret::new(value.trim_end_matches(['\r', '\n']))),
                Err(e) => {
                    v.report(
                        file,
                        format!("{key}_file"),
                        format!("cannot read {}: {e}", path.display()),
                    );
                    None
                }
            }
        }
        (None, None) => None,
    }
}
