#!/usr/bin/env python3
"""Convolution table for docs/kernels.md from `kiln-bench-kernels --benchmark_format=json` output:
1-thread real-time medians per conv shape, kiln/peer ratios and the geometric means the issue
acceptance lines use. Usage: python3 bench/conv_table.py bench.json"""
import json,sys,re
def load(p):
    d=json.load(open(p)); rows={}
    for b in d['benchmarks']:
        if b.get('run_type')=='aggregate' and b.get('aggregate_name')!='median': continue
        n=re.sub(r'/(real|cpu)_time$','',b.get('run_name',b['name']))
        if not n.startswith('conv/'): continue
        _,shape,impl,t=n.split('/')
        rows[(shape,impl,t)]=b['real_time']*{'ns':1e-6,'us':1e-3,'ms':1}[b['time_unit']]
    return rows
r=load(sys.argv[1]); t='t1'
shapes=[]
for (s,i,tt) in r:
    if s not in shapes: shapes.append(s)
print('| shape | kiln_w8a8 | kiln_w4a8 | onednn_u8s8 | xnnpack_qc8 | w8/onednn | w4/onednn | w8/xnnpack |')
print('|---|---|---|---|---|---|---|---|')
import math
g={'w8o':[], 'w4o':[], 'w8x':[]}
for s in shapes:
    k8=r.get((s,'kiln_w8a8',t)); k4=r.get((s,'kiln_w4a8',t)); o=r.get((s,'onednn_u8s8',t)); x=r.get((s,'xnnpack_qc8',t))
    f=lambda v: '-' if v is None else f'{v:.3f}'
    q=lambda a,b: '-' if not a or not b else f'{a/b:.2f}'
    print(f'| {s} | {f(k8)} | {f(k4)} | {f(o)} | {f(x)} | {q(k8,o)} | {q(k4,o)} | {q(k8,x)} |')
def gm(sel, a, b):
    v=[r[(s,a,t)]/r[(s,b,t)] for s in shapes if sel(s) and (s,a,t) in r and (s,b,t) in r]
    return math.exp(sum(map(math.log,v))/len(v)) if v else float('nan')
print()
print(f"geomean r18_3x3: w8/onednn {gm(lambda s:s.startswith('r18_3x3'),'kiln_w8a8','onednn_u8s8'):.2f}, w4/onednn {gm(lambda s:s.startswith('r18_3x3'),'kiln_w4a8','onednn_u8s8'):.2f}; "
      f"1x1: w8/onednn {gm(lambda s:'1x1' in s or '_pw_' in s,'kiln_w8a8','onednn_u8s8'):.2f}; "
      f"dw: w8/onednn {gm(lambda s:'_dw' in s,'kiln_w8a8','onednn_u8s8'):.2f}, w8/xnnpack {gm(lambda s:'_dw' in s,'kiln_w8a8','xnnpack_qc8'):.2f}")
