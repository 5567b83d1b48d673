/* The statistics pass on the GPU: one read of each tensor, everything
 * reduced on the device, no host synchronization.
 *
 * Two accumulators share one chunk loop:
 * - table (the fast path): each value costs a table lookup, three integer
 *   compares and one shared-memory increment of its key (see
 *   stats_keys.h); the host turns key counts into every statistic.
 * - exact: compares each value with every threshold; about three times
 *   the instructions, used only for scales the table cannot describe.
 * Both keep counters in shared memory and add them to 64-bit device
 * counters when a block moves to another tensor. */
#include <cuda_fp16.h>
#include <string.h>

#include "check.h"
#include "kernels.h"

__device__ __forceinline__ uint32_t half_bits_to_f32(unsigned short h)
{
    return __float_as_uint(__half2float(__ushort_as_half(h)));
}

__device__ __forceinline__ unsigned warp_sum(unsigned v) { return __reduce_add_sync(0xffffffffu, v); }
__device__ __forceinline__ unsigned warp_max(unsigned v) { return __reduce_max_sync(0xffffffffu, v); }

/* Adds a block's per-lane counter columns into 64-bit device counters and
 * zeroes them. Rotating the column start keeps the reads conflict-free. */
__device__ void flush_columns(unsigned *cols, int nbins, unsigned long long *dst)
{
    __syncthreads();
    for (int b = threadIdx.x; b < nbins; b += PT_STATS_THREADS) {
        unsigned s = 0;
        for (int j = 0; j < 32; j++) {
            int l = (j + b) & 31;
            s += cols[b * 32 + l];
            cols[b * 32 + l] = 0;
        }
        if (s) atomicAdd(&dst[b], (unsigned long long)s);
    }
    __syncthreads();
}

/* ---- table accumulator ---------------------------------------------------- */

/* Each warp keeps its own key counters, count[warp][key]: lanes of a
 * warp that hit the same key share an address, which the hardware's
 * shared atomic increment (ATOMS.POPC.INC) aggregates in one step, and
 * warps never contend: closer to a plain sum reduction's bandwidth than
 * a private column per lane or one copy per block (bench/RESULTS.md). */
struct table_acc {
    static constexpr int warps = PT_STATS_THREADS / 32;
    static constexpr size_t count_bytes = (size_t)PT_STATS_KEYS * 4 * warps;
    static constexpr size_t smem = count_bytes + sizeof(pt_stats_table);
    typedef pt_stats_keys_dev out_t;
    unsigned *counts;     /* count[warp][key], in shared memory */
    const uint4 *tbl;     /* in shared memory */
    unsigned char *mine;  /* this warp's counter of key 0 */
    int amax;
    unsigned mn;

    __device__ void init(unsigned char *smem_base)
    {
        counts = (unsigned *)smem_base;
        for (int i = threadIdx.x; i < PT_STATS_KEYS * warps; i += PT_STATS_THREADS) counts[i] = 0;
        mine = smem_base + (threadIdx.x >> 5) * PT_STATS_KEYS * 4;
        tbl = (const uint4 *)(smem_base + count_bytes);
        amax = PT_STATS_AMAX_INIT;
        mn = 0xffffffffu;
    }
    __device__ void begin(const pt_cuda_stats_req &r, const pt_stats_table *tables)
    {
        __syncthreads(); /* everyone is done with the previous table */
        const uint4 *src = (const uint4 *)&tables[r.table];
        uint4 *dst = (uint4 *)tbl;
        for (int i = threadIdx.x; i < 256; i += PT_STATS_THREADS) dst[i] = src[i];
        __syncthreads();
    }
    __device__ __forceinline__ void value(uint32_t u)
    {
        uint32_t c = __funnelshift_l(u, u, 1); /* 2|x|bits + sign */
        uint4 e = tbl[c >> 24];
        uint32_t off = e.x + (c > e.y ? PT_STATS_KEY_BYTES : 0u) +
                       (c > e.z ? PT_STATS_KEY_BYTES : 0u) + (c > e.w ? PT_STATS_KEY_BYTES : 0u);
        atomicAdd((unsigned *)(mine + off), 1u);
        uint32_t m = c >> 1;
        amax = max(amax, (int)(m + 0x7fffffu)); /* NaN is negative here */
        mn = min(mn, m - 1u);                   /* zero wraps away; NaN loses */
    }
    __device__ void flush(out_t *o, const pt_stats_table *)
    {
        unsigned a = (unsigned)__reduce_max_sync(0xffffffffu, amax) - 0x7fffffu;
        unsigned inv = warp_max(~mn);
        if ((threadIdx.x & 31) == 0) {
            if (a) atomicMax(&o->absmax_bits, a);
            if (inv) atomicMax(&o->min_inv, inv);
        }
        amax = PT_STATS_AMAX_INIT;
        mn = 0xffffffffu;
        __syncthreads();
        for (int k = threadIdx.x; k < PT_STATS_KEYS; k += PT_STATS_THREADS) {
            unsigned s = 0;
            for (int w = 0; w < warps; w++) {
                s += counts[w * PT_STATS_KEYS + k];
                counts[w * PT_STATS_KEYS + k] = 0;
            }
            if (s) atomicAdd(&o->count[k], (unsigned long long)s);
        }
        __syncthreads();
    }
};

