# The PyTorch reference for bench/gpt_step: the same pre-norm GPT as a
# prectune spec (embedding, learned positions, N blocks of layer norm,
# causal multi-head attention written as PyTorch 1.13 has it, without a
# fused kernel: q k^T, masked softmax, times v, and a GELU MLP of 4x the
# width; a final layer norm and the head tied to the embedding), the
# cross-entropy over every position, AdamW; fp32 on the CPU with as many
# threads as cores. Debian's python3-torch (1.13) has no
# scaled_dot_product_attention: the attention is the same ops prectune's
# reference runs. Prints "fp32 <ms/step>" and a "torch ..." line.
# usage: torch_gpt_step.py STEPS VOCAB WIDTH HEADS BLOCKS T BATCH
import math, os, sys, time
import torch, torch.nn as nn, torch.nn.functional as F

steps, V, D, H, N, T, B = (int(a) for a in sys.argv[1:8])
torch.manual_seed(0)
torch.set_num_threads(os.cpu_count())


class Blk(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.qkv, self.proj = nn.LayerNorm(D), nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ln2, self.fc, self.fc2 = nn.LayerNorm(D), nn.Linear(D, 4 * D), nn.Linear(4 * D, D)

    def forward(self, x, mask):
        b, t, c = x.shape
        hd = c // H
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, H, hd).transpose(1, 2) for z in (q, k, v))
        att = (q * (1.0 / math.sqrt(hd))) @ k.transpose(-2, -1)
        att = torch.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, t, c))
        return x + self.fc2(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, D), nn.Embedding(T, D)
        self.h = nn.ModuleList(Blk() for _ in range(N))
        self.lnf = nn.LayerNorm(D)
        self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)))

    def forward(self, idx):
        x = self.wte(idx) + self.wpe.weight[: idx.shape[1]]
        for b in self.h:
            x = b(x, self.mask)
        return self.lnf(x) @ self.wte.weight.t()


model = GPT()
opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
x = torch.randint(0, V, (B, T))
y = torch.randint(0, V, (B, T))


def step():
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x).view(-1, V), y.view(-1))
    loss.backward()
    opt.step()


for _ in range(3):
    step()
t = time.perf_counter()
for _ in range(steps):
    step()
print("fp32", (time.perf_counter() - t) / steps * 1e3, flush=True)
print("torch", torch.__version__, "cpu threads %d" % torch.get_num_threads())
