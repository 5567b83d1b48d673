/* The activations (ReLU, GELU) on the GPU, forward and backward, with
 * their fused variants beside them: the forward with its result cast
 * (bf16, fp16, fp8 with transposed codes) and the GEMM's deferred tail
 * finished on its input, and the backward with that cast and the bias
 * gradient, in one pass where the shapes allow. The passes on a GEMM's
 * packed 16-bit output are in act_packed.cu. */
#include "common.cuh"

__global__ void act_fwd_kernel(int a, const float *x, float *y, size_t n) { GRID_STRIDE(i, n) y[i] = act_val(a, x[i]); }

__global__ void act_bwd_kernel(int a, const float *x, const float *dy, float *dx, size_t n)
{
    GRID_STRIDE(i, n) dx[i] = act_grad(a, x[i], dy[i]);
}

__global__ void act4_kernel(bool bwd, int a, const float4 *x, const float4 *dy, float4 *out, size_t n4)
{
    GRID_STRIDE(i, n4) out[i] = act4(bwd, a, x[i], bwd ? dy[i] : x[i]);
}

pt_status cu_act_fwd(pt_backend *be, pt_act a, const float *x, float *y, size_t n)
{
    if (n && vec4(n, x, y, y))
        act4_kernel<<<blocks_for(n / 4), THREADS, 0, S(be)>>>(false, a, (const float4 *)x, NULL, (float4 *)y, n / 4);
    else if (n) act_fwd_kernel<<<blocks_for(n), THREADS, 0, S(be)>>>(a, x, y, n);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* The activation (forward: bwd false) and its result cast to F in one pass,
 * with the cast kernel's arithmetic: codes of v * scale, amax of |v| as
 * bits (a NaN's exceed an inf's, so a NaN is never hidden). */
template <int F, typename T>
__global__ void act_cast_kernel(bool bwd, int a, const float *x, const float *dy, float *out, T *codes, size_t n,
                                const float *scale_p, float *amax_p, int sat)
{
    float scale = scale_p ? *scale_p : 1.0f;
    unsigned amax = 0;
    GRID_STRIDE(i, n) {
        float v = bwd ? act_grad(a, x[i], dy[i]) : act_val(a, x[i]);
        out[i] = v;
        amax = max(amax, __float_as_uint(v) & 0x7fffffffu);
        codes[i] = (T)pt_dev_encode<F>(v * scale, sat);
    }
    amax_flush(amax, amax_p);
}

/* out NULL: not written (the codes alone); tail on the input (x forward, dy
 * backward) and xtail on x backward: the GEMMs' tails */
template <int F, typename T, bool CAST>
__device__ __forceinline__ void act_cast4_at(bool bwd, int a, size_t i, float4 xv, float4 dv, float4 *out,
                                             codes4<T> *codes, float scale, int sat, unsigned &amax,
                                             const tail4 &tail, const tail4 &xtail, bool narrow)
{
    if (tail.c) {
        if (bwd) dv = finish4(tail, i, col4(tail, i, narrow), dv);
        else xv = dv = finish4(tail, i, col4(tail, i, narrow), xv);
    }
    if (xtail.c) xv = finish4(xtail, i, col4(xtail, i, narrow), xv);
    float4 v = act4(bwd, a, xv, dv);
    if (out) out[i] = v;
    if (CAST) codes[i] = cast4<F, T>(v, scale, sat, amax);
}

/* two float4s a thread loaded before either is used */
template <int F, typename T, bool CAST = true>
__global__ void act_cast4_kernel(bool bwd, int a, const float4 *x, const float4 *dy, float4 *out, codes4<T> *codes,
                                 size_t n4, const float *scale_p, float *amax_p, int sat, tail4 tail, tail4 xtail)
{
    float scale = scale_p ? *scale_p : 1.0f;
    unsigned amax = 0;
    bool narrow = n4 <= 0xffffffffu;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n4; i += 2 * stride) {
        size_t i2 = i + stride;
        const tail4 &tx = bwd ? xtail : tail; /* the tail on x */
        float4 xa = load4(tx, x, i), da = bwd ? load4(tail, dy, i) : xa, xb = xa, db = da;
        if (i2 < n4) xb = load4(tx, x, i2), db = bwd ? load4(tail, dy, i2) : xb;
        act_cast4_at<F, T, CAST>(bwd, a, i, xa, da, out, codes, scale, sat, amax, tail, xtail, narrow);
        if (i2 < n4) act_cast4_at<F, T, CAST>(bwd, a, i2, xb, db, out, codes, scale, sat, amax, tail, xtail, narrow);
    }
    amax_flush(amax, amax_p);
}

