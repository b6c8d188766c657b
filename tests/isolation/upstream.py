# The "outside" of tests/docker_isolation.rs: HTTPS on 443 and HTTP on 80,
# and a catch-all TCP and UDP listener on 9999. It logs every request it
# gets (and every catch) as a JSON line in /log, so the test can check what
# went through the egress, and answers in ways that try to hand the agent
# back what the egress added:
#   /ok/quiet     "ok", nothing of the request
#   /ok/echo      the request as JSON (path, headers, body length)
#   /ok/gzip      the same, gzip-compressed (Content-Encoding: gzip)
#   /ok/redirect  a 302 whose Location carries the Authorization header
#                 (and X-Canary)
#   /ok/header    the Authorization header (and X-Canary) in response headers
#   /ok/b64       the JSON echo, base64-encoded
#   anything else the JSON echo
#   TRACE         the request as received (message/http)
import base64, gzip, http.server, json, socket, ssl, sys, threading, urllib.parse

LOCK = threading.Lock()

def log(name, record):
    with LOCK, open('/log/' + name, 'a') as f:
        f.write(json.dumps(record) + '\n')

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.0'

    def reply(self, code, body, headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header('content-length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get('content-length') or 0)
        body = self.rfile.read(n) if n else b''
        headers = [[k.lower(), v] for k, v in self.headers.items()]
        log('requests.jsonl', {
            'port': self.server.server_address[1],
            'method': self.command,
            'path': self.path,
            'headers': headers,
            'body': base64.b64encode(body).decode(),
        })
        auth = self.headers.get('authorization') or ''
        echo = json.dumps({'path': self.path, 'headers': dict(headers), 'body_len': len(body)}).encode()
        if self.command == 'TRACE':
            raw = (self.requestline + '\r\n' + str(self.headers)).encode()
            return self.reply(200, raw, [('content-type', 'message/http')])
        path = self.path.split('?')[0]
        if path.startswith('/ok/quiet'):
            return self.reply(200, b'ok\n', [('content-type', 'text/plain')])
        if path.startswith('/ok/gzip'):
            return self.reply(200, gzip.compress(echo), [('content-type', 'application/json'), ('content-encoding', 'gzip')])
        canary = self.headers.get('x-canary') or ''
        if path.startswith('/ok/redirect'):
            target = 'https://open.test/landing?auth=' + urllib.parse.quote(auth) + '&canary=' + urllib.parse.quote(canary)
            return self.reply(302, b'moved\n', [('location', target)])
        if path.startswith('/ok/header'):
            return self.reply(200, b'ok\n', [('x-echo', auth), ('x-echo-canary', canary)])
        if path.startswith('/ok/b64'):
            return self.reply(200, base64.b64encode(echo), [('content-type', 'text/plain')])
        return self.reply(200, echo, [('content-type', 'application/json')])

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_TRACE = handle_any

    def log_message(self, *args):
        pass

class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET
    daemon_threads = True

def server(port, tls):
    srv = Server(('0.0.0.0', port), Handler)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain('/certs/cert.pem', '/certs/key.pem')
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
    return srv.serve_forever

def catch_tcp():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', 9999))
    s.listen(64)
    def loop():
        while True:
            c, peer = s.accept()
            threading.Thread(target=catch_one, args=(c, peer), daemon=True).start()
    return loop

def catch_one(c, peer):
    c.settimeout(1)
    try:
        data = c.recv(512)
    except OSError:
        data = b''
    log('catch.jsonl', {'proto': 'tcp', 'peer': peer[0], 'data': data.decode('latin-1')})
    try:
        c.sendall(b'HTTP/1.0 200 OK\r\n\r\nbbcatch\n')
    except OSError:
        pass
    finally:
        c.close()

def catch_udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', 9999))
    def loop():
        while True:
            data, peer = s.recvfrom(512)
            log('catch.jsonl', {'proto': 'udp', 'peer': peer[0], 'data': data.decode('latin-1')})
    return loop

# Everything is listening before "ready" is written.
loops = [server(443, True), server(80, False), catch_tcp(), catch_udp()]
for loop in loops:
    threading.Thread(target=loop, daemon=True).start()
open('/log/ready', 'w').close()
threading.Event().wait()
