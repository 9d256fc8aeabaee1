//! The floor: a minimal raw epoll loop that only reads, parses WebSocket frame headers,
//! unmasks and writes back, and answers any non-upgrade request with a canned
//! `Hello, World!`. It checks nothing a real server must check (no validation, no limits,
//! no UTF-8, no timeouts, no Date header), so it shows what the kernel alone costs here.
//!
//! One thread, level-triggered epoll, one shared read buffer and one shared output
//! buffer; a connection keeps bytes of its own only for a partial frame or unsent output.

use base64::Engine;
use sha1::{Digest, Sha1};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use wirelane_peers::addr_arg;

const LISTENER: u64 = u64::MAX;
const HELLO_RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n\r\nHello, World!";

struct Conn {
    stream: TcpStream,
    /// Unparsed input (a partial head or frame).
    inbuf: Vec<u8>,
    /// Output the socket did not take yet.
    out: Vec<u8>,
    ws: bool,
    close_after_flush: bool,
}

/// What processing a chunk of input found.
struct Parsed {
    consumed: usize,
    close: bool,
}

fn main() {
    let addr = addr_arg("floor");
    raise_nofile();
    let listener = TcpListener::bind(addr).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    println!(
        "listening on {}",
        listener.local_addr().expect("local addr")
    );
    // SAFETY: plain syscalls on descriptors we own.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(ep >= 0, "epoll_create1");
    ctl(
        ep,
        libc::EPOLL_CTL_ADD,
        listener.as_raw_fd(),
        libc::EPOLLIN,
        LISTENER,
    );

    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut rbuf = vec![0u8; 256 * 1024];
    let mut obuf: Vec<u8> = Vec::with_capacity(512 * 1024);
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    loop {
        // SAFETY: `events` is valid for `len` entries.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, -1) };
        if n < 0 {
            continue;
        }
        for ev in &events[..n as usize] {
            let (flags, key) = (ev.events, ev.u64);
            if key == LISTENER {
                accept_all(ep, &listener, &mut conns);
                continue;
            }
            let fd = key as usize;
            let Some(conn) = conns.get_mut(fd).and_then(|c| c.as_mut()) else {
                continue;
            };
            let keep = if flags & libc::EPOLLOUT as u32 != 0 && !conn.out.is_empty() {
                flush_pending(ep, conn)
            } else {
                readable(ep, conn, &mut rbuf, &mut obuf)
            };
            if !keep {
                conns[fd] = None; // closing the socket also removes it from epoll
            }
        }
    }
}

fn accept_all(ep: i32, listener: &TcpListener, conns: &mut Vec<Option<Conn>>) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(true);
                let _ = stream.set_nodelay(true);
                let fd = stream.as_raw_fd();
                ctl(ep, libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN, fd as u64);
                if conns.len() <= fd as usize {
                    conns.resize_with(fd as usize + 1, || None);
                }
                conns[fd as usize] = Some(Conn {
                    stream,
                    inbuf: Vec::new(),
                    out: Vec::new(),
                    ws: false,
                    close_after_flush: false,
                });
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(_) => return, // EMFILE and friends: try again on the next event
        }
    }
}

/// Reads once, answers everything complete, writes. False: drop the connection.
fn readable(ep: i32, conn: &mut Conn, rbuf: &mut [u8], obuf: &mut Vec<u8>) -> bool {
    let n = match conn.stream.read(rbuf) {
        Ok(0) => return false,
        Ok(n) => n,
        Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
        Err(_) => return false,
    };
    obuf.clear();
    let parsed = if conn.inbuf.is_empty() {
        let p = process(&rbuf[..n], obuf, &mut conn.ws);
        conn.inbuf.extend_from_slice(&rbuf[p.consumed..n]);
        p
    } else {
        conn.inbuf.extend_from_slice(&rbuf[..n]);
        let p = process(&conn.inbuf, obuf, &mut conn.ws);
        conn.inbuf.drain(..p.consumed);
        p
    };
    if conn.inbuf.is_empty() && conn.inbuf.capacity() > 0 {
        conn.inbuf = Vec::new();
    }
    conn.close_after_flush |= parsed.close;
    let mut sent = 0;
    while sent < obuf.len() {
        match conn.stream.write(&obuf[sent..]) {
            Ok(k) => sent += k,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(_) => return false,
        }
    }
    if sent < obuf.len() {
        conn.out.extend_from_slice(&obuf[sent..]);
        let fd = conn.stream.as_raw_fd();
        ctl(ep, libc::EPOLL_CTL_MOD, fd, libc::EPOLLOUT, fd as u64);
        return true;
    }
    !conn.close_after_flush
}

