//! Reading a UDP socket in batches: every datagram queued on it in one `recvmmsg(2)` call, each
//! with the time the kernel stamped it on arrival (`SO_TIMESTAMPNS`), so that a reader that
//! wakes once in a while (to spend fewer wake-ups per datagram) still knows when each datagram
//! came. Linux only; elsewhere one `recv_from` a datagram, stamped when it is read.
//!
//! On loopback the stamp is taken as the sender's datagram enters the receiving side of the
//! stack, in the sender's `sendto`: measured here (Linux 6.x), 20-150 µs after the send, however
//! long the datagram then waits in the socket. The kernel turns stamping on a moment after the
//! first socket asks for it; a datagram that arrives before is stamped when read.

use std::io;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

/// Datagrams read by one call at most.
pub const BATCH: usize = 32;
/// Each buffer's size: the largest UDP payload.
const BUF: usize = 65_536;
/// The longest a datagram is believed to have waited in the socket (its stamp against the wall
/// clock at the read).
#[cfg(target_os = "linux")]
const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A datagram read: its length (in [`DatagramBatch::bytes`]), its sender, and when it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Datagram {
    /// Bytes received.
    pub len: usize,
    /// The sender.
    pub peer: SocketAddr,
    /// When it arrived (the kernel's receive stamp on this process's clock), or when it was
    /// read if the kernel gave no stamp.
    pub at: Instant,
}

/// Buffers for up to [`BATCH`] datagrams at a time. The buffers are allocated once; the kernel
/// writes only the bytes of each datagram, so their untouched pages never become resident.
pub struct DatagramBatch {
    bufs: Vec<Box<[u8]>>,
    got: Vec<Datagram>,
}

impl Default for DatagramBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl DatagramBatch {
    /// Empty buffers.
    pub fn new() -> DatagramBatch {
        DatagramBatch { bufs: (0..BATCH).map(|_| vec![0u8; BUF].into_boxed_slice()).collect(), got: Vec::new() }
    }

    /// The datagrams of the last [`recv`](Self::recv).
    pub fn datagrams(&self) -> &[Datagram] {
        &self.got
    }

    /// The bytes of datagram `i` of the last read.
    pub fn bytes(&self, i: usize) -> &[u8] {
        &self.bufs[i][..self.got[i].len]
    }

    /// Read what is queued on `socket` without waiting: up to [`BATCH`] datagrams. `Ok(0)` never
    /// happens; an empty queue is `WouldBlock`. Fewer than [`BATCH`] means the queue was empty
    /// when the call returned.
    #[cfg(target_os = "linux")]
    pub fn recv(&mut self, socket: &impl std::os::fd::AsRawFd) -> io::Result<usize> {
        // SAFETY: every pointer handed to the kernel points into buffers this function owns for
        // the whole call (`names`, `controls`, `iovs`, `self.bufs`), each with its true size;
        // the kernel writes at most that many bytes into each. `mmsghdr` and `sockaddr_storage`
        // are plain C structs for which all-zero bytes are a valid value.
        unsafe {
            let mut names: [libc::sockaddr_storage; BATCH] = std::mem::zeroed();
            let mut controls = [[0u64; 8]; BATCH];
            let mut iovs: [libc::iovec; BATCH] = std::mem::zeroed();
            let mut msgs: [libc::mmsghdr; BATCH] = std::mem::zeroed();
            for i in 0..BATCH {
                iovs[i] = libc::iovec { iov_base: self.bufs[i].as_mut_ptr().cast(), iov_len: BUF };
                let h = &mut msgs[i].msg_hdr;
                h.msg_name = std::ptr::from_mut(&mut names[i]).cast();
                h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                h.msg_iov = std::ptr::from_mut(&mut iovs[i]);
                h.msg_iovlen = 1;
                h.msg_control = controls[i].as_mut_ptr().cast();
                h.msg_controllen = size_of::<[u64; 8]>() as _;
            }
            let n = libc::recvmmsg(
                socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            );
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let (real, mono) = (SystemTime::now(), Instant::now());
            self.got.clear();
            for (i, m) in msgs.iter().take(n as usize).enumerate() {
                let peer = sockaddr(&names[i]).unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
                // A stamp more than MAX_WAIT old (the wall clock stepped forward meanwhile) is
                // not believed: then the read time.
                let at = stamp(&m.msg_hdr)
                    .and_then(|t| real.duration_since(t).ok())
                    .filter(|ago| *ago <= MAX_WAIT)
                    .and_then(|ago| mono.checked_sub(ago))
                    .unwrap_or(mono);
                self.got.push(Datagram { len: (m.msg_len as usize).min(BUF), peer, at });
            }
            Ok(n as usize)
        }
    }

