# The probes of tests/docker_isolation.rs, run by bash in a bottle's agent
# (or in a container of the test's own, to show that a probe does reach
# what is there). The test appends probe lines (`p_tcp ID ADDR PORT`,
# `p_http ID CURL-ARGS... URL`...) and a final `finish`, which waits for
# them all and prints one line per probe: `R ID KIND FIELDS...`.
#
# Every probe carries the marker "bbprobe RUN ID" (in its data or URL) so a
# listener that got it can say which probe reached it. `@IF@` in an address
# or URL becomes the name of this container's interface (the scope of an
# IPv6 link-local address).
#
# Processes are few on purpose: under gVisor each one costs much CPU and
# several host tasks. TCP and UDP probes are forks of this shell (bash's
# /dev/tcp and /dev/udp), the curl probes one parallel curl per kind.
set -u
RUN=${RUN:?}
OUT=$(mktemp -d)
mkdir "$OUT/http"
IFACE=$(awk 'NR > 1 { print $1; exit }' /proc/net/route)
MAX_JOBS=${MAX_JOBS:-32}
running=0
FORKED_IDS=()
FORKED_KINDS=()
FORKED_PIDS=()
CURL_DIRECT=()
CURL_NOENV=()
CURL_PROXY=()
HTTP_IDS=()

# Runs a probe in the background, at most MAX_JOBS at once.
go() {
  "$@" &
  running=$((running + 1))
  if [ "$running" -ge "$MAX_JOBS" ]; then
    wait -n
    running=$((running - 1))
  fi
}

out() {
  local id=$1
  shift
  printf 'R %s %s\n' "$id" "$*" > "$OUT/$id"
}

# Runs `KIND_probe ID ADDR PORT` in a fork (ADDR with `@IF@` replaced, its
# stderr dropped), recorded for `finish` to time out.
fork_probe() {
  local kind=$1 id=$2
  "${kind}_probe" "$id" "${3//@IF@/$IFACE}" "$4" 2>/dev/null &
  FORKED_IDS+=("$id")
  FORKED_KINDS+=("$kind")
  FORKED_PIDS+=($!)
}

# A TCP connection with bash's /dev/tcp: "connected" or "failed"
# ("timeout" when `finish` had to kill it).
p_tcp() { fork_probe tcp "$@"; }
tcp_probe() {
  if exec 3<>"/dev/tcp/$2/$3"; then
    out "$1" tcp connected
    printf 'bbprobe %s %s\n' "$RUN" "$1" >&3
  else
    out "$1" tcp failed
  fi
}

# A UDP datagram with bash's /dev/udp: "sent" or "failed" (only the
# listener can tell whether it arrived).
p_udp() { fork_probe udp "$@"; }
udp_probe() {
  if printf 'bbprobe %s %s\n' "$RUN" "$1" > "/dev/udp/$2/$3"; then
    out "$1" udp sent
  else
    out "$1" udp failed
  fi
}

