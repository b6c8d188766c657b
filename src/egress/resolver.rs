//! The resolver of a smolmachines bottle. A microVM has no docker DNS, and
//! smolvm sends its guest's DNS queries to a resolver of the host's (see
//! the README's Backends): a channel out of the bottle. So the microVM is
//! given this one instead (`smolvm machine create --dns`), run by its
//! egress sidecar (`sidecar egress --dns-hosts FILE`): it answers the
//! names of the bottle's sidecars with their addresses, read from FILE
//! (which the host writes once it knows them), and every other name with
//! NXDOMAIN. It forwards nothing and logs nothing the agent sent.
//!
//! The answers are pure (`answer`); `serve` is the UDP and TCP driver.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;

use crate::contract::paths::HOSTS_FILE;

/// The port resolvers answer on (smolvm forwards the guest's queries
/// there).
pub(crate) const DNS_PORT: u16 = 53;
/// The answers' time to live, in seconds.
const TTL: u32 = 60;
/// Bytes of a query read; a longer one is not a query for a sidecar.
const MAX_QUERY: usize = 1024;
/// The hosts file is read at most this large.
const MAX_HOSTS: u64 = 64 * 1024;
/// TCP connections served at once; how long one may idle.
const MAX_TCP: usize = 16;
const TCP_IDLE: Duration = Duration::from_secs(10);

/// Names (lowercase, without a trailing dot) and their addresses.
pub(crate) type Table = BTreeMap<String, Ipv4Addr>;

/// The table in a hosts file's JSON.
pub(crate) fn parse_table(json: &[u8]) -> Result<Table, String> {
    let raw: BTreeMap<String, Ipv4Addr> =
        serde_json::from_slice(json).map_err(|e| format!("not a {HOSTS_FILE}: {e}"))?;
    Ok(raw
        .into_iter()
        .map(|(name, ip)| (name.trim_end_matches('.').to_ascii_lowercase(), ip))
        .collect())
}

/// The JSON of a table, for the host to write.
pub(crate) fn table_json(entries: &[(String, String)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|(name, ip)| (name.clone(), serde_json::Value::String(ip.clone())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

const RCODE_FORMERR: u8 = 1;
const RCODE_NXDOMAIN: u8 = 3;
const RCODE_NOTIMP: u8 = 4;
const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;

/// The answer to one DNS message, or None for what is not a query (it
/// gets no answer at all).
pub(crate) fn answer(query: &[u8], table: &Table) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None;
    }
    let header = |rcode: u8, qd: u16, an: u16| {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&query[..2]);
        // QR, AA and the query's RD; no recursion available.
        out.push(0x84 | (query[2] & 0x01));
        out.push(rcode);
        for n in [qd, an, 0, 0] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out
    };
    let opcode = (query[2] >> 3) & 0x0f;
    if opcode != 0 {
        return Some(header(RCODE_NOTIMP, 0, 0));
    }
    let qdcount = u16::from_be_bytes([query[4], query[5]]);
    let Some((name, end)) = question(query).filter(|_| qdcount == 1) else {
        return Some(header(RCODE_FORMERR, 0, 0));
    };
    let qtype = u16::from_be_bytes([query[end - 4], query[end - 3]]);
    let qclass = u16::from_be_bytes([query[end - 2], query[end - 1]]);
    let Some(ip) = table.get(&name) else {
        let mut out = header(RCODE_NXDOMAIN, 1, 0);
        out.extend_from_slice(&query[12..end]);
        return Some(out);
    };
    let found = qtype == TYPE_A && qclass == CLASS_IN;
    let mut out = header(0, 1, u16::from(found));
    out.extend_from_slice(&query[12..end]);
    if found {
        // A pointer to the question's name, then the record.
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    Some(out)
}

/// The question's name (lowercase, dotted) and where the question ends.
fn question(msg: &[u8]) -> Option<(String, usize)> {
    let mut at = 12;
    let mut labels: Vec<String> = Vec::new();
    let mut length = 0;
    loop {
        let n = usize::from(*msg.get(at)?);
        at += 1;
        if n == 0 {
            break;
        }
        // A compression pointer or a reserved label type: not in a query.
        if n > 63 {
            return None;
        }
        length += n + 1;
        if length > 255 {
            return None;
        }
        let label = msg.get(at..at + n)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        at += n;
    }
    let end = at + 4;
    (end <= msg.len()).then(|| (labels.join("."), end))
}

/// The table now in `path`; an unreadable or missing one is empty (the
/// host writes it once the sidecars are up).
fn read_table(path: &Path) -> Table {
    let mut bytes = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(MAX_HOSTS).read_to_end(&mut bytes));
    match read {
        Ok(_) => parse_table(&bytes).unwrap_or_default(),
        Err(_) => Table::new(),
    }
}

