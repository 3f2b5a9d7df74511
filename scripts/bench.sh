#!/usr/bin/env bash
# Benchmarks ferry-bundle against the tools it should be as fast as (docs/benchmarks.md):
#
#   verify  `ferry-bundle verify` of a 1 GiB bundle vs `openssl dgst -sha256` of the same file,
#           plus verify's peak RSS at two bundle sizes (memory must stay flat, under 64 MiB)
#   build   `ferry-bundle build` of the same payloads vs `tar -cf` + `openssl dgst -sha256`
#   import  `ferry-relay import` of the same bundle into a fresh relay vs `openssl dgst -sha256`
#   applicability  100,000 endpoints, 50 distinct 2,000-package inventories, 3,000-patch catalog
#   download  a 1 GiB payload over TLS from `ferry-relay serve` vs nginx serving the same file with
#           the same certificate, key, TLS 1.3 suite and client-certificate check; client: curl
#   checkin  ferry-bench-checkin: hash-only check-ins per second against `ferry-relay serve` with
#           100,000 endpoints enrolled, from 64 keep-alive TLS connections
#   evidence  ferry-bench-evidence: append 1,000,000 audit events to a relay database, export them
#           with `ferry-relay evidence export`, verify the package with `ferry-verify`
#
#   FERRY_BIN=build/release scripts/bench.sh [SECTION...]   (./ferry.sh bench builds first)
#
# Without SECTION every section runs. Inputs are generated once under build/bench/ and reused.
# Knobs: FERRY_BENCH_FILES (8) and FERRY_BENCH_FILE_MIB (128) size the payloads;
# FERRY_BENCH_RUNS (3) is the best-of count; FERRY_BENCH_DOWNLOAD_MIB (1024),
# FERRY_BENCH_DOWNLOAD_RUNS (5, the median counts) and FERRY_BENCH_NGINX_OUTPUT_BUFFERS ("2 512k")
# for download; FERRY_BENCH_CHECKIN_SECONDS (10),
# FERRY_BENCH_CHECKIN_CONNECTIONS (64) and FERRY_BENCH_CHECKIN_ENDPOINTS (100000) for checkin.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${FERRY_BIN:-$ROOT/build/release}"
FB="$BIN/bundler/ferry-bundle"
FR="$BIN/relay/ferry-relay"
FA="$BIN/endpoint/ferry-agent"
APPLICABILITY="$BIN/tests/bench/ferry-bench-applicability"
EVIDENCE_BENCH="$BIN/tests/bench/ferry-bench-evidence"
CHECKIN="$BIN/tests/bench/ferry-bench-checkin"
SCRATCH="$ROOT/build/bench"
FILES="${FERRY_BENCH_FILES:-8}"
FILE_MIB="${FERRY_BENCH_FILE_MIB:-128}"
RUNS="${FERRY_BENCH_RUNS:-3}"
SMALL_FILES=$(( FILES / 4 > 0 ? FILES / 4 : 1 ))  # the second size for the flat-memory check
DL_MIB="${FERRY_BENCH_DOWNLOAD_MIB:-1024}"
DL_RUNS="${FERRY_BENCH_DOWNLOAD_RUNS:-5}"
NGINX_OUTPUT_BUFFERS="${FERRY_BENCH_NGINX_OUTPUT_BUFFERS:-2 512k}"
CHECKIN_SECONDS="${FERRY_BENCH_CHECKIN_SECONDS:-10}"
CHECKIN_CONNECTIONS="${FERRY_BENCH_CHECKIN_CONNECTIONS:-64}"
CHECKIN_ENDPOINTS="${FERRY_BENCH_CHECKIN_ENDPOINTS:-100000}"
RSS_GOAL_KIB=$(( 64 * 1024 ))
VERIFY_GOAL=0.85
IMPORT_GOAL=0.8
DOWNLOAD_GOAL=0.9

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench.sh: %s\n' "$*" >&2; exit 1; }

ALL_SECTIONS=(verify build import applicability download checkin evidence)
SECTIONS=("$@")
[ ${#SECTIONS[@]} -gt 0 ] || SECTIONS=("${ALL_SECTIONS[@]}")
for s in "${SECTIONS[@]}"; do
  case " ${ALL_SECTIONS[*]} " in
    *" $s "*) ;;
    *) die "unknown section \"$s\" (sections: ${ALL_SECTIONS[*]})" ;;
  esac
