//! Shared helpers for the server tests: a scripted driver over virtual time and request makers.
#![allow(dead_code)]

pub(crate) mod pty;
pub(crate) mod sipgen;

use imcpm::base::Level;
use imcpm::base::{Instant, Packet, Transport};
use imcpm::node::im_server::faults::FaultSet;
use imcpm::node::im_server::{ImServer, ServerConfig};
use imcpm::node::{Input, Output, SansIo};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub(crate) const SERVER: &str = "192.0.2.1:5060";
pub(crate) const CORE: &str = "192.0.2.2:5060";

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(crate) fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/examples").join(name);
    String::from_utf8(std::fs::read(p).unwrap()).unwrap()
}

pub(crate) fn server(level: Level, faults: FaultSet) -> ImServer {
    let mut c = ServerConfig::new(
        level,
        "imserver.im.example.net",
        "im.example.net",
        vec![(Transport::Udp, addr(SERVER)), (Transport::Tcp, addr(SERVER))],
    );
    c.hosts.insert("scscf.im.example.net".into(), addr(CORE));
    c.faults = faults;
    ImServer::new(c)
}

/// Feeds inputs and collects outputs, stepping virtual time.
pub(crate) struct Driver {
    pub server: ImServer,
    pub now: Instant,
    pub out: Vec<(Instant, Packet)>,
}

impl Driver {
    pub(crate) fn new(server: ImServer) -> Driver {
        Driver { server, now: Instant::ZERO, out: Vec::new() }
    }
    fn drain(&mut self) -> Instant {
        for _ in 0..10_000 {
            match self.server.poll_output() {
                Output::Transmit(p) => self.out.push((self.now, p)),
                Output::Timeout(t) => return t,
            }
        }
        panic!("server did not settle");
    }
    /// Deliver a message from `from` over `t` and collect what the server sends at once.
    pub(crate) fn send(&mut self, t: Transport, from: &str, bytes: &str) -> Vec<Packet> {
        let n = self.out.len();
        let packet = Packet { transport: t, from: addr(from), to: addr(SERVER), bytes: bytes.as_bytes().to_vec() };
        self.server.handle_input(Input::Receive { now: self.now, packet });
        self.drain();
        self.out[n..].iter().map(|(_, p)| p.clone()).collect()
    }
    /// Advance virtual time by `d`, firing every deadline on the way; returns what was sent.
    pub(crate) fn advance(&mut self, d: Duration) -> Vec<Packet> {
        let n = self.out.len();
        let end = self.now + d;
        for _ in 0..100_000 {
            let next = self.drain();
            if next > end {
                break;
            }
            self.now = next.max(self.now);
            self.server.handle_input(Input::Timeout(self.now));
        }
        self.now = end;
        self.server.handle_input(Input::Timeout(end));
        self.drain();
        self.out[n..].iter().map(|(_, p)| p.clone()).collect()
    }
}

pub(crate) fn text(p: &Packet) -> String {
    String::from_utf8_lossy(&p.bytes).into_owned()
}

pub(crate) fn first_line(p: &Packet) -> String {
    text(p).lines().next().unwrap_or("").to_string()
}

pub(crate) fn requests(ps: &[Packet]) -> Vec<&Packet> {
    ps.iter().filter(|p| !p.bytes.starts_with(b"SIP/2.0")).collect()
}

pub(crate) fn responses(ps: &[Packet]) -> Vec<&Packet> {
    ps.iter().filter(|p| p.bytes.starts_with(b"SIP/2.0")).collect()
}

/// Rewrite a fixture's Content-Length after an edit.
pub(crate) fn reframe(s: &str) -> String {
    let (head, body) = s.split_once("\r\n\r\n").unwrap();
    let head: Vec<String> =
        head.split("\r\n")
            .map(|l| {
                if l.starts_with("Content-Length:") { format!("Content-Length: {}", body.len()) } else { l.to_string() }
            })
            .collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n"))
}

/// A third-party REGISTER from the core for `user` with the UE's contact tags (D8).
pub(crate) fn third_party_register(user: &str, contact_params: &str, expires: u32, n: u32) -> String {
    let inner = format!(
        "REGISTER sip:im.example.net SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bKue{n}\r\nMax-Forwards: 70\r\nFrom: <{user}>;tag=r{n}\r\nTo: <{user}>\r\nCall-ID: reg-{n}@ue\r\nCSeq: {n} REGISTER\r\nContact: <sip:ue@192.0.2.10:5060;transport=tcp>{contact_params}\r\nExpires: {expires}\r\nContent-Length: 0\r\n\r\n"
    );
    format!(
        "REGISTER sip:imserver.im.example.net SIP/2.0\r\nVia: SIP/2.0/TCP scscf.im.example.net:5060;branch=z9hG4bKtp{n}\r\nMax-Forwards: 70\r\nFrom: <sip:scscf.im.example.net>;tag=tp{n}\r\nTo: <{user}>\r\nCall-ID: tpreg-{n}@scscf\r\nCSeq: {n} REGISTER\r\nContact: <sip:scscf.im.example.net>\r\nExpires: {expires}\r\nContent-Type: message/sip\r\nContent-Length: {}\r\n\r\n{inner}",
        inner.len()
    )
}

pub(crate) const CPM_TAGS: &str = r#";+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg,urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.largemsg,urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.filetransfer,urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session";+sip.instance="<urn:gsma:imei:35824005-944763-1>""#;
pub(crate) const IM_TAGS: &str = ";+g.oma.sip-im;+g.oma.sip-im.large-message";