/// The resolver's sockets, bound: UDP and TCP on each address.
pub(crate) struct Resolver {
    udp: Vec<UdpSocket>,
    tcp: Vec<TcpListener>,
    hosts: PathBuf,
}

impl Resolver {
    /// Binds UDP and TCP on each of `addrs` (port 0: one free port for
    /// both), answering from the table in `hosts`.
    pub(crate) async fn bind(addrs: &[SocketAddr], hosts: PathBuf) -> std::io::Result<Resolver> {
        let (mut udp, mut tcp) = (Vec::new(), Vec::new());
        for addr in addrs {
            let mut tries = 0;
            let (u, t) = loop {
                let u = UdpSocket::bind(addr).await?;
                let at = SocketAddr::new(addr.ip(), u.local_addr()?.port());
                match TcpListener::bind(at).await {
                    Ok(t) => break (u, t),
                    Err(e) if addr.port() != 0 || tries == 10 => return Err(e),
                    Err(_) => tries += 1,
                }
            };
            udp.push(u);
            tcp.push(t);
        }
        Ok(Resolver { udp, tcp, hosts })
    }

    #[cfg(test)]
    /// Where it answers.
    pub(crate) fn local_addrs(&self) -> Vec<SocketAddr> {
        self.udp
            .iter()
            .filter_map(|u| u.local_addr().ok())
            .collect()
    }

    /// Answers until the task is dropped; the table is read again for
    /// each query, so the host's update is seen.
    pub(crate) async fn serve(self) {
        let hosts = Arc::new(self.hosts);
        let tcp_slots = Arc::new(Semaphore::new(MAX_TCP));
        let mut tasks = tokio::task::JoinSet::new();
        for udp in self.udp {
            tasks.spawn(serve_udp(udp, Arc::clone(&hosts)));
        }
        for tcp in self.tcp {
            tasks.spawn(serve_tcp(tcp, Arc::clone(&hosts), Arc::clone(&tcp_slots)));
        }
        while tasks.join_next().await.is_some() {}
    }
}