/* The forward with the tail of the GEMM that wrote x, by rows: a block of
 * 32 float4 columns x 64 rows, a thread one column, its bias loaded once
 * and four rows' loads issued before their arithmetic (the grid-stride
 * kernel above takes a remainder and a bias load per float4, and reaches
 * well under the copy bandwidth). */
template <int F, typename T, bool CAST, bool PK>
__global__ void act_fwd_rows4_kernel(int a, const float4 *x, float4 *out, codes4<T> *codes, uint8_t *codes_t,
                                     int rows, int n4, const float *scale_p, float *amax_p, int sat, tail4 tail)
{
    __shared__ codes_tile<32> tile;
    float scale = CAST && scale_p ? *scale_p : 1.0f;
    unsigned amax = 0;
    int j = blockIdx.x * 32 + threadIdx.x, r0 = blockIdx.y * 64, r1 = min(rows, r0 + 64);
    float4 b = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (j < n4 && tail.bias) b = round4(tail.fmt, tail.bias[j]);
    tail4 nb = tail; /* the bias added here, once loaded */
    nb.bias = NULL;
    enum { AHEAD = PK ? 8 : 4 };
    for (int i0 = r0 + threadIdx.y; j < n4 && i0 < r1; i0 += 8 * AHEAD) {
        typename raw4<PK>::type xa[AHEAD];
#pragma unroll
        for (int u = 0; u < AHEAD; u++)
            if (i0 + 8 * u < r1) xa[u] = load_raw<PK>(tail, x, (size_t)(i0 + 8 * u) * n4 + j);
#pragma unroll
        for (int u = 0; u < AHEAD; u++) {
            if (i0 + 8 * u >= r1) break;
            size_t k = (size_t)(i0 + 8 * u) * n4 + j;
            float4 v = as4(tail.fmt, xa[u]);
            if (tail.bias) v.x += b.x, v.y += b.y, v.z += b.z, v.w += b.w; /* none: -0 stays -0, as on the CPU */
            v = finish4(nb, k, 0, v);
            v = act4(false, a, v, v);
            if (out) out[k] = v;
            if (CAST) {
                codes4<T> c = cast4<F, T>(v, scale, sat, amax);
                codes[k] = c;
                if (codes_t) tile_put(tile, i0 + 8 * u - r0, threadIdx.x, c);
            }
        }
    }
    if (CAST && codes_t) {
        __syncthreads();
        tile_store(tile, codes_t, rows, 4 * n4, r0, 128 * blockIdx.x);
    }
    if (CAST) amax_flush(amax, amax_p);
}

pt_status cu_act_bwd(pt_backend *be, pt_act a, const float *x, const float *dy, float *dx, size_t n);

/* The input x of a pass finished by the tail t (NULL: x as it is) in a
 * pass of its own: in place, or with t->keep_raw in scratch `slot`. */
