/* The op tests' case type and the helpers every case uses: the random
 * data (each case seeded by its own seed, so that adding a case moves no
 * other case's data), buffers that the driver frees after each case and
 * whose guard bytes it checks (an op that writes past its output fails
 * its case, as in ggml's test-backend-ops), return codes checked, and the
 * comparison of two outputs: NaN/inf at the same places with the same
 * signs, the rest by NMSE. */
#ifndef PT_OP_TEST_H
#define PT_OP_TEST_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/ops.h"
#include "prectune/backend.h"
#include "prectune/formats.h"

/* no format (a case of an op that computes in fp32 alone names fp32) */
#define OP_NOFMT PT_FMT_COUNT

typedef struct op_case op_case;
struct op_case {
    const char *op;       /* the op family, what -o selects */
    char name[176];       /* op, shape, formats and variant, for --list and failures */
    int shape[9];         /* the op's dimensions (gemm m, n, k; rows, cols; n; a conv shape and its filters) */
    pt_format fa, fb;     /* its formats (OP_NOFMT: none), what -f selects (either) */
    int arg[4];           /* the op's variant: activation, transposes, tail kind, pass, ... */
    unsigned flags;       /* OP_* below */
    uint64_t seed;        /* its data's seed: the FNV-1a hash of its name unless the table gives one */
    double nmse;          /* the bound of its main comparison (the table says where it comes from) */
    bool quick;           /* in the quick subset (--quick) */
    bool cpu_only;        /* against a second computation on the CPU backend: needs no GPU */
    void (*run)(const op_case *c);
};

enum {
    OP_BIAS = 1u << 0,       /* with a bias */
    OP_MISALIGNED = 1u << 1, /* fp8 descales 4 bytes past an aligned address, as a net's may be */
    OP_SPECIALS = 1u << 2,   /* NaN and inf among the inputs */
};

/* the backends: cpu the reference, gpu the one under test (the CPU again
 * with --cpu-as-device, a check of the driver on a machine without a GPU) */
extern pt_backend *op_cpu, *op_gpu;
/* whether op_gpu is a device (false with --cpu-as-device: checks of what
 * the CUDA backend alone does are skipped) */
extern bool op_on_device;
extern const op_case *op_cur;

float op_urand(void); /* uniform in [-1, 1) */
/* n values uniform in [-scale, scale), freed after the case */
float *op_rnd(size_t n, float scale);
/* host memory freed after the case, guard bytes around it checked */
void *op_host(size_t bytes);
void *op_host0(size_t bytes); /* zeroed */
/* memory of backend be freed after the case, guard bytes around it checked;
 * its contents are a fill pattern until written */
void *op_dev_on(pt_backend *be, size_t bytes);
void *op_dev(size_t bytes); /* on op_gpu */
void *op_up(const void *host, size_t bytes);
/* n floats of op_gpu's memory, synced first, into host memory freed after the case */
float *op_down(const void *dev, size_t n);
void op_down_bytes(void *host, const void *dev, size_t bytes);
/* end of a case: every guard intact, then everything freed; a case that
 * failed leaves its buffers to the next call */
void op_release(void);

void op_compare(const char *what, const float *got, const float *want, size_t n, double max_nmse);

/* every pt_status checked: the failing call, its status and the error */
#define OP_OK(call)                                                                                            \
    do {                                                                                                       \
        pt_status op_st_ = (call);                                                                             \
        ck_assert_msg(op_st_ == PT_OK, "%s: %s returned %d: %s", op_cur->name, #call, (int)op_st_,            \
                      pt_last_error());                                                                        \
    } while (0)
#define OP_EXPECT(call, want)                                                                                  \
    do {                                                                                                       \
        pt_status op_st_ = (call);                                                                             \
        ck_assert_msg(op_st_ == (want), "%s: %s returned %d, not %s", op_cur->name, #call, (int)op_st_, #want); \
    } while (0)
/* a condition, with the case's name before the message */
#define OP_CHECK(cond, ...)                                                                                    \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            char op_m_[512];                                                                                   \
            snprintf(op_m_, sizeof op_m_, __VA_ARGS__);                                                        \
            ck_abort_msg("%s: %s", op_cur->name, op_m_);                                                       \
        }                                                                                                      \
    } while (0)

/* codes_t is codes ([rows, cols], 1-byte) transposed, byte for byte */
void op_check_twin(const char *who, const unsigned char *codes, const unsigned char *codes_t, int rows, int cols);
void op_decode(pt_backend *be, pt_format f, const void *codes, size_t n, float *out);

/* the cases, one function a case kind (ops_*.c) */
void op_gemm(const op_case *c);
void op_gemm_deferred(const op_case *c);
void op_gemm_packed(const op_case *c);
void op_act(const op_case *c);
void op_act_cast(const op_case *c);
void op_act_tail(const op_case *c);
void op_act_packed(const op_case *c);
void op_act_seq(const op_case *c);
void op_cast_t(const op_case *c);
void op_fp8_many(const op_case *c);
void op_round(const op_case *c);
void op_sum(const op_case *c);
void op_add(const op_case *c);
void op_dropout(const op_case *c);
void op_unscale(const op_case *c);
void op_optim(const op_case *c);
void op_layernorm(const op_case *c);
void op_bias_grad(const op_case *c);
void op_softmax_ce(const op_case *c);
void op_mse(const op_case *c);
void op_conv(const op_case *c);
void op_conv_unsupported(const op_case *c);
void op_maxpool_tied(const op_case *c);
void op_im2col(const op_case *c);
void op_pool(const op_case *c);
void op_rows_to_nchw(const op_case *c);
void op_gather_rows(const op_case *c);
void op_heads(const op_case *c);
void op_softmax(const op_case *c);
void op_rmsnorm(const op_case *c);
void op_embedding(const op_case *c);

#endif
