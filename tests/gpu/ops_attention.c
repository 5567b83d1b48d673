/* The transformer's ops, CPU against the backend under test: the head
 * layout (a permutation: exact), the row softmax with and without the
 * causal mask in fp32, bf16 and fp16 (an fp16 score past 65504 making its
 * row NaN on both), its backward, the RMS norm forward (fp32, and bf16
 * with every intermediate rounded) and backward, and the token embedding
 * (a gather: exact; its backward's sums in the CPU's order: exact) with a
 * bad token id refused on both. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "op_test.h"

/* shape: rows, t, g, h, hd */
void op_heads(const op_case *cs)
{
    int rows = cs->shape[0], t = cs->shape[1], g = cs->shape[2], h = cs->shape[3], hd = cs->shape[4];
    size_t n = (size_t)rows * t * g * h * hd;
    float *x = op_rnd(n, 1), *y = op_host(n * 4), *back = op_host(n * 4);
    float *Dx = op_up(x, n * 4), *Dy = op_dev(n * 4), *Dback = op_dev(n * 4);
    OP_OK(pt_backend_heads(op_cpu, x, y, rows, t, g, h, hd, PT_PASS_FWD));
    OP_OK(pt_backend_heads(op_gpu, Dx, Dy, rows, t, g, h, hd, PT_PASS_FWD));
    op_compare("heads fwd", op_down(Dy, n), y, n, 0);
    OP_OK(pt_backend_heads(op_cpu, y, back, rows, t, g, h, hd, PT_PASS_BWD));
    OP_OK(pt_backend_heads(op_gpu, Dy, Dback, rows, t, g, h, hd, PT_PASS_BWD));
    op_compare("heads bwd", op_down(Dback, n), back, n, 0);
    op_compare("heads bwd of fwd is the input", back, x, n, 0);
}

/* shape: rows, c; arg[0]: causal; fa: the softmax's format. The scores
 * are uniform in +-8 (arg[1]: a row of fp16 overflow, 7e4, in the first
 * row); the exponentials and sums in fp64 on both, summed in another
 * order (1e-12 in fp32; bf16 and fp16 outputs: their rounding, the rest
 * identical); the backward in fp32 with an fp64 dot (1e-12) */
void op_softmax(const op_case *cs)
{
    int rows = cs->shape[0], c = cs->shape[1];
    bool causal = cs->arg[0];
    size_t n = (size_t)rows * c;
    float *x = op_rnd(n, 8), *dy = op_rnd(n, 1), *y = op_host(n * 4), *dx = op_host(n * 4);
    if (cs->arg[1]) x[0] = 7e4f;
    float *Dx = op_up(x, n * 4), *Ddy = op_up(dy, n * 4), *Dy = op_dev(n * 4), *Ddx = op_dev(n * 4);
    OP_OK(pt_backend_softmax(op_cpu, x, y, rows, c, causal, cs->fa));
    OP_OK(pt_backend_softmax(op_gpu, Dx, Dy, rows, c, causal, cs->fa));
    if (cs->arg[1]) OP_CHECK(isnan(y[0]), "an fp16 score of 7e4 (inf in fp16): %g, not NaN", (double)y[0]);
    op_compare("softmax", op_down(Dy, n), y, n, cs->nmse);
    if (cs->arg[1]) return; /* a NaN row has no backward to compare */
    OP_OK(pt_backend_softmax_bwd(op_cpu, y, dy, dx, rows, c));
    float *Dy2 = op_up(y, n * 4); /* the same probabilities on both */
    OP_OK(pt_backend_softmax_bwd(op_gpu, Dy2, Ddy, Ddx, rows, c));
    op_compare("softmax_bwd", op_down(Ddx, n), dx, n, 1e-12);
}

/* shape: rows, c; fa: the forward's format. fp32: the mean square summed
 * in fp64 in another order (1e-12); bf16: every intermediate rounded, the
 * rest identical but for a sum's last bit moving a rounding (1e-5). The
 * backward: dx with an fp64 sum (1e-11), dgamma in the CPU's row order
 * (1e-12: FMA contraction on the GPU) */
