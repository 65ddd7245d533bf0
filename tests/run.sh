#!/bin/sh
# Runs each test binary given as an argument, then prints the totals as
# "N passed, N failed, N skipped". Exit status 1 if any test failed or a
# binary crashed.
passed=0 failed=0 skipped=0 crashed=0
for t in "$@"; do
    echo "== $t"
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -vE '^(ok|skip) ' | grep -vE '^[0-9]+ passed, [0-9]+ failed' 
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    if [ -z "$line" ]; then
        echo "CRASH $t (exit $rc)"; crashed=$((crashed + 1)); continue
    fi
    p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    s=$(echo "$line" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p')
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + ${s:-0}))
    echo "   $line"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then echo "CRASH $t (exit $rc after its tests)"; crashed=$((crashed + 1)); fi
done
failed=$((failed + crashed))
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
