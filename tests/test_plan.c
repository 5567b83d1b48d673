/* The step plan's fusions change no value: for each model and policy, the
 * fused plan and the plan with no fusion (every op a pass of its own) give
 * bit-identical weights after training on the CPU backend, and after one
 * step, once pt_net_materialize has made what the fused plan left
 * unwritten, bit-identical outputs and gradients in every layer (what
 * statistics and drift read). The unfused sequence is the oracle: each of
 * its ops is the plain op that test_backend_cpu checks against its own
 * references. Every fused case must fuse something, so the test cannot
 * pass by the two plans being the same; and the plan's rules are checked
 * on a few topologies by hand. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "instrument/net.h"
#include "prectune/backend.h"
#include "prectune/trainer.h"

#define CASE_STEPS 12

/* an MLP with a residual, two activations a layer feeds alone, one fed by
 * the model input, and one read by two layers */
static const char *mlp =
    "{\"name\": \"m\", \"input\": [24], \"layers\": ["
    "{\"name\": \"a0\", \"type\": \"relu\"},"
    "{\"name\": \"fc1\", \"type\": \"linear\", \"out\": 32}, {\"name\": \"a1\", \"type\": \"gelu\"},"
    "{\"name\": \"fc2\", \"type\": \"linear\", \"out\": 32}, {\"name\": \"a2\", \"type\": \"relu\"},"
    "{\"name\": \"fc3\", \"type\": \"linear\", \"out\": 32},"
    "{\"name\": \"res\", \"type\": \"add\", \"inputs\": [\"fc3\", \"a2\"]},"
    "{\"name\": \"a3\", \"type\": \"gelu\"},"
    "{\"name\": \"fc4\", \"type\": \"linear\", \"out\": 16, \"bias\": false}, {\"name\": \"a4\", \"type\": \"gelu\"},"
    "{\"name\": \"head\", \"type\": \"linear\", \"out\": 5}],"
    "\"loss\": \"softmax_cross_entropy\", \"optimizer\": {\"type\": \"adamw\", \"lr\": 3e-3},"
    "\"train\": {\"batch\": 16, \"steps\": 100, \"seed\": 3, \"clip_norm\": 1.0, \"accumulate\": 2}}";

static const char *cnn =
    "{\"name\": \"c\", \"input\": [2, 8, 8], \"layers\": ["
    "{\"name\": \"conv1\", \"type\": \"conv2d\", \"out\": 4, \"kernel\": 3, \"padding\": 1},"
    "{\"name\": \"a1\", \"type\": \"relu\"}, {\"name\": \"pool\", \"type\": \"maxpool\", \"kernel\": 2},"
    "{\"name\": \"flat\", \"type\": \"flatten\"}, {\"name\": \"fc1\", \"type\": \"linear\", \"out\": 16},"
    "{\"name\": \"a2\", \"type\": \"gelu\"}, {\"name\": \"fc2\", \"type\": \"linear\", \"out\": 16},"
    "{\"name\": \"a3\", \"type\": \"relu\"}, {\"name\": \"drop\", \"type\": \"dropout\", \"p\": 0.25},"
    "{\"name\": \"head\", \"type\": \"linear\", \"out\": 5}],"
    "\"loss\": \"softmax_cross_entropy\", \"optimizer\": {\"type\": \"adamw\", \"lr\": 3e-3},"
    "\"train\": {\"batch\": 8, \"steps\": 100, \"seed\": 5}}";

static const char *norm =
    "{\"name\": \"n\", \"input\": [24], \"layers\": ["
    "{\"name\": \"ln\", \"type\": \"layernorm\"},"
    "{\"name\": \"fc1\", \"type\": \"linear\", \"out\": 32}, {\"name\": \"a1\", \"type\": \"relu\"},"
    "{\"name\": \"ln2\", \"type\": \"layernorm\"},"
    "{\"name\": \"fc2\", \"type\": \"linear\", \"out\": 32}, {\"name\": \"a2\", \"type\": \"gelu\"},"
    "{\"name\": \"head\", \"type\": \"linear\", \"out\": 5}],"
    "\"loss\": \"softmax_cross_entropy\", \"optimizer\": {\"type\": \"sgd\", \"lr\": 1e-2, \"momentum\": 0.9},"
    "\"train\": {\"batch\": 16, \"steps\": 100, \"seed\": 7}}";