void op_rmsnorm(const op_case *cs)
{
    int rows = cs->shape[0], c = cs->shape[1];
    size_t n = (size_t)rows * c;
    float *x = op_rnd(n, 3), *dy = op_rnd(n, 1), *g = op_rnd(c, 1), *y = op_host(n * 4), *rstd = op_host(rows * 4);
    float *dx = op_host(n * 4), *dg = op_host0(c * 4);
    float *Dx = op_up(x, n * 4), *Ddy = op_up(dy, n * 4), *Dg = op_up(g, c * 4), *Dy = op_dev(n * 4);
    float *Drstd = op_dev(rows * 4), *Ddx = op_dev(n * 4), *Ddg = op_up(dg, c * 4);
    OP_OK(pt_backend_rmsnorm_fwd(op_cpu, x, g, 1e-5f, cs->fa, y, rstd, rows, c));
    OP_OK(pt_backend_rmsnorm_fwd(op_gpu, Dx, Dg, 1e-5f, cs->fa, Dy, Drstd, rows, c));
    op_compare("rmsnorm_fwd", op_down(Dy, n), y, n, cs->nmse);
    op_compare("rmsnorm_fwd rstd", op_down(Drstd, rows), rstd, rows, cs->nmse);
    float *Drs = op_up(rstd, rows * 4); /* the same rstd on both */
    OP_OK(pt_backend_rmsnorm_bwd(op_cpu, x, g, rstd, dy, dx, dg, rows, c));
    OP_OK(pt_backend_rmsnorm_bwd(op_gpu, Dx, Dg, Drs, Ddy, Ddx, Ddg, rows, c));
    op_compare("rmsnorm_bwd dx", op_down(Ddx, n), dx, n, 1e-11);
    op_compare("rmsnorm_bwd dgamma", op_down(Ddg, c), dg, c, 1e-12);
}

/* shape: n tokens, width d, vocabulary; repeated ids (the backward's
 * sums), then an id past the vocabulary refused by both */
void op_embedding(const op_case *cs)
{
    int n = cs->shape[0], d = cs->shape[1], vocab = cs->shape[2];
    float *table = op_rnd((size_t)vocab * d, 1), *dy = op_rnd((size_t)n * d, 1), *ids = op_host((size_t)n * 4);
    for (int r = 0; r < n; r++) ids[r] = (float)((r * 7 + r / 3) % vocab);
    float *y = op_host((size_t)n * d * 4), *dt = op_host0((size_t)vocab * d * 4);
    float *Dt = op_up(table, (size_t)vocab * d * 4), *Dids = op_up(ids, (size_t)n * 4);
    float *Ddy = op_up(dy, (size_t)n * d * 4), *Dy = op_dev((size_t)n * d * 4), *Ddt = op_up(dt, (size_t)vocab * d * 4);
    OP_OK(pt_backend_embedding_fwd(op_cpu, table, ids, y, n, d, vocab));
    OP_OK(pt_backend_embedding_fwd(op_gpu, Dt, Dids, Dy, n, d, vocab));
    op_compare("embedding_fwd", op_down(Dy, (size_t)n * d), y, (size_t)n * d, 0);
    OP_OK(pt_backend_embedding_bwd(op_cpu, ids, dy, dt, n, d, vocab));
    OP_OK(pt_backend_embedding_bwd(op_gpu, Dids, Ddy, Ddt, n, d, vocab));
    op_compare("embedding_bwd", op_down(Ddt, (size_t)vocab * d), dt, (size_t)vocab * d, 0);
    ids[n / 2] = (float)vocab;
    float *Dbad = op_up(ids, (size_t)n * 4);
    OP_EXPECT(pt_backend_embedding_fwd(op_cpu, table, ids, y, n, d, vocab), PT_ERR_INVALID);
    OP_EXPECT(pt_backend_embedding_fwd(op_gpu, Dt, Dbad, Dy, n, d, vocab), PT_ERR_INVALID);
    char want[64];
    snprintf(want, sizeof want, "token %d is %d,", n / 2, vocab);
    OP_CHECK(strstr(pt_last_error(), want) != NULL, "the error '%s' lacks '%s'", pt_last_error(), want);
}
