#!/usr/bin/env python3
"""Golden tables for the format tests, made outside the project's code.

The oracle is the ml_dtypes package (Google's numpy dtypes for bfloat16 and
the OCP fp8 formats) plus numpy's own float16: neither shares code with
kernels/formats.c. Run once (pip install numpy ml_dtypes), commit the .bin
files; the C tests read them, so CI needs no Python.

  decode_<fmt>.bin  every code of the format decoded to float32 (LE),
                    65536 entries for bf16/fp16, 256 for e4m3/e5m2.
  encode_cases.bin  records of 12 bytes: float32 input, uint16 bf16,
                    uint16 fp16, uint8 e4m3 (saturating, as
                    __NV_SATFINITE), uint8 e5m2, uint8 e5m2 saturating,
                    uint8 flags (bit0: input is NaN; then only NaN-ness of
                    the outputs is meaningful: ml_dtypes keeps NaN
                    payloads, CUDA returns one canonical NaN).

Conventions applied here on top of ml_dtypes (DESIGN.md's table):
e4m3 has no inf, and the hardware cast saturates (SATFINITE): ml_dtypes
gives NaN for a finite input that overflows, we clamp to +-448. e5m2
saturating clamps +-inf results to +-57344.
"""
import struct, sys, os
import numpy as np
import ml_dtypes

out = os.path.dirname(os.path.abspath(__file__))
bf16, f16 = ml_dtypes.bfloat16, np.float16
e4m3, e5m2 = ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2

def decode_table(dt, n, utype):
    codes = np.arange(n, dtype=utype)
    return codes.view(dt).astype(np.float32)

tables = {
    "bf16": decode_table(bf16, 65536, np.uint16),
    "fp16": decode_table(f16, 65536, np.uint16),
    "e4m3": decode_table(e4m3, 256, np.uint8),
    "e5m2": decode_table(e5m2, 256, np.uint8),
}
for name, t in tables.items():
    t.astype("<f4").tofile(os.path.join(out, f"decode_{name}.bin"))

# Inputs: every boundary of the fp8 formats, a stride of the 16-bit ones,
# the specials, and random bit patterns.
def f32(x): return np.float32(x)
def up(x): return np.nextafter(np.float32(x), np.float32(np.inf))
def dn(x): return np.nextafter(np.float32(x), np.float32(-np.inf))
inputs = []
def around(values):
    v = np.sort(np.unique(values[np.isfinite(values)].astype(np.float64)))
    for a, b in zip(v[:-1], v[1:]):
        m = np.float32((a + b) / 2)  # exact in fp32 for all these formats
        inputs.extend([f32(a), up(a), dn(a), m, up(m), dn(m)])
    inputs.extend([f32(v[-1]), up(v[-1]), dn(v[-1])])
around(tables["e4m3"]); around(tables["e5m2"])
around(tables["fp16"][::61]); around(tables["bf16"][::67])
# overflow thresholds and their neighbours
for t in [448, 464, 480, 57344, 61440, 65504, 65520, 65536, 3.3895313892515355e38]:
    inputs.extend([f32(t), up(t), dn(t), -f32(t), -up(t)])
inputs.extend([np.float32(v) for v in
               [0.0, -0.0, np.inf, -np.inf, np.nan, 1.00390625, 1.0, 500.0, 70000.0,
                2.0**-24, 2.0**-25, 3 * 2.0**-26, 2.0**-9, 2.0**-10, 2.0**-16, 2.0**-17,
                1e-45, -1e-45, 2.0**-126, 2.0**-133, 2.0**-134, 3.4028234663852886e38]])
rng = np.random.default_rng(20261123)
inputs.extend(rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32).view(np.float32))
inputs.extend((rng.standard_normal(20000) * 10.0 ** rng.uniform(-12, 6, 20000)).astype(np.float32))
x = np.array(inputs, dtype=np.float32)
# also every sign
x = np.concatenate([x, -x])

with np.errstate(all="ignore"):
    b = x.astype(bf16).view(np.uint16)
    h = x.astype(f16).view(np.uint16)
    q4 = x.astype(e4m3).view(np.uint8).copy()
    q5 = x.astype(e5m2).view(np.uint8).copy()
isnan = np.isnan(x)
# e4m3 saturation: a non-NaN input that came out NaN (overflow) -> +-448
ovf4 = ~isnan & ((q4 & 0x7F) == 0x7F)
q4[ovf4] = (q4[ovf4] & 0x80) | 0x7E
q5s = q5.copy()
inf5 = ~isnan & ((q5s & 0x7F) == 0x7C)
q5s[inf5] = (q5s[inf5] & 0x80) | 0x7B

rec = np.zeros(len(x), dtype=[("x", "<f4"), ("bf16", "<u2"), ("fp16", "<u2"),
                              ("e4m3", "u1"), ("e5m2", "u1"), ("e5m2s", "u1"), ("flags", "u1")])
rec["x"], rec["bf16"], rec["fp16"] = x, b, h
rec["e4m3"], rec["e5m2"], rec["e5m2s"], rec["flags"] = q4, q5, q5s, isnan.astype(np.uint8)
rec.tofile(os.path.join(out, "encode_cases.bin"))
print(f"{len(x)} encode cases, ml_dtypes {ml_dtypes.__version__}, numpy {np.__version__}")
