/* The GEMM through cuBLASLt: C[m,n] = op(A)[m,k] op(B)[k,n] on operands
 * in their storage formats (fp8 made k-contiguous for cuBLASLt's "TN"
 * fp8 kernels, tf32 likewise), with its tail: the bias rounded to the
 * output format and added, the sum rounded, or the output packed to
 * 16-bit codes. Also the scratch buffers, the tails' own passes
 * (pt_cuda_bias_round, pt_cuda_nchw_bias_round) and the fp32 view of an
 * operand, which the convolutions share. */
#include "common.cuh"

/* x[r][c] = round_F(x[r][c] + bias[c]) (bias may be NULL), four values a
 * thread: the tail of a GEMM whose bias cuBLASLt could not add (fp8 with
 * an fp32 output), in one pass instead of a bias pass and a rounding pass */
template <int F> __global__ void bias_round4_kernel(float4 *x, const float4 *bias, size_t n4, size_t cols4)
{
    tail4 t = {x, bias, cols4, F, true};
    bool narrow = n4 <= 0xffffffffu;
    GRID_STRIDE(i, n4) finish4(t, i, col4(t, i, narrow), x[i]);
}

/* ---- GEMM through cuBLASLt ---------------------------------------------- */

pt_status pt_cuda_scratch(cuda_backend *c, pt_cuda_slot slot, size_t n, float **out)
{
    if (c->scratch_cap[slot] < n) {
        cudaFree(c->scratch[slot]);
        c->scratch[slot] = NULL;
        c->scratch_cap[slot] = 0;
        PT_CUDA_CHECK(cudaMalloc((void **)&c->scratch[slot], n * sizeof(float)));
        c->scratch_cap[slot] = n;
    }
    *out = c->scratch[slot];
    return PT_OK;
}

static cudaDataType_t lt_type(pt_format f)
{
    switch (f) {
    case PT_FMT_BF16: return CUDA_R_16BF;
    case PT_FMT_FP16: return CUDA_R_16F;
    case PT_FMT_E4M3: return CUDA_R_8F_E4M3;
    case PT_FMT_E5M2: return CUDA_R_8F_E5M2;
    case PT_FMT_FP32:
    case PT_FMT_TF32: return CUDA_R_32F;
    default: return CUDA_R_32F; /* not a format: pt_backend_gemm refuses it first */
    }
}

/* out[c][r] = in[r][c] for 1-byte codes or 4-byte values, through 32 x 32 tiles */
template <typename T> __global__ void transpose_kernel(const T *in, T *out, int rows, int cols)
{
    __shared__ T t[32][33];
    int c0 = blockIdx.x * 32, r0 = blockIdx.y * 32;
    for (int y = threadIdx.y; y < 32; y += 8) {
        int r = r0 + y, c = c0 + threadIdx.x;
        if (r < rows && c < cols) t[y][threadIdx.x] = in[(size_t)r * cols + c];
    }
    __syncthreads();
    for (int y = threadIdx.y; y < 32; y += 8) {
        int c = c0 + y, r = r0 + threadIdx.x;
        if (r < rows && c < cols) out[(size_t)c * rows + r] = t[threadIdx.x][y];
    }
}

/* y[rows, n] = round_F(y + round_F(bias[n])): a GEMM's tail, one value a thread */
template <int F> __global__ void bias_round_kernel(float *y, const float *bias, size_t n, int cols)
{
    GRID_STRIDE(i, n) y[i] = dev_round<F>(bias ? y[i] + dev_round<F>(bias[i % (size_t)cols]) : y[i]);
}

/* fp8 through cuBLASLt's fp8 kernels, which take only the "TN" layout
 * (in our row-major terms: both operands with k contiguous) and
 * dimensions that are multiples of 16: an operand in the other layout is
 * transposed into scratch (a byte copy: the values and their scale are
 * the same), a shape that does not fit returns false (the caller runs it
 * decoded to fp32, exactly, and counts it). */
static bool fp8_fits(const pt_gemm *g)
{
    bool f8a = g->a.fmt == PT_FMT_E4M3 || g->a.fmt == PT_FMT_E5M2, f8b = g->b.fmt == PT_FMT_E4M3 || g->b.fmt == PT_FMT_E5M2;
    return f8a && f8b && !(g->a.fmt == PT_FMT_E5M2 && g->b.fmt == PT_FMT_E5M2) && g->m % 16 == 0 &&
           g->n % 16 == 0 && g->k % 16 == 0 && (uintptr_t)g->a.data % 16 == 0 && (uintptr_t)g->b.data % 16 == 0;
}