static pt_status finished_input(pt_backend *be, const pt_gemm_tail *t, const float *x, size_t n, pt_cuda_slot slot,
                                const float **out)
{
    *out = x;
    if (!t) return PT_OK;
    float *c = t->c;
    pt_status st;
    if (t->keep_raw && (st = pt_cuda_scratch(pt_cuda_impl(be), slot, n, &c))) return st;
    *out = c;
    if (t->packed) return cu_decode(be, t->fmt, t->packed, c, n, NULL); /* finished values */
    if (t->keep_raw) PT_CUDA_CHECK(cudaMemcpyAsync(c, t->c, n * sizeof(float), cudaMemcpyDeviceToDevice, S(be)));
    return pt_cuda_bias_round(be, c, (int)(n / (size_t)t->cols), t->cols, t->bias, t->fmt);
}

/* The forward by rows (act_fwd_rows4_kernel) of x viewed as [n / cols,
 * cols], where the shapes allow it (else false): with t the tail of the
 * GEMM that wrote x (NULL: none; its rows are cols wide), a an activation
 * or ACT_IDENTITY (a cast), codes_t the transposed codes (or NULL). */
bool act_fwd_rows(pt_backend *be, int a, const float *x, float *out, size_t n, int cols, pt_format f,
                  const float *scale, float *amax, int sat, void *codes, void *codes_t, const pt_gemm_tail *t,
                  pt_status *st)
{
    if (t && codes_t && t->cols != cols) return false;
    if (t) cols = t->cols;
    if (cols <= 0 || cols % 4 || n % (size_t)cols || n / (size_t)cols > 64 * 65535ull || !vec4(n, x, x, out) ||
        (uintptr_t)codes % 16 || !tail_vec(t))
        return false;
    int rows = (int)(n / (size_t)cols), n4 = cols / 4;
    dim3 grid((unsigned)(n4 + 31) / 32, (unsigned)(rows + 63) / 64), block(32, 8);
    const float4 *x4 = (const float4 *)x;
    float4 *o4 = (float4 *)out;
    tail4 t4 = tail4_of(t);
#define LAUNCH_PK(F, T, CAST, PK)                                                                           \
    act_fwd_rows4_kernel<F, T, CAST, PK><<<grid, block, 0, S(be)>>>(a, x4, o4, CAST_ARG(CAST, (codes4<T> *)codes), \
                                                                     CAST_ARG(CAST, (uint8_t *)codes_t), rows, n4,  \
                                                                     CAST_ARG(CAST, scale), CAST_ARG(CAST, amax),   \
                                                                     CAST ? sat : 0, t4)
#define LAUNCH(F, T, CAST) PK_SPLIT(LAUNCH_PK, t4.packed, F, T, CAST)
    CAST_DISPATCH(f, LAUNCH, *st = pt_cuda_no_kernel("act_fwd_rows4_kernel", f); return true)
#undef LAUNCH
#undef LAUNCH_PK
    cudaError_t e = cudaGetLastError();
    *st = e == cudaSuccess ? PT_OK : pt_fail(PT_ERR_CUDA, "act_fwd_rows4_kernel: %s", cudaGetErrorString(e));
    return true;
}

/* The activation (or its backward) with its result cast to f (fp32: no
 * cast; out NULL: the codes alone), with t the tail of the GEMM that wrote
 * its input (x forward, dy backward) and xt that of x backward; codes_t
 * (fp8, or NULL): the codes also transposed, as [cols, n / cols]. */
