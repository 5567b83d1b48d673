# Kernel time of one PyTorch step of the issue-5 MLP, by kernel, from torch.profiler: what
# bench/RESULTS.md compares our kernels (ncu) against. Modes: bf16 (eager autocast), compile
# (torch.compile bf16), tf32 (eager fp32 with TF32 matmuls); default bf16 compile.
# usage (on the GPU machine): python3 bench/torch_kernels.py [bf16|compile|tf32 ...]
import sys, torch, torch.nn as nn, torch.nn.functional as F
from torch.profiler import profile, ProfilerActivity
torch.manual_seed(0); dev = "cuda"
def mlp():
    L = [nn.Linear(1024, 4096), nn.GELU()]
    for _ in range(3): L += [nn.Linear(4096, 4096), nn.GELU()]
    return nn.Sequential(*(L + [nn.Linear(4096, 16)])).to(dev)
modes = sys.argv[1:] or ["bf16", "compile"]
for mode in modes:
    if mode not in ("bf16", "compile", "tf32"): sys.exit(f"torch_kernels.py: unknown mode '{mode}' (bf16, compile, tf32)")
    comp, amp = mode == "compile", mode != "tf32"
    torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
    m = mlp(); opt = torch.optim.AdamW(m.parameters(), lr=1e-4, fused=True)
    fwd = torch.compile(m) if comp else m
    x, y = torch.randn(4096, 1024, device=dev), torch.randint(0, 16, (4096,), device=dev)
    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(fwd(x).float(), y)
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    for _ in range(10): step()
    torch.cuda.synchronize()
    N = 10
    with profile(activities=[ProfilerActivity.CUDA]) as p:
        for _ in range(N): step()
        torch.cuda.synchronize()
    rows = {}
    for e in p.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            k = e.name[:110]; t, c = rows.get(k, (0.0, 0)); rows[k] = (t + e.device_time_total / 1e3 / N, c + 1)
    tot = sum(t for t, c in rows.values())
    print(f"== {mode}: kernel ms/step {tot:.3f}")
    for k, (t, c) in sorted(rows.items(), key=lambda r: -r[1][0])[:30]:
        print(f"{t:8.3f} {c//N:4d}  {k}")
