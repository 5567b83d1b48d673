#!/usr/bin/env python3
"""Parity of prectune's transformer layers with PyTorch on the CPU: the same
small GPT (2 pre-norm blocks, width 64, 4 heads, context 32, vocabulary 256,
the head tied to the token embedding), the same initial weights and the same
token sequences. Compared: the logits, the mean loss over every token and
every parameter's gradient of one batch, then the losses of 50 AdamW steps
on it; in fp32 and, against torch.autocast(bfloat16), in bf16.

usage: torch_gpt_parity.py GPT_PROBE PRESETS_DIR
Exits 77 (skipped, said why) where PyTorch is missing.

The initial weights are PyTorch's (its default initialization, the two
tables N(0, 0.02) as GPT-2's), handed to prectune as `train --init` reads
them (float32, parameters in model order; the tied weight once). The batch
is every sequence of the token file, so every step of both trainers sees
the same samples whatever their shuffling.
"""
import math
import os
import subprocess
import sys
import tempfile

V, D, H, T, N, BLOCKS = 256, 64, 4, 32, 8, 2
STEPS, LR, WD = 50, 1e-3, 0.01
# fp32: the two sides sum in other orders (OpenBLAS's blocking, PyTorch's
# kernels); each op's result is a few ulp (6e-8) apart, carried through some
# 30 ops of a forward and its backward: about 1e-6 of a tensor's largest
# value, measured 2e-7 to 2e-6 here; 1e-5 keeps a margin of 5 over that.
TOL_FP32 = 1e-5
# the 50-step trajectory: Adam amplifies those differences step by step
# (the MLP parity's 1e-4, tests/torch_parity.py)
TOL_TRAJ_FP32 = 1e-4
# bf16: the two round the same GEMM operands to bf16 but sum their products
# in other orders and round at other points (PyTorch's autocast rounds a
# weight gradient to bf16 before it reaches the fp32 master weight, and its
# GELU rounds its own output; here the weight gradient stays fp32 and the
# next GEMM's cast rounds the GELU): the trajectories wander apart by bf16
# noise, measured a mean of 2e-3 and single steps up to 9.5e-3 (3e-3 with
# OPENBLAS_CORETYPE=Sandybridge, whose sums run in another order). So: the
# mean within 5e-3, no step past 2e-2.
TOL_BF16_MEAN, TOL_BF16 = 5e-3, 2e-2


