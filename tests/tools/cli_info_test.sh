#!/usr/bin/env bash
# kiln info runs, and KILN_ISA naming a path this CPU lacks fails cleanly with a message.
set -u
kiln=$1
out=$("$kiln" info) || { echo "kiln info failed"; exit 1; }
echo "$out"
grep -q '^kernel path:' <<<"$out" || { echo "no kernel path line"; exit 1; }
for isa in avx512vnni neondot i8mm; do
  if grep -q "^compiled isas:.*\b$isa\b" <<<"$out" && "$kiln" info >/dev/null 2>&1 && KILN_ISA=$isa "$kiln" info >/dev/null 2>&1; then
    continue  # this CPU runs it
  fi
  err=$(KILN_ISA=$isa "$kiln" info 2>&1 >/dev/null); rc=$?
  [ $rc -ne 0 ] && [ $rc -lt 128 ] || { echo "KILN_ISA=$isa: want a clean non-zero exit, got $rc"; exit 1; }
  grep -q "^kiln: error: KILN_ISA=$isa" <<<"$err" || { echo "KILN_ISA=$isa: unclear message: $err"; exit 1; }
  echo "KILN_ISA=$isa -> $err"
done
err=$(KILN_ISA=bogus "$kiln" info 2>&1 >/dev/null) && { echo "bogus ISA accepted"; exit 1; }
grep -q "not an ISA" <<<"$err" || { echo "bogus ISA: unclear message: $err"; exit 1; }
echo ok
