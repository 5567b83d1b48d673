# Measures what the tuner's cost model needs of a GPU: dense GEMM
# throughput per format (PyTorch matmul; torch._scaled_mm for fp8) at a
# large square shape and at the shapes of a 4096-wide MLP, and the memory
# bandwidth of a copy. Writes the table as JSON (policies/devices/*.json).
# Run on the device:  python3 bench/device_throughput.py > policies/devices/h100.json
import json, sys, time, torch

def bench(fn, reps=20):
    for _ in range(3): fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps): fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / reps

dev = torch.device("cuda")
out = {"device": torch.cuda.get_device_name(0), "measured_with": f"torch {torch.__version__}",
       "date": time.strftime("%Y-%m-%d"), "gemm_tflops": {}, "gemm_tflops_4096x4096x4096": {}}
m = n = k = 8192
for shape_key, (M, N, K) in (("gemm_tflops", (8192, 8192, 8192)), ("gemm_tflops_4096x4096x4096", (4096, 4096, 4096))):
    for fmt in ("fp32", "tf32", "bf16", "fp16", "fp8_e4m3"):
        torch.backends.cuda.matmul.allow_tf32 = fmt == "tf32"
        if fmt.startswith("fp8"):
            a = torch.randn(M, K, device=dev).to(torch.float8_e4m3fn)
            b = torch.randn(N, K, device=dev).to(torch.float8_e4m3fn).t()
            one = torch.ones((), device=dev)
            f = lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
        else:
            dt = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[fmt]
            a = torch.randn(M, K, device=dev, dtype=dt); b = torch.randn(K, N, device=dev, dtype=dt)
            f = lambda: a @ b
        s = bench(f)
        out[shape_key][fmt] = round(2 * M * N * K / s / 1e12, 1)
x = torch.empty(1 << 28, device=dev); y = torch.empty_like(x)
s = bench(lambda: y.copy_(x))
out["copy_gb_per_s"] = round(2 * x.numel() * 4 / s / 1e9, 1)
json.dump(out, sys.stdout, indent=2)
print()
