# bot-bottle's seal probes, run by bash as root inside a bottle's agent
# with this text on stdin (src/verify.rs appends the calls and `finish`).
# Every probe runs in a fork, prints `S ID` when it starts and `R ID
# RESULT` only when it got something: a connection, a name, an answer. A
# probe that got nothing prints no result; `finish SECONDS` gives them that
# long, then prints `DONE`. A probe that never started (a fork refused) or a run
# that did not finish is told apart from a refusal.
set -u
PIDS=()

res() { printf 'R %s %s\n' "$1" "$2"; }

# ID ADDR PORT: a TCP connection (bash's /dev/tcp).
tcp() {
  {
    printf 'S %s\n' "$1"
    exec 3<>"/dev/tcp/$2/$3" && res "$1" "connected to $2 port $3"
  } 2>/dev/null &
  PIDS+=($!)
}

# An address of the route table (/proc/net/route: hex, little-endian).
quad() {
  local h=$1
  printf '%d.%d.%d.%d' "0x${h:6:2}" "0x${h:4:2}" "0x${h:2:2}" "0x${h:0:2}"
}

# ID PORT...: the first address of every network the agent is on, and the
# gateway of every route, each on every port; `N ID COUNT` says how many.
gateways() {
  local id=$1 iface dest gw flags mask rest net addrs=() a p n=0
  shift
  while read -r iface dest gw flags _ _ _ mask rest; do
    [ "$iface" = Iface ] && continue
    if [ "$gw" != 00000000 ]; then addrs+=("$(quad "$gw")"); fi
    if [ "$mask" != 00000000 ]; then
      net=$(( (16#$dest & 16#$mask) + (1 << 24) ))
      addrs+=("$(quad "$(printf '%08X' "$net")")")
    fi
  done < /proc/net/route
  for a in $(printf '%s\n' "${addrs[@]}" | sort -u); do
    for p in "$@"; do
      tcp "$id" "$a" "$p"
      n=$((n + 1))
    done
  done
  printf 'N %s %s\n' "$id" "$n"
}

# ID NAME: the system's resolver.
resolves() {
  {
    printf 'S %s\n' "$1"
    timeout 3 getent ahosts "$2" > /dev/null && res "$1" "resolved $2"
  } 2>/dev/null &
  PIDS+=($!)
}

# ID HOST: a plain HTTP request for HOST through the proxy the agent's
# environment names; its status line's code.
egress() {
  local p=${http_proxy:-${HTTP_PROXY:-}} auth= hp
  p=${p#*://}
  hp=${p%%/*}
  case $hp in *@*) auth=${hp%@*}; hp=${hp##*@} ;; esac
  {
    printf 'S %s\n' "$1"
    if [ -z "$hp" ]; then
      res "$1" "no proxy in the agent's environment"
      exit 0
    fi
    if ! exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}"; then
      res "$1" "proxy unreachable"
      exit 0
    fi
    printf 'GET http://%s/ HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n' "$2" "$2" >&3
    if [ -n "$auth" ]; then
      printf 'Proxy-Authorization: Basic %s\r\n' "$(printf %s "$auth" | base64 -w0)" >&3
    fi
    printf '\r\n' >&3
    line=
    IFS= read -r -t 5 line <&3
    res "$1" "status ${line:9:3}"
  } 2>/dev/null &
  PIDS+=($!)
}

finish() {
  ( sleep "$1"; kill "${PIDS[@]}" ) > /dev/null 2>&1 &
  local killer=$!
  wait "${PIDS[@]}" 2> /dev/null
  kill "$killer" 2> /dev/null
  echo DONE
}
