#!/usr/bin/env bash
# Benchmarks ferry-bundle against the tools it should be as fast as (docs/benchmarks.md):
#
#   verify  `ferry-bundle verify` of a 1 GiB bundle vs `openssl dgst -sha256` of the same file,
#           plus verify's peak RSS at two bundle sizes (memory must stay flat, under 64 MiB)
#   build   `ferry-bundle build` of the same payloads vs `tar -cf` + `openssl dgst -sha256`
#   import  `ferry-relay import` of the same bundle into a fresh relay vs `openssl dgst -sha256`
#   applicability  100,000 endpoints, 50 distinct 2,000-package inventories, 3,000-patch catalog
#
#   FERRY_BIN=build/release scripts/bench.sh      (./ferry.sh bench builds first)
#
# Inputs are generated once under build/bench/ and reused. Knobs: FERRY_BENCH_FILES (8) and
# FERRY_BENCH_FILE_MIB (128) size the payloads; FERRY_BENCH_RUNS (3) is the best-of count.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${FERRY_BIN:-$ROOT/build/release}"
FB="$BIN/bundler/ferry-bundle"
FR="$BIN/relay/ferry-relay"
APPLICABILITY="$BIN/tests/bench/ferry-bench-applicability"
SCRATCH="$ROOT/build/bench"
FILES="${FERRY_BENCH_FILES:-8}"
FILE_MIB="${FERRY_BENCH_FILE_MIB:-128}"
RUNS="${FERRY_BENCH_RUNS:-3}"
SMALL_FILES=$(( FILES / 4 > 0 ? FILES / 4 : 1 ))  # the second size for the flat-memory check
RSS_GOAL_KIB=$(( 64 * 1024 ))
VERIFY_GOAL=0.85
IMPORT_GOAL=0.8

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench.sh: %s\n' "$*" >&2; exit 1; }

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

if [ ! -f "$BIG_SRC/.complete" ]; then
  log "writing ${FILES} x ${FILE_MIB} MiB of /dev/urandom to $BIG_SRC"
  rm -rf "$BIG_SRC" && mkdir -p "$BIG_SRC"
  for i in $(seq -w 0 $((FILES - 1))); do
    head -c $((FILE_MIB << 20)) /dev/urandom >"$BIG_SRC/payload-$i.bin"
    describe "$BIG_SRC" "payload-$i.bin"
  done
  touch "$BIG_SRC/.complete"
  rm -f "$BIG" "$SMALL"
fi
if [ ! -f "$SMALL_SRC/.complete" ]; then
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

drop_caches() { sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; }
can_drop=no
if [ "$(id -u)" -eq 0 ] && drop_caches; then can_drop=yes; fi

big_bytes=$(stat -c %s "$BIG")
small_bytes=$(stat -c %s "$SMALL")
payload_bytes=$(( FILES * (FILE_MIB << 20) ))
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
sha_ni=$(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no)
log "machine: $(nproc) cores, $cpu_model, sha_ni: $sha_ni; page cache can be dropped: $can_drop"
load_before=$(cut -d' ' -f1 /proc/loadavg)
# Other work on the machine skews absolute figures; the interleaved ratios suffer less.
if at_least "$load_before" 1; then
  log "warning: load average is $load_before; absolute figures will be low"
fi

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

# import vs openssl: each run imports into a copy of a freshly initialised relay, so every payload
# is hashed, written to staging, fsynced and moved into the store, as on a real first import.
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

applicability_lines=""
if [ -x "$APPLICABILITY" ]; then
  log "applicability: 100,000 endpoints over 50 distinct inventories"
  applicability_lines=$("$APPLICABILITY")
fi

# --- report ---------------------------------------------------------------------------------

verify_gbps=$(gbps "$big_bytes" "$verify_s")
openssl_gbps=$(gbps "$big_bytes" "$openssl_s")
verify_ratio=$(ratio "$openssl_s" "$verify_s")
build_ratio=$(ratio "$tar_s" "$build_s")
build_sync_ratio=$(ratio "$tar_sync_s" "$build_s")
verdict() { if "$@"; then echo ok; else echo MISSED; fi; }

