#!/usr/bin/env python3
"""Parity of prectune's trainer with PyTorch (issue 5): the same MLP, the same
initial weights and the same batches, trained 50 steps by both; the
per-step training losses must agree within 1e-4 relative in fp32 and 1e-2
in bf16 (prectune's bf16-amp preset against torch.autocast(bfloat16)).

usage: torch_parity.py PRECTUNE [--device cuda|cpu]
Exits 77 (skipped, said why) where PyTorch or the device is missing.

The data set is one batch (256 samples), so every step of both trainers
sees the same samples whatever their shuffling. The initial weights are
PyTorch's default initialization under a fixed seed, handed to prectune
with `train --init` (float32, little-endian, parameters in model order).
"""
import csv
import os
import subprocess
import sys
import tempfile

STEPS, BATCH, DIM, HIDDEN, CLASSES = 50, 256, 64, 256, 10
LR, WD = 1e-3, 0.01


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    prectune = sys.argv[1]
    device = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cuda"
    try:
        import torch
    except ImportError:
        print("SKIP torch_parity: PyTorch is not installed here")
        return 77
    if device == "cuda" and not torch.cuda.is_available():
        print("SKIP torch_parity: no CUDA device")
        return 77
    torch.manual_seed(0)
    x = torch.randn(BATCH, DIM)
    y = torch.randint(0, CLASSES, (BATCH,))
    init = torch.nn.Sequential(torch.nn.Linear(DIM, HIDDEN), torch.nn.GELU(), torch.nn.Linear(HIDDEN, HIDDEN),
                               torch.nn.GELU(), torch.nn.Linear(HIDDEN, CLASSES))
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data.csv")
        with open(data, "w", newline="") as f:
            w = csv.writer(f)
            for i in range(BATCH):
                w.writerow([repr(float(v)) for v in x[i].tolist()] + [int(y[i])])
        weights = os.path.join(tmp, "init.bin")
        with open(weights, "wb") as f:
            f.write(torch.cat([p.detach().flatten() for p in init.parameters()]).numpy().astype("<f4").tobytes())
        model = os.path.join(tmp, "model.json")
        with open(model, "w") as f:
            f.write('{"name": "parity", "input": [%d], "layers": ['
                    '{"name": "fc1", "type": "linear", "out": %d}, {"name": "a1", "type": "gelu"},'
                    '{"name": "fc2", "type": "linear", "out": %d}, {"name": "a2", "type": "gelu"},'
                    '{"name": "head", "type": "linear", "out": %d}],'
                    '"loss": "softmax_cross_entropy",'
                    '"optimizer": {"type": "adamw", "lr": %g, "weight_decay": %g},'
                    '"train": {"batch": %d, "steps": %d, "warmup": 0, "schedule": "constant", "seed": 1,'
                    ' "eval_every": 0}}' % (DIM, HIDDEN, HIDDEN, CLASSES, LR, WD, BATCH, STEPS))
        presets = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "policies", "presets")
        for name, policy, tol in (("fp32", "fp32.json", 1e-4), ("bf16", "bf16-amp.json", 1e-2)):
            losses_csv = os.path.join(tmp, name + ".csv")
            subprocess.run([prectune, "train", model, "--data", "csv:" + data, "--label", str(DIM),
                            "--no-header", "--no-standardize", "--val-fraction", "0", "--init", weights,
                            "--policy", os.path.join(presets, policy), "--device", device, "--no-db", "--quiet",
                            "--steps-csv", losses_csv], check=True, stdout=subprocess.DEVNULL)
            with open(losses_csv) as f:
                ours = [float(r["loss"]) for r in csv.DictReader(f)]
            theirs = torch_losses(torch, init, x, y, device, bf16=name == "bf16")
            worst = max(abs(a - b) / abs(b) for a, b in zip(ours, theirs))
            ok = len(ours) == STEPS and worst <= tol
            failed |= not ok
            print("%s: %d steps, worst relative loss difference %.3g (tolerance %g), first %.6f vs %.6f, "
                  "last %.6f vs %.6f: %s" % (name, len(ours), worst, tol, ours[0], theirs[0], ours[-1], theirs[-1],
                                             "ok" if ok else "FAIL"))
    return 1 if failed else 0


def torch_losses(torch, init, x, y, device, bf16):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = torch.nn.Sequential(torch.nn.Linear(DIM, HIDDEN), torch.nn.GELU(), torch.nn.Linear(HIDDEN, HIDDEN),
                                torch.nn.GELU(), torch.nn.Linear(HIDDEN, CLASSES))
    model.load_state_dict(init.state_dict())
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WD)
    xd, yd = x.to(device), y.to(device)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(xd), yd)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return losses


if __name__ == "__main__":
    sys.exit(main())