async fn serve_udp(socket: UdpSocket, hosts: Arc<PathBuf>) {
    let mut buf = vec![0u8; MAX_QUERY];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(reply) = answer(&buf[..n], &read_table(&hosts)) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

async fn serve_tcp(listener: TcpListener, hosts: Arc<PathBuf>, slots: Arc<Semaphore>) {
    crate::accept::bounded(listener, slots, |stream, _| {
        let hosts = Arc::clone(&hosts);
        async move {
            let _ = tokio::time::timeout(TCP_IDLE, tcp_session(stream, &hosts)).await;
        }
    })
    .await;
}

/// Length-prefixed queries on one connection, until it closes or sends
/// something that is not a query.
async fn tcp_session(mut stream: TcpStream, hosts: &Path) -> std::io::Result<()> {
    loop {
        let n = usize::from(stream.read_u16().await?);
        if n > MAX_QUERY {
            return Ok(());
        }
        let mut query = vec![0u8; n];
        stream.read_exact(&mut query).await?;
        let Some(reply) = answer(&query, &read_table(hosts)) else {
            return Ok(());
        };
        let len = u16::try_from(reply.len()).unwrap_or(u16::MAX);
        stream.write_u16(len).await?;
        stream.write_all(&reply).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name` of `qtype`, id 0xbeef, recursion desired.
    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.').filter(|l| !l.is_empty()) {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&CLASS_IN.to_be_bytes());
        q
    }

    fn table() -> Table {
        parse_table(br#"{"egress": "198.18.0.2", "Git-Gate.": "198.18.0.4"}"#).unwrap()
    }

    /// (rcode, answers, the A record's address).
    type Read = (u8, u16, Option<Ipv4Addr>);

    fn read(reply: &[u8]) -> Read {
        let an = u16::from_be_bytes([reply[6], reply[7]]);
        let ip = (an == 1).then(|| {
            let at = reply.len() - 4;
            Ipv4Addr::new(reply[at], reply[at + 1], reply[at + 2], reply[at + 3])
        });
        (reply[3] & 0x0f, an, ip)
    }

    #[test]
    fn only_the_sidecars_names_resolve() {
        let egress = Some(Ipv4Addr::new(198, 18, 0, 2));
        let cases: Vec<(Vec<u8>, Read)> = vec![
            (query("egress", TYPE_A), (0, 1, egress)),
            (query("EGRESS.", TYPE_A), (0, 1, egress)),
            (
                query("git-gate", TYPE_A),
                (0, 1, Some(Ipv4Addr::new(198, 18, 0, 4))),
            ),
            // AAAA of a sidecar: the name is there, without that record.
            (query("egress", 28), (0, 0, None)),
            (
                query("egress.example.com", TYPE_A),
                (RCODE_NXDOMAIN, 0, None),
            ),
            (
                query("exfil-deadbeef.attacker.test", TYPE_A),
                (RCODE_NXDOMAIN, 0, None),
            ),
            (query("", TYPE_A), (RCODE_NXDOMAIN, 0, None)),
        ];
        for (q, want) in cases {
            let reply = answer(&q, &table()).unwrap();
            assert_eq!(&reply[..2], &[0xbe, 0xef], "the id is echoed");
            assert_eq!(reply[2] & 0x80, 0x80, "a response");
            assert_eq!(&reply[12..q.len()], &q[12..], "the question is echoed");
            assert_eq!(read(&reply), want, "{q:?}");
        }
    }

    #[test]
    fn what_is_not_a_plain_query() {
        let mut response = query("egress", TYPE_A);
        response[2] |= 0x80;
        assert_eq!(
            answer(&response, &table()),
            None,
            "a response is not answered"
        );
        assert_eq!(answer(&[0; 5], &table()), None, "too short");
        let mut two = query("egress", TYPE_A);
        two[5] = 2;
        let mut pointer = query("egress", TYPE_A);
        pointer[12] = 0xc0;
        let mut notify = query("egress", TYPE_A);
        notify[2] = 0x20;
        let truncated = &query("egress", TYPE_A)[..15];
        for (q, rcode) in [
            (two, RCODE_FORMERR),
            (pointer, RCODE_FORMERR),
            (truncated.to_vec(), RCODE_FORMERR),
            (notify, RCODE_NOTIMP),
        ] {
            let reply = answer(&q, &table()).unwrap();
            assert_eq!((reply.len(), reply[3] & 0x0f), (12, rcode), "{q:?}");
        }
    }

    #[test]
    fn a_missing_or_broken_hosts_file_answers_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HOSTS_FILE);
        assert!(read_table(&path).is_empty());
        std::fs::write(&path, "not json").unwrap();
        assert!(read_table(&path).is_empty());
        std::fs::write(
            &path,
            table_json(&[("supervise".into(), "198.18.0.3".into())]),
        )
        .unwrap();
        assert_eq!(
            read_table(&path).get("supervise"),
            Some(&Ipv4Addr::new(198, 18, 0, 3))
        );
    }

    #[tokio::test]
    async fn it_answers_over_udp_and_tcp() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join(HOSTS_FILE);
        std::fs::write(
            &hosts,
            table_json(&[("egress".into(), "198.18.0.2".into())]),
        )
        .unwrap();
        let resolver = Resolver::bind(&["127.0.0.1:0".parse().unwrap()], hosts)
            .await
            .unwrap();
        let addr = resolver.local_addrs()[0];
        tokio::spawn(resolver.serve());

        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client
            .send_to(&query("egress", TYPE_A), addr)
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = client.recv(&mut buf).await.unwrap();
        assert_eq!(read(&buf[..n]).2, Some(Ipv4Addr::new(198, 18, 0, 2)));

        let mut tcp = TcpStream::connect(addr).await.unwrap();
        for name in ["egress", "elsewhere.test"] {
            let q = query(name, TYPE_A);
            tcp.write_u16(q.len() as u16).await.unwrap();
            tcp.write_all(&q).await.unwrap();
            let n = usize::from(tcp.read_u16().await.unwrap());
            let mut reply = vec![0u8; n];
            tcp.read_exact(&mut reply).await.unwrap();
            let rcode = read(&reply).0;
            assert_eq!(rcode == 0, name == "egress", "{name}");
        }
    }
}