/* The same for rows and cols multiples of 4 and word-aligned data (the fp8
 * GEMMs' shapes are multiples of 16): 64 x 64 tiles moved as 32-bit words,
 * four bytes of a column packed into each word written: the byte kernel
 * above reaches a third of the copy bandwidth, and the backward's fp8
 * GEMMs pay for three such transposes a layer (bench/RESULTS.md). */
__global__ void transpose_u8x4_kernel(const uint32_t *in, uint32_t *out, int rows, int cols)
{
    __shared__ uint32_t t[64][17]; /* 64 rows of 64 bytes, a row pitch of 68 bytes */
    int c0 = blockIdx.x * 64, r0 = blockIdx.y * 64, cw = cols / 4, rw = rows / 4;
    for (int y = threadIdx.y; y < 64; y += 16) {
        int r = r0 + y, w = c0 / 4 + threadIdx.x;
        t[y][threadIdx.x] = r < rows && w < cw ? in[(size_t)r * cw + w] : 0u;
    }
    __syncthreads();
    const uint8_t *tb = (const uint8_t *)t;
    for (int y = threadIdx.y; y < 64; y += 16) {
        int c = c0 + y, w = r0 / 4 + threadIdx.x; /* output row c, its word w: input rows 4w .. 4w + 3 */
        if (c >= cols || w >= rw) continue;
        const uint8_t *b = tb + 4 * threadIdx.x * 68 + y;
        out[(size_t)c * rw + w] = (uint32_t)b[0] | (uint32_t)b[68] << 8 | (uint32_t)b[136] << 16 | (uint32_t)b[204] << 24;
    }
}

