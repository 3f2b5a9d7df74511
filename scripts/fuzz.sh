#!/usr/bin/env bash
# Runs the bundle-reader fuzzer (libFuzzer, ASan + UBSan) for SECONDS on one core.
#
#   FERRY_BIN=build/fuzz scripts/fuzz.sh [SECONDS]      (./ferry.sh fuzz [SECONDS] builds first)
#
# Seeds come from make_fuzz_corpus into $FERRY_BIN/corpus (written once, again after the generator
# is rebuilt); the fuzzer adds what it finds there, so later runs resume where this one stopped.
# Crash, leak, timeout and out-of-memory inputs land in $FERRY_BIN/crashes. Exit status: 0 when
# the run found nothing, 1 when it did, 2 on misuse.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${FERRY_BIN:-$ROOT/build/fuzz}"
SECONDS_TO_RUN="${1:-60}"
FUZZER="$BIN/tests/fuzz/bundle_reader_fuzz"
GENERATOR="$BIN/tests/fuzz/make_fuzz_corpus"
DICT="$BIN/tests/fuzz/bundle_reader.dict"
CORPUS="$BIN/corpus"
CRASHES="$BIN/crashes"
LOG="$BIN/fuzz.log"

if ! [[ "$SECONDS_TO_RUN" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS]" >&2
  exit 2
fi
for f in "$FUZZER" "$GENERATOR" "$DICT"; do
  if [ ! -e "$f" ]; then
    echo "fuzz.sh: $f is missing; build it with ./ferry.sh fuzz" >&2
    exit 2
  fi
done

mkdir -p "$CORPUS" "$CRASHES"
# Seeds are (re)written when missing or when the generator was rebuilt since.
if [ ! -f "$CORPUS/seed-small.ferry" ] || [ "$GENERATOR" -nt "$CORPUS/seed-small.ferry" ]; then
  echo "==> writing the seed corpus to $CORPUS" >&2
  # The generator, like ferry-bundle build, refuses to overwrite: old seeds go first.
  rm -f "$CORPUS"/seed-*
  "$GENERATOR" "$CORPUS" >&2
fi

# Artifacts newer than this marker are this run's findings.
marker="$(mktemp)"
trap 'rm -f "$marker"' EXIT

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:allocator_may_return_null=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

corpus_before=$(find "$CORPUS" -type f | wc -l)
echo "==> fuzzing for ${SECONDS_TO_RUN}s ($corpus_before inputs in the corpus; log: $LOG)" >&2
set +e
# One process: the machine has two cores and other work runs beside the fuzzer.
"$FUZZER" "$CORPUS" \
  -dict="$DICT" \
  -max_total_time="$SECONDS_TO_RUN" \
  -max_len=1048576 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$CRASHES/" \
  -print_final_stats=1 -print_pcs=0 -reload=0 >"$LOG" 2>&1
status=$?
set -e

mapfile -t found < <(find "$CRASHES" -type f -newer "$marker" | sort)
stat_of() { sed -n "s/^stat::$1: *//p" "$LOG" | tail -1; }
last_status_line="$(grep -E '^#[0-9]+' "$LOG" | tail -1 || true)"
field_of() { sed -n "s@.* $1: \([^ ]*\).*@\1@p" <<<"$last_status_line"; }

echo
echo "bundle_reader_fuzz: ${SECONDS_TO_RUN}s, exit status $status"
# A crashed run prints no final stats; its last status line ("#N ...") still counts executions.
execs="$(stat_of number_of_executed_units)"
execs="${execs:-$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last_status_line")}"
printf '  executions      %s (%s/s)\n' "${execs:-?}" "$(field_of exec/s)"
printf '  coverage        %s edges, %s features\n' "$(field_of cov)" "$(field_of ft)"
printf '  corpus          %s inputs before, %s after\n' "$corpus_before" \
  "$(find "$CORPUS" -type f | wc -l)"
printf '  peak RSS        %s\n' "$(field_of rss)"
if [ ${#found[@]} -eq 0 ] && [ "$status" -eq 0 ]; then
  echo "  findings        none"
  exit 0
fi
echo "  findings        ${#found[@]}"
for f in "${found[@]}"; do
  echo "    $f"
done
# The sanitizer's report names the cause; show its head.
causes='^==[0-9]+==ERROR|runtime error|ALARM: working on the last Unit|out-of-memory|deadly signal'
grep -m1 -E "$causes" "$LOG" | sed 's/^/  cause           /' || true
echo "  reproduce       $FUZZER <file>   (full log: $LOG)"
exit 1
