# Shared helpers of the kiln CLI test scripts (sourced). Each script: set -u, $kiln, $tmp.
fail() { echo "FAIL: $*"; exit 1; }

# expect_error WHAT PATTERN CMD...: the command must exit non-zero (not by a signal), print
# "kiln: error: ..." matching PATTERN on stderr, and leave $tmp/out empty (no partial output file).
expect_error() {
  local what=$1 pattern=$2
  shift 2
  local err rc
  err=$("$@" 2>&1 >/dev/null); rc=$?
  [ $rc -ne 0 ] || fail "$what: accepted (exit 0)"
  [ $rc -lt 128 ] || fail "$what: crashed (exit $rc): $err"
  grep -q "^kiln: error: " <<<"$err" || fail "$what: no 'kiln: error:' line: $err"
  grep -qiE "$pattern" <<<"$err" || fail "$what: message does not say /$pattern/: $err"
  [ -z "$(ls -A "$tmp/out")" ] || fail "$what: left files behind: $(ls -A "$tmp/out")"
  echo "ok: $what -> $(head -n1 <<<"$err")"
}

# fmnist_setup: $data (Debian's dataset-fashion-mnist), $model (the bundled ResNet-style model under
# $root) and $pre (its preprocessing), or a clear failure when the data set is missing.
fmnist_setup() {
  data=/usr/share/datasets/fashion-mnist
  [ -r "$data/t10k-images-idx3-ubyte.gz" ] || fail "Fashion-MNIST missing: apt-get install dataset-fashion-mnist (tools/deps.sh)"
  model=$root/examples/fashion-mnist/resnet_fmnist.onnx
  pre=(--gray --mean 0.2860 --std 0.3530)
}

# json_field JSON KEY: the number after "KEY": in a flat JSON line.
json_field() { grep -oE "\"$2\": -?[0-9.]+" <<<"$1" | head -n1 | sed 's/.*: //'; }

# make_npy_samples SRC.npy DIR N: N float32 .npy samples in DIR, each SRC's values scaled and
# shifted differently (python3's standard library only; CI needs no numpy).
make_npy_samples() {
  python3 - "$1" "$2" "$3" <<'PY'
import struct, sys, os
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(src, 'rb').read()
hlen = struct.unpack('<H', data[8:10])[0]
head, body = data[:10 + hlen], data[10 + hlen:]
vals = struct.unpack('<%df' % (len(body) // 4), body)
os.makedirs(out, exist_ok=True)
for k in range(n):
    a, b = 1.0 - 0.15 * k, 0.05 * k
    shifted = vals[k * 97 % len(vals):] + vals[:k * 97 % len(vals)]
    v = [a * x + b for x in shifted]
    open(os.path.join(out, 's%02d.npy' % k), 'wb').write(head + struct.pack('<%df' % len(v), *v))
PY
}
