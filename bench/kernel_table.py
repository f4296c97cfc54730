#!/usr/bin/env python3
"""Turns `kiln-bench-kernels --benchmark_format=json` output into the markdown tables of
docs/kernels.md (GEMM section). Plain python3, standard library only.

Usage:
  kiln-bench-kernels --benchmark_filter='^(gemm|peak)/' --benchmark_repetitions=5 \
      --benchmark_format=json > gemm.json
  python3 bench/kernel_table.py gemm.json [--time real|cpu] [--title TEXT]

With repetitions the median aggregate is used, else the single run. Times are milliseconds.
Ratios are kiln time / peer time (below 1 means kiln is faster)."""
import argparse
import json
import re
import sys
from collections import defaultdict

IMPLS = ["kiln_w8a8", "kiln_w4a8", "onednn_u8s8", "xnnpack_qs8"]
TO_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


def load(path, time_key):
    data = json.load(open(path))
    rows = {}  # base name -> record (median preferred)
    for b in data.get("benchmarks", []):
        if b.get("error_occurred"):
            continue
        base = b.get("run_name", b["name"])
        base = re.sub(r"/(real|cpu)_time$", "", base)
        kind = b.get("run_type", "iteration")
        if kind == "aggregate" and b.get("aggregate_name") != "median":
            continue
        if kind == "iteration" and base in rows and rows[base]["_median"]:
            continue
        ms = b[time_key] * TO_MS[b.get("time_unit", "ns")]
        rec = {"ms": ms, "gops": b.get("GOPS", 0) / 1e9 if b.get("GOPS", 0) > 1e6 else b.get("GOPS", 0),
               "pct": b.get("pct_peak"), "label": b.get("label", ""), "_median": kind == "aggregate"}
        if kind == "aggregate" or base not in rows:
            rows[base] = rec
    return data.get("context", {}), rows


def fmt(x, digits=3):
    return "-" if x is None else f"{x:.{digits}g}" if x < 100 else f"{x:.0f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json")
    ap.add_argument("--time", choices=["real", "cpu"], default="real")
    ap.add_argument("--title", default="")
    args = ap.parse_args()
    context, rows = load(args.json, args.time + "_time")

    gemm = defaultdict(dict)  # (shape, threads) -> impl -> rec
    peaks = {}
    for name, rec in rows.items():
        m = re.match(r"^gemm/([^/]+)/([^/]+)/t(\d+)$", name)
        if m:
            gemm[(m.group(1), int(m.group(3)))][m.group(2)] = rec
        elif name.startswith("peak/"):
            peaks[name[5:]] = rec
    # GOPS and % of peak from the chosen time (the benchmark's own counters use wall time): the
    # reference peak is oneDNN's int8 sequence for AVX2 runs, zmm vpdpbusd for AVX-512 VNNI runs.
    isa = "avx512vnni" if any("avx512vnni" in r["label"] for i in gemm.values() for r in i.values()) else "avx2"
    ref_loop = {"avx2": "avx2_u8s8_vpmaddubsw_vpmaddwd_vpaddd", "avx512vnni": "avx512vnni_vpdpbusd_zmm"}[isa]
    peak = peaks.get(ref_loop, {}).get("gops")
    for (shape, t), impls in gemm.items():
        dims = re.match(r"M(\d+)xK(\d+)xN(\d+)", shape)
        for r in impls.values():
            if dims and r["ms"] > 0:
                ops = 2.0 * int(dims.group(1)) * int(dims.group(2)) * int(dims.group(3))
                r["gops"] = ops / (r["ms"] * 1e-3) / 1e9
                r["pct"] = 100.0 * r["gops"] / (peak * t) if peak else None
    out = []
    if args.title:
        out.append(f"### {args.title}\n")
    host = context.get("host_name", "?")
    out.append(f"Host `{host}`, {context.get('num_cpus', '?')} CPUs, {context.get('mhz_per_cpu', '?')} MHz, "
               f"load average {context.get('load_avg', '?')}; {args.time} time, "
               f"{'median of repetitions' if any(r['_median'] for r in rows.values()) else 'single run'}.\n")
    if peaks:
        out.append("| peak loop (1 thread) | GOPS | MAC/cycle at the nominal clock |")
        out.append("|---|---|---|")
        mhz = context.get("mhz_per_cpu")
        for name, rec in sorted(peaks.items()):
            mac = rec["gops"] * 1e9 / 2 / (mhz * 1e6) if mhz else None
            out.append(f"| {name} | {fmt(rec['gops'])} | {fmt(mac)} |")
        out.append("")
    for threads in sorted({t for (_, t) in gemm}):
        out.append(f"**{threads} thread{'s' if threads > 1 else ''}** (time in ms; GOPS; % of the measured "
                   f"`{ref_loop}` peak x threads)\n")
        out.append("| shape | " + " | ".join(IMPLS) + " | w8a8/onednn | w8a8/xnnpack | w4a8/onednn | w4a8/xnnpack |")
        out.append("|---|" + "---|" * (len(IMPLS) + 4))
        for (shape, t), impls in sorted(gemm.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            if t != threads:
                continue
            cells = []
            for i in IMPLS:
                r = impls.get(i)
                cells.append("-" if r is None else f"{fmt(r['ms'])} ({fmt(r['gops'])}; {fmt(r['pct'], 2)}%)")

            def ratio(a, b):
                ra, rb = impls.get(a), impls.get(b)
                return "-" if not ra or not rb else f"{ra['ms'] / rb['ms']:.2f}"
            out.append(f"| {shape} | " + " | ".join(cells) + f" | {ratio('kiln_w8a8', 'onednn_u8s8')} | "
                       f"{ratio('kiln_w8a8', 'xnnpack_qs8')} | {ratio('kiln_w4a8', 'onednn_u8s8')} | "
                       f"{ratio('kiln_w4a8', 'xnnpack_qs8')} |")
        out.append("")
    # Thread scaling: throughput at 2 threads over 1 thread.
    scal = []
    for (shape, t), impls in sorted(gemm.items()):
        if t != 1 or (shape, 2) not in gemm:
            continue
        cells = []
        for i in IMPLS:
            a, b = impls.get(i), gemm[(shape, 2)].get(i)
            cells.append("-" if not a or not b else f"{a['ms'] / b['ms']:.2f}x")
        scal.append(f"| {shape} | " + " | ".join(cells) + " |")
    if scal:
        out.append("2-thread speed-up (1-thread time / 2-thread time)\n")
        out.append("| shape | " + " | ".join(IMPLS) + " |")
        out.append("|---|" + "---|" * len(IMPLS))
        out.extend(scal)
        out.append("")
    labels = sorted({f"{i}: {r['label']}" for impls in gemm.values() for i, r in impls.items() if r["label"]})
    if labels:
        out.append("Implementations that ran: " + "; ".join(f"`{l}`" for l in labels) + "\n")
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