echo
echo "Ferry benchmarks, $(date -u +%Y-%m-%dT%H:%MZ): $(nproc) cores, $cpu_model, sha_ni $sha_ni"
echo "best of $RUNS; warm page cache unless marked cold; GB = 10^9 bytes;" \
  "1-minute load average $load_before before, $(cut -d' ' -f1 /proc/loadavg) after"
echo
row() { printf '%-44s %9s %9s %8s\n' "$@"; }
row "measurement" "seconds" "GB/s" "ratio"
row "$(printf '%.0s-' {1..44})" "-------" "-----" "-----"
row "verify $(basename "$BIG")" "$verify_s" "$verify_gbps" "$verify_ratio"
row "openssl dgst -sha256 (same file)" "$openssl_s" "$openssl_gbps" "1.00"
if [ -n "$cold_verify_s" ]; then
  row "verify, cold cache" "$cold_verify_s" "$(gbps "$big_bytes" "$cold_verify_s")" \
    "$(ratio "$cold_openssl_s" "$cold_verify_s")"
  row "openssl dgst, cold cache" "$cold_openssl_s" \
    "$(gbps "$big_bytes" "$cold_openssl_s")" "1.00"
fi
row "build (${FILES} x ${FILE_MIB} MiB payloads)" "$build_s" "$(gbps "$payload_bytes" "$build_s")" \
  "$build_ratio"
row "tar -cf + openssl dgst" "$tar_s" "$(gbps "$payload_bytes" "$tar_s")" "1.00"
row "tar -cf + fsync + openssl dgst" "$tar_sync_s" "$(gbps "$payload_bytes" "$tar_sync_s")" \
  "$build_sync_ratio"
import_ratio=$(ratio "$import_openssl_s" "$import_s")
row "relay import (fresh store, fsync)" "$import_s" "$(gbps "$big_bytes" "$import_s")" \
  "$import_ratio"
row "openssl dgst -sha256 (same bundle)" "$import_openssl_s" \
  "$(gbps "$big_bytes" "$import_openssl_s")" "1.00"
echo
printf '%-44s %9s\n' "peak RSS" "MiB"
printf '%-44s %9s\n' "verify $(basename "$SMALL") ($(mib $((small_bytes / 1024))) MiB)" \
  "$(mib "$small_rss")"
printf '%-44s %9s\n' "verify $(basename "$BIG") ($(mib $((big_bytes / 1024))) MiB)" \
  "$(mib "$verify_rss")"
printf '%-44s %9s\n' "openssl dgst (same file)" "$(mib "$openssl_rss")"
printf '%-44s %9s\n' "build (${FILES} x ${FILE_MIB} MiB)" "$(mib "$build_rss")"
printf '%-44s %9s\n' "relay import $(basename "$BIG")" "$(mib "$import_rss")"
if [ -n "$applicability_lines" ]; then
  echo
  echo "$applicability_lines"
fi
echo
echo "verify/openssl throughput ratio $verify_ratio (goal >= $VERIFY_GOAL):" \
  "$(verdict at_least "$verify_ratio" "$VERIFY_GOAL")"
echo "verify peak RSS $(mib "$verify_rss") MiB at $(mib $((big_bytes / 1024))) MiB," \
  "$(mib "$small_rss") MiB at $(mib $((small_bytes / 1024))) MiB (goal < 64 MiB):" \
  "$(verdict test "$verify_rss" -lt "$RSS_GOAL_KIB" -a "$small_rss" -lt "$RSS_GOAL_KIB")"
echo "import/openssl throughput ratio $import_ratio (goal >= $IMPORT_GOAL):" \
  "$(verdict at_least "$import_ratio" "$IMPORT_GOAL")"
echo "build ratio is baseline time / build time (above 1: build is faster)"
