#!/usr/bin/env bash
# quantize -> inspect -> eval (integer, --simulate, --compare-simulate) -> bench on a small model with
# a few .npy samples, plus --config, --dry-run and an ImageFolder evaluation.
# Usage: cli_roundtrip_test.sh KILN_CLI MODELS_DIR
set -u
kiln=$1 models=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/cli_lib.sh"
model=$models/resnet18.onnx
mkdir -p "$tmp/out"
make_npy_samples "$models/resnet18.input.npy" "$tmp/calib" 4 || fail "cannot make samples"

# Labels: the float model's own predictions, so the float model scores 100%.
: >"$tmp/labels.txt"
for f in "$tmp"/calib/*.npy; do
  "$kiln" run "$model" --input "$f" --topk 1 | sed -n 's/.*#1 class \([0-9]*\).*/\1/p' >>"$tmp/labels.txt"
done
[ "$(wc -l <"$tmp/labels.txt")" -eq 4 ] || fail "labels: $(cat "$tmp/labels.txt")"
j=$("$kiln" eval "$model" --data "$tmp/calib" --labels "$tmp/labels.txt" --json) || fail "float eval: $j"
[ "$(json_field "$j" samples)" = 4 ] && [ "$(json_field "$j" top1)" = "100.00" ] || fail "float eval: $j"

"$kiln" quantize "$model" --calib "$tmp/calib" --samples 4 --method percentile -o "$tmp/q8.kiln" >"$tmp/q.log" 2>&1 ||
  fail "quantize: $(cat "$tmp/q.log")"
grep -q "^wrote " "$tmp/q.log" || fail "no summary: $(cat "$tmp/q.log")"
ls "$tmp" | grep -v -E '^(calib|labels.txt|out|q.log|q8.kiln)$' && fail "stray files after quantize"
info=$("$kiln" inspect "$tmp/q8.kiln") || fail "inspect: $info"
grep -qi "percentile" <<<"$info" || fail "method not recorded: $info"
sha=$(sha256sum "$model" | cut -c1-16)
grep -q "$sha" <<<"$info" || fail "source model hash not recorded: $info"

j=$("$kiln" eval "$tmp/q8.kiln" --data "$tmp/calib" --labels "$tmp/labels.txt" --json) || fail "eval q8: $j"
[ "$(json_field "$j" samples)" = 4 ] || fail "eval q8: $j"
grep -q '"mode": "integer"' <<<"$j" || fail "eval q8 mode: $j"
j=$("$kiln" eval "$tmp/q8.kiln" --data "$tmp/calib" --labels "$tmp/labels.txt" --compare-simulate --json) ||
  fail "compare-simulate: $j"
[ "$(json_field "$j" agree)" = 4 ] || fail "integer and QFloat disagree: $j"
[ "$(json_field "$j" top1)" = "$(json_field "$j" simulate_top1)" ] || fail "accuracies differ: $j"
j=$("$kiln" eval "$tmp/q8.kiln" --data "$tmp/calib" --labels "$tmp/labels.txt" --simulate --json) || fail "simulate: $j"
grep -q '"mode": "simulate"' <<<"$j" || fail "simulate mode: $j"

# --config (YAML) supplies options; the command line overrides it.
printf 'wbits: 4\nmethod: mse\nsamples: 2\nabits: 4\n' >"$tmp/cfg.yaml"
"$kiln" quantize "$model" --calib "$tmp/calib" --config "$tmp/cfg.yaml" --abits 8 --quiet -o "$tmp/q4.kiln" >/dev/null ||
  fail "quantize --config"
info=$("$kiln" inspect "$tmp/q4.kiln" --json) || fail "inspect q4"
short=$(head -c 400 <<<"$info")
grep -qE '"calibration_method": ?"mse"' <<<"$info" || fail "config method: $short"
grep -qE '"weight_bits": ?4' <<<"$info" || fail "config wbits: $short"
grep -qE '"activation_bits": ?8' <<<"$info" || fail "command line abits: $short"

out=$("$kiln" quantize "$model" --calib "$tmp/calib" --samples 2 --dry-run --quiet) || fail "dry run: $out"
grep -q "^plan: " <<<"$out" || fail "dry run printed no plan: $out"
[ -z "$(ls -A "$tmp/out")" ] || fail "dry run wrote files"

j=$("$kiln" bench "$model" --calib "$tmp/calib" --samples 2 --bits fp32,w8a8 --warmup 1 --runs 3 --json) || fail "bench: $j"
[ "$(grep -o '"bits"' <<<"$j" | wc -l)" -eq 2 ] || fail "bench rows: $j"
out=$("$kiln" bench "$tmp/q8.kiln" --warmup 1 --runs 2 --layers) || fail "bench kiln: $out"
grep -q "^w8a8 *median" <<<"$out" || fail "bench kiln: $out"
grep -q "layers of w8a8" <<<"$out" || fail "bench --layers: $out"

# ImageFolder layout: labels from class subfolders.
mkdir -p "$tmp/folder/cat" "$tmp/folder/dog"
cp "$models/sample.png" "$tmp/folder/cat/a.png"
cp "$models/sample.png" "$tmp/folder/dog/b.png"
j=$("$kiln" eval "$models/mobilenetv2.onnx" --data "$tmp/folder" --mean 0.5 --std 0.25 --json) || fail "imagefolder: $j"
c=$("$kiln" run "$models/mobilenetv2.onnx" --input "$models/sample.png" --mean 0.5 --std 0.25 --topk 1 |
  sed -n 's/.*#1 class \([0-9]*\).*/\1/p')
want=0.00; [ "$c" -lt 2 ] && want=50.00  # one image per class 0 and 1, both predicted c
[ "$(json_field "$j" samples)" = 2 ] && [ "$(json_field "$j" top1)" = "$want" ] || fail "imagefolder (class $c): $j"
echo "cli round trip: ok"