static const char *policies[] = {
    "fp32", "tf32", "bf16-amp", "fp16-amp", "fp8-hybrid",
    /* fp8 under current scaling beside fp16, whose casts no activation makes */
    "{\"prectune_policy\": 1, \"default\": {\"fwd\": \"fp8_e4m3\", \"dgrad\": \"fp8_e5m2\", \"wgrad\": \"fp8_e5m2\"},"
    "\"layers\": {\"fc1\": {\"fwd\": \"fp16\", \"dgrad\": \"fp16\", \"wgrad\": \"fp16\"}},"
    "\"loss_scale\": {\"mode\": \"dynamic\", \"init\": 1024}, \"fp8\": {\"recipe\": \"current\"}}",
    /* the formats of one layer's three GEMMs all different, and fp16 weights beside the bf16 copy */
    "{\"prectune_policy\": 1, \"default\": {\"fwd\": \"bf16\", \"dgrad\": \"bf16\", \"wgrad\": \"bf16\"},"
    "\"layers\": {\"fc2\": {\"fwd\": \"fp8_e4m3\", \"dgrad\": \"fp16\", \"wgrad\": \"fp8_e5m2\"},"
    "\"head\": {\"fwd\": \"fp16\", \"dgrad\": \"fp16\", \"wgrad\": \"bf16\"}},"
    "\"loss_scale\": {\"mode\": \"dynamic\", \"init\": 256}}",
};
#define NPOL (int)(sizeof policies / sizeof policies[0])

