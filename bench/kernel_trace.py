# Kernel trace of prectune's training steps, from CUPTI through torch.profiler, in one process:
# each step's span on the GPU, the kernels' busy time and the gaps between them, then every
# kernel of the last traced step with its duration and the idle time after it. What
# bench/RESULTS.md reads where it says where a step's time goes (ncu times kernels one by one,
# with the GPU idle between them; this sees them as the step runs). Also the step time by the
# wall clock, over 50 untraced steps before and after the trace.
# usage (on the GPU machine, after a CUDA build):
#   python3 bench/kernel_trace.py BUILD/libprectune.so POLICY.json [steps traced, default 8]
#   (env PT_TRACE_MODEL, default bench/mlp4096.json; PT_TRACE_DATA, default synthetic:65536,1024,16;
#    PT_TRACE_WARM, warm-up steps, default 20)
import ctypes as C, os, sys, time
import torch
from torch.profiler import profile, ProfilerActivity

if len(sys.argv) < 3:
    sys.exit("usage: kernel_trace.py LIBPRECTUNE.so POLICY.json [steps]")
lib = C.CDLL(sys.argv[1])
policy, N = sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 8
model = os.environ.get("PT_TRACE_MODEL", "bench/mlp4096.json")
data_spec = os.environ.get("PT_TRACE_DATA", "synthetic:65536,1024,16")
torch.zeros(1, device="cuda")  # the profiler's CUDA context first

class Opaque(C.Structure):  # room for the library's structs (pt_model_spec, pt_policy, pt_data, ...)
    _fields_ = [("b", C.c_char * (1 << 20))]
class Options(C.Structure):  # pt_data_options, returned by value
    _fields_ = [("b", C.c_char * 4096)]

lib.pt_last_error.restype = C.c_char_p
lib.pt_data_options_default.restype = Options
def ok(st, what):
    if st: sys.exit(f"kernel_trace.py: {what}: {lib.pt_last_error().decode()}")

spec, pol, data, rec = Opaque(), Opaque(), Opaque(), Opaque()
be, t = C.c_void_p(), C.c_void_p()
opts = lib.pt_data_options_default()
ok(lib.pt_model_spec_load(model.encode(), C.byref(spec)), model)
ok(lib.pt_policy_load(policy.encode(), C.byref(pol)), policy)
ok(lib.pt_data_open(data_spec.encode(), C.byref(opts), C.byref(data)), data_spec)
ok(lib.pt_backend_open(b"cuda", C.byref(be)), "cuda")
ok(lib.pt_trainer_create(be, C.byref(spec), C.byref(pol), C.byref(data), C.byref(t)), "trainer")
step = lambda: ok(lib.pt_trainer_step(t, C.byref(rec)), "step")  # returns once the step's flags are back

def wall(label, n=50):
    t0 = time.perf_counter()
    for _ in range(n): step()
    print(f"{label}: {(time.perf_counter() - t0) / n * 1e3:.3f} ms/step by the wall clock over {n} steps")

for _ in range(int(os.environ.get("PT_TRACE_WARM", "20"))): step()
wall("before the trace")
with profile(activities=[ProfilerActivity.CUDA]) as prof:
    for _ in range(N): step()
wall("after the trace")
ev = sorted((e.time_range.start, e.time_range.end - e.time_range.start, e.name) for e in prof.events()
            if e.device_type == torch.autograd.DeviceType.CUDA)
first = [i for i, e in enumerate(ev) if e[2].startswith("gather_rows16")]  # a step's first kernel
print(f"{policy}: {len(first)} steps traced")
for a, b in zip(first, first[1:]):
    span = ev[b][0] - ev[a][0]; busy = sum(e[1] for e in ev[a:b])
    print(f"step span {span:8.1f} us  busy {busy:8.1f}  gaps {span - busy:7.1f}  kernels {b - a}")
if len(first) >= 2:
    a, b = first[-2], first[-1]
    for i in range(a, b):
        print(f"{ev[i][1]:8.1f} us  gap after {ev[i + 1][0] - ev[i][0] - ev[i][1]:6.1f}  {ev[i][2][:100]}")
