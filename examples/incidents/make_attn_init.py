"""Writes the initial weights of the fp16-attention-logits incident
(fp16-attention-logits.model.json; prectune train --init): a model whose
one attention head (head_dim 64) reads q and k as 128 x its normalized
input, as a badly scaled initialization (or an input scaled up before the
norm's gain learns it) gives. Every token embedding is a row of +-0.1, so
after the pre-attention layer norm a position's q . k with itself is
128^2 x 64 and its score (q / sqrt(64)) . k is 131072: past fp16's 65504
on every row of every sample, before the softmax, at the first step.
In bf16 or fp32 the same scores are finite (the softmax saturates).
Usage: python3 make_attn_init.py OUT.bin"""
import random
import struct
import sys

V, D, T, S = 256, 64, 32, 128.0
rnd = random.Random(5)
vals = []
vals += [rnd.choice((-0.1, 0.1)) for _ in range(V * D)]          # wte [V, D]: +-0.1, the norm makes it +-1
vals += [0.0] * (T * D)                                          # wpe [T, D]
vals += [1.0] * D + [0.0] * D                                    # h0.ln1 gain, bias
for part in range(3):                                            # h0.attn.qkv [3D, D]: q, k, v
    for r in range(D):
        for c in range(D):
            vals.append(S if part < 2 and r == c else (rnd.gauss(0, 0.02) if part == 2 else 0.0))
vals += [0.0] * (3 * D)                                          # ... its bias
vals += [rnd.gauss(0, 0.02) for _ in range(D * D)] + [0.0] * D   # h0.attn.proj
vals += [1.0] * D + [0.0] * D                                    # h0.ln2
vals += [rnd.gauss(0, 0.02) for _ in range(4 * D * D)] + [0.0] * (4 * D)  # h0.mlp.fc [4D, D]
vals += [rnd.gauss(0, 0.02) for _ in range(D * 4 * D)] + [0.0] * D        # h0.mlp.fc2 [D, 4D]
vals += [1.0] * D + [0.0] * D                                    # lnf
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<%df" % len(vals), *vals))