static pt_status act_cast(pt_backend *be, bool bwd, pt_act a, const float *x, const float *dy, float *out, size_t n,
                          pt_format f, const float *scale, float *amax, unsigned flags, void *codes,
                          const pt_gemm_tail *t = NULL, const pt_gemm_tail *xt = NULL, void *codes_t = NULL,
                          int cols = 0)
{
    if (!n) return PT_OK;
    int sat = (flags & PT_CAST_SATURATE) != 0;
    pt_status st = PT_OK;
    if (!bwd && pt_cuda_act_fwd_packed(be, a, t, out, n, cols, f, scale, amax, sat, codes, codes_t, &st)) return st;
    if (!bwd && (t || codes_t) && act_fwd_rows(be, a, x, out, n, cols, f, scale, amax, sat, codes, codes_t, t, &st))
        return st;
    if (vec4(n, x, bwd ? dy : x, out) && (uintptr_t)codes % 16 == 0 && tail_vec(t) && tail_vec(xt)) {
        unsigned g4 = blocks_for(n / 4);
        const float4 *x4 = (const float4 *)x, *d4 = (const float4 *)dy;
        float4 *o4 = (float4 *)out;
        size_t n4 = n / 4;
        tail4 t4 = tail4_of(t), xt4 = tail4_of(xt);
#define LAUNCH(F, T, CAST)                                                                                          \
    act_cast4_kernel<F, T, CAST><<<g4, THREADS, 0, S(be)>>>(bwd, a, x4, d4, o4, CAST_ARG(CAST, (codes4<T> *)codes), \
                                                            n4, CAST_ARG(CAST, scale), CAST_ARG(CAST, amax),         \
                                                            CAST ? sat : 0, t4, xt4)
        CAST_DISPATCH(f, LAUNCH, return pt_cuda_no_kernel("act_cast4_kernel", f))
#undef LAUNCH
        PT_CUDA_CHECK_LAUNCH();
        return codes_t ? transpose_codes(S(be), codes, codes_t, (int)(n / (size_t)cols), cols) : PT_OK;
    }
    /* the tails as passes of their own, then the activation */
    const float *in;
    st = finished_input(be, t, bwd ? dy : x, n, PT_SLOT_IN, &in);
    if (!st && bwd) dy = in;
    else if (!st) x = in;
    if (!st && bwd) st = finished_input(be, xt, x, n, PT_SLOT_X, &x);
    if (!st && !out) st = pt_cuda_scratch(pt_cuda_impl(be), PT_SLOT_OUT, n, &out);
    if (st) return st;
    if (f == PT_FMT_FP32) return bwd ? cu_act_bwd(be, a, x, dy, out, n) : cu_act_fwd(be, a, x, out, n);
    unsigned g = blocks_for(n);
    switch (f) {
    case PT_FMT_BF16:
        act_cast_kernel<PT_FMT_BF16, uint16_t><<<g, THREADS, 0, S(be)>>>(bwd, a, x, dy, out, (uint16_t *)codes, n, scale, amax, sat);
        break;
    case PT_FMT_FP16:
        act_cast_kernel<PT_FMT_FP16, uint16_t><<<g, THREADS, 0, S(be)>>>(bwd, a, x, dy, out, (uint16_t *)codes, n, scale, amax, sat);
        break;
    case PT_FMT_E4M3:
        act_cast_kernel<PT_FMT_E4M3, uint8_t><<<g, THREADS, 0, S(be)>>>(bwd, a, x, dy, out, (uint8_t *)codes, n, scale, amax, sat);
        break;
    case PT_FMT_E5M2:
        act_cast_kernel<PT_FMT_E5M2, uint8_t><<<g, THREADS, 0, S(be)>>>(bwd, a, x, dy, out, (uint8_t *)codes, n, scale, amax, sat);
        break;
    default: return pt_cuda_no_kernel("act_cast_kernel", f);
    }
    PT_CUDA_CHECK_LAUNCH();
    return codes_t ? transpose_codes(S(be), codes, codes_t, (int)(n / (size_t)cols), cols) : PT_OK;
}

pt_status cu_act_fwd_cast(pt_backend *be, const pt_act_fwd_desc *d)
{
    const pt_cast_out *c = &d->cast;
    return act_cast(be, false, d->act, d->x, NULL, d->y, d->n, c->to, c->scale, c->amax, c->flags, c->codes,
                    d->x_tail, NULL, c->codes_t, d->cols);
}