    /// Read up to [`BATCH`] queued datagrams without waiting, one `recv_from` each (no batch
    /// call here), stamped when read.
    #[cfg(not(target_os = "linux"))]
    pub fn recv(&mut self, socket: &std::net::UdpSocket) -> io::Result<usize> {
        self.got.clear();
        for i in 0..BATCH {
            match socket.recv_from(&mut self.bufs[i]) {
                Ok((len, peer)) => self.got.push(Datagram { len, peer, at: Instant::now() }),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && i > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(self.got.len())
    }
}

/// The receive stamp (`SCM_TIMESTAMPNS`) among a message's control messages.
#[cfg(target_os = "linux")]
fn stamp(h: &libc::msghdr) -> Option<SystemTime> {
    // SAFETY: `h` was filled in by `recvmmsg`; the CMSG_* walk stays within `msg_controllen`,
    // and an SCM_TIMESTAMPNS payload is a `timespec` (read unaligned).
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                let (s, ns) = (u64::try_from(ts.tv_sec).ok()?, u32::try_from(ts.tv_nsec).ok()?);
                return SystemTime::UNIX_EPOCH.checked_add(std::time::Duration::new(s, ns));
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
        None
    }
}

/// The address in a `sockaddr_storage` the kernel filled in (IPv4 or IPv6).
#[cfg(target_os = "linux")]
fn sockaddr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    // SAFETY: the family field says which of the two layouts the storage holds; both fit in it.
    unsafe {
        match libc::c_int::from(s.ss_family) {
            libc::AF_INET => {
                let a: &libc::sockaddr_in = &*std::ptr::from_ref(s).cast();
                let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some(SocketAddr::from((ip, u16::from_be(a.sin_port))))
            }
            libc::AF_INET6 => {
                let a: &libc::sockaddr_in6 = &*std::ptr::from_ref(s).cast();
                let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
                Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                    ip,
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

/// Ask the kernel to stamp each datagram received on `socket` with its arrival time
/// (`SO_TIMESTAMPNS`); false when it refuses (the datagrams are then stamped when read).
#[cfg(target_os = "linux")]
pub fn enable_rx_timestamps(socket: &impl std::os::fd::AsRawFd) -> bool {
    super::driver::set_int_option(socket.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
}

/// Without `SO_TIMESTAMPNS`: datagrams are stamped when read.
#[cfg(not(target_os = "linux"))]
pub fn enable_rx_timestamps<S>(_: &S) -> bool {
    false
}

/// Register `s` with the runtime's reactor; on failure, `s` back with the error.
pub(crate) fn register(
    s: std::net::UdpSocket,
    interest: tokio::io::Interest,
) -> Result<tokio::io::unix::AsyncFd<std::net::UdpSocket>, (std::net::UdpSocket, io::Error)> {
    // SAFETY: a `std::net::UdpSocket` owns its descriptor, which stays open and the same for
    // as long as the socket lives, and `as_raw_fd` always gives that one.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(s, interest) }
        .map_err(tokio::io::unix::AsyncFdRegisterError::into_parts)
}

/// The UDP socket (non-blocking), registered with the runtime's reactor only while the run
/// loop may wait for it: during a read hold it is not, because a registered socket wakes the
/// thread at every datagram that arrives (edge-triggered), which is what the hold avoids.
pub(crate) enum Udp {
    Watched(tokio::io::unix::AsyncFd<std::net::UdpSocket>),
    Unwatched(std::net::UdpSocket),
}

impl Udp {
    pub(crate) fn socket(&self) -> &std::net::UdpSocket {
        match self {
            Udp::Watched(fd) => fd.get_ref(),
            Udp::Unwatched(s) => s,
        }
    }
}

/// Register `udp` with the reactor for `interest` (if it is not registered), and give its
/// watch.
pub(crate) fn watch(
    udp: &mut Option<Udp>,
    interest: tokio::io::Interest,
) -> io::Result<Option<&tokio::io::unix::AsyncFd<std::net::UdpSocket>>> {
    *udp = match udp.take() {
        Some(Udp::Unwatched(s)) => match register(s, interest) {
            Ok(fd) => Some(Udp::Watched(fd)),
            Err((s, e)) => {
                *udp = Some(Udp::Unwatched(s));
                return Err(e);
            }
        },
        other => other,
    };
    Ok(match udp {
        Some(Udp::Watched(fd)) => Some(fd),
        _ => None,
    })
}

/// Take `udp` off the reactor (if it is on).
pub(crate) fn unwatch(udp: &mut Option<Udp>) {
    *udp = match udp.take() {
        Some(Udp::Watched(fd)) => Some(Udp::Unwatched(fd.into_inner())),
        other => other,
    };
}

/// Most datagrams handed to the kernel by one [`send_batch`] call.
pub const SEND_BATCH: usize = 64;

/// Send each `(destination, bytes)` of `msgs` from `socket` (non-blocking) with as few system
/// calls as the platform allows: Linux, `sendmmsg(2)`, up to [`SEND_BATCH`] a call. Returns how
/// many from the front were sent before the first that failed, with that failure (`None`: all
/// sent). The caller decides what a failure means (`WouldBlock`: wait and go on from there;
/// another: drop that one datagram and go on after it).
#[cfg(target_os = "linux")]
pub fn send_batch(socket: &impl std::os::fd::AsRawFd, msgs: &[(SocketAddr, &[u8])]) -> (usize, Option<io::Error>) {
    let mut sent = 0;
    while sent < msgs.len() {
        let chunk = &msgs[sent..msgs.len().min(sent + SEND_BATCH)];
        let names: Vec<socket2::SockAddr> = chunk.iter().map(|(to, _)| socket2::SockAddr::from(*to)).collect();
        // SAFETY: every pointer handed to the kernel points into values this function owns
        // for the whole call (`names`, `iovs`, `hdrs`) or into the caller's byte slices, each
        // with its true length; the kernel only reads through the iovecs and names, and
        // writes only `msg_len` of each header. All-zero `mmsghdr`/`iovec` values are valid.
        let n = unsafe {
            let mut iovs: [libc::iovec; SEND_BATCH] = std::mem::zeroed();
            let mut hdrs: [libc::mmsghdr; SEND_BATCH] = std::mem::zeroed();
            for (i, (_, bytes)) in chunk.iter().enumerate() {
                iovs[i] = libc::iovec { iov_base: bytes.as_ptr().cast_mut().cast(), iov_len: bytes.len() };
                let h = &mut hdrs[i].msg_hdr;
                h.msg_name = names[i].as_ptr().cast_mut().cast();
                h.msg_namelen = names[i].len();
                h.msg_iov = std::ptr::from_mut(&mut iovs[i]);
                h.msg_iovlen = 1;
            }
            libc::sendmmsg(socket.as_raw_fd(), hdrs.as_mut_ptr(), chunk.len() as libc::c_uint, libc::MSG_DONTWAIT)
        };
        if n < 0 {
            return (sent, Some(io::Error::last_os_error()));
        }
        // A short count: the datagram after the last one sent failed (the kernel does not say
        // how); the next call starts with it and reports its error.
        sent += n as usize;
        if n == 0 {
            break; // cannot happen for a non-empty chunk; never spin
        }
    }
    (sent, None)
}

/// Send each datagram with its own `send_to` (no batch call here); as the Linux version.
#[cfg(not(target_os = "linux"))]
pub fn send_batch(socket: &std::net::UdpSocket, msgs: &[(SocketAddr, &[u8])]) -> (usize, Option<io::Error>) {
    for (i, (to, bytes)) in msgs.iter().enumerate() {
        if let Err(e) = socket.send_to(bytes, to) {
            return (i, Some(e));
        }
    }
    (msgs.len(), None)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_batch_reads_every_queued_datagram_with_its_sender_and_an_arrival_before_the_read() {
        let r = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        r.set_nonblocking(true).unwrap();
        assert!(enable_rx_timestamps(&r));
        // The kernel turns its receive stamping on a moment after the first socket asks for it
        // (a deferred switch): what arrives before is stamped when read.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut b = DatagramBatch::new();
        assert_eq!(b.recv(&r).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        let sent = Instant::now();
        for i in 0..3u8 {
            s.send_to(&[b'a' + i; 5], r.local_addr().unwrap()).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(30));
        let before_read = Instant::now();
        assert_eq!(b.recv(&r).unwrap(), 3);
        for (i, d) in b.datagrams().iter().enumerate() {
            assert_eq!(d.peer, s.local_addr().unwrap());
            assert_eq!(b.bytes(i), &[b'a' + i as u8; 5]);
            // Stamped on arrival (within the sends' 30 ms sleep), not when read.
            assert!(d.at + std::time::Duration::from_millis(1) >= sent, "{:?}", d.at - sent);
            assert!(d.at < before_read, "stamped when read");
        }
        assert_eq!(b.recv(&r).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn a_send_batch_sends_in_order_and_stops_at_the_first_refused_datagram() {
        let r4 = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let r4b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_nonblocking(true).unwrap();
        for r in [&r4, &r4b] {
            r.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap(); // a lost one fails, not hangs
        }
        let (a, b) = (r4.local_addr().unwrap(), r4b.local_addr().unwrap());
        let big = vec![b'x'; 70_000]; // past the largest UDP payload: EMSGSIZE
        let msgs: Vec<(SocketAddr, &[u8])> = vec![(a, b"one"), (b, b"two"), (a, b"three"), (a, &big), (b, b"four")];
        let (sent, err) = send_batch(&s, &msgs);
        assert_eq!(sent, 3);
        assert_eq!(err.map(|e| e.raw_os_error()), Some(Some(libc::EMSGSIZE)));
        let (n, e) = send_batch(&s, &msgs[4..]);
        assert!(n == 1 && e.is_none(), "{n} {e:?}");
        let mut buf = [0u8; 16];
        for (sock, want) in [(&r4, &b"one"[..]), (&r4, b"three"), (&r4b, b"two"), (&r4b, b"four")] {
            let (n, from) = sock.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (want, s.local_addr().unwrap()));
        }
        // More than one call's worth (SEND_BATCH) in one go.
        let many: Vec<(SocketAddr, &[u8])> = (0..SEND_BATCH + 5).map(|_| (a, &b"m"[..])).collect();
        let (n, e) = send_batch(&s, &many);
        assert!(n == SEND_BATCH + 5 && e.is_none(), "{n} {e:?}");
    }
}