# curl with proxies ignored (--noproxy '*'): exit code, HTTP code, seconds
# to connect (0: no connection).
p_curl() {
  local id=$1 url
  url=${2//@IF@/$IFACE}
  shift 2
  CURL_DIRECT+=(--next -sSk --no-progress-meter --noproxy '*' -m 3 --connect-timeout 2 -o /dev/null
    -w "R $id curl %{exitcode} %{http_code} %{time_connect}\n" "$@" "$url")
}

# The same, with the proxy variables removed from curl's environment.
p_noenv() {
  local id=$1 url
  url=${2//@IF@/$IFACE}
  shift 2
  CURL_NOENV+=(--next -sSk --no-progress-meter -m 3 --connect-timeout 2 -o /dev/null
    -w "R $id curl %{exitcode} %{http_code} %{time_connect}\n" "$@" "$url")
}

# curl through the proxy the environment names (the last argument is the
# URL): exit code and HTTP code. The bytes received (headers and body as
# sent, undecoded) go in ID.h and ID.b of the archive `finish` prints.
p_http() {
  local id=$1
  shift
  local args=("$@")
  local last=$((${#args[@]} - 1))
  args[last]=${args[last]//@IF@/$IFACE}
  CURL_PROXY+=(--next -sS --no-progress-meter -m 8 --path-as-is -D "$OUT/http/$id.h" -o "$OUT/http/$id.b"
    -w "$id %{exitcode} %{http_code}\n" "${args[@]}")
  HTTP_IDS+=("$id")
}

# getent, the system's resolver: "resolved ADDRS" or "none".
p_getent() {
  local id=$1 got
  got=$(timeout 5 getent ahosts "$2" 2>/dev/null | awk '{ print $1 }' | sort -u | tr '\n' ',')
  if [ -n "$got" ]; then out "$id" getent resolved "$got"; else out "$id" getent none; fi
}

# One DNS server asked directly over UDP for A and AAAA records:
# "1:rcode=R,answers=N 28:..." (or "timeout", "unsupported").
p_dns() {
  local id=$1
  out "$id" dns "$(timeout 6 perl -e "$DNS_PL" "$2" "$3" 2>&1 | tr '\n' ' ')"
}
DNS_PL='
use Socket;
my ($server, $name) = @ARGV;
my $ip = inet_aton($server);
unless (defined $ip && $server =~ /^[0-9.]+$/) { print "unsupported"; exit 0 }
my @out;
for my $type (1, 28) {
  my $id = int(rand(65535));
  my $q = pack("nnnnnn", $id, 0x0100, 1, 0, 0, 0)
    . join("", map { chr(length $_) . $_ } split /\./, $name) . "\0" . pack("nn", $type, 1);
  socket(my $s, PF_INET, SOCK_DGRAM, 0) or do { push @out, "$type:socket"; next };
  send($s, $q, 0, sockaddr_in(53, $ip)) or do { push @out, "$type:send"; next };
  my $rin = ""; vec($rin, fileno($s), 1) = 1;
  if (select(my $rout = $rin, undef, undef, 2)) {
    my $buf = ""; recv($s, $buf, 4096, 0);
    my (undef, $flags, undef, $an) = unpack("nnnn", $buf);
    push @out, "$type:rcode=" . ($flags & 15) . ",answers=$an";
  } else {
    push @out, "$type:timeout";
  }
}
print join(" ", @out);
'

# Raw and packet sockets (need CAP_NET_RAW): "open" or "denied" for each.
p_raw() {
  out "$1" raw "$(perl -MSocket -e '
    my $raw = socket(my $r, PF_INET, SOCK_RAW, 1) ? "open" : "denied";
    my $pkt = socket(my $p, 17, SOCK_RAW, 0x0300) ? "open" : "denied";
    print "inet=$raw packet=$pkt";' 2>&1)"
}

# UDP broadcast (SO_BROADCAST) to each address given: "sent" or "failed".
p_bcast() {
  local id=$1 port=$2
  shift 2
  out "$id" bcast "$(perl -MSocket -e '
    my ($port, $marker, @addrs) = @ARGV;
    socket(my $s, PF_INET, SOCK_DGRAM, 0) or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_BROADCAST, 1) or die "broadcast: $!";
    for my $a (@addrs) {
      my $ok = send($s, "$marker\n", 0, sockaddr_in($port, inet_aton($a)));
      print "$a=", ($ok ? "sent" : "failed"), " ";
    }' "$port" "bbprobe $RUN $id" "$@" 2>&1)"
}

# A TCP and UDP listener on PORT that outlives this script, logging what it
# gets to FILE (not a probe: call it alone, without `finish`).
p_listen() {
  local port=$1 log=$2
  cat > /tmp/bbprobe-listen.pl <<'PERL'
use IO::Socket::INET;
my ($port, $log) = @ARGV;
my $t = IO::Socket::INET->new(LocalPort => $port, Listen => 32, ReuseAddr => 1, Proto => "tcp") or die "tcp: $!";
my $u = IO::Socket::INET->new(LocalPort => $port, Proto => "udp") or die "udp: $!";
open(my $fh, ">>", $log) or die "$log: $!";
$fh->autoflush(1);
while (1) {
  my $rin = ""; vec($rin, fileno($t), 1) = 1; vec($rin, fileno($u), 1) = 1;
  select(my $rout = $rin, undef, undef, undef) or next;
  if (vec($rout, fileno($t), 1)) {
    my $c = $t->accept or next;
    my $d = ""; my $r = ""; vec($r, fileno($c), 1) = 1;
    sysread($c, $d, 512) if select(my $ro = $r, undef, undef, 1);
    $d =~ s/[\r\n]+/ /g;
    print $fh "tcp ", $c->peerhost, " $d\n";
    print $c "HTTP/1.0 200 OK\r\n\r\nbbcatch\n";
    close $c;
  }
  if (vec($rout, fileno($u), 1)) {
    my $d = ""; my $peer = recv($u, $d, 512, 0);
    $d =~ s/[\r\n]+/ /g;
    print $fh "udp $d\n";
  }
}
PERL
  setsid -f perl /tmp/bbprobe-listen.pl "$port" "$log" > /dev/null 2>&1 < /dev/null
}

# Runs the curl probes, gives the forks two seconds in all, then prints
# every result, and the bytes the HTTP probes got: `B` and a tar archive
# in base64.
finish() {
  local pids=()
  if [ ${#CURL_DIRECT[@]} -gt 0 ]; then
    curl -Z --parallel-immediate --parallel-max 100 "${CURL_DIRECT[@]:1}" > "$OUT/.direct" 2>/dev/null &
    pids+=($!)
  fi
  if [ ${#CURL_NOENV[@]} -gt 0 ]; then
    env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy -u ALL_PROXY -u all_proxy \
      curl -Z --parallel-immediate --parallel-max 100 "${CURL_NOENV[@]:1}" > "$OUT/.noenv" 2>/dev/null &
    pids+=($!)
  fi
  if [ ${#CURL_PROXY[@]} -gt 0 ]; then
    curl -Z --parallel-immediate --parallel-max 100 "${CURL_PROXY[@]:1}" > "$OUT/.proxy" 2>/dev/null &
    pids+=($!)
  fi
  sleep 2
  local i
  for i in "${!FORKED_PIDS[@]}"; do
    if kill "${FORKED_PIDS[i]}" 2>/dev/null; then
      wait "${FORKED_PIDS[i]}" 2>/dev/null
      [ -e "$OUT/${FORKED_IDS[i]}" ] || out "${FORKED_IDS[i]}" "${FORKED_KINDS[i]}" timeout
    fi
  done
  for i in "${pids[@]}"; do
    wait "$i"
  done
  wait
  cat "$OUT/.direct" "$OUT/.noenv" 2>/dev/null
  local id rc code
  while read -r id rc code; do
    out "$id" http "$rc" "$code"
  done < <(cat "$OUT/.proxy" 2>/dev/null)
  for id in "${HTTP_IDS[@]}"; do
    [ -e "$OUT/$id" ] || out "$id" http none 000
  done
  cat "$OUT"/* 2>/dev/null
  if [ ${#HTTP_IDS[@]} -gt 0 ]; then
    printf 'B %s\n' "$(tar -C "$OUT/http" -cf - . | base64 -w0)"
  fi
  rm -rf "$OUT"
}