/// Writes what was left over; reading resumes once it is all gone.
fn flush_pending(ep: i32, conn: &mut Conn) -> bool {
    match conn.stream.write(&conn.out) {
        Ok(k) => {
            conn.out.drain(..k);
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
        Err(_) => return false,
    }
    if conn.out.is_empty() {
        if conn.close_after_flush {
            return false;
        }
        conn.out = Vec::new();
        let fd = conn.stream.as_raw_fd();
        ctl(ep, libc::EPOLL_CTL_MOD, fd, libc::EPOLLIN, fd as u64);
    }
    true
}

/// Parses as many complete requests or frames as `data` holds, appending the answers.
fn process(data: &[u8], out: &mut Vec<u8>, ws: &mut bool) -> Parsed {
    let mut pos = 0;
    while !*ws {
        let Some(end) = find(&data[pos..], b"\r\n\r\n") else {
            return Parsed {
                consumed: pos,
                close: false,
            };
        };
        let head = &data[pos..pos + end];
        pos += end + 4;
        match websocket_key(head) {
            Some(key) => {
                let mut sha = Sha1::new();
                sha.update(key);
                sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
                let accept = base64::engine::general_purpose::STANDARD.encode(sha.finalize());
                out.extend_from_slice(
                    b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\
                      connection: upgrade\r\nsec-websocket-accept: ",
                );
                out.extend_from_slice(accept.as_bytes());
                out.extend_from_slice(b"\r\n\r\n");
                *ws = true;
            }
            None => out.extend_from_slice(HELLO_RESPONSE),
        }
    }
    loop {
        let rest = &data[pos..];
        if rest.len() < 2 {
            return Parsed {
                consumed: pos,
                close: false,
            };
        }
        let (b0, b1) = (rest[0], rest[1]);
        let (len, mut hdr) = match b1 & 0x7f {
            126 if rest.len() >= 4 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
            127 if rest.len() >= 10 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&rest[2..10]);
                (u64::from_be_bytes(b) as usize, 10)
            }
            126 | 127 => {
                return Parsed {
                    consumed: pos,
                    close: false,
                }
            }
            l => (l as usize, 2),
        };
        let masked = b1 & 0x80 != 0;
        let mask_at = hdr;
        if masked {
            hdr += 4;
        }
        if rest.len() < hdr + len {
            return Parsed {
                consumed: pos,
                close: false,
            };
        }
        let opcode = b0 & 0x0f;
        let reply_b0 = match opcode {
            0x9 => 0x8a, // ping → pong
            0xa => 0,    // pong: nothing
            _ => b0,     // data, continuation and close echo back as they came
        };
        if reply_b0 != 0 {
            out.push(reply_b0);
            if len < 126 {
                out.push(len as u8);
            } else if len <= 0xffff {
                out.push(126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
            let start = out.len();
            out.extend_from_slice(&rest[hdr..hdr + len]);
            if masked {
                let mut key = [0u8; 4];
                key.copy_from_slice(&rest[mask_at..mask_at + 4]);
                unmask(&mut out[start..], key);
            }
        }
        pos += hdr + len;
        if opcode == 0x8 {
            return Parsed {
                consumed: pos,
                close: true,
            };
        }
    }
}

/// XORs `buf` with the 4-byte key, eight bytes at a time.
fn unmask(buf: &mut [u8], key: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes(c.try_into().expect("8 bytes")) ^ wide;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

/// The `Sec-WebSocket-Key` of a head that asks for a WebSocket upgrade.
fn websocket_key(head: &[u8]) -> Option<&[u8]> {
    let mut upgrade = false;
    let mut key = None;
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.eq_ignore_ascii_case(b"upgrade") && value.eq_ignore_ascii_case(b"websocket") {
            upgrade = true;
        } else if name.eq_ignore_ascii_case(b"sec-websocket-key") {
            key = Some(value);
        }
    }
    key.filter(|_| upgrade)
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn ctl(ep: i32, op: i32, fd: i32, events: i32, key: u64) {
    let mut ev = libc::epoll_event {
        events: events as u32,
        u64: key,
    };
    // SAFETY: `ev` is a valid epoll_event; errors are ignored (the fd may be gone).
    unsafe { libc::epoll_ctl(ep, op, fd, &mut ev) };
}

/// Raises the soft open-files limit to the hard one, for the idle-connection scenario.
fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
