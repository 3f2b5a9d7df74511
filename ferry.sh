#!/usr/bin/env bash
# Ferry's one entry point: installs what the build needs on Debian 12, builds, and runs.
#
#   ./ferry.sh demo              build, then walk through keys, a trust root and a signed bundle
#   ./ferry.sh test [--sanitize] build with warnings as errors and run every test
#                                (--sanitize: AddressSanitizer + UndefinedBehaviorSanitizer)
#   ./ferry.sh bench [SECTION..] run the benchmarks (docs/benchmarks.md; default: every section)
#   ./ferry.sh fuzz [SECONDS]    run the bundle-reader fuzzer (clang, libFuzzer)
#   ./ferry.sh build             configure and build only
#   ./ferry.sh deps              install the Debian packages only
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

# Debian 12 packages the build, the tests, the demo and the benchmarks use.
PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git
  libsodium-dev libarchive-dev libssl-dev openssl libsqlite3-dev
  libboost1.81-dev googletest libgtest-dev
  dpkg-dev xz-utils zstd tar time
  curl nginx
  clang-14 libclang-rt-14-dev
)

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  # The version-comparison test reads real Packages lists; a fresh box may have none yet.
  local have_lists=0
  compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null && have_lists=1
  if [ ${#missing[@]} -gt 0 ] || [ $have_lists -eq 0 ]; then
    log "apt-get update"
    as_root apt-get update -qq
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# configure_and_build DIR [cmake args...]
configure_and_build() {
  local dir="$1"; shift
  if [ ! -f "$dir/build.ninja" ]; then
    cmake -S "$ROOT" -B "$dir" -G Ninja "$@" >/dev/null
  else
    cmake -S "$ROOT" -B "$dir" "$@" >/dev/null
  fi
  ninja -C "$dir" -j "$(nproc)"
}

release_build() {
  configure_and_build "$ROOT/build/release" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_WERROR=ON
}

cmd_test() {
  deps
  local dir="$ROOT/build/release"
  if [ "${1:-}" = "--sanitize" ]; then
    dir="$ROOT/build/asan"
    configure_and_build "$dir" -DCMAKE_BUILD_TYPE=Debug -DFERRY_WERROR=ON \
      -DFERRY_SANITIZE=address,undefined
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  else
    release_build
  fi
  ctest --test-dir "$dir" --output-on-failure -j "$(nproc)" --timeout 600
}

cmd_demo() {
  deps
  release_build
  FERRY_BIN="$ROOT/build/release" bash "$ROOT/scripts/demo.sh"
}

cmd_bench() {
  deps
  release_build
  FERRY_BIN="$ROOT/build/release" bash "$ROOT/scripts/bench.sh" "$@"
}

cmd_fuzz() {
  deps
  local seconds="${1:-600}"
  local dir="$ROOT/build/fuzz"
  CC=clang-14 CXX=clang++-14 configure_and_build "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFERRY_BUILD_FUZZ=ON -DFERRY_BUILD_TESTS=OFF -DFERRY_SANITIZE=address,undefined
  FERRY_BIN="$dir" bash "$ROOT/scripts/fuzz.sh" "$seconds"
}

case "${1:-}" in
  demo) shift; cmd_demo "$@" ;;
  test) shift; cmd_test "$@" ;;
  bench) shift; cmd_bench "$@" ;;
  fuzz) shift; cmd_fuzz "$@" ;;
  build) deps; release_build ;;
  deps) deps ;;
  *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