def build(torch):
    nn = torch.nn

    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(D, 3 * D)
            self.proj = nn.Linear(D, D)

    class Blk(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = nn.LayerNorm(D)
            self.attn = Attn()
            self.ln2 = nn.LayerNorm(D)
            self.fc = nn.Linear(D, 4 * D)
            self.fc2 = nn.Linear(4 * D, D)

        def forward(self, x, mask):
            b, t, c = x.shape
            hd = c // H
            q, k, v = self.attn.qkv(self.ln1(x)).split(c, dim=2)
            q = q.view(b, t, H, hd).transpose(1, 2)
            k = k.view(b, t, H, hd).transpose(1, 2)
            v = v.view(b, t, H, hd).transpose(1, 2)
            att = (q * (1.0 / math.sqrt(hd))) @ k.transpose(-2, -1)
            att = torch.softmax(att.float().masked_fill(~mask, float("-inf")), dim=-1)
            y = (att @ v).transpose(1, 2).reshape(b, t, c)
            x = x + self.attn.proj(y)
            return x + self.fc2(torch.nn.functional.gelu(self.fc(self.ln2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(V, D)
            self.wpe = nn.Embedding(T, D)
            self.h = nn.ModuleList([Blk() for _ in range(BLOCKS)])
            self.lnf = nn.LayerNorm(D)
            nn.init.normal_(self.wte.weight, std=0.02)
            nn.init.normal_(self.wpe.weight, std=0.02)

        def forward(self, idx):
            mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
            x = self.wte(idx) + self.wpe.weight[: idx.shape[1]]
            for b in self.h:
                x = b(x, mask)
            return torch.nn.functional.linear(self.lnf(x), self.wte.weight)

    return GPT()


def spec():
    return ('{"name": "gpt-parity", "input": [%d], "layers": ['
            '{"name": "wte", "type": "embedding", "vocab": %d, "out": %d},'
            '{"name": "wpe", "type": "position_embedding"},'
            '{"name": "h", "type": "gpt_block", "heads": %d, "repeat": %d},'
            '{"name": "lnf", "type": "layernorm"},'
            '{"name": "head", "type": "linear", "out": %d, "tie": "wte", "bias": false}],'
            '"optimizer": {"type": "adamw", "lr": %g, "weight_decay": %g},'
            '"train": {"batch": %d, "steps": %d, "warmup": 0, "schedule": "constant", "seed": 1}}'
            % (T, V, D, H, BLOCKS, V, LR, WD, N, STEPS))


def rel(a, b):
    """the largest difference, relative to the largest reference value"""
    return float((a - b).abs().max() / b.abs().max())


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    probe, presets = sys.argv[1], sys.argv[2]
    try:
        import numpy
        import torch
    except ImportError:
        print("SKIP torch_gpt_parity: PyTorch is not installed here")
        return 77
    torch.manual_seed(0)
    model = build(torch)
    seqs = torch.randint(0, V, (N, T + 1), dtype=torch.int32)
    x, y = seqs[:, :T].long(), seqs[:, 1:].long()
    params = list(model.parameters())
    names = [n for n, _ in model.named_parameters()]
    init = torch.cat([p.detach().flatten() for p in params])
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        paths = {k: os.path.join(tmp, k) for k in ("model.json", "tokens.bin", "init.bin")}
        open(paths["model.json"], "w").write(spec())
        open(paths["tokens.bin"], "wb").write(seqs.numpy().astype("<i4").tobytes())
        open(paths["init.bin"], "wb").write(init.numpy().astype("<f4").tobytes())
        for name, preset, bf16 in (("fp32", "fp32.json", False), ("bf16", "bf16-amp.json", True)):
            out = os.path.join(tmp, name)
            os.mkdir(out)
            subprocess.run([probe, paths["model.json"], paths["tokens.bin"], paths["init.bin"], out,
                            os.path.join(presets, preset), str(STEPS)], check=True)
            logits = torch.from_numpy(numpy.fromfile(os.path.join(out, "logits.bin"), dtype="<f4")).view(N, T, V)
            grads = torch.from_numpy(numpy.fromfile(os.path.join(out, "grads.bin"), dtype="<f4"))
            losses = [float(v) for v in open(os.path.join(out, "losses.txt"))]
            m = build(torch)
            m.load_state_dict(model.state_dict())
            with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=bf16):
                z = m(x)
                loss = torch.nn.functional.cross_entropy(z.float().reshape(-1, V), y.reshape(-1))
            loss.backward()
            theirs_g = [p.grad.flatten() for p in m.parameters()]
            ok = True
            if not bf16:
                worst_g, worst_name, off = 0.0, "", 0
                for n_, g in zip(names, theirs_g):
                    e = rel(grads[off:off + g.numel()], g)
                    if e > worst_g:
                        worst_g, worst_name = e, n_
                    off += g.numel()
                el, eloss = rel(logits, z.detach().float()), abs(losses[0] - float(loss)) / float(loss)
                ok = off == grads.numel() and el <= TOL_FP32 and eloss <= TOL_FP32 and worst_g <= TOL_FP32
                print("fp32: logits %.2g, loss %.2g (%.6f vs %.6f), worst gradient %.2g (%s), of %d parameters "
                      "(tolerance %g)" % (el, eloss, losses[0], float(loss), worst_g, worst_name, off, TOL_FP32))
            traj = torch_losses(torch, model, x, y, bf16)
            diffs = [abs(a - b) / abs(b) for a, b in zip(losses[1:], traj)]
            worst = max(diffs)
            if os.environ.get("PT_PARITY_VERBOSE"):
                print(" ".join("%.1e" % v for v in diffs))
            tol = TOL_BF16 if bf16 else TOL_TRAJ_FP32
            mean = sum(diffs) / len(diffs)
            ok = ok and len(losses) == STEPS + 1 and worst <= tol and (not bf16 or mean <= TOL_BF16_MEAN)
            print("%s: %d steps, worst relative loss difference %.3g (tolerance %g), mean %.3g%s, first %.6f vs %.6f, "
                  "last %.6f vs %.6f: %s" % (name, len(losses) - 1, worst, tol, mean,
                                             " (tolerance %g)" % TOL_BF16_MEAN if bf16 else "", losses[1], traj[0],
                                             losses[-1], traj[-1], "ok" if ok else "FAIL"))
            failed |= not ok
    return 1 if failed else 0


def torch_losses(torch, init, x, y, bf16):
    m = build(torch)
    m.load_state_dict(init.state_dict())
    opt = torch.optim.AdamW(m.parameters(), lr=LR, weight_decay=WD)
    out = []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(m(x).float().reshape(-1, V), y.reshape(-1))
        loss.backward()
        opt.step()
        out.append(float(loss))
    return out


if __name__ == "__main__":
    sys.exit(main())