/* ---- exact accumulator ---------------------------------------------------- */

struct thresholds {
    float under[PT_SFMT_COUNT];
    float over[PT_SFMT_COUNT];
};

/* pt_format_underflow_threshold / pt_format_overflow_threshold of fp16,
 * bf16, e4m3, e5m2 (checked against them at every launch). */
__constant__ thresholds c_th = {
    {0x1p-25f, 0x1p-134f, 0x1p-10f, 0x1p-17f},
    {65520.0f, 0x1.ffp127f, 0x1.d00002p8f, 61440.0f},
};
static const thresholds h_th = {
    {0x1p-25f, 0x1p-134f, 0x1p-10f, 0x1p-17f},
    {65520.0f, 0x1.ffp127f, 0x1.d00002p8f, 61440.0f},
};

struct exact_acc {
    static constexpr size_t smem = PT_HIST_BINS * 32 * 4;
    typedef pt_stats_dev out_t;
    unsigned *cols;
    thresholds th;
    float scale;
    unsigned nan, pos_inf, neg_inf, zero;
    unsigned under[PT_SFMT_COUNT], over[PT_SFMT_COUNT];
    unsigned amax, min_inv;

    __device__ void reset()
    {
        nan = pos_inf = neg_inf = zero = amax = min_inv = 0;
#pragma unroll
        for (int k = 0; k < PT_SFMT_COUNT; k++) under[k] = over[k] = 0;
    }
    __device__ void init(unsigned char *smem_base)
    {
        unsigned *c = (unsigned *)smem_base;
        for (int i = threadIdx.x; i < PT_HIST_BINS * 32; i += PT_STATS_THREADS) c[i] = 0;
        cols = c + (threadIdx.x & 31);
        reset();
        __syncthreads();
    }
    __device__ void begin(const pt_cuda_stats_req &r, const thresholds *)
    {
        th = c_th;
        scale = r.scale;
    }
    __device__ __forceinline__ void value(uint32_t u)
    {
        uint32_t m = u & 0x7fffffffu;
        if (m > 0x7f800000u) { nan++; return; }
        amax = max(amax, m);
        if (m == 0) { zero++; return; }
        min_inv = max(min_inv, ~m);
        if (m == 0x7f800000u) {
            if (u >> 31) neg_inf++; else pos_inf++;
            return;
        }
        int e = (int)(m >> 23) - 127;
        int bin = e < PT_HIST_MIN_EXP ? PT_HIST_BELOW
                : e > PT_HIST_MAX_EXP ? PT_HIST_ABOVE
                                      : PT_HIST_FIRST + e - PT_HIST_MIN_EXP;
        atomicAdd(&cols[bin * 32], 1u);
        float y = __uint_as_float(m) * scale;
#pragma unroll
        for (int k = 0; k < PT_SFMT_COUNT; k++) {
            under[k] += y <= th.under[k];
            over[k] += y >= th.over[k];
        }
    }
    __device__ void add(unsigned long long *dst, unsigned v)
    {
        v = warp_sum(v);
        if ((threadIdx.x & 31) == 0 && v) atomicAdd(dst, (unsigned long long)v);
    }
    __device__ void flush(out_t *o, const thresholds *)
    {
        add(&o->nan, nan);
        add(&o->pos_inf, pos_inf);
        add(&o->neg_inf, neg_inf);
        add(&o->zero, zero);
#pragma unroll
        for (int k = 0; k < PT_SFMT_COUNT; k++) {
            add(&o->underflow[k], under[k]);
            add(&o->overflow[k], over[k]);
        }
        unsigned a = warp_max(amax), inv = warp_max(min_inv);
        if ((threadIdx.x & 31) == 0) {
            if (a) atomicMax(&o->absmax_bits, a);
            if (inv) atomicMax(&o->min_inv, inv);
        }
        reset();
        flush_columns(cols - (threadIdx.x & 31), PT_HIST_BINS, o->hist);
    }
};