/* out[c][r] = in[r][c] for 1-byte codes, [rows, cols] */
pt_status transpose_codes(cudaStream_t stream, const void *in, void *out, int rows, int cols)
{
    if (rows % 4 == 0 && cols % 4 == 0 && (uintptr_t)in % 4 == 0 && (uintptr_t)out % 4 == 0)
        transpose_u8x4_kernel<<<dim3((unsigned)(cols + 63) / 64, (unsigned)(rows + 63) / 64), dim3(16, 16), 0,
                                stream>>>((const uint32_t *)in, (uint32_t *)out, rows, cols);
    else
        transpose_kernel<uint8_t><<<dim3((unsigned)(cols + 31) / 32, (unsigned)(rows + 31) / 32), dim3(32, 8), 0, stream>>>(
            (const uint8_t *)in, (uint8_t *)out, rows, cols);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* An fp8 operand stored [k][cols] (k rows) made k-contiguous: its twin
 * where the pass that cast it wrote one (pt_operand.data_t), else
 * transposed into scratch slot (a byte copy: the values and their scale
 * are the same); its trans flag flips with it. */
static pt_status k_contiguous(cuda_backend *cb, pt_cuda_slot slot, pt_operand *o, int k, int cols)
{
    if (o->data_t) {
        const void *d = o->data;
        o->data = o->data_t, o->data_t = d, o->trans = !o->trans;
        return PT_OK;
    }
    float *t;
    pt_status st = pt_cuda_scratch(cb, slot, ((size_t)k * cols + 3) / 4, &t);
    if (!st) st = transpose_codes(cb->stream, o->data, t, k, cols);
    if (st) return st;
    o->data = t, o->trans = !o->trans;
    return PT_OK;
}

/* A tf32 operand stored [k][cols] made k-contiguous in scratch slot (a
 * copy of the same fp32 values); its trans flag flips with it. Hopper's
 * tf32 tensor-core instructions read both operands k-contiguous; cuBLASLt's
 * kernels for one operand stored the other way run at about the speed of
 * those for none, but for both (a weight gradient, dy^T x) about 1.5x
 * slower than with one of them transposed first (bench/RESULTS.md; the
 * same with torch.matmul, the same cuBLASLt kernels). */
static pt_status k_contiguous_f32(cuda_backend *cb, pt_cuda_slot slot, pt_operand *o, int k, int cols)
{
    float *t;
    pt_status st = pt_cuda_scratch(cb, slot, (size_t)k * cols, &t);
    if (st) return st;
    transpose_kernel<float><<<dim3((unsigned)(cols + 31) / 32, (unsigned)(k + 31) / 32), dim3(32, 8), 0, cb->stream>>>(
        (const float *)o->data, t, k, cols);
    PT_CUDA_CHECK_LAUNCH();
    o->data = t, o->trans = !o->trans;
    return PT_OK;
}

/* cuBLASLt reads its scale pointers as 16-byte aligned: NULL becomes the
 * device 1.0f, a descale that is not aligned is copied to slot `at` */
static pt_status aligned_descale(cuda_backend *cb, int at /* PT_DESCALE_A or _B */, const float **s)
{
    if (!*s) *s = cb->descales + PT_DESCALE_ONE;
    if ((uintptr_t)*s % 16) {
        PT_CUDA_CHECK(cudaMemcpyAsync(cb->descales + at, *s, sizeof(float), cudaMemcpyDeviceToDevice, cb->stream));
        *s = cb->descales + at;
    }
    return PT_OK;
}

void lt_plan_free(pt_lt_plan *p)
{
    if (p->lc) cublasLtMatrixLayoutDestroy(p->lc);
    if (p->lb) cublasLtMatrixLayoutDestroy(p->lb);
    if (p->la) cublasLtMatrixLayoutDestroy(p->la);
    if (p->op) cublasLtMatmulDescDestroy(p->op);
    p->op = NULL, p->la = p->lb = p->lc = NULL;
}

/* A call's own pointers in the plan's descriptor: the bias (where cuBLASLt
 * adds it) and the fp8 descales (cuBLASLt's A is our b). st: the status so
 * far, returned unless this fails first. */
static pt_status call_pointers(cublasLtMatmulDesc_t op, const void *bias_ptr, const pt_gemm *g, const pt_operand *a,
                               const pt_operand *b, bool bias, bool fp8, pt_status st)
{
    cublasStatus_t e = CUBLAS_STATUS_SUCCESS;
    if (bias) e = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_ptr, sizeof bias_ptr);
    if (fp8 && e == CUBLAS_STATUS_SUCCESS)
        e = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &b->scale_inv,
                                           sizeof b->scale_inv);
    if (fp8 && e == CUBLAS_STATUS_SUCCESS)
        e = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &a->scale_inv,
                                           sizeof a->scale_inv);
    if (e != CUBLAS_STATUS_SUCCESS && !st)
        st = pt_fail(PT_ERR_CUDA, "cublasLtMatmulDescSetAttribute (the call's pointers): %s [gemm %dx%dx%d]",
                     cublasLtGetStatusString(e), g->m, g->n, g->k);
    return st;
}

/* out[i] = the 16-bit codes of x[i] (values already in F: exact) */
template <int F> __global__ void pack_kernel(const float *x, uint16_t *out, size_t n)
{
    GRID_STRIDE(i, n) out[i] = (uint16_t)pt_dev_encode<F>(x[i], 0);
}

