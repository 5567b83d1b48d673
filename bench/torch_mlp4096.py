# The PyTorch reference for bench/mlp4096_step, taken from the project's
# torch_reference.py: MLP 1024 -> 4x4096 (GELU) -> 16, batch 4096,
# cross-entropy, fused AdamW (lr 1e-4), on CUDA; eager fp32, tf32, bf16
# autocast, fp16 autocast + GradScaler, torch.compile bf16. Prints
# "<mode> <ms/step>" per line, then the torch version and device.
import sys, time, torch, torch.nn as nn, torch.nn.functional as F
torch.manual_seed(0)
dev = "cuda"
n = int(sys.argv[1]) if len(sys.argv) > 1 else 50

def timeit(step, warm=5):
    for _ in range(warm): step()
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(n): step()
    torch.cuda.synchronize(); return (time.perf_counter() - t) / n * 1e3

def mlp(width=4096, depth=4, din=1024, dout=16):
    layers = [nn.Linear(din, width), nn.GELU()]
    for _ in range(depth - 1): layers += [nn.Linear(width, width), nn.GELU()]
    layers += [nn.Linear(width, dout)]
    return nn.Sequential(*layers).to(dev)

def bench(mode, compile_=False):
    torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
    m = mlp()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4, fused=True)
    scaler = torch.amp.GradScaler(enabled=(mode == "fp16"))
    dt = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mode)
    fwd = torch.compile(m) if compile_ else m
    x, y = torch.randn(4096, 1024, device=dev), torch.randint(0, 16, (4096,), device=dev)
    def step():
        with torch.autocast("cuda", dtype=dt, enabled=dt is not None):
            loss = F.cross_entropy(fwd(x).float(), y)
        scaler.scale(loss).backward(); scaler.step(opt); scaler.update(); opt.zero_grad(set_to_none=True)
    ms = timeit(step)
    del m, opt; torch.cuda.empty_cache()
    return ms

for mode in ("fp32", "tf32", "bf16", "fp16"):
    print(mode, bench(mode), flush=True)
print("compile_bf16", bench("bf16", compile_=True), flush=True)
print("torch", torch.__version__, torch.cuda.get_device_name(0))