/* ---- the chunk loop, shared by both --------------------------------------- */

template <int DT, class ACC>
__device__ __forceinline__ void word(ACC &a, uint32_t w)
{
    /* w holds two 16-bit values, low half first (little-endian order) */
    if (DT == PT_FMT_BF16) {
        a.value(w << 16);
        a.value(w & 0xffff0000u);
    } else {
        a.value(half_bits_to_f32((unsigned short)(w & 0xffffu)));
        a.value(half_bits_to_f32((unsigned short)(w >> 16)));
    }
}

template <int DT, class ACC>
__device__ __forceinline__ void chunk_vector(ACC &a, const void *base)
{
    /* A full, 16-byte-aligned chunk: 16-byte loads, four in flight. */
    const uint4 *p = (const uint4 *)base;
    constexpr int per_vec = DT == PT_FMT_FP32 ? 4 : 8;
    constexpr int vecs = PT_STATS_CHUNK / per_vec;
    for (int i = threadIdx.x; i < vecs; i += 4 * PT_STATS_THREADS) {
        uint4 v[4];
#pragma unroll
        for (int j = 0; j < 4; j++) v[j] = __ldg(p + i + j * PT_STATS_THREADS);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            if (DT == PT_FMT_FP32) {
                a.value(v[j].x);
                a.value(v[j].y);
                a.value(v[j].z);
                a.value(v[j].w);
            } else {
                word<DT>(a, v[j].x);
                word<DT>(a, v[j].y);
                word<DT>(a, v[j].z);
                word<DT>(a, v[j].w);
            }
        }
    }
}

template <class ACC>
__device__ __forceinline__ void chunk_scalar(ACC &a, const void *data, int dtype, uint64_t off,
                                             uint64_t len)
{
    for (uint64_t i = threadIdx.x; i < len; i += PT_STATS_THREADS) {
        uint32_t u;
        if (dtype == PT_FMT_FP32) u = __ldg((const unsigned *)data + off + i);
        else {
            unsigned short h = __ldg((const unsigned short *)data + off + i);
            u = dtype == PT_FMT_BF16 ? (uint32_t)h << 16 : half_bits_to_f32(h);
        }
        a.value(u);
    }
}

/* A block takes the chunks [c0, c1) of the launch, in order, flushing when
 * it moves to another tensor and at its end. */
template <class ACC, class AUX>
__global__ void __launch_bounds__(PT_STATS_THREADS)
stats_kernel(const pt_cuda_stats_req *reqs, int nreq, uint64_t chunks, const AUX *aux,
             typename ACC::out_t *out)
{
    extern __shared__ __align__(16) unsigned char smem[];
    uint64_t c0 = chunks * blockIdx.x / gridDim.x;
    uint64_t c1 = chunks * (blockIdx.x + 1) / gridDim.x;
    if (c0 >= c1) return;
    int lo = 0, hi = nreq - 1; /* the tensor holding chunk c0 */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (reqs[mid].chunk_begin <= c0) lo = mid; else hi = mid - 1;
    }
    int t = lo;
    while (reqs[t].chunk_end <= c0) t++; /* skip empty tensors */
    ACC a;
    a.init(smem);
    pt_cuda_stats_req r = reqs[t];
    a.begin(r, aux);
    for (uint64_t c = c0; c < c1; c++) {
        if (c >= r.chunk_end) {
            a.flush(&out[t], aux);
            do t++; while (reqs[t].chunk_end <= c);
            r = reqs[t];
            a.begin(r, aux);
        }
        uint64_t off = (c - r.chunk_begin) * PT_STATS_CHUNK;
        uint64_t len = r.n - off < PT_STATS_CHUNK ? r.n - off : PT_STATS_CHUNK;
        int esize = r.dtype == PT_FMT_FP32 ? 4 : 2;
        const char *base = (const char *)r.data + off * esize;
        bool aligned = ((uintptr_t)base & 15) == 0;
        if (len == PT_STATS_CHUNK && aligned) {
            if (r.dtype == PT_FMT_FP32) chunk_vector<PT_FMT_FP32>(a, base);
            else if (r.dtype == PT_FMT_BF16) chunk_vector<PT_FMT_BF16>(a, base);
            else chunk_vector<PT_FMT_FP16>(a, base);
        } else {
            chunk_scalar(a, r.data, r.dtype, off, len);
        }
    }
    a.flush(&out[t], aux);
}