static pt_status pack(pt_backend *be, pt_format f, const float *x, void *out, size_t n)
{
    if (!n) return PT_OK;
    if (f == PT_FMT_BF16) pack_kernel<PT_FMT_BF16><<<blocks_for(n), THREADS, 0, S(be)>>>(x, (uint16_t *)out, n);
    else pack_kernel<PT_FMT_FP16><<<blocks_for(n), THREADS, 0, S(be)>>>(x, (uint16_t *)out, n);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* bias[n] as out_fmt's 16-bit codes, in scratch: a packed GEMM's bias,
 * which cuBLASLt's 16-bit epilogue takes in the output's type (rounded:
 * the bias a GEMM writing that format adds) */
static pt_status bias_codes(pt_backend *be, const float *bias, int n, pt_format f, const void **out)
{
    float *buf;
    pt_status st = pt_cuda_scratch(pt_cuda_impl(be), PT_SLOT_BIAS, ((size_t)n + 1) / 2, &buf);
    if (!st) st = pack(be, f, bias, buf, (size_t)n);
    *out = buf;
    return st;
}

pt_status cu_gemm(pt_backend *be, const pt_gemm *g, void *out);

/* A packed GEMM (pt_gemm.pack) as the finished fp32 output, then a pass
 * that packs it: where cuBLASLt does not write the 16-bit output itself
 * (operands it takes only decoded, or a shape with no such algorithm) */
static pt_status gemm_packed_by_pass(pt_backend *be, const pt_gemm *g, void *out)
{
    size_t n = (size_t)g->m * g->n;
    float *t;
    pt_gemm fin = *g;
    fin.pack = false;
    pt_status st = pt_cuda_scratch(pt_cuda_impl(be), PT_SLOT_PACK, n, &t);
    if (!st) st = cu_gemm(be, &fin, t);
    return st ? st : pack(be, g->out_fmt, t, out, n);
}

/* C[m,n] (row-major) = op(A)[m,k] op(B)[k,n]: in cuBLASLt's column-major
 * terms that is C^T[n,m] = op(B)^T op(A)^T, so B goes first. Operands
 * cuBLASLt takes as they are: fp32, tf32 (fp32 storage, tf32 compute),
 * bf16 and fp16 of the same format, and fp8 (e4m3 x e4m3, e4m3 x e5m2,
 * e5m2 x e4m3) with their descales, where fp8_fits; other fp8 shapes and
 * mixed formats are decoded to fp32 first (exact products, fp32
 * accumulation: the emulation of the GEMM). An fp32 output takes its bias
 * in cuBLASLt's epilogue; a 16-bit one rounded to its format first
 * (pt_gemm), in our tail pass, or for a packed output (pt_gemm.pack) as
 * codes in cuBLASLt's 16-bit epilogue (the caller's pt_gemm.bias_codes, or
 * made here), which writes the codes itself. */
pt_status cu_gemm(pt_backend *be, const pt_gemm *g, void *out)
{
    float *c = (float *)out;
    cuda_backend *cb = pt_cuda_impl(be);
    if (!g->m || !g->n) return PT_OK;
    pt_operand a = g->a, b = g->b;
    bool fp8 = fp8_fits(g);
    bool native = fp8 || (a.fmt == b.fmt && (a.fmt == PT_FMT_FP32 || a.fmt == PT_FMT_TF32 || a.fmt == PT_FMT_BF16 ||
                                             a.fmt == PT_FMT_FP16) && !a.scale_inv && !b.scale_inv);
    /* operands cuBLASLt takes only decoded: the fp32 GEMM below, packed after (decoded and counted once) */
    if (g->pack && !native) return gemm_packed_by_pass(be, g, out);
    pt_status st = PT_OK;
    if (fp8) {
        /* TN: b stored [n][k], a stored [m][k] */
        if ((!b.trans && (st = k_contiguous(cb, PT_SLOT_B, &b, g->k, g->n))) ||
            (a.trans && (st = k_contiguous(cb, PT_SLOT_A, &a, g->k, g->m))) || (st = aligned_descale(cb, PT_DESCALE_A, &a.scale_inv)) ||
            (st = aligned_descale(cb, PT_DESCALE_B, &b.scale_inv)))
            return st;
    } else if (!native) {
        if (a.fmt == PT_FMT_E4M3 || a.fmt == PT_FMT_E5M2 || b.fmt == PT_FMT_E4M3 || b.fmt == PT_FMT_E5M2)
            be->fp8_emulated++;
        float *da, *db;
        size_t na = (size_t)g->m * g->k, nb = (size_t)g->k * g->n;
        if ((st = pt_cuda_scratch(cb, PT_SLOT_A, na, &da)) || (st = pt_cuda_scratch(cb, PT_SLOT_B, nb, &db)) ||
            (st = cu_decode(be, a.fmt, a.data, da, na, a.scale_inv)) ||
            (st = cu_decode(be, b.fmt, b.data, db, nb, b.scale_inv)))
            return st;
        a.data = da, b.data = db, a.fmt = b.fmt = PT_FMT_FP32;
        a.scale_inv = b.scale_inv = NULL;
    }
    /* tf32 with neither operand k-contiguous: the smaller one made so */
    if (!fp8 && native && a.fmt == PT_FMT_TF32 && a.trans && !b.trans && g->k > 1 &&
        (st = (size_t)g->m <= (size_t)g->n ? k_contiguous_f32(cb, PT_SLOT_A, &a, g->k, g->m)
                                           : k_contiguous_f32(cb, PT_SLOT_B, &b, g->k, g->n)))
        return st;
    pt_format f = a.fmt;
    cublasOperation_t ta = b.trans ? CUBLAS_OP_T : CUBLAS_OP_N, tb = a.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
    uint64_t M = (uint64_t)g->n, N = (uint64_t)g->m, K = (uint64_t)g->k;
    float alpha = 1.0f, beta = g->beta;
    /* the bias in cuBLASLt's epilogue: an fp32 output's as it is (fp8 takes
     * none with an fp32 output), a packed output's as its codes */
    cudaDataType_t out_type = g->pack ? lt_type(g->out_fmt) : CUDA_R_32F;
    bool bias = g->bias != NULL && !g->defer_tail && (g->pack || (!fp8 && g->out_fmt == PT_FMT_FP32));
    /* a packed GEMM's bias codes: the caller's (16-byte aligned, as the scratch's are), else made here */
    bool given = g->bias_codes && (uintptr_t)g->bias_codes % 16 == 0;
    const void *bias_ptr = bias && g->pack && given ? g->bias_codes : g->bias;
    if (bias && g->pack && !given && (st = bias_codes(be, g->bias, g->n, g->out_fmt, &bias_ptr))) return st;
#define LT(x)                                                                                     \
    do {                                                                                          \
        cublasStatus_t e_ = (x);                                                                  \
        if (e_ != CUBLAS_STATUS_SUCCESS && !st)                                                   \
            st = pt_fail(PT_ERR_CUDA, "%s: %s [gemm %dx%dx%d, %s x %s]", #x, cublasLtGetStatusString(e_), g->m, \
                         g->n, g->k, pt_format_info(a.fmt)->name, pt_format_info(b.fmt)->name);   \
    } while (0)
    pt_lt_plan key = {M, N, K, (int)ta, (int)tb, (int)a.fmt, (int)b.fmt, bias, (int)out_type,
                      {}, NULL, NULL, NULL, NULL};
    pt_lt_plan *plan = NULL;
    for (int i = 0; i < cb->nplans && !plan; i++) {
        pt_lt_plan *p = &cb->plans[i];
        if (p->m == M && p->n == N && p->k == K && p->ta == key.ta && p->tb == key.tb && p->fmt_a == key.fmt_a &&
            p->fmt_b == key.fmt_b && p->bias == key.bias && p->out == key.out)
            plan = p;
    }
    if (!plan) { /* the descriptors and the algorithm of a new shape */
        cublasComputeType_t ct = f == PT_FMT_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                               : f == PT_FMT_FP32 ? CUBLAS_COMPUTE_32F_PEDANTIC : CUBLAS_COMPUTE_32F;
        int64_t lda = b.trans ? (int64_t)K : (int64_t)M, ldb = a.trans ? (int64_t)N : (int64_t)K;
        cublasLtEpilogue_t epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
        cublasLtMatmulPreference_t pref = NULL;
        LT(cublasLtMatmulDescCreate(&key.op, ct, CUDA_R_32F));
        LT(cublasLtMatmulDescSetAttribute(key.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
        LT(cublasLtMatmulDescSetAttribute(key.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
        LT(cublasLtMatmulDescSetAttribute(key.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
        if (bias) {
            int32_t bt = (int32_t)out_type;
            LT(cublasLtMatmulDescSetAttribute(key.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt));
        }
        LT(cublasLtMatrixLayoutCreate(&key.la, lt_type(b.fmt), ta == CUBLAS_OP_N ? M : K, ta == CUBLAS_OP_N ? K : M,
                                      lda));
        LT(cublasLtMatrixLayoutCreate(&key.lb, lt_type(a.fmt), tb == CUBLAS_OP_N ? K : N, tb == CUBLAS_OP_N ? N : K,
                                      ldb));
        LT(cublasLtMatrixLayoutCreate(&key.lc, out_type, M, N, (int64_t)M));
        LT(cublasLtMatmulPreferenceCreate(&pref));
        LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &cb->workspace_bytes,
                                                sizeof cb->workspace_bytes));
        /* the heuristic sees the pointers' attributes set (bias, descales), as the call will */
        st = call_pointers(key.op, bias_ptr, g, &a, &b, bias, fp8, st);
        cublasLtMatmulHeuristicResult_t heur;
        int found = 0;
        LT(cublasLtMatmulAlgoGetHeuristic(cb->lt, key.op, key.la, key.lb, key.lc, key.lc, pref, 1, &heur, &found));
        if (pref) cublasLtMatmulPreferenceDestroy(pref);
        if (!st && !found)
            st = pt_fail(PT_ERR_CUDA, "cuBLASLt has no algorithm for a %dx%dx%d %s x %s GEMM", g->m, g->n, g->k,
                         pt_format_info(a.fmt)->name, pt_format_info(b.fmt)->name);
        if (st) {
            lt_plan_free(&key);
            if (!g->pack) return st;
            pt_clear_error(); /* no 16-bit output for this shape: our own pass packs it */
            return gemm_packed_by_pass(be, g, out);
        }
        key.algo = heur.algo;
        if (cb->nplans == PT_LT_PLANS) { /* a run has few shapes; start over past that */
            for (int i = 0; i < cb->nplans; i++) lt_plan_free(&cb->plans[i]);
            cb->nplans = 0;
        }
        cb->plans[cb->nplans] = key;
        plan = &cb->plans[cb->nplans++];
    } else {
        st = call_pointers(plan->op, bias_ptr, g, &a, &b, bias, fp8, st);
    }
    if (!st)
        LT(cublasLtMatmul(cb->lt, plan->op, &alpha, b.data, plan->la, a.data, plan->lb, &beta, c, plan->lc, c, plan->lc,
                          &plan->algo, cb->workspace, cb->workspace_bytes, cb->stream));
#undef LT
    /* the bias cuBLASLt did not add, and the rounding of the output to out_fmt */
    if (st || g->defer_tail || g->pack) return st;
    return pt_cuda_bias_round(be, c, g->m, g->n, bias ? NULL : g->bias, g->out_fmt);
}

pt_status pt_cuda_bias_round(pt_backend *be, float *c, int rows, int cols, const float *bias, pt_format out_fmt)
{
    size_t n = (size_t)rows * cols;
    if (!bias && out_fmt == PT_FMT_FP32) return PT_OK;
    if (cols % 4 == 0 && (uintptr_t)c % 16 == 0 && (uintptr_t)bias % 16 == 0) {
        size_t n4 = n / 4;
        float4 *x4 = (float4 *)c;
        const float4 *b4 = (const float4 *)bias;
        DISPATCH_FMT(out_fmt, bias_round4_kernel, blocks_for(n4), S(be), x4, b4, n4, (size_t)cols / 4);
        PT_CUDA_CHECK_LAUNCH();
        return PT_OK;
    }
    DISPATCH_FMT(out_fmt, bias_round_kernel, blocks_for(n), S(be), c, bias, n, cols);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

template <int F> __global__ void nchw_bias_round_kernel(float *y, const float *bias, size_t n, int c, int p)
{
    GRID_STRIDE(i, n) y[i] = dev_round<F>(bias ? y[i] + dev_round<F>(bias[(i / p) % c]) : y[i]);
}

pt_status pt_cuda_nchw_bias_round(pt_backend *be, float *y, int n_, int c, int p, const float *bias, pt_format out_fmt)
{
    size_t n = (size_t)n_ * c * p;
    if (!n || (!bias && out_fmt == PT_FMT_FP32)) return PT_OK;
    DISPATCH_FMT(out_fmt, nchw_bias_round_kernel, blocks_for(n), S(be), y, bias, n, c, p);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* The values of a GEMM or convolution operand in fp32 storage: fp32 as it
 * is, tf32 rounded and 16-bit or fp8 formats decoded (scaled back) into
 * scratch slot `slot`. */
pt_status pt_cuda_operand_f32(pt_backend *be, pt_cuda_slot slot, const pt_operand *o, size_t n, const float **out)
{
    if (o->fmt == PT_FMT_FP32 && !o->scale_inv) {
        *out = (const float *)o->data;
        return PT_OK;
    }
    float *buf;
    pt_status st = pt_cuda_scratch(pt_cuda_impl(be), slot, n, &buf);
    if (st) return st;
    if (o->fmt == PT_FMT_TF32 && !o->scale_inv) {
        PT_CUDA_CHECK(cudaMemcpyAsync(buf, o->data, n * sizeof(float), cudaMemcpyDeviceToDevice, S(be)));
        st = cu_round(be, PT_FMT_TF32, buf, n);
    } else {
        st = cu_decode(be, o->fmt, o->data, buf, n, o->scale_inv);
    }
    *out = buf;
    return st;
}