static void load_policy(const char *p, pt_policy *pol)
{
    if (p[0] == '{') {
        ck_assert_msg(pt_policy_parse(p, "policy", pol) == PT_OK, "%s", pt_last_error());
        return;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/policies/presets/%s.json", PT_SOURCE_DIR, p);
    ck_assert_msg(pt_policy_load(path, pol) == PT_OK, "%s", pt_last_error());
}

/* How many fusions a plan makes. */
static int fusions(const pt_plan *p)
{
    int k = p->w16_fmt != PT_FMT_FP32;
    for (int i = 0; i < p->nlayers; i++) {
        const pt_plan_layer *l = &p->L[i];
        k += l->x_cast_by_input + l->w_from_copy + l->y_codes + l->dy_cast_by_output + l->db_by_output + l->dx_codes +
             l->y_unwritten + l->dx_unwritten + l->x_codes + l->dy_codes + (l->cast_for >= 0) + (l->in_grad_of >= 0);
    }
    return k;
}

/* Trains CASE_STEPS steps under the plan PRECTUNE_FUSE selects; the weights hash. */
static uint64_t train(const pt_model_spec *spec, const pt_policy *pol, const pt_data *data, bool fused, int *nfused)
{
    setenv("PRECTUNE_FUSE", fused ? "1" : "0", 1);
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    pt_trainer *t;
    ck_assert_msg(pt_trainer_create(be, spec, pol, data, &t) == PT_OK, "%s", pt_last_error());
    *nfused = fusions(&pt_trainer_net(t)->plan);
    for (int s = 0; s < CASE_STEPS; s++) {
        pt_step_record r;
        ck_assert_msg(pt_trainer_step(t, &r) == PT_OK, "%s", pt_last_error());
    }
    pt_eval_result ev;
    ck_assert_int_eq(pt_trainer_eval(t, &ev), PT_OK);
    uint64_t h;
    ck_assert_int_eq(pt_trainer_weights_hash(t, &h), PT_OK);
    pt_trainer_destroy(t);
    pt_backend_close(be);
    unsetenv("PRECTUNE_FUSE");
    return h;
}

/* One training micro-batch on a net under a plan, materialized: every
 * layer's y and dy, and the parameter gradients, in one buffer. */
static float *one_step(const pt_model_spec *spec, const pt_policy *pol, bool fused, size_t *count)
{
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    pt_net *n;
    int rows = spec->train.batch;
    ck_assert_msg(pt_net_create_plan(be, spec, pol, rows, fused, &n) == PT_OK, "%s", pt_last_error());
    ck_assert_int_eq(pt_net_init_params(n, 3), PT_OK);
    n->train = true;
    int64_t in = 1;
    for (int d = 0; d < spec->ninput; d++) in *= spec->input[d];
    for (int64_t i = 0; i < rows * in; i++) n->input[i] = (float)sin(0.37 * (double)i) * 2;
    for (int r = 0; r < rows; r++) n->labels[r] = r % 5;
    for (size_t i = 0; i < n->nparams; i++) n->params[i] *= 2.0f; /* every layer matters */
    n->grad_beta = 0.0f;
    n->dropout_seed = 99;
    ck_assert_msg(pt_net_forward(n, rows, 1.0f / (float)rows) == PT_OK, "%s", pt_last_error());
    ck_assert_msg(pt_net_backward(n, rows) == PT_OK, "%s", pt_last_error());
    ck_assert_msg(pt_net_materialize(n) == PT_OK, "%s", pt_last_error());
    size_t total = n->nparams;
    for (int i = 0; i < n->nlayers; i++) total += 2 * (size_t)rows * (size_t)n->L[i].spec->size;
    float *out = malloc(total * sizeof *out), *at = out;
    memcpy(at, n->grads, n->nparams * sizeof *at), at += n->nparams;
    for (int i = 0; i < n->nlayers; i++) {
        size_t cnt = (size_t)rows * (size_t)n->L[i].spec->size;
        memcpy(at, n->L[i].y, cnt * sizeof *at), at += cnt;
        memcpy(at, n->L[i].dy, cnt * sizeof *at), at += cnt;
    }
    /* a second materialize changes nothing */
    ck_assert_int_eq(pt_net_materialize(n), PT_OK);
    at = out + n->nparams;
    for (int i = 0; i < n->nlayers; i++) {
        size_t cnt = (size_t)rows * (size_t)n->L[i].spec->size;
        ck_assert(!memcmp(at, n->L[i].y, cnt * sizeof *at)), at += cnt;
        ck_assert(!memcmp(at, n->L[i].dy, cnt * sizeof *at)), at += cnt;
    }
    pt_net_destroy(n);
    pt_backend_close(be);
    *count = total;
    return out;
}

static void check_model(const char *json, const char *what, int nclasses_dim)
{
    pt_model_spec spec;
    ck_assert_msg(pt_model_spec_parse(json, what, &spec) == PT_OK, "%s", pt_last_error());
    int64_t in = 1;
    for (int d = 0; d < spec.ninput; d++) in *= spec.input[d];
    char ds[64];
    snprintf(ds, sizeof ds, "synthetic:256,%lld,%d", (long long)in, nclasses_dim);
    pt_data_options o = pt_data_options_default();
    pt_data data;
    ck_assert_msg(pt_data_open(ds, &o, &data) == PT_OK, "%s", pt_last_error());
    for (int k = 0; k < NPOL; k++) {
        pt_policy pol;
        load_policy(policies[k], &pol);
        int nf_fused, nf_plain;
        uint64_t a = train(&spec, &pol, &data, true, &nf_fused), b = train(&spec, &pol, &data, false, &nf_plain);
        printf("%s, policy %d: %d fusions, weights %016llx (fused) %016llx (no fusion)\n", what, k, nf_fused,
               (unsigned long long)a, (unsigned long long)b);
        ck_assert_int_eq(nf_plain, 0);
        if (k > 1) ck_assert_msg(nf_fused > 0, "%s, policy %d: nothing fused", what, k);
        ck_assert_msg(a == b, "%s, policy %d: fused weights %016llx, unfused %016llx", what, k,
                      (unsigned long long)a, (unsigned long long)b);
        size_t na, nb;
        float *fa = one_step(&spec, &pol, true, &na), *fb = one_step(&spec, &pol, false, &nb);
        ck_assert_int_eq(na, nb);
        for (size_t i = 0; i < na; i++)
            ck_assert_msg(!memcmp(&fa[i], &fb[i], sizeof *fa), "%s, policy %d: value %zu: fused %.9g, unfused %.9g",
                          what, k, i, (double)fa[i], (double)fb[i]);
        free(fa), free(fb);
        pt_policy_free(&pol);
    }
    pt_data_free(&data);
    pt_model_spec_free(&spec);
}

START_TEST(test_mlp) { check_model(mlp, "mlp", 5); }
END_TEST

START_TEST(test_cnn) { check_model(cnn, "cnn", 5); }
END_TEST

START_TEST(test_norm) { check_model(norm, "norm", 5); }
END_TEST

/* The rules, read off the MLP above under bf16-amp: a0 (fed by the model
 * input) writes fc1's cast but no input gradient; a1 takes fc1's codes and
 * writes its dy cast and bias gradient; a2, read by fc3 and the residual,
 * writes no cast; fc4 has no bias, so a4 writes only its dy cast. */
START_TEST(test_rules)
{
    pt_model_spec spec;
    ck_assert_int_eq(pt_model_spec_parse(mlp, "mlp", &spec), PT_OK);
    pt_policy pol;
    load_policy("bf16-amp", &pol);
    pt_plan_caps caps = {0};
    pt_plan p;
    ck_assert_int_eq(pt_plan_build(&spec, &pol, &caps, 16, true, &p), PT_OK);
    int a0 = 0, fc1 = 1, a1 = 2, fc2 = 3, a2 = 4, fc3 = 5, a3 = 7, fc4 = 8, a4 = 9, head = 10;
    ck_assert_int_eq(p.w16_fmt, PT_FMT_BF16);
    ck_assert_int_eq(p.L[a0].cast_for, fc1);
    ck_assert(p.L[a0].y_unwritten && !p.L[a0].x_codes && p.L[a0].in_grad_of < 0);
    ck_assert(p.L[fc1].x_cast_by_input && p.L[fc1].y_codes && p.L[fc1].w_from_copy && p.L[fc1].bias_from_copy);
    ck_assert(p.L[fc1].dx_codes && p.L[a0].dy_codes); /* a0's dy is made, though nothing reads it in the step */
    ck_assert(p.L[a1].x_codes && p.L[a1].in_grad_of == fc1 && p.L[a1].in_grad_fmt == PT_FMT_BF16);
    ck_assert(p.L[a1].dx_unwritten && p.L[fc1].dy_cast_by_output && p.L[fc1].db_by_output);
    ck_assert(p.L[fc2].dx_codes && p.L[a1].dy_codes && p.L[a1].cast_for == fc2);
    ck_assert(p.L[a2].cast_for < 0 && !p.L[a2].y_unwritten && p.L[a2].readers == 2);
    ck_assert(!p.L[fc3].x_cast_by_input && !p.L[fc3].dx_codes && !p.L[fc3].y_codes);
    ck_assert(p.L[a3].in_grad_of < 0 && !p.L[a3].x_codes); /* its input is the residual */
    ck_assert(p.L[a4].in_grad_of == fc4 && !p.L[fc4].db_by_output && p.L[fc4].dy_cast_by_output);
    ck_assert(!p.L[head].y_codes && p.L[head].dx_codes);
    pt_plan_free(&p);
    ck_assert_int_eq(pt_plan_build(&spec, &pol, &caps, 16, false, &p), PT_OK);
    ck_assert_int_eq(fusions(&p), 0);
    pt_plan_free(&p);
    pt_policy_free(&pol);
    pt_model_spec_free(&spec);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plan");
    TCase *tc = tcase_create("plan");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_rules);
    tcase_add_test(tc, test_mlp);
    tcase_add_test(tc, test_cnn);
    tcase_add_test(tc, test_norm);
    suite_add_tcase(s, tc);
    return pt_check_run(s, CK_FORK_GETENV);
}
