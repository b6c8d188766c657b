# The host's resolver, as tests/smolvm_contract.rs stands it in: the
# address smolvm would give a machine's guest for DNS (the host's first
# nameserver, or a public one). It answers every A query over UDP and TCP
# on 53 with 192.0.2.1 (a documentation address), as a real resolver would
# answer a name under an attacker's domain, and catches TCP and UDP on
# 9999. Everything that reaches it is a JSON line in /log/seen.jsonl, so a
# test can tell whether anything got to it.
import json, socket, struct, threading

LOCK = threading.Lock()


def log(record):
    with LOCK, open('/log/seen.jsonl', 'a') as f:
        f.write(json.dumps(record) + '\n')


def qname(msg):
    labels, at = [], 12
    while at < len(msg) and msg[at] != 0 and len(labels) < 128:
        n = msg[at]
        labels.append(msg[at + 1:at + 1 + n].decode('latin-1'))
        at += 1 + n
    return '.'.join(labels), at + 5


def reply(msg):
    name, end = qname(msg)
    head = msg[:2] + b'\x81\x80' + struct.pack('>HHHH', 1, 1, 0, 0)
    answer = b'\xc0\x0c' + struct.pack('>HHIH', 1, 1, 60, 4) + bytes([192, 0, 2, 1])
    return name, head + msg[12:end] + answer


def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', port))
    return s


def tcp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', port))
    s.listen(16)
    return s


def dns_udp(s):
    while True:
        msg, peer = s.recvfrom(4096)
        if len(msg) < 12:
            log({'proto': 'udp', 'port': 53, 'peer': peer[0], 'data': msg.decode('latin-1')})
            continue
        name, out = reply(msg)
        log({'proto': 'dns-udp', 'peer': peer[0], 'name': name})
        s.sendto(out, peer)


def dns_tcp_conn(conn, peer):
    with conn:
        try:
            n = struct.unpack('>H', conn.recv(2))[0]
            msg = b''
            while len(msg) < n:
                chunk = conn.recv(n - len(msg))
                if not chunk:
                    break
                msg += chunk
            name, out = reply(msg)
            log({'proto': 'dns-tcp', 'peer': peer[0], 'name': name})
            conn.sendall(struct.pack('>H', len(out)) + out)
        except Exception as e:
            log({'proto': 'tcp', 'port': 53, 'peer': peer[0], 'error': str(e)})


def accept(s, handle):
    while True:
        conn, peer = s.accept()
        threading.Thread(target=handle, args=(conn, peer), daemon=True).start()


def catch_tcp_conn(conn, peer):
    with conn:
        conn.settimeout(5)
        try:
            data = conn.recv(4096)
        except OSError:
            data = b''
        log({'proto': 'tcp', 'port': 9999, 'peer': peer[0], 'data': data.decode('latin-1')})


def catch_udp(s):
    while True:
        data, peer = s.recvfrom(4096)
        log({'proto': 'udp', 'port': 9999, 'peer': peer[0], 'data': data.decode('latin-1')})


# Bound before the ready line, so a test that saw it can count on them.
threads = [
    threading.Thread(target=dns_udp, args=(udp(53),), daemon=True),
    threading.Thread(target=accept, args=(tcp(53), dns_tcp_conn), daemon=True),
    threading.Thread(target=accept, args=(tcp(9999), catch_tcp_conn), daemon=True),
    threading.Thread(target=catch_udp, args=(udp(9999),), daemon=True),
]
for t in threads:
    t.start()
log({'proto': 'ready'})
for t in threads:
    t.join()
