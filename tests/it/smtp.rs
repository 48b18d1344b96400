//! Test support: a real SMTP server on 127.0.0.1 that records what it
//! receives, for the email tests.
//!
//! It speaks enough SMTP for lettre: EHLO (advertising STARTTLS when
//! configured, and AUTH PLAIN LOGIN), STARTTLS and implicit TLS with an rcgen
//! self-signed certificate for `localhost`/`127.0.0.1`, AUTH PLAIN/LOGIN,
//! MAIL, RCPT, DATA (dot-unstuffed), RSET, NOOP and QUIT. It can be told to
//! refuse at MAIL, RCPT or DATA with a given reply. Bounded: every read has a
//! timeout, lines and messages have a size cap, and the server (with its own
//! runtime on a background thread) stops when dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_rustls::TlsAcceptor;

/// Transport security the server offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    Plain,
    /// Plain, upgraded by STARTTLS (advertised in EHLO).
    Starttls,
    /// TLS from the first byte.
    Implicit,
}

/// Where a configured refusal is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Mail,
    Rcpt,
    /// After the message data (the end-of-data reply).
    Data,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub security: Security,
    /// Credentials AUTH accepts (535 otherwise); when set, MAIL needs AUTH.
    pub credentials: Option<(String, String)>,
    /// Answer this whole reply line (e.g. `550 5.1.1 no such user`) at this
    /// stage instead of accepting.
    pub refuse: Option<(Stage, String)>,
    /// A careless server: its 535 reply quotes the password it got.
    pub echo_password_on_failure: bool,
    /// A careless server: its 535 reply quotes the AUTH data as sent
    /// (base64), e.g. `AUTH PLAIN AGFsZXJ0cwBzZWNyZXQ=`.
    pub echo_auth_on_failure: bool,
    /// Accept connections but never greet (to test timeouts).
    pub silent: bool,
}

impl Options {
    pub fn plain() -> Options {
        Options {
            security: Security::Plain,
            credentials: None,
            refuse: None,
            echo_password_on_failure: false,
            echo_auth_on_failure: false,
            silent: false,
        }
    }

    pub fn with_security(mut self, security: Security) -> Options {
        self.security = security;
        self
    }

    pub fn with_credentials(mut self, username: &str, password: &str) -> Options {
        self.credentials = Some((username.to_owned(), password.to_owned()));
        self
    }

    pub fn refusing(mut self, stage: Stage, reply: &str) -> Options {
        self.refuse = Some((stage, reply.to_owned()));
        self
    }
}

/// One accepted message.
#[derive(Clone, Debug)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent, CRLF line ends, dots unstuffed, without the
    /// final `.` line.
    pub data: String,
    /// Whether the session was encrypted when the message came.
    pub tls: bool,
    /// The user that authenticated, if any.
    pub user: Option<String>,
}

struct Shared {
    options: Options,
    acceptor: TlsAcceptor,
    received: Mutex<Vec<Received>>,
}

/// A recording SMTP server on 127.0.0.1. It stops when dropped.
pub struct SmtpServer {
    pub addr: SocketAddr,
    /// PEM of the self-signed certificate, to trust in `TlsExtras`.
    pub cert_pem: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

const READ_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_LINE: u64 = 64 * 1024;
const MAX_MESSAGE: usize = 20 * 1024 * 1024;

impl SmtpServer {
    pub fn start(options: Options) -> SmtpServer {
        let certified = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .expect("self-signed certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let chain: Vec<CertificateDer<'static>> = vec![certified.cert.der().clone()];
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server certificate");
        let shared = Arc::new(Shared {
            options,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            received: Mutex::new(Vec::new()),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let for_thread = shared.clone();
        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("smtp server runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { break };
                            tokio::spawn(session(stream, for_thread.clone()));
                        }
                    }
                }
            });
            // Dropping the runtime cancels sessions still running.
        });
        SmtpServer {
            addr,
            cert_pem: certified.cert.pem(),
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every message accepted so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("received").clone()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

enum End {
    Quit,
    StartTls,
}

async fn session(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let options = &shared.options;
    if options.silent {
        tokio::time::sleep(READ_TIMEOUT).await;
        return;
    }
    let mut tls = options.security == Security::Implicit;
    let mut io: Box<dyn Io> = if tls {
        match shared.acceptor.accept(stream).await {
            Ok(s) => Box::new(s),
            Err(_) => return,
        }
    } else {
        Box::new(stream)
    };
    let mut conn = BufReader::new(io);
    if reply(&mut conn, "220 localhost ESMTP chancery-test")
        .await
        .is_err()
    {
        return;
    }
    loop {
        match dialogue(&mut conn, tls, &shared).await {
            Ok(End::StartTls) => {
                io = conn.into_inner();
                match shared.acceptor.accept(io).await {
                    Ok(s) => conn = BufReader::new(Box::new(s) as Box<dyn Io>),
                    Err(_) => return,
                }
                tls = true;
            }
            Ok(End::Quit) | Err(_) => return,
        }
    }
}

async fn reply<S: AsyncWrite + Unpin>(conn: &mut S, line: &str) -> std::io::Result<()> {
    conn.write_all(format!("{line}\r\n").as_bytes()).await?;
    conn.flush().await
}

/// Reads one line (without CRLF), bounded in time and size; an error at
/// end of input.
async fn read_line<S: AsyncRead + AsyncBufReadExt + Unpin>(
    conn: &mut S,
) -> std::io::Result<String> {
    let mut buf = Vec::new();
    let mut limited = (&mut *conn).take(MAX_LINE);
    let n = tokio::time::timeout(READ_TIMEOUT, limited.read_until(b'\n', &mut buf))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "read timeout"))??;
    if n == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The address inside `<...>` after `MAIL FROM:` or `RCPT TO:`.
