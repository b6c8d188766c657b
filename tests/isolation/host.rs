//! The host: its addresses, its name, a listener on all of them, and what a
//! container's network namespace listens on.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// (address, port) of sockets.
pub type Sockets = Vec<(String, u16)>;

/// Every address of every interface of the host: (interface, address).
pub fn host_addresses() -> Vec<(String, IpAddr)> {
    let mut out = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list we only read, then free once.
    unsafe {
        assert_eq!(libc::getifaddrs(&mut ifap), 0, "getifaddrs failed");
        let mut cur = ifap;
        while !cur.is_null() {
            let ifa = &*cur;
            cur = ifa.ifa_next;
            if ifa.ifa_addr.is_null() {
                continue;
            }
            let name = std::ffi::CStr::from_ptr(ifa.ifa_name)
                .to_string_lossy()
                .into_owned();
            match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    out.push((
                        name,
                        IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))),
                    ));
                }
                libc::AF_INET6 => {
                    let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    out.push((name, IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))));
                }
                _ => {}
            }
        }
        libc::freeifaddrs(ifap);
    }
    out
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}

/// A TCP and a UDP listener of the test's own on the host, on one port, at
/// every address (IPv4 and IPv6); records what each gets.
pub struct HostListener {
    pub port: u16,
    records: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl HostListener {
    pub fn start() -> HostListener {
        let v6only = std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only")
            .map(|s| s.trim() == "1")
            .unwrap_or(true);
        for _ in 0..20 {
            if let Some((tcp, udp)) = Self::bind(v6only) {
                let port = tcp[0].local_addr().unwrap().port();
                let records = Arc::new(Mutex::new(Vec::new()));
                let stop = Arc::new(AtomicBool::new(false));
                let mut threads = Vec::new();
                for l in tcp {
                    let (records, stop) = (records.clone(), stop.clone());
                    threads.push(std::thread::spawn(move || tcp_loop(l, &records, &stop)));
                }
                for s in udp {
                    let (records, stop) = (records.clone(), stop.clone());
                    threads.push(std::thread::spawn(move || udp_loop(s, &records, &stop)));
                }
                return HostListener {
                    port,
                    records,
                    stop,
                    threads,
                };
            }
        }
        panic!("no port free for the host listener");
    }

    /// Sockets on one port: [::] (dual-stack unless bindv6only), and
    /// 0.0.0.0 when [::] does not take IPv4 (or IPv6 is off).
    fn bind(v6only: bool) -> Option<(Vec<TcpListener>, Vec<UdpSocket>)> {
        let mut tcp = Vec::new();
        let mut udp = Vec::new();
        let v6 = TcpListener::bind((Ipv6Addr::UNSPECIFIED, 0)).ok();
        let port = match &v6 {
            Some(l) => l.local_addr().ok()?.port(),
            None => 0,
        };
        let v6_ok = v6.is_some();
        if let Some(l) = v6 {
            tcp.push(l);
            udp.push(UdpSocket::bind((Ipv6Addr::UNSPECIFIED, port)).ok()?);
        }
        if !v6_ok || v6only {
            let l = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).ok()?;
            let port = l.local_addr().ok()?.port();
            tcp.push(l);
            udp.push(UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).ok()?);
        }
        for l in &tcp {
            l.set_nonblocking(true).ok()?;
        }
        for s in &udp {
            s.set_read_timeout(Some(Duration::from_millis(100))).ok()?;
        }
        Some((tcp, udp))
    }

    /// Stops listening; returns what it got.
    pub fn stop(mut self) -> Vec<String> {
        self.shutdown();
        self.records.lock().unwrap().clone()
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for HostListener {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn tcp_loop(listener: TcpListener, records: &Mutex<Vec<String>>, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((mut conn, peer)) => {
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
                let mut buf = [0u8; 512];
                let n = conn.read(&mut buf).unwrap_or(0);
                let _ = conn.write_all(b"HTTP/1.0 200 OK\r\n\r\nbbhost-listener\n");
                records.lock().unwrap().push(format!(
                    "tcp from {peer}: {}",
                    String::from_utf8_lossy(&buf[..n])
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn udp_loop(socket: UdpSocket, records: &Mutex<Vec<String>>, stop: &AtomicBool) {
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::SeqCst) {
        if let Ok((n, peer)) = socket.recv_from(&mut buf) {
            records.lock().unwrap().push(format!(
                "udp from {peer}: {}",
                String::from_utf8_lossy(&buf[..n])
            ));
        }
    }
}

/// Listening TCP and bound UDP sockets in a process's network namespace,
/// loopback excluded: (address, port).
pub fn listening(pid: &str) -> (Sockets, Sockets) {
    let read = |file: &str, tcp: bool| -> Sockets {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{file}")).unwrap_or_default();
        text.lines()
            .skip(1)
            .filter_map(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                let (addr, port) = cols.get(1)?.split_once(':')?;
                let state = cols.get(3)?;
                if tcp && *state != "0A" {
                    return None;
                }
                let port = u16::from_str_radix(port, 16).ok()?;
                if port == 0 {
                    return None;
                }
                let ip = proc_ip(addr)?;
                (!is_loopback(&ip)).then(|| (ip.to_string(), port))
            })
            .collect()
    };
    (
        [read("tcp", true), read("tcp6", true)].concat(),
        [read("udp", false), read("udp6", false)].concat(),
    )
}

/// An address of /proc/net/{tcp,udp}[6]: hex words, each in host order.
pub fn proc_ip(hex: &str) -> Option<IpAddr> {
    let words: Vec<[u8; 4]> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).map(u32::to_ne_bytes))
        .collect::<Result<_, _>>()
        .ok()?;
    match words.as_slice() {
        [w] => Some(IpAddr::V4(Ipv4Addr::from(*w))),
        [_, _, _, _] => {
            let mut bytes = [0u8; 16];
            for (i, w) in words.iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(w);
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

pub fn is_loopback(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}
