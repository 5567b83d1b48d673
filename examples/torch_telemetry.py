"""Write prectune's telemetry CSV from a PyTorch training loop, so that
`prectune diagnose run.csv` can explain a NaN or a divergence in a model
prectune did not train.

One row per step, layer and tensor role: x (input activation), w (weight),
dy (output gradient), dw (weight gradient) of every nn.Linear / nn.Conv*
module, every `every` steps and on any step whose loss or gradients are not
finite. Columns (docs/diagnose.md, "Runs of other frameworks"):
  step, layer, role, format, scale, count, nan, pos_inf, neg_inf, zero,
  absmax, min_nonzero, overflow_fp16, loss, loss_scale, skipped

Use:
    tel = TelemetryCSV(model, "run.csv", every=10)
    for step, (x, y) in enumerate(loader):
        with torch.autocast("cuda", dtype=torch.float16):
            loss = loss_fn(model(x), y)
        scaler.scale(loss).backward()
        tel.after_backward(step, loss, scaler)   # before scaler.step / zero_grad
        scaler.step(optimizer); scaler.update(); optimizer.zero_grad()
    tel.close()
"""
import csv
import math

import torch

FORMATS = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}
COLUMNS = ["step", "layer", "role", "format", "scale", "count", "nan", "pos_inf", "neg_inf", "zero",
           "absmax", "min_nonzero", "overflow_fp16", "loss", "loss_scale", "skipped"]


def tensor_stats(t):
    t = t.detach().float()
    finite = torch.isfinite(t)
    a = t.abs()
    nonzero = a[(a > 0) & ~torch.isnan(a)]
    return {
        "count": t.numel(),
        "nan": int(torch.isnan(t).sum()),
        "pos_inf": int((t == math.inf).sum()),
        "neg_inf": int((t == -math.inf).sum()),
        "zero": int((t == 0).sum()),
        "absmax": float(a[~torch.isnan(a)].max()) if (~torch.isnan(a)).any() else 0.0,
        "min_nonzero": float(nonzero.min()) if nonzero.numel() else 0.0,
        "overflow_fp16": int(((a >= 65520) & finite).sum()),
    }


class TelemetryCSV:
    def __init__(self, model, path, every=10):
        self.every, self.rows, self.inputs, self.grads = every, [], {}, {}
        self.file = open(path, "w", newline="")
        self.out = csv.DictWriter(self.file, COLUMNS)
        self.out.writeheader()
        self.modules = [(n, m) for n, m in model.named_modules()
                        if isinstance(m, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d))]
        for name, m in self.modules:  # forward order = registration order of the layers
            m.register_forward_pre_hook(lambda mod, args, name=name: self._keep(self.inputs, name, args[0]))
            m.register_full_backward_hook(lambda mod, gin, gout, name=name: self._keep(self.grads, name, gout[0]))

    @staticmethod
    def _keep(store, name, t):
        if t is not None:
            store[name] = (t.detach(), FORMATS.get(torch.get_autocast_gpu_dtype() if torch.is_autocast_enabled() else t.dtype, "fp32"))

    def after_backward(self, step, loss, scaler=None):
        scale = float(scaler.get_scale()) if scaler is not None and scaler.is_enabled() else 1.0
        grads_ok = all(p.grad is None or bool(torch.isfinite(p.grad).all()) for _, m in self.modules for p in m.parameters())
        loss_v = float(loss.detach())
        if step % self.every and grads_ok and math.isfinite(loss_v):
            self.inputs.clear(), self.grads.clear()
            return
        base = {"step": step, "loss": loss_v, "loss_scale": scale, "skipped": int(not grads_ok)}
        for name, m in self.modules:  # forward: x, w
            if name in self.inputs:
                t, fmt = self.inputs[name]
                self.out.writerow({**base, "layer": name, "role": "x", "format": fmt, "scale": 1, **tensor_stats(t)})
            self.out.writerow({**base, "layer": name, "role": "w", "format": "fp32", "scale": 1, **tensor_stats(m.weight)})
        for name, m in reversed(self.modules):  # backward: dy, dw
            if name in self.grads:
                t, fmt = self.grads[name]
                self.out.writerow({**base, "layer": name, "role": "dy", "format": fmt, "scale": 1, **tensor_stats(t)})
            if m.weight.grad is not None:
                self.out.writerow({**base, "layer": name, "role": "dw", "format": "fp32", "scale": 1, **tensor_stats(m.weight.grad)})
        self.inputs.clear(), self.grads.clear()
        self.file.flush()

    def close(self):
        self.file.close()


if __name__ == "__main__":
    # A self-check on the CPU: a small MLP whose first layer receives inputs that
    # grow until they overflow fp16 (emulated by casting the input to half).
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))

    class Half(torch.nn.Module):  # stands in for autocast on a CPU-only machine
        def forward(self, x):
            return x.half().float()

    net = torch.nn.Sequential(Half(), model)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    tel = TelemetryCSV(model, "torch_run.csv", every=5)
    for step in range(40):
        x = torch.randn(32, 8) * (10.0 ** (step / 8))  # reaches 1e5 by step 40
        y = torch.randint(0, 3, (32,))
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        tel.after_backward(step, loss)
        if all(torch.isfinite(p.grad).all() for p in model.parameters()):
            opt.step()
    tel.close()
    print("wrote torch_run.csv")
