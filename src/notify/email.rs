//! Alert emails: rendering (subject, plain-text and HTML parts, headers) and
//! sending over SMTP with lettre.

use crate::config::Smtp;
use crate::notify::{AlertData, DeliveryError};

/// TLS settings that differ in tests: an extra trusted root certificate
/// (PEM) for a test server's self-signed certificate.
#[derive(Debug, Clone, Default)]
pub struct TlsExtras {
    pub extra_root_pem: Option<Vec<u8>>,
}

/// Sends `alert` to `to` through `smtp`.
pub async fn send(
    smtp: &Smtp,
    tls: &TlsExtras,
    to: &[String],
    alert: &AlertData,
) -> Result<(), DeliveryError> {
    let _ = (smtp, tls, to, alert);
    Err(DeliveryError::transient("email is not implemented yet"))
}
