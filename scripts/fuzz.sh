#!/usr/bin/env bash
# make fuzz: every target of FUZZ_TARGETS ("pkg:Name ...") in turn for $1 (a -fuzztime
# duration). A target fails when it finds an input that fails (go test writes it to
# <pkg>/testdata/fuzz/<Name>/; keep it, go test runs it from then on) or when it does not
# build. Go 1.26's fuzzing coordinator sometimes ends a clean run with a bare "context
# deadline exceeded" at the very end of -fuzztime (golang/go#75804, fixed in Go 1.27): a
# run that says only that and wrote no new input is reported as that race and not failed.
set -uo pipefail
t="$1"; shift
go="${GO:-go}"
fail=0
for tg in "$@"; do
	pkg="${tg%%:*}"; name="${tg#*:}"; dir="$pkg/testdata/fuzz/$name"
	echo "fuzz: $name ($pkg) for $t"
	before="$(ls "$dir" 2>/dev/null | sort)"
	out="$(mktemp)"
	"$go" test -run '^$' -fuzz "^$name\$" -fuzztime "$t" -fuzzminimizetime 1s -parallel 1 "$pkg" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	after="$(ls "$dir" 2>/dev/null | sort)"
	if [ "$rc" -ne 0 ]; then
		if [ "$before" = "$after" ] && grep -q "^--- FAIL: $name " "$out" &&
			[ "$(grep -A1 "^--- FAIL: $name " "$out" | tail -1 | tr -d '[:space:]')" = "contextdeadlineexceeded" ]; then
			echo "fuzz: $name: the Go fuzzing coordinator's end-of-time race (golang/go#75804), no failing input: not a failure"
		else
			new="$(comm -13 <(echo "$before") <(echo "$after") | sed "s|^|$dir/|")"
			echo "fuzz: $name FAILED${new:+; the failing input: $new}"
			fail=1
		fi
	fi
	rm -f "$out"
done
exit $fail
