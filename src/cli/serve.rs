//! `imcpm serve`: the reference IM server (docs/decisions.md D6, a proxy AS on the ISC interface) over real
//! UDP and TCP sockets, through the tokio driver of `net`. Logs go to stderr (tracing); the bound
//! addresses and, at Ctrl-C/SIGTERM, a one-line summary go to stdout.
//!
//! # Users file (`--users FILE`, docs/decisions.md D8)
//! TOML with one table, `[users]`: address of record = `"im"` or `"cpm"`. Static users are
//! local and always online; third-party REGISTERs add to them.
//! ```toml
//! [users]
//! "sip:bob@im.example.net" = "im"
//! "sip:carol@im.example.net" = "cpm"
//! ```
//!
//! # Next hop
//! A Route (or Request-URI) host that is an IP literal is used as is; a name is looked up in the
//! `--host-map NAME=IP:PORT` table (nothing is resolved through DNS); an unknown name gets 503.

use crate::base::ClientKind;
use crate::base::Level;
use crate::base::Transport;
use crate::base::escape::escape;
use crate::interop::registration::aor;
use crate::net::{self, Bound, Listen, NetConfig, NetStats};
use crate::node::im_server::faults::{Fault, FaultSet, UnknownFault};
use crate::node::im_server::limits::MAX_TRANSACTIONS;
use crate::node::im_server::{ImServer, ServerConfig, Stats};
use miette::{Diagnostic, NamedSource, SourceSpan};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `imcpm serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to listen: `udp:IP:PORT` or `tcp:IP:PORT` (IPv6 in brackets; port 0: any free
    /// port, printed at start). Repeatable.
    #[arg(long = "listen", value_name = "TRANSPORT:IP:PORT", required = true)]
    pub listen: Vec<Listen>,
    /// Interop level: 1 (T.1) or 2 (T.2).
    #[arg(long, value_enum)]
    pub level: Level,
    /// Static users: a TOML file with a `[users]` table, `"sip:bob@im.example.net" = "im"`.
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// The domain served (Request-URI in it = terminating, when nothing else says).
    #[arg(long, default_value = "im.example.net", value_parser = host_name)]
    pub domain: String,
    /// Our name in Via and Record-Route, recognised in Route (default: the first listen IP).
    #[arg(long, value_name = "NAME", value_parser = host_name)]
    pub host: Option<String>,
    /// Next-hop name to address, for Route entries that are not IP literals. Repeatable.
    #[arg(long = "host-map", value_name = "NAME=IP:PORT", value_parser = parse_host_map)]
    pub host_map: Vec<(String, SocketAddr)>,
    /// A deliberate defect (`imcpm faults` lists them). Repeatable; none by default.
    #[arg(long = "fault", value_name = "NAME", value_parser = parse_fault)]
    pub fault: Vec<Fault>,
    /// Receive buffer of each UDP socket, in bytes (0: the kernel's default). Set past
    /// net.core.rmem_max when privileged; the size the kernel gave is printed.
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20, value_parser = clap::value_parser!(u32).range(0..=(1 << 30)))]
    pub udp_rcvbuf: u32,
    /// After a read of a UDP socket that found datagrams, wait this many milliseconds before
    /// reading it again (0: read each as it comes). A busy server then wakes once per hold for
    /// all that came meanwhile, and sends its answers together: a datagram waits at most this
    /// much longer; an idle server's first datagram not at all.
    #[arg(long, value_name = "MS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=50))]
    pub udp_hold: u32,
    /// Largest SIP message accepted, in bytes: a larger datagram is dropped (and counted), a
    /// larger message on a TCP connection closes it; an unfinished one holds no more.
    #[arg(long, value_name = "BYTES", default_value_t = 65535, value_parser = clap::value_parser!(u32).range(512..=(16 << 20)))]
    pub max_message: u32,
    /// Most TCP connections open at once, accepted and opened together: an incoming one past
    /// it is reset at once, an outgoing one fails (the request it was for gets 500).
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// A TCP connection with no traffic for this many seconds is closed (an unfinished message
    /// with it), and so is one on which a write has not completed for as long.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub tcp_idle: u32,
    /// Most SIP transactions alive at once, server and client together (a forwarded request
    /// has one of each, for up to 32 s); a new request past it is answered 503 with
    /// Retry-After and a Warning, without taking an entry.
    #[arg(long, value_name = "N", default_value_t = MAX_TRANSACTIONS as u32, value_parser = clap::value_parser!(u32).range(2..=50_000_000))]
    pub max_transactions: u32,
}

fn parse_fault(s: &str) -> Result<Fault, UnknownFault> {
    Fault::from_name(s).ok_or_else(|| UnknownFault(s.to_string()))
}

/// `--domain` and `--host`: a name as it goes into SIP header fields: not empty, and no space,
/// `@` or character that does not show on a terminal (the error names the value escaped).
fn host_name(s: &str) -> Result<String, String> {
    if s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '@') || escape(s) != s {
        return Err(format!("`{}` is not a host name (no spaces, `@` or control characters)", escape(s)));
    }
    Ok(s.to_string())
}

/// `NAME=IP:PORT`; the error names the bad part.
pub fn parse_host_map(s: &str) -> Result<(String, SocketAddr), String> {
    let s_q = escape(s);
    let Some((name, addr)) = s.split_once('=') else {
        return Err(format!("`{s_q}`: expected NAME=IP:PORT, e.g. scscf.im.example.net=127.0.0.1:5060"));
    };
    let name = name.trim();
    if host_name(name).is_err() || name.contains(':') {
        return Err(format!("`{s_q}`: bad host name `{}`", escape(name)));
    }
    let addr = addr.trim();
    let addr: SocketAddr = addr.parse().map_err(|_| {
        format!("`{s_q}`: bad address `{}` (expected IP:PORT, IPv6 in brackets: [::1]:5060)", escape(addr))
    })?;
    Ok((name.to_ascii_lowercase(), addr))
}

/// A users file that cannot be used, pointing at the offending line.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{path}:{line}:{column}: {message}")]
#[diagnostic(help("expected a [users] table of \"sip:user@domain\" = \"im\" | \"cpm\""))]
pub struct UsersFileError {
    /// The file.
    pub path: String,
    /// Line (1-based).
    pub line: usize,
    /// Column (1-based).
    pub column: usize,
    /// What is wrong.
    pub message: String,
    #[source_code]
    src: NamedSource<String>,
    #[label("here")]
    at: SourceSpan,
}

impl UsersFileError {
    fn new(path: &Path, text: &str, span: std::ops::Range<usize>, message: String) -> UsersFileError {
        let start = span.start.min(text.len());
        let (line, column) = crate::base::line_column(text, start);
        UsersFileError {
            path: path.display().to_string(),
            line,
            column,
            message,
            src: NamedSource::new(path.display().to_string(), text.to_string()),
            at: (start, span.end.saturating_sub(start).max(1)).into(),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    users: BTreeMap<toml::Spanned<String>, toml::Spanned<String>>,
}

/// Parse a users file's text: AoRs (lowercased) and their client kinds.
pub fn parse_users(path: &Path, text: &str) -> Result<Vec<(String, ClientKind)>, Box<UsersFileError>> {
    let file: UsersFile = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().to_string();
        Box::new(UsersFileError::new(path, text, e.span().unwrap_or(0..0), message))
    })?;
    let mut users = Vec::new();
    for (k, v) in file.users {
        let Some(a) = aor(k.get_ref()).filter(|_| k.get_ref().contains(':')) else {
            let msg = format!("`{}` is not a SIP or tel URI (e.g. \"sip:bob@im.example.net\")", k.get_ref());
            return Err(Box::new(UsersFileError::new(path, text, k.span(), msg)));
        };
        let kind = match v.get_ref().to_ascii_lowercase().as_str() {
            "im" => ClientKind::Im,
            "cpm" => ClientKind::Cpm,
            other => {
                let msg = format!("unknown client kind `{other}` for {} (expected \"im\" or \"cpm\")", k.get_ref());
                return Err(Box::new(UsersFileError::new(path, text, v.span(), msg)));
            }
        };
        users.push((a, kind));
    }
    Ok(users)
}

/// Read and parse a users file.
pub fn load_users(path: &Path) -> miette::Result<Vec<(String, ClientKind)>> {
    let text = std::fs::read_to_string(path).map_err(|e| miette::miette!("{}: {e}", path.display()))?;
    parse_users(path, &text).map_err(|e| miette::Report::new(*e))
}

/// Our name for Via/Record-Route: the first listen IP that is not a wildcard (IPv6 bracketed).
fn default_host(listens: &[Listen]) -> Option<String> {
    listens.iter().map(|l| l.addr.ip()).find(|ip| !ip.is_unspecified()).map(|ip| match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    })
}

/// A seed that differs per run: branches must be unique across restarts too (RFC 3261 §8.1.1.7),
/// and the fixed default seed is for the deterministic simulation.
fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = match verbose {
        0 => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        1 => EnvFilter::new("debug"),
        _ => EnvFilter::new("trace"),
    };
    // A subscriber already installed (e.g. by a test) is kept.
    let ansi = super::color(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // The module path before each message only with -v, where it helps to read a debug log.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(verbose > 0)
        .with_env_filter(filter)
        .try_init();
}

/// The one-line summary printed at shutdown.
pub fn summary(elapsed: f64, s: &Stats, n: &NetStats) -> String {
    format!(
        "imcpm serve: stopped after {elapsed:.1} s: requests {}, forwarded {}, answered {}, malformed {}, \
         503 when full {}; messages received {}, sent {}, dropped {}, oversized datagrams {}; tcp accepted {}, \
         refused {}, connected {}, connect failures {}, closed on error {}",
        s.requests,
        s.forwarded,
        s.answered,
        s.malformed,
        s.refused_full,
        n.received,
        n.sent,
        n.dropped,
        n.oversized,
        n.accepted,
        n.refused,
        n.connected,
        n.connect_failures,
        n.closed_on_error
    )
}

/// Run `imcpm serve` until Ctrl-C or SIGTERM.
pub fn run(a: Args, verbose: u8) -> miette::Result<ExitCode> {
    let users = match &a.users {
        Some(p) => load_users(p)?,
        None => Vec::new(),
    };
    let host = match a.host.clone().or_else(|| default_host(&a.listen)) {
        Some(h) if !h.trim().is_empty() => h,
        _ => {
            return Err(miette::miette!(
                "every --listen is a wildcard address: give the server's name with --host NAME"
            ));
        }
    };
    init_logging(verbose);
    let cfg = NetConfig {
        listens: a.listen.clone(),
        udp_rcvbuf: a.udp_rcvbuf as usize,
        max_message: a.max_message as usize,
        max_connections: a.max_connections as usize,
        tcp_idle: std::time::Duration::from_secs(a.tcp_idle.into()),
        udp_hold: std::time::Duration::from_millis(a.udp_hold.into()),
        ..NetConfig::default()
    };
    let started = Instant::now();
    let result = net::try_block_on(async move {
        let bound = Bound::bind(cfg).await?;
        let addrs: Vec<(Transport, SocketAddr)> = bound.local_addrs().iter().map(|l| (l.transport, l.addr)).collect();
        let mut config = ServerConfig::new(a.level, &host, &a.domain, addrs);
        config.users = users;
        config.hosts.extend(a.host_map.iter().cloned());
        config.seed = fresh_seed();
        config.max_transactions = a.max_transactions as usize;
        // The names come from `Fault::name`, so they always parse.
        let names: Vec<&str> = a.fault.iter().map(|f| f.name()).collect();
        config.faults = FaultSet::parse(&names).unwrap_or_else(|_| FaultSet::none());
        for l in bound.local_addrs() {
            say(format_args!("imcpm serve: listening on {l}"));
        }
        for (addr, got) in bound.udp_rcvbuf() {
            say(format_args!("imcpm serve: udp:{addr} receive buffer {got} bytes (asked {})", a.udp_rcvbuf));
            tracing::info!(%addr, asked = a.udp_rcvbuf, effective = got, "UDP receive buffer");
        }
        let faults: Vec<&str> = config.faults.iter().map(Fault::name).collect();
        say(format_args!(
            "imcpm serve: level {}, host {host}, domain {}, static users {}, faults: {}",
            config.level,
            a.domain,
            config.users.len(),
            if faults.is_empty() { "none".to_string() } else { faults.join(", ") }
        ));
        say(format_args!(
            "imcpm serve: limits: message {} bytes, TCP connections {}, TCP idle {} s, transactions {} (docs/architecture.md#resource-bounds)",
            a.max_message, a.max_connections, a.tcp_idle, a.max_transactions
        ));
        tracing::info!(level = %config.level, %host, domain = %a.domain, users = config.users.len(), "imcpm serve ready");
        if !faults.is_empty() {
            tracing::warn!(faults = %faults.join(", "), "deliberate faults switched on");
        }
        let served = bound.run(ImServer::new(config), net::shutdown_signal()).await;
        std::io::Result::Ok(served)
    });
    let served = match result {
        Ok(Ok(s)) => s,
        Ok(Err(e)) | Err(e) => return Err(miette::miette!("imcpm serve: {e}")),
    };
    say(format_args!("{}", summary(started.elapsed().as_secs_f64(), &served.node.stats(), &served.stats)));
    Ok(ExitCode::SUCCESS)
}

/// Print a status line; a closed stdout (`imcpm serve | head -1`) must not stop the server.
fn say(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(args);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_file_parses_and_errors_name_the_line() {
        let p = Path::new("users.toml");
        let ok =
            "# local users\n[users]\n\"sip:Bob@im.example.net\" = \"im\"\n\"sip:carol@im.example.net\" = \"CPM\"\n";
        let u = parse_users(p, ok).unwrap();
        assert_eq!(
            u,
            vec![
                ("sip:bob@im.example.net".to_string(), ClientKind::Im),
                ("sip:carol@im.example.net".to_string(), ClientKind::Cpm)
            ]
        );
        let e = parse_users(p, "[users]\n\"sip:bob@im.example.net\" = \"im\"\n\"sip:c@x\" = \"pager\"\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 13), "{e}");
        assert!(e.to_string().starts_with("users.toml:3:13: unknown client kind `pager`"), "{e}");
        let e = parse_users(p, "[users]\n\"bob\" = \"im\"\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.to_string().contains("not a SIP or tel URI"), "{e}");
        let e = parse_users(p, "[users]\n\"sip:a@b\" = im\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = parse_users(p, "[user]\n").unwrap_err();
        assert_eq!(e.line, 1, "{e}");
    }

    #[test]
    fn host_map_and_default_host() {
        assert_eq!(parse_host_map("S.x=127.0.0.1:5060").unwrap(), ("s.x".into(), "127.0.0.1:5060".parse().unwrap()));
        assert!(parse_host_map("s.x").unwrap_err().contains("NAME=IP:PORT"));
        assert!(parse_host_map("s.x=localhost:5060").unwrap_err().contains("`localhost:5060`"));
        assert!(parse_host_map("=1.2.3.4:5").unwrap_err().contains("bad host name"));
        let l = |s: &str| s.parse::<Listen>().unwrap();
        assert_eq!(default_host(&[l("udp:0.0.0.0:5060"), l("tcp:[::1]:5060")]).as_deref(), Some("[::1]"));
        assert_eq!(default_host(&[l("udp:0.0.0.0:5060")]), None);
    }
}
