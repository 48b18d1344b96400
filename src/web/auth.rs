//! One shared secret for the whole view: `Authorization: Bearer <token>`,
//! or HTTP basic auth with the token as the password (any user name), which
//! is what browsers and feed readers (`https://reader:TOKEN@host/feed.atom`)
//! send.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

/// The token, kept only as its SHA-256: compared in constant time and
/// never printed.
#[derive(Clone)]
pub struct Auth {
    digest: [u8; 32],
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth(<redacted>)")
    }
}

impl Auth {
    /// A token of at least 16 characters (surrounding whitespace, such as
    /// a file's final newline, is not part of it).
    pub fn new(token: &str) -> Result<Auth, String> {
        let token = token.trim();
        if token.chars().count() < 16 {
            return Err("the web token must be at least 16 characters".to_owned());
        }
        Ok(Auth {
            digest: Sha256::digest(token.as_bytes()).into(),
        })
    }

    fn accepts(&self, header: &HeaderValue) -> bool {
        let Ok(value) = header.to_str() else {
            return false;
        };
        let offered = if let Some(token) = strip_scheme(value, "bearer") {
            token.trim().to_owned()
        } else if let Some(encoded) = strip_scheme(value, "basic") {
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim())
            else {
                return false;
            };
            let Ok(pair) = String::from_utf8(decoded) else {
                return false;
            };
            match pair.split_once(':') {
                Some((_, password)) => password.to_owned(),
                None => return false,
            }
        } else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(offered.as_bytes()).into();
        // Constant time: every byte is compared.
        digest
            .iter()
            .zip(self.digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// Lets a request through when no token is set or it carries the token.
pub(super) async fn guard(auth: Option<&Auth>, request: Request, next: Next) -> Response {
    let Some(auth) = auth else {
        return next.run(request).await;
    };
    let allowed = request
        .headers()
        .get(header::AUTHORIZATION)
        .is_some_and(|h| auth.accepts(h));
    if allowed {
        next.run(request).await
    } else {
        let mut response = (StatusCode::UNAUTHORIZED, "authorization required\n").into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"chancery\", charset=\"UTF-8\""),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_accepted_as_bearer_or_as_a_basic_password() {
        let auth = Auth::new("correct horse battery staple\n").expect("long enough");
        let ok = |v: &str| auth.accepts(&HeaderValue::from_str(v).expect("header"));
        assert!(ok("Bearer correct horse battery staple"));
        assert!(ok("bearer correct horse battery staple"));
        let basic = |user_pass: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(user_pass)
            )
        };
        assert!(ok(&basic("reader:correct horse battery staple")));
        assert!(ok(&basic(":correct horse battery staple")));
        assert!(!ok(&basic("correct horse battery staple:")));
        assert!(!ok("Bearer correct horse battery stapl"));
        assert!(!ok("Token correct horse battery staple"));
        assert!(!ok("Basic !!!"));
        assert!(Auth::new("short").is_err());
        assert_eq!(format!("{auth:?}"), "Auth(<redacted>)");
    }
}
