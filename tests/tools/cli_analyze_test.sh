#!/usr/bin/env bash
# Acceptance 5 of issue 7: `kiln analyze` ranks layers. One middle convolution is forced to 2-bit
# weights with an override; analyze must rank that layer worst, and its printed override line must
# be accepted by quantize. Usage: cli_analyze_test.sh KILN_CLI MODELS_DIR
set -u
kiln=$1 models=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/cli_lib.sh"
model=$models/resnet18.onnx
make_npy_samples "$models/resnet18.input.npy" "$tmp/calib" 4 || fail "cannot make samples"

plan=$("$kiln" quantize "$model" --calib "$tmp/calib" --samples 2 --dry-run --quiet) || fail "dry run: $plan"
convs=$(grep -E '^  .* kiln\.QConv +w8' <<<"$plan" | awk '{print $1}')
n=$(wc -l <<<"$convs")
[ "$n" -ge 5 ] || fail "expected several quantized convolutions: $plan"
victim=$(sed -n "$((n / 2))p" <<<"$convs")
echo "forcing $victim (of $n convolutions) to 2-bit weights"
printf '{"%s": {"wbits": 2}}\n' "$victim" >"$tmp/over.json"
"$kiln" quantize "$model" --calib "$tmp/calib" --samples 4 --overrides "$tmp/over.json" --quiet -o "$tmp/w2.kiln" \
  >/dev/null || fail "quantize with the override"

j=$("$kiln" analyze "$model" "$tmp/w2.kiln" --data "$tmp/calib" --samples 4 --json) || fail "analyze: $j"
first=$(grep -oE '"layer": "[^"]*"' <<<"$j" | head -n1 | sed 's/"layer": "\(.*\)"/\1/')
[ "$first" = "$victim" ] || fail "worst layer is '$first', want '$victim': $j"
grep -q '"wbits": 2' <<<"$j" || fail "no 2-bit row: $j"
rows=$(grep -o '"value"' <<<"$j" | wc -l)
[ "$rows" -ge "$n" ] || fail "only $rows rows for $n convolutions"

txt=$("$kiln" analyze "$model" "$tmp/w2.kiln" --data "$tmp/calib" --samples 2 --top 3) || fail "analyze text: $txt"
line=$(sed -n 's/.*\({"[^"]*": {"float": true}}\)$/\1/p' <<<"$txt" | head -n1)
[ -n "$line" ] || fail "no override line: $txt"
grep -q "$victim" <<<"$line" || fail "first override line is not the victim's: $txt"
echo "$line" >"$tmp/keep.json"
"$kiln" quantize "$model" --calib "$tmp/calib" --samples 2 --overrides "$tmp/keep.json" --quiet -o "$tmp/k.kiln" \
  >/dev/null || fail "quantize with analyze's override line $(cat "$tmp/keep.json")"
# The kept layer runs float in the .kiln, and inspect shows it so (issue 6, acceptance 4).
row=$("$kiln" inspect "$tmp/k.kiln" | grep -F " $victim " | head -n1)
grep -qE " Conv +float float " <<<"$row" || fail "the kept layer is not a float Conv in inspect: '$row'"
"$kiln" inspect "$tmp/w2.kiln" | grep -F " $victim " | grep -q "kiln.QConv" || fail "the victim is not quantized in w2.kiln"
echo "cli analyze: ok"
