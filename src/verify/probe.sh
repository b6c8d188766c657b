# bot-bottle's seal probes, run by bash as root inside a bottle's agent
# with this text on stdin (src/verify.rs appends the calls and `finish`).
# Every probe runs in a fork; the script prints `S ID` once the fork is
# made, and the fork prints `R ID RESULT` only when it got something: a
# connection, a name, an answer. A probe that got nothing prints no
# result; `finish SECONDS` gives those that long (a target that is there
# answers in milliseconds; one that is not, never), gives egress's answer
# up to 8 seconds, then prints `DONE`. A probe that never started (a fork
# refused) or a run that did not finish is told apart from a refusal.
set -u
PIDS=()
WAITS=()
LAST=

res() { printf 'R %s %s\n' "$1" "$2"; }

# After `… &`: records the fork in the array named $2 and says it started,
# unless there was no fork (`$!` unchanged).
started() {
  local pid=${!:-}
  if [ -n "$pid" ] && [ "$pid" != "$LAST" ]; then
    LAST=$pid
    eval "$2+=($pid)"
    printf 'S %s\n' "$1"
  fi
}

# ID ADDR PORT: a TCP connection (bash's /dev/tcp).
tcp() {
  { exec 3<>"/dev/tcp/$2/$3" && res "$1" "connected to $2 port $3"; } 2>/dev/null &
  started "$1" PIDS
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
  { timeout 3 getent ahosts "$2" > /dev/null && res "$1" "resolved $2"; } 2>/dev/null &
  started "$1" PIDS
}

# ID HOST: a plain HTTP request for HOST through the proxy the agent's
# environment names; its status line's code.
egress() {
  local p=${http_proxy:-${HTTP_PROXY:-}} auth= hp
  p=${p#*://}
  hp=${p%%/*}
  case $hp in *@*) auth=${hp%@*}; hp=${hp##*@} ;; esac
  {
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
    IFS= read -r -t 8 line <&3
    res "$1" "status ${line:9:3}"
  } 2>/dev/null &
  started "$1" WAITS
}

finish() {
  ( sleep "$1"; kill "${PIDS[@]}" ) > /dev/null 2>&1 &
  local short=$!
  ( sleep 8; kill "${WAITS[@]}" ) > /dev/null 2>&1 &
  local long=$!
  wait "${PIDS[@]}" "${WAITS[@]}" 2> /dev/null
  kill "$short" "$long" 2> /dev/null
  echo DONE
}