done
want() {  # want SECTION: true when SECTION was asked for
  local s
  for s in "${SECTIONS[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}
want_files() { want verify || want build || want import; }

[ -x "$FB" ] || die "$FB is missing; build it with ./ferry.sh build"
command -v openssl >/dev/null || die "openssl is missing (Debian package openssl)"
command -v tar >/dev/null || die "tar is missing"
if [ ! -x /usr/bin/time ]; then
  # GNU time reports peak RSS (%M); bash's builtin `time` cannot.
  if [ "$(id -u)" -eq 0 ]; then
    log "installing the Debian package 'time' for /usr/bin/time"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time >/dev/null
  else
    die "/usr/bin/time is missing: apt-get install time"
  fi
fi

# --- inputs ---------------------------------------------------------------------------------

KEYS="$SCRATCH/keys"
BIG_SRC="$SCRATCH/src-${FILES}x${FILE_MIB}M"
SMALL_SRC="$SCRATCH/src-${SMALL_FILES}x${FILE_MIB}M"
BIG="$SCRATCH/big-${FILES}x${FILE_MIB}M.ferry"
SMALL="$SCRATCH/small-${SMALL_FILES}x${FILE_MIB}M.ferry"
OUT="$SCRATCH/out"
mkdir -p "$SCRATCH" "$OUT"

describe() {  # describe DIR NAME: the generic-payload description of DIR/NAME
  printf '{"id": "%s", "kind": "file", "file": "%s", "target_os": "debian-12"}\n' \
    "${2%.bin}" "$2" >"$1/$2.payload.json"
}

if [ ! -f "$KEYS/root.json" ]; then
  log "keys and root.json in $KEYS"
  rm -rf "$KEYS" && mkdir -p "$KEYS"
  "$FB" keygen --unencrypted --out "$KEYS/root" >/dev/null
  "$FB" keygen --unencrypted --out "$KEYS/bundle" >/dev/null
  "$FB" root init --root-key "$KEYS/root.key" --threshold 1 --bundle-key "$KEYS/bundle.pub" \
    --bundle-threshold 1 --expires 3650d --out "$KEYS/root.json" >/dev/null
  rm -f "$BIG" "$SMALL"
fi

if want_files && [ ! -f "$BIG_SRC/.complete" ]; then
  log "writing ${FILES} x ${FILE_MIB} MiB of /dev/urandom to $BIG_SRC"
  rm -rf "$BIG_SRC" && mkdir -p "$BIG_SRC"
  for i in $(seq -w 0 $((FILES - 1))); do
    head -c $((FILE_MIB << 20)) /dev/urandom >"$BIG_SRC/payload-$i.bin"
    describe "$BIG_SRC" "payload-$i.bin"
  done
  touch "$BIG_SRC/.complete"
  rm -f "$BIG" "$SMALL"
fi
if want_files && [ ! -f "$SMALL_SRC/.complete" ]; then
  # Hard links: the smaller set costs neither disk nor generation time.
  rm -rf "$SMALL_SRC" && mkdir -p "$SMALL_SRC"
  for f in $(find "$BIG_SRC" -name '*.bin' | sort | head -n "$SMALL_FILES"); do
    ln "$f" "$SMALL_SRC/"
    describe "$SMALL_SRC" "$(basename "$f")"
  done
  touch "$SMALL_SRC/.complete"
  rm -f "$SMALL"
fi

build_args() {  # build_args SOURCE OUT: the ferry-bundle command line used everywhere
  BUILD=("$FB" build --root "$KEYS/root.json" --key "$KEYS/bundle.key" --channel bench
         --sequence 1 --expires 3650d --source "$1" --out "$2")
}
for pair in "$BIG_SRC:$BIG" "$SMALL_SRC:$SMALL"; do
  want_files || break
  src="${pair%%:*}" bundle="${pair#*:}"
  # Rebuild when missing or no longer accepted (keys regenerated, format changed).
  if [ ! -f "$bundle" ] || ! "$FB" verify --root "$KEYS/root.json" "$bundle" >/dev/null 2>&1; then
    log "building $(basename "$bundle")"
    rm -f "$bundle"  # build refuses to overwrite
    build_args "$src" "$bundle"
    "${BUILD[@]}" >/dev/null
  fi
done

# --- measuring ------------------------------------------------------------------------------

# measure CMD...: runs CMD with stdout and stderr discarded; sets SECS (wall clock) and RSS_KIB
# (peak resident set of CMD, from GNU time). A failing CMD stops the benchmark.
SECS=0 RSS_KIB=0
measure() {
  local rss_file="$SCRATCH/.rss" start end
  start=$(date +%s%N)
  if ! /usr/bin/time -f %M -o "$rss_file" "$@" >/dev/null 2>"$SCRATCH/.stderr"; then
    cat "$SCRATCH/.stderr" >&2
    die "failed: $*"
  fi
  end=$(date +%s%N)
  SECS=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
  RSS_KIB=$(tail -1 "$rss_file")
}

min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
gbps() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.2f", n / s / 1e9 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
largest() { printf '%s\n' "$@" | sort -g | tail -1; }
mbps() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1e6 }'; }