fn path(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg[start..].find('>').map_or(arg.len(), |i| start + i);
    arg[start..end].to_owned()
}

async fn dialogue(
    conn: &mut BufReader<Box<dyn Io>>,
    tls: bool,
    shared: &Shared,
) -> std::io::Result<End> {
    let options = &shared.options;
    let refusal = |stage: Stage| match &options.refuse {
        Some((s, line)) if *s == stage => Some(line.clone()),
        _ => None,
    };
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    let mut user: Option<String> = None;
    loop {
        let line = read_line(conn).await?;
        let (verb, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" => {
                (from, to) = (None, Vec::new());
                let mut lines = vec!["localhost greets you"];
                if options.security == Security::Starttls && !tls {
                    lines.push("STARTTLS");
                }
                lines.push("AUTH PLAIN LOGIN");
                lines.push("HELP");
                let last = lines.len() - 1;
                for (i, text) in lines.iter().enumerate() {
                    let sep = if i == last { ' ' } else { '-' };
                    reply(conn, &format!("250{sep}{text}")).await?;
                }
            }
            "STARTTLS" if options.security == Security::Starttls && !tls => {
                reply(conn, "220 2.0.0 ready to start TLS").await?;
                return Ok(End::StartTls);
            }
            "AUTH" => {
                let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg, ""));
                let (username, password, sent) = match mechanism.to_ascii_uppercase().as_str() {
                    "PLAIN" => {
                        let token = if initial.is_empty() {
                            reply(conn, "334 ").await?;
                            read_line(conn).await?
                        } else {
                            initial.to_owned()
                        };
                        let decoded = base64_decode(&token).unwrap_or_default();
                        let mut fields = decoded.split(|b| *b == 0).skip(1);
                        let mut next = || {
                            String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned()
                        };
                        (next(), next(), format!("AUTH PLAIN {token}"))
                    }
                    "LOGIN" => {
                        let username = if initial.is_empty() {
                            reply(conn, "334 VXNlcm5hbWU6").await?;
                            read_line(conn).await?
                        } else {
                            initial.to_owned()
                        };
                        reply(conn, "334 UGFzc3dvcmQ6").await?;
                        let password = read_line(conn).await?;
                        let text = |b64: &str| {
                            String::from_utf8_lossy(&base64_decode(b64).unwrap_or_default())
                                .into_owned()
                        };
                        let sent = format!("AUTH LOGIN {username} {password}");
                        (text(&username), text(&password), sent)
                    }
                    _ => {
                        reply(conn, "504 5.5.4 unrecognized authentication type").await?;
                        continue;
                    }
                };
                let accepted = options
                    .credentials
                    .as_ref()
                    .is_some_and(|(u, p)| *u == username && *p == password);
                if accepted {
                    user = Some(username);
                    reply(conn, "235 2.7.0 authentication successful").await?;
                } else if options.echo_auth_on_failure {
                    reply(conn, &format!("535 5.7.8 rejected: {sent}")).await?;
                } else if options.echo_password_on_failure {
                    reply(conn, &format!("535 5.7.8 authentication failed for {username} with password {password}")).await?;
                } else {
                    reply(conn, "535 5.7.8 authentication credentials invalid").await?;
                }
            }
            "MAIL" => {
                if options.credentials.is_some() && user.is_none() {
                    reply(conn, "530 5.7.0 authentication required").await?;
                } else if let Some(line) = refusal(Stage::Mail) {
                    reply(conn, &line).await?;
                } else {
                    (from, to) = (Some(path(arg)), Vec::new());
                    reply(conn, "250 2.1.0 sender ok").await?;
                }
            }
            "RCPT" => {
                if from.is_none() {
                    reply(conn, "503 5.5.1 need MAIL first").await?;
                } else if let Some(line) = refusal(Stage::Rcpt) {
                    reply(conn, &line).await?;
                } else {
                    to.push(path(arg));
                    reply(conn, "250 2.1.5 recipient ok").await?;
                }
            }
            "DATA" => {
                let Some(sender) = from.take().filter(|_| !to.is_empty()) else {
                    reply(conn, "503 5.5.1 need MAIL and RCPT first").await?;
                    continue;
                };
                reply(conn, "354 end data with <CR><LF>.<CR><LF>").await?;
                let mut data = String::new();
                loop {
                    let line = read_line(conn).await?;
                    if line == "." {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                    data.push_str("\r\n");
                    if data.len() > MAX_MESSAGE {
                        reply(conn, "552 5.3.4 message too big").await?;
                        return Ok(End::Quit);
                    }
                }
                let recipients = std::mem::take(&mut to);
                if let Some(line) = refusal(Stage::Data) {
                    reply(conn, &line).await?;
                } else {
                    shared.received.lock().expect("received").push(Received {
                        from: sender,
                        to: recipients,
                        data,
                        tls,
                        user: user.clone(),
                    });
                    reply(conn, "250 2.0.0 queued").await?;
                }
            }
            "RSET" => {
                (from, to) = (None, Vec::new());
                reply(conn, "250 2.0.0 reset").await?;
            }
            "NOOP" => reply(conn, "250 2.0.0 ok").await?,
            "QUIT" => {
                reply(conn, "221 2.0.0 bye").await?;
                return Ok(End::Quit);
            }
            _ => reply(conn, "502 5.5.2 command not recognized").await?,
        }
    }
}

/// Decodes standard base64 (padding optional, whitespace ignored); `None`
/// on any other character.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in text.bytes() {
        let value = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}
