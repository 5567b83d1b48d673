# What a 4096^3 TF32 GEMM costs on the GPU by the layout of its operands (torch.matmul, cuBLASLt's
# kernels): the measurement behind cu_gemm transposing one operand of a TF32 GEMM whose operands
# are neither k-contiguous (a weight gradient, dy^T x). With "fp32", the same without TF32.
# usage (on the GPU machine): python3 bench/tf32_layouts.py [fp32]
import sys, time, torch
torch.backends.cuda.matmul.allow_tf32 = "fp32" not in sys.argv[1:]
n = 4096
dy, x = torch.randn(n, n, device="cuda"), torch.randn(n, n, device="cuda")
dyT, xT = dy.t().contiguous(), x.t().contiguous()
x1 = torch.randn(n, 1024, device="cuda")

def us(f, reps=50):
    for _ in range(5): f()
    torch.cuda.synchronize(); t0 = time.perf_counter()
    for _ in range(reps): f()
    torch.cuda.synchronize(); return (time.perf_counter() - t0) / reps * 1e6

print("tf32" if torch.backends.cuda.matmul.allow_tf32 else "fp32", torch.__version__, torch.cuda.get_device_name(0))
for name, f in [("dy^T x, neither k-contiguous", lambda: dy.t() @ x),
                ("dy^T x, dy^T k-contiguous", lambda: dyT @ x),
                ("dy^T x, x k-contiguous", lambda: dy.t() @ xT.t()),
                ("dy^T x, both k-contiguous", lambda: dyT @ xT.t()),
                ("4096 x 1024 weight gradient, neither", lambda: dy.t() @ x1),
                ("4096 x 1024 weight gradient, dy^T k-contiguous", lambda: dyT @ x1),
                ("torch's transpose copy of dy", lambda: dy.t().contiguous())]:
    print(f"{us(f):8.1f} us  {name}")