drop_caches() { sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; }
can_drop=no
if [ "$(id -u)" -eq 0 ] && drop_caches; then can_drop=yes; fi

# Servers started by the download section; stopped however the script ends.
RELAY_PID="" NGINX_PID=""
stop_servers() {
  local pid
  for pid in $RELAY_PID $NGINX_PID; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  RELAY_PID="" NGINX_PID=""
}
trap stop_servers EXIT

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
sha_ni=$(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no)
log "machine: $(nproc) cores, $cpu_model, sha_ni: $sha_ni; page cache can be dropped: $can_drop"
log "sections: ${SECTIONS[*]}"
load_before=$(cut -d' ' -f1 /proc/loadavg)
# Other work on the machine skews absolute figures; the interleaved ratios suffer less.
if at_least "$load_before" 1; then
  log "warning: load average is $load_before; absolute figures will be low"
fi

if want_files; then
  big_bytes=$(stat -c %s "$BIG")
  small_bytes=$(stat -c %s "$SMALL")
  payload_bytes=$(( FILES * (FILE_MIB << 20) ))
fi

if want verify; then
  # verify vs openssl, warm cache, interleaved so both see the same machine load.
  log "verify: $(basename "$BIG") ($big_bytes bytes), best of $RUNS, warm cache"
  cat "$BIG" >/dev/null
  verify_s="" openssl_s="" verify_rss=0 openssl_rss=0
  for _ in $(seq "$RUNS"); do
    measure "$FB" verify --root "$KEYS/root.json" "$BIG"
    verify_s=$(min "$verify_s" "$SECS"); verify_rss=$(( RSS_KIB > verify_rss ? RSS_KIB : verify_rss ))
    measure openssl dgst -sha256 "$BIG"
    openssl_s=$(min "$openssl_s" "$SECS")
    openssl_rss=$(( RSS_KIB > openssl_rss ? RSS_KIB : openssl_rss ))
  done
  measure "$FB" verify --root "$KEYS/root.json" "$SMALL"
  small_rss=$RSS_KIB

  cold_verify_s="" cold_openssl_s=""
  if [ "$can_drop" = yes ]; then
    log "verify: cold cache (page cache dropped before each run), best of $RUNS"
    for _ in $(seq "$RUNS"); do
      drop_caches; measure "$FB" verify --root "$KEYS/root.json" "$BIG"
      cold_verify_s=$(min "$cold_verify_s" "$SECS")
      drop_caches; measure openssl dgst -sha256 "$BIG"
      cold_openssl_s=$(min "$cold_openssl_s" "$SECS")
    done
  fi
fi

