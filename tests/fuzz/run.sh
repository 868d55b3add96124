#!/bin/sh
# Runs the libFuzzer targets (mk/fuzz.mk): "regress BUILD TARGET..." runs each target over its
# committed corpus; "fuzz BUILD SECONDS TARGET..." fuzzes each for SECONDS, one after another.
set -eu

mode=$1
build=$2
shift 2
corpus=tests/fuzz/corpus
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
mkdir -p "$build/logs"

ms() {
	date +%s%3N
}

# The value after "key:" in libFuzzer's final status line ("#N DONE cov: C ft: F corp: ...").
status_field() {
	grep -E '^#[0-9]+' "$2" | tail -n 1 | sed -n "s/.* $1: \\([^ ]*\\).*/\\1/p"
}

stat_field() {
	sed -n "s/^stat::$1: *//p" "$2" | tail -n 1
}

regress() {
	failed=0
	for t in "$@"; do
		log="$build/logs/$t.regress.log"
		# the corpus files as arguments (the loop's own list is expanded already)
		set -- "$corpus/$t"/*
		start=$(ms)
		if "$build/$t" -timeout=60 "$@" > "$log" 2>&1; then
			printf '  %-22s %3d inputs  ok  %5d ms\n' "$t" "$#" "$(($(ms) - start))"
		else
			printf '  %-22s %3d inputs  FAILED (log: %s)\n' "$t" "$#" "$log"
			tail -n 40 "$log"
			failed=$((failed + 1))
		fi
	done
	[ "$failed" -eq 0 ]
}

fuzz() {
	secs=$1
	shift
	for t in "$@"; do
		log="$build/logs/$t.log"
		new="$build/new-corpus/$t"
		mkdir -p "$new" "$build/artifacts/$t"
		dict=
		[ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
		echo "== $t: fuzzing for $secs s (log: $log)"
		# shellcheck disable=SC2086  # $dict is empty or one word
		if ! "$build/$t" -max_total_time="$secs" -print_final_stats=1 -timeout=30 \
		    -artifact_prefix="$build/artifacts/$t/" $dict "$new" "$corpus/$t" \
		    > "$log" 2>&1; then
			tail -n 60 "$log"
			unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
			echo "FAILED: $t; reproducer: ${unit:-none written}"
			[ -n "$unit" ] && echo "  run again with: $build/$t $unit"
			exit 1
		fi
		printf '%s: %s runs in %s s, %s exec/s, cov %s, ft %s, corpus %s, %s new, rss %s MB\n' \
		    "$t" "$(stat_field number_of_executed_units "$log")" "$secs" \
		    "$(stat_field average_exec_per_sec "$log")" "$(status_field cov "$log")" \
		    "$(status_field ft "$log")" "$(status_field corp "$log")" \
		    "$(stat_field new_units_added "$log")" "$(stat_field peak_rss_mb "$log")"
	done
}

case $mode in
regress) regress "$@" ;;
fuzz) fuzz "$@" ;;
*) echo "usage: $0 regress BUILD TARGET... | fuzz BUILD SECONDS TARGET..." >&2; exit 2 ;;
esac
