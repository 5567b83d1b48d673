# The PyTorch reference for bench/step: the same MLP (784-512-512-10,
# GELU), batch 128, cross-entropy, AdamW (lr 1e-3, wd 0.01), on the CPU
# (as many threads as cores) or on CUDA (argument 2); or (argument 3 "cnn")
# the Fashion-MNIST CNN of examples/fmnist-cnn, batch 64, or ("cnn-wide")
# bench/cnn-wide.json, batch 256; fp32 and bf16 autocast,
# PyTorch's default AdamW implementation for the device. Prints
# "fp32 <ms/step>" and "bf16 <ms/step>". On the CPU machine run with Debian's
# python3-torch; on the GPU machine with its PyTorch.
import os, sys, time
import torch, torch.nn as nn, torch.nn.functional as F

torch.manual_seed(0)
torch.set_num_threads(os.cpu_count())
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 200
dev = sys.argv[2] if len(sys.argv) > 2 else "cpu"
cnn = len(sys.argv) > 3 and sys.argv[3] == "cnn"
if cnn:
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10)).to(dev)
    batch, shape = 64, (1, 28, 28)
elif len(sys.argv) > 3 and sys.argv[3] == "cnn-wide":
    model = nn.Sequential(nn.Conv2d(16, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(128 * 8 * 8, 10)).to(dev)
    batch, shape = 256, (16, 32, 32)
else:
    model = nn.Sequential(nn.Linear(784, 512), nn.GELU(), nn.Linear(512, 512), nn.GELU(), nn.Linear(512, 10)).to(dev)
    batch, shape = 128, (784,)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
x = torch.rand(batch, *shape, device=dev)
y = torch.randint(0, 10, (batch,), device=dev)
sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)

def step(bf16):
    opt.zero_grad(set_to_none=True)
    with torch.autocast(dev, dtype=torch.bfloat16, enabled=bf16):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()

for name, bf16 in (("fp32", False), ("bf16", True)):
    for _ in range(20):
        step(bf16)
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        step(bf16)
    sync()
    print(name, (time.perf_counter() - t) / steps * 1e3, flush=True)
print("torch", torch.__version__, dev, torch.cuda.get_device_name(0) if dev == "cuda" else "threads %d" % torch.get_num_threads())
