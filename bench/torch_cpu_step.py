# The PyTorch reference for bench/cpu_step: the same MLP (784-512-512-10,
# GELU), batch 128, cross-entropy, AdamW (lr 1e-3, wd 0.01), on the CPU
# with as many threads as cores; fp32 and bf16 autocast. Prints
# "fp32 <ms/step>" and "bf16 <ms/step>". Run with Debian's python3-torch.
import os, sys, time
import torch, torch.nn as nn, torch.nn.functional as F

torch.manual_seed(0)
torch.set_num_threads(os.cpu_count())
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 200
model = nn.Sequential(nn.Linear(784, 512), nn.GELU(), nn.Linear(512, 512), nn.GELU(), nn.Linear(512, 10))
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
x = torch.rand(128, 784)
y = torch.randint(0, 10, (128,))

def step(bf16):
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()

for name, bf16 in (("fp32", False), ("bf16", True)):
    for _ in range(20):
        step(bf16)
    t = time.perf_counter()
    for _ in range(steps):
        step(bf16)
    print(name, (time.perf_counter() - t) / steps * 1e3, flush=True)
print("torch", torch.__version__, "threads", torch.get_num_threads())