pt_status cu_act_bwd(pt_backend *be, pt_act a, const float *x, const float *dy, float *dx, size_t n)
{
    if (n && vec4(n, x, dy, dx))
        act4_kernel<<<blocks_for(n / 4), THREADS, 0, S(be)>>>(true, a, (const float4 *)x, (const float4 *)dy,
                                                                (float4 *)dx, n / 4);
    else if (n) act_bwd_kernel<<<blocks_for(n), THREADS, 0, S(be)>>>(a, x, dy, dx, n);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* The activation's backward (and, with CAST, its result cast to F as
 * act_cast4_kernel casts it) with the bias gradient: a block of 32 float4
 * columns x BG_CHUNK rows, each column's rows added in
 * bias_grad_partial4_kernel's order, so the partial sums are the same, and
 * with db, the chunks added by bias_sums_last. */
template <int F, typename T, bool CAST, bool PK>
__global__ void act_bwd_bias4_kernel(int a, const float4 *x, const float4 *dy, float4 *dx, codes4<T> *codes,
                                     uint8_t *codes_t, int rows, int n4, float4 *part, float *db, float beta,
                                     unsigned *done, const float *scale_p, float *amax_p, int sat, tail4 tail,
                                     tail4 xtail)
{
    __shared__ float4 sh[8][33];
    __shared__ codes_tile<32> tile;
    float scale = CAST && scale_p ? *scale_p : 1.0f;
    unsigned amax = 0;
    int j = blockIdx.x * 32 + threadIdx.x, r0 = blockIdx.y * BG_CHUNK;
    int r1 = min(rows, r0 + BG_CHUNK);
    float4 s = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    /* x's bias loaded once (the GEMM's tail on x), then added as finish4 adds it */
    float4 xb = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (j < n4 && xtail.bias) xb = round4(xtail.fmt, xtail.bias[j]);
    tail4 xnb = xtail;
    xnb.bias = NULL;
    /* the loads of four rows issued before their arithmetic (faster than
     * row by row: the speed of the plain elementwise pass); the rows still
     * added in order */
    enum { AHEAD = PK ? 8 : 4 };
    for (int i0 = r0 + threadIdx.y; j < n4 && i0 < r1; i0 += 8 * AHEAD) {
        typename raw4<PK>::type xa[AHEAD], da[AHEAD];
#pragma unroll
        for (int u = 0; u < AHEAD; u++)
            if (i0 + 8 * u < r1) {
                size_t k = (size_t)(i0 + 8 * u) * n4 + j;
                xa[u] = load_raw<PK>(xtail, x, k), da[u] = load_raw<PK>(tail, dy, k);
            }
#pragma unroll
        for (int u = 0; u < AHEAD; u++) {
            if (i0 + 8 * u >= r1) break;
            size_t k = (size_t)(i0 + 8 * u) * n4 + j;
            float4 d = as4(tail.fmt, da[u]), xv = as4(xtail.fmt, xa[u]);
            if (tail.c) d = finish4(tail, k, j, d);
            if (xtail.c) {
                if (xtail.bias) xv.x += xb.x, xv.y += xb.y, xv.z += xb.z, xv.w += xb.w;
                xv = finish4(xnb, k, 0, xv);
            }
            float4 v = act4(true, a, xv, d);
            if (dx) dx[k] = v;
            s.x += v.x, s.y += v.y, s.z += v.z, s.w += v.w;
            if (CAST) {
                codes4<T> c = cast4<F, T>(v, scale, sat, amax);
                codes[k] = c;
                if (codes_t) tile_put(tile, i0 + 8 * u - r0, threadIdx.x, c);
            }
        }
    }
    sh[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (CAST && codes_t) tile_store(tile, codes_t, rows, 4 * n4, r0, 128 * blockIdx.x);
    if (part && threadIdx.y == 0 && j < n4) {
        float4 t = sh[0][threadIdx.x];
        for (int y = 1; y < 8; y++) {
            float4 u = sh[y][threadIdx.x];
            t.x += u.x, t.y += u.y, t.z += u.z, t.w += u.w;
        }
        part[(size_t)blockIdx.y * n4 + j] = t;
    }
    if (CAST) amax_flush(amax, amax_p);
    int tid = threadIdx.y * 32 + threadIdx.x;
    if (db) bias_sums_last((const float *)part, 4 * n4, gridDim.y, db, beta, done, blockIdx.x,
                           tid < 128 ? blockIdx.x * 128 + tid : 4 * n4);
}

pt_status cu_act_bwd_bias(pt_backend *be, const pt_act_bwd_desc *d)
{
    pt_act a = d->act;
    const float *x = d->x, *dy = d->dy;
    float *dx = d->dx;
    size_t n = d->n;
    int cols = d->cols;
    pt_format f = d->cast.to;
    const float *scale = d->cast.scale;
    float *amax = d->cast.amax;
    unsigned flags = d->cast.flags;
    void *dxc = d->cast.codes, *dxc_t = d->cast.codes_t;
    float *db = d->db;
    float beta = d->db_beta;
    const pt_gemm_tail *x_tail = d->x_tail, *dy_tail = d->dy_tail;
    pt_status st;
    if (pt_cuda_act_bwd_packed(be, a, x_tail, dy_tail, dx, n, cols, f, scale, amax, (flags & PT_CAST_SATURATE) != 0,
                               dxc, dxc_t, db, beta, &st))
        return st;
    int rows = (int)(n / (size_t)cols);
    if (!rows || !vec4((size_t)cols, x, dy, dx) || (f != PT_FMT_FP32 && (uintptr_t)dxc % 16) || !tail_vec(dy_tail) ||
        !tail_vec(x_tail) || (dy_tail && dy_tail->cols != cols) || (x_tail && x_tail->cols != cols) ||
        (dy_tail && dy_tail->packed) != (x_tail && x_tail->packed)) {
        /* the passes one by one (the same values); also where one input alone is packed (the kernel
         * reads both packed or neither) */
        st = dx || !db ? PT_OK : pt_cuda_scratch(pt_cuda_impl(be), PT_SLOT_OUT, n, &dx);
        if (!st) st = act_cast(be, true, a, x, dy, dx, n, f, scale, amax, flags, dxc, dy_tail, x_tail, dxc_t, cols);
        return st || !db ? st : cu_bias_grad(be, dx, db, rows, cols, beta);
    }
    int chunks = (rows + BG_CHUNK - 1) / BG_CHUNK, n4 = cols / 4, sat = (flags & PT_CAST_SATURATE) != 0;
    float *part = NULL;
    unsigned *done = NULL;
    st = db ? pt_cuda_scratch(pt_cuda_impl(be), PT_SLOT_BIAS_PARTS, (size_t)chunks * (size_t)cols, &part) : PT_OK;
    if (!st && db) st = pt_cuda_done_counters(pt_cuda_impl(be), (n4 + 31) / 32, &done);
    if (st) return st;
    tail4 t4 = tail4_of(dy_tail), xt4 = tail4_of(x_tail);
    dim3 grid((unsigned)(n4 + 31) / 32, (unsigned)chunks), block(32, 8);
    const float4 *x4 = (const float4 *)x, *d4 = (const float4 *)dy;
    float4 *o4 = (float4 *)dx, *p4 = (float4 *)part;
#define LAUNCH_PK(F, T, CAST, PK)                                                                           \
    act_bwd_bias4_kernel<F, T, CAST, PK><<<grid, block, 0, S(be)>>>(a, x4, d4, o4, CAST_ARG(CAST, (codes4<T> *)dxc), \
                                                                     CAST_ARG(CAST, (uint8_t *)dxc_t), rows, n4, p4, \
                                                                     db, beta, done,                                 \
                                                                     CAST_ARG(CAST, scale), CAST_ARG(CAST, amax),    \
                                                                     CAST ? sat : 0, t4, xt4)
#define LAUNCH(F, T, CAST) PK_SPLIT(LAUNCH_PK, t4.packed, F, T, CAST)
    CAST_DISPATCH(f, LAUNCH, return pt_cuda_no_kernel("act_bwd_bias4_kernel", f))
#undef LAUNCH
#undef LAUNCH_PK
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}