if want build; then
  # build vs tar + openssl. ferry-bundle build fsyncs the bundle before renaming it into place, so
  # the baseline is shown both as specified (tar, dgst) and with the same fsync (tar, sync, dgst).
  log "build: ${FILES} x ${FILE_MIB} MiB, best of $RUNS, warm cache (sources)"
  cat "$BIG_SRC"/*.bin >/dev/null
  build_s="" tar_s="" tar_sync_s="" build_rss=0
  build_args "$BIG_SRC" "$OUT/bench.ferry"
  for _ in $(seq "$RUNS"); do
    rm -f "$OUT/bench.ferry" "$OUT/bench.tar"; sync
    measure "${BUILD[@]}"
    build_s=$(min "$build_s" "$SECS"); build_rss=$(( RSS_KIB > build_rss ? RSS_KIB : build_rss ))
    rm -f "$OUT/bench.ferry"; sync
    measure sh -c 'tar -cf "$1" -C "$2" . && openssl dgst -sha256 "$1"' sh "$OUT/bench.tar" "$BIG_SRC"
    tar_s=$(min "$tar_s" "$SECS")
    rm -f "$OUT/bench.tar"; sync
    measure sh -c 'tar -cf "$1" -C "$2" . && sync "$1" && openssl dgst -sha256 "$1"' sh \
      "$OUT/bench.tar" "$BIG_SRC"
    tar_sync_s=$(min "$tar_sync_s" "$SECS")
  done
  rm -f "$OUT/bench.ferry" "$OUT/bench.tar"
fi

if want import; then
  # import vs openssl: each run imports into a copy of a freshly initialised relay, so every
  # payload is hashed, written to staging, fsynced and moved into the store, as on a real first
  # import.
  [ -x "$FR" ] || die "$FR is missing; build it with ./ferry.sh build"
  RELAY_TEMPLATE="$SCRATCH/relay-template"
  if [ ! -f "$RELAY_TEMPLATE/ferry.db" ]; then
    rm -rf "$RELAY_TEMPLATE"
    "$FR" init --data "$RELAY_TEMPLATE" --root "$KEYS/root.json" >/dev/null
  fi
  log "import: $(basename "$BIG") into a fresh relay, best of $RUNS"
  import_s="" import_openssl_s="" import_rss=0
  for _ in $(seq "$RUNS"); do
    rm -rf "$SCRATCH/relay-run" && cp -a "$RELAY_TEMPLATE" "$SCRATCH/relay-run" && sync
    cat "$BIG" >/dev/null
    measure "$FR" import --data "$SCRATCH/relay-run" "$BIG"
    import_s=$(min "$import_s" "$SECS"); import_rss=$(( RSS_KIB > import_rss ? RSS_KIB : import_rss ))
    rm -rf "$SCRATCH/relay-run"; sync
    measure openssl dgst -sha256 "$BIG"
    import_openssl_s=$(min "$import_openssl_s" "$SECS")
  done
fi

applicability_lines=""
if want applicability; then
  if [ -x "$APPLICABILITY" ]; then
    log "applicability: 100,000 endpoints over 50 distinct inventories"
    applicability_lines=$("$APPLICABILITY")
  else
    log "applicability: $APPLICABILITY is missing; skipped"
  fi
fi

# --- download: ferry-relay serve vs nginx ---------------------------------------------------
#
# One payload of DL_MIB random MiB, imported and approved in a relay kept under
# build/bench/download/ (remade when the keys change). nginx serves the very same file (a hard
# link into its own root) with the relay's server certificate and key, the same TLS 1.3 suites
# and groups, and a client certificate required and checked against the relay's CA. curl is the
# client for both, with the same command line but the port: the certificate of an endpoint
# enrolled with `ferry-relay token create` + `ferry-agent enroll`, TLS 1.3 with
# TLS_AES_128_GCM_SHA256, output to /dev/null. Runs alternate relay, nginx, relay, ...

# The relay's TLS 1.3 suites and groups, in its order (relay/http_server.cpp).
TLS13_SUITES="TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
TLS_GROUPS="X25519:prime256v1:secp384r1"
CURL_TLS=(--tlsv1.3 --tls13-ciphers TLS_AES_128_GCM_SHA256)

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local port
  for _ in $(seq 100); do
    port=$(( 20000 + RANDOM % 40000 ))
    port_in_use "$port" || { echo "$port"; return 0; }
  done
  die "no free loopback port found"
}

# start_relay DATA: ferry-relay serve on a free loopback port; sets RELAY_PID and RELAY_PORT.
start_relay() {
  local out="$DL/serve.out"
  "$FR" serve --data "$1" --listen 127.0.0.1:0 --quiet >"$out" 2>"$DL/serve.err" &
  RELAY_PID=$!
  for _ in $(seq 300); do
    RELAY_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out")
    [ -n "$RELAY_PORT" ] && return 0
    kill -0 "$RELAY_PID" 2>/dev/null || { cat "$DL/serve.err" >&2; die "ferry-relay serve exited"; }
    sleep 0.1
  done
  die "ferry-relay serve printed no address within 30 s"
}

# write_nginx_conf PREFIX PORT: the nginx configuration (see docs/benchmarks.md).
write_nginx_conf() {
  cat >"$1/nginx.conf" <<NGINX
# Written by scripts/bench.sh: nginx as the baseline of the download benchmark.
worker_processes auto;
pid $1/nginx.pid;
error_log $1/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $1/tmp/body;
  proxy_temp_path $1/tmp/proxy;
  fastcgi_temp_path $1/tmp/fastcgi;
  uwsgi_temp_path $1/tmp/uwsgi;
  scgi_temp_path $1/tmp/scgi;
  default_type application/octet-stream;
  # TLS rules sendfile out (no kernel TLS here); nginx reads into output_buffers and encrypts.
  sendfile off;
  output_buffers $NGINX_OUTPUT_BUFFERS;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:$2 ssl;
    ssl_certificate $1/tls/server.pem;
    ssl_certificate_key $1/tls/server.key;
    ssl_protocols TLSv1.3;
    ssl_conf_command Ciphersuites $TLS13_SUITES;
    ssl_ecdh_curve $TLS_GROUPS;
    ssl_prefer_server_ciphers on;
    ssl_session_cache off;
    ssl_session_tickets off;
    ssl_client_certificate $1/tls/ca.pem;
    ssl_verify_client on;
    ssl_verify_depth 2;
    ssl_buffer_size 16k;
    location /v1/payloads/ { alias $1/www/; }
  }
}
NGINX
}

# start_nginx PREFIX: nginx in the foreground (no daemon), unprivileged, on a free port; sets
# NGINX_PID and NGINX_PORT.
start_nginx() {
  local prefix="$1" try run=()
  if [ "$(id -u)" -eq 0 ]; then
    # As root, drop to nobody: the baseline gets no privilege the relay does not need.
    chown -R nobody:nogroup "$prefix"
    run=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
  fi
  for try in 1 2 3 4 5; do
    NGINX_PORT=$(free_port)
    write_nginx_conf "$prefix" "$NGINX_PORT"
    "${run[@]}" nginx -e "$prefix/logs/error.log" -p "$prefix" -c "$prefix/nginx.conf" \
      -g 'daemon off;' 2>>"$prefix/logs/stderr" &
    NGINX_PID=$!
    for _ in $(seq 100); do
      port_in_use "$NGINX_PORT" && return 0
      kill -0 "$NGINX_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
    log "nginx did not start on port $NGINX_PORT (try $try): $(tail -1 "$prefix/logs/error.log" 2>/dev/null)"
  done
  die "nginx did not start; see $prefix/logs/error.log"
}

# fetch PORT [CURL ARGS...]: one download of the payload with the endpoint's certificate; prints
# curl's "HTTP-CODE BYTES BYTES-PER-SECOND".
fetch() {
  local port="$1"; shift
  curl -sS "${CURL_TLS[@]}" --cacert "$DL_CA" --cert "$DL_AGENT/client.pem" \
    --key "$DL_AGENT/client.key" -o /dev/null -w '%{http_code} %{size_download} %{speed_download}' \
    "$@" "https://127.0.0.1:$port/v1/payloads/$DL_SHA"
}

# timed_fetch PORT: a checked full download; prints its bytes per second.
timed_fetch() {
  local result code size speed
  result=$(fetch "$1") || die "curl failed on port $1"
  read -r code size speed <<<"$result"
  [ "$code" = 200 ] && [ "$size" = "$DL_BYTES" ] ||
    die "download from port $1: HTTP $code, $size bytes (expected 200, $DL_BYTES)"
  echo "$speed"
}

# negotiated PORT: "TLSv1.3 / SUITE" as curl reports it for that server.
negotiated() {
  fetch "$1" -v -r 0-0 2>&1 | sed -n 's/^\* SSL connection using //p' | head -1
}

download_lines=""
if want download; then
  for tool in "$FR" "$FA"; do [ -x "$tool" ] || die "$tool is missing; build it with ./ferry.sh build"; done
  command -v nginx >/dev/null || die "nginx is missing (Debian package nginx; ./ferry.sh deps)"
  command -v curl >/dev/null || die "curl is missing (Debian package curl)"
  DL="$SCRATCH/download"
  DL_SRC="$DL/src-${DL_MIB}M"
  DL_RELAY="$DL/relay-${DL_MIB}M"
  DL_AGENT="$DL/agent-${DL_MIB}M"
  DL_CA="$DL_RELAY/tls/ca.pem"
  mkdir -p "$DL"
  if [ ! -f "$DL_SRC/.complete" ]; then
    log "download: writing $DL_MIB MiB of /dev/urandom to $DL_SRC"
    rm -rf "$DL_SRC" "$DL_RELAY" && mkdir -p "$DL_SRC"
    head -c $((DL_MIB << 20)) /dev/urandom >"$DL_SRC/payload.bin"
    describe "$DL_SRC" payload.bin
    touch "$DL_SRC/.complete"
  fi
  DL_BYTES=$(stat -c %s "$DL_SRC/payload.bin")
  # The relay is remade when the keys change (its pinned root would no longer match).
  root_sha=$(openssl dgst -sha256 -r "$KEYS/root.json" | cut -d' ' -f1)
  if [ "$(cat "$DL_RELAY/.bench-root" 2>/dev/null)" != "$root_sha" ]; then
    log "download: bundle, relay (init, import, approve) in $DL_RELAY"
    rm -rf "$DL_RELAY" "$DL_AGENT" "$DL/download.ferry"
    "$FB" build --root "$KEYS/root.json" --key "$KEYS/bundle.key" --channel download \
      --sequence 1 --expires 3650d --source "$DL_SRC" --out "$DL/download.ferry" >/dev/null
    "$FR" init --data "$DL_RELAY" --root "$KEYS/root.json" >/dev/null
    "$FR" import --data "$DL_RELAY" "$DL/download.ferry" >/dev/null
    "$FR" approve --data "$DL_RELAY" --all >/dev/null
    rm -f "$DL/download.ferry"  # the relay holds the payload now
    echo "$root_sha" >"$DL_RELAY/.bench-root"
  fi
  DL_SHA=$(openssl dgst -sha256 -r "$DL_SRC/payload.bin" | cut -d' ' -f1)
  DL_FILE="$DL_RELAY/payloads/${DL_SHA:0:2}/$DL_SHA"
  [ -f "$DL_FILE" ] || die "$DL_FILE is missing from the relay's payload store"

  start_relay "$DL_RELAY"
  if [ ! -f "$DL_AGENT/client.pem" ]; then
    log "download: enrolling an endpoint (ferry-relay token create, ferry-agent enroll)"
    rm -rf "$DL_AGENT"
    token=$("$FR" token create --data "$DL_RELAY" 2>/dev/null)
    "$FA" enroll --relay "https://127.0.0.1:$RELAY_PORT" --ca "$DL_CA" --root "$KEYS/root.json" \
      --token "$token" --state "$DL_AGENT" --hostname bench-download >/dev/null 2>&1 ||
      die "ferry-agent enroll failed"
  fi

  NGX="$DL/nginx"
  rm -rf "$NGX" && mkdir -p "$NGX/tls" "$NGX/www" "$NGX/tmp" "$NGX/logs"
  cp "$DL_RELAY/tls/server.pem" "$DL_RELAY/tls/server.key" "$DL_CA" "$NGX/tls/"
  chmod 600 "$NGX/tls/server.key"
  ln "$DL_FILE" "$NGX/www/$DL_SHA"  # the same inode the relay serves
  start_nginx "$NGX"

  relay_tls=$(negotiated "$RELAY_PORT")
  nginx_tls=$(negotiated "$NGINX_PORT")
  [ -n "$relay_tls" ] && [ "$relay_tls" = "$nginx_tls" ] ||
    die "the servers negotiated different TLS: relay '$relay_tls', nginx '$nginx_tls'"
  # Both must insist on a client certificate from the relay's CA.
  no_cert=(curl -s "${CURL_TLS[@]}" --cacert "$DL_CA" -o /dev/null -w '%{http_code}')
  relay_anon=$("${no_cert[@]}" "https://127.0.0.1:$RELAY_PORT/v1/payloads/$DL_SHA" || true)
  nginx_anon=$("${no_cert[@]}" "https://127.0.0.1:$NGINX_PORT/v1/payloads/$DL_SHA" || true)
  [ "$relay_anon" = 401 ] && [ "$nginx_anon" = 400 ] ||
    die "a download without a client certificate got relay $relay_anon, nginx $nginx_anon"

  log "download: $DL_MIB MiB, relay port $RELAY_PORT, nginx port $NGINX_PORT, $relay_tls;" \
    "$DL_RUNS runs each, alternating, warm page cache"
  cat "$DL_FILE" >/dev/null
  timed_fetch "$RELAY_PORT" >/dev/null  # one unmeasured run each: connection setup, caches
  timed_fetch "$NGINX_PORT" >/dev/null
  relay_speeds=() nginx_speeds=()
  for _ in $(seq "$DL_RUNS"); do
    relay_speeds+=("$(timed_fetch "$RELAY_PORT")")
    nginx_speeds+=("$(timed_fetch "$NGINX_PORT")")
  done
  stop_servers
  relay_median=$(median "${relay_speeds[@]}") nginx_median=$(median "${nginx_speeds[@]}")
  download_ratio=$(ratio "$relay_median" "$nginx_median")
  row3() { printf '%-28s %9s %9s   %s\n' "$@"; }
  runs_of() { local v; for v in "$@"; do printf '%s ' "$(mbps "$v")"; done; }
  download_lines=$(
    echo "download of $DL_MIB MiB over TLS ($relay_tls) by curl $(curl --version |
      head -1 | cut -d' ' -f2), $DL_RUNS runs each, alternating; MB/s = 10^6 bytes/s"
    echo "nginx: sendfile off, output_buffers $NGINX_OUTPUT_BUFFERS, ssl_buffer_size 16k," \
      "ssl_verify_client on"
    row3 "server" "median" "best" "every run"
    row3 "$(printf '%.0s-' {1..28})" "MB/s" "MB/s" "MB/s"
    row3 "ferry-relay serve" "$(mbps "$relay_median")" "$(mbps "$(largest "${relay_speeds[@]}")")" \
      "$(runs_of "${relay_speeds[@]}")"
    row3 "nginx $(nginx -v 2>&1 | sed 's|.*nginx/||')" "$(mbps "$nginx_median")" \
      "$(mbps "$(largest "${nginx_speeds[@]}")")" "$(runs_of "${nginx_speeds[@]}")"
  )
fi

checkin_lines="" checkin_status=0
if want checkin; then
  [ -x "$CHECKIN" ] || die "$CHECKIN is missing; build it with ./ferry.sh build"
  log "checkin: $CHECKIN_ENDPOINTS endpoints, $CHECKIN_CONNECTIONS connections," \
    "$CHECKIN_SECONDS s measured"
  checkin_lines=$("$CHECKIN" --work "$SCRATCH/checkin" --bin "$BIN" \
    --endpoints "$CHECKIN_ENDPOINTS" --connections "$CHECKIN_CONNECTIONS" \
    --seconds "$CHECKIN_SECONDS") || checkin_status=$?
  [ -n "$checkin_lines" ] || die "ferry-bench-checkin failed (exit $checkin_status)"
fi

# --- evidence: a million audit events, exported and verified ------------------------------
# ferry-bench-evidence appends in-process (transactions of 10,000), then runs the real
# ferry-relay and ferry-verify and reports each one's wall time and peak RSS (from wait4).
# Knob: FERRY_BENCH_EVIDENCE_EVENTS (1000000).
evidence_lines="" evidence_rss_ok=yes
EVIDENCE_RSS_GOAL_MIB=1024
if want evidence; then
  [ -x "$EVIDENCE_BENCH" ] || die "$EVIDENCE_BENCH is missing; build it with ./ferry.sh build"
  log "evidence: ${FERRY_BENCH_EVIDENCE_EVENTS:-1000000} events appended, exported, verified"
  evidence_lines=$("$EVIDENCE_BENCH" --root "$KEYS/root.json" --dir "$SCRATCH/evidence" \
    --bin "$BIN" --events "${FERRY_BENCH_EVIDENCE_EVENTS:-1000000}") ||
    die "ferry-bench-evidence failed"
  for figure in export_peak_rss_mib verify_peak_rss_mib; do
    value=$(printf '%s\n' "$evidence_lines" | awk -v f="evidence.$figure" '$1 == f { print $2 }')
    at_least "$EVIDENCE_RSS_GOAL_MIB" "$value" || evidence_rss_ok=no
  done
  rm -rf "$SCRATCH/evidence"  # half a gigabyte of database and package
fi

# --- report ---------------------------------------------------------------------------------

verdict() { if "$@"; then echo ok; else echo MISSED; fi; }

echo
echo "Ferry benchmarks, $(date -u +%Y-%m-%dT%H:%MZ): $(nproc) cores, $cpu_model, sha_ni $sha_ni"
echo "sections: ${SECTIONS[*]}; 1-minute load average $load_before before," \
  "$(cut -d' ' -f1 /proc/loadavg) after"
row() { printf '%-44s %9s %9s %8s\n' "$@"; }
if want verify || want build || want import; then
  echo "best of $RUNS; warm page cache unless marked cold; GB = 10^9 bytes"
  echo
  row "measurement" "seconds" "GB/s" "ratio"
  row "$(printf '%.0s-' {1..44})" "-------" "-----" "-----"
fi
if want verify; then
  verify_ratio=$(ratio "$openssl_s" "$verify_s")
  row "verify $(basename "$BIG")" "$verify_s" "$(gbps "$big_bytes" "$verify_s")" "$verify_ratio"
  row "openssl dgst -sha256 (same file)" "$openssl_s" "$(gbps "$big_bytes" "$openssl_s")" "1.00"
  if [ -n "$cold_verify_s" ]; then
    row "verify, cold cache" "$cold_verify_s" "$(gbps "$big_bytes" "$cold_verify_s")" \
      "$(ratio "$cold_openssl_s" "$cold_verify_s")"
    row "openssl dgst, cold cache" "$cold_openssl_s" \
      "$(gbps "$big_bytes" "$cold_openssl_s")" "1.00"
  fi
fi
if want build; then
  row "build (${FILES} x ${FILE_MIB} MiB payloads)" "$build_s" \
    "$(gbps "$payload_bytes" "$build_s")" "$(ratio "$tar_s" "$build_s")"
  row "tar -cf + openssl dgst" "$tar_s" "$(gbps "$payload_bytes" "$tar_s")" "1.00"
  row "tar -cf + fsync + openssl dgst" "$tar_sync_s" "$(gbps "$payload_bytes" "$tar_sync_s")" \
    "$(ratio "$tar_sync_s" "$build_s")"
fi
if want import; then
  import_ratio=$(ratio "$import_openssl_s" "$import_s")
  row "relay import (fresh store, fsync)" "$import_s" "$(gbps "$big_bytes" "$import_s")" \
    "$import_ratio"
  row "openssl dgst -sha256 (same bundle)" "$import_openssl_s" \
    "$(gbps "$big_bytes" "$import_openssl_s")" "1.00"
fi
if want verify || want build || want import; then
  echo
  printf '%-44s %9s\n' "peak RSS" "MiB"
fi
if want verify; then
  printf '%-44s %9s\n' "verify $(basename "$SMALL") ($(mib $((small_bytes / 1024))) MiB)" \
    "$(mib "$small_rss")"
  printf '%-44s %9s\n' "verify $(basename "$BIG") ($(mib $((big_bytes / 1024))) MiB)" \
    "$(mib "$verify_rss")"
  printf '%-44s %9s\n' "openssl dgst (same file)" "$(mib "$openssl_rss")"
fi
if want build; then
  printf '%-44s %9s\n' "build (${FILES} x ${FILE_MIB} MiB)" "$(mib "$build_rss")"
fi
if want import; then
  printf '%-44s %9s\n' "relay import $(basename "$BIG")" "$(mib "$import_rss")"
fi
for lines in "$applicability_lines" "$download_lines" "$checkin_lines" "$evidence_lines"; do
  if [ -n "$lines" ]; then
    echo
    echo "$lines"
  fi
done
echo
if want verify; then
  echo "verify/openssl throughput ratio $verify_ratio (goal >= $VERIFY_GOAL):" \
    "$(verdict at_least "$verify_ratio" "$VERIFY_GOAL")"
  echo "verify peak RSS $(mib "$verify_rss") MiB at $(mib $((big_bytes / 1024))) MiB," \
    "$(mib "$small_rss") MiB at $(mib $((small_bytes / 1024))) MiB (goal < 64 MiB):" \
    "$(verdict test "$verify_rss" -lt "$RSS_GOAL_KIB" -a "$small_rss" -lt "$RSS_GOAL_KIB")"
fi
if want import; then
  echo "import/openssl throughput ratio $import_ratio (goal >= $IMPORT_GOAL):" \
    "$(verdict at_least "$import_ratio" "$IMPORT_GOAL")"
fi
if want build; then
  echo "build ratio is baseline time / build time (above 1: build is faster)"
fi
if want download; then
  echo "download relay/nginx ratio $download_ratio of medians (goal >= $DOWNLOAD_GOAL):" \
    "$(verdict at_least "$download_ratio" "$DOWNLOAD_GOAL")"
fi
if want evidence; then
  echo "evidence export and verify peak RSS below $EVIDENCE_RSS_GOAL_MIB MiB:" \
    "$(verdict test "$evidence_rss_ok" = yes)"
fi
if want checkin; then
  # ferry-bench-checkin prints its own goal line; a non-zero exit means wrong or failed answers.
  [ "$checkin_status" -eq 0 ] || echo "checkin: ferry-bench-checkin exited $checkin_status (errors above)"
fi