/* ---- host side ------------------------------------------------------------ */

uint64_t pt_cuda_stats_plan(pt_cuda_stats_req *reqs, int n)
{
    uint64_t c = 0;
    for (int i = 0; i < n; i++) {
        reqs[i].chunk_begin = c;
        c += (reqs[i].n + PT_STATS_CHUNK - 1) / PT_STATS_CHUNK;
        reqs[i].chunk_end = c;
    }
    return c;
}

template <class ACC, class AUX> static int grid_for(int device, uint64_t chunks)
{
    int sms = 0, per_sm = 0;
    if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
        sms = 1;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, stats_kernel<ACC, AUX>,
                                                      PT_STATS_THREADS, ACC::smem) != cudaSuccess ||
        per_sm < 1)
        per_sm = 1;
    uint64_t g = (uint64_t)sms * (uint64_t)per_sm;
    return (int)(chunks < g ? (chunks ? chunks : 1) : g);
}

int pt_cuda_stats_table_grid(int device, uint64_t chunks)
{
    return grid_for<table_acc, pt_stats_table>(device, chunks);
}

int pt_cuda_stats_grid(int device, uint64_t chunks)
{
    return grid_for<exact_acc, thresholds>(device, chunks);
}

pt_status pt_cuda_stats_table_launch(const pt_cuda_stats_req *dev_reqs, int n, uint64_t chunks,
                                     int grid, const pt_stats_table *tables,
                                     pt_stats_keys_dev *out, cudaStream_t stream)
{
    if (chunks == 0 || n == 0) return PT_OK;
    stats_kernel<table_acc, pt_stats_table>
        <<<grid, PT_STATS_THREADS, table_acc::smem, stream>>>(dev_reqs, n, chunks, tables, out);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

pt_status pt_cuda_stats_launch(const pt_cuda_stats_req *dev_reqs, int n, uint64_t chunks,
                               int grid, pt_stats_dev *out, cudaStream_t stream)
{
    if (chunks == 0 || n == 0) return PT_OK;
    for (int k = 0; k < PT_SFMT_COUNT; k++)
        if (h_th.under[k] != pt_format_underflow_threshold(pt_stats_formats[k]) ||
            h_th.over[k] != pt_format_overflow_threshold(pt_stats_formats[k]))
            return pt_fail(PT_ERR_INVALID, "cuda stats: threshold table out of date (format %d)", k);
    stats_kernel<exact_acc, thresholds>
        <<<grid, PT_STATS_THREADS, exact_acc::smem, stream>>>(dev_reqs, n, chunks, nullptr, out);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

void pt_cuda_stats_finish(const pt_stats_dev *d, uint64_t count, float scale, pt_stats *s)
{
    s->count = count;
    s->scale = scale;
    s->nan = d->nan;
    s->pos_inf = d->pos_inf;
    s->neg_inf = d->neg_inf;
    s->zero = d->zero;
    for (int k = 0; k < PT_SFMT_COUNT; k++) {
        s->underflow[k] = d->underflow[k];
        s->overflow[k] = d->overflow[k];
    }
    for (int b = 0; b < PT_HIST_BINS; b++) s->hist[b] = d->hist[b];
    s->hist[PT_HIST_ZERO] = d->zero;
    uint32_t amax = d->absmax_bits, amin = d->min_inv ? ~d->min_inv : 0u;
    memcpy(&s->absmax, &amax, 4);
    memcpy(&s->min_nonzero, &amin, 4);
}
