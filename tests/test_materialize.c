/* What a training step leaves raw or unwritten (an activation's input and
 * dy as the GEMMs wrote them, its output, its input gradient) and what
 * pt_net_materialize makes of it, on the CPU backend, for the presets in
 * 16 bits and fp8. The oracle is the relations the tensors must hold, each
 * computed here from the tensors alone: an activation's input and dy are
 * values of the GEMMs' output format, y = act(x) and dx = act'(x) dy
 * (formulas written out in double, against the fp32 op within a few ulps),
 * and the layer's y and dy feed the statistics, which a second
 * materialize leaves unchanged. Each preset must leave something lazy, so
 * the test does not pass by the step having written everything. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "instrument/net.h"
#include "prectune/backend.h"
#include "prectune/formats.h"
#include "prectune/model.h"
#include "prectune/policy.h"

#define ROWS 8

static const char *model =
    "{\"name\": \"m\", \"input\": [24], \"layers\": ["
    "{\"name\": \"fc1\", \"type\": \"linear\", \"out\": 32}, {\"name\": \"a1\", \"type\": \"gelu\"},"
    "{\"name\": \"fc2\", \"type\": \"linear\", \"out\": 16}, {\"name\": \"a2\", \"type\": \"relu\"},"
    "{\"name\": \"head\", \"type\": \"linear\", \"out\": 5}],"
    "\"loss\": \"softmax_cross_entropy\", \"optimizer\": {\"type\": \"adamw\", \"lr\": 1e-3},"
    "\"train\": {\"batch\": 8, \"steps\": 10, \"seed\": 1}}";

static double act_ref(pt_layer_type t, double x)
{
    return t == PT_LAYER_RELU ? (x > 0 ? x : 0) : 0.5 * x * (1 + erf(x / sqrt(2.0)));
}

static double grad_ref(pt_layer_type t, double x, double dy)
{
    if (t == PT_LAYER_RELU) return x > 0 ? dy : 0;
    return dy * (0.5 * (1 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2 * 3.14159265358979323846));
}

/* every value of x[n] is one of f's (rounding it changes nothing) */
static bool in_format(pt_format f, const float *x, size_t n)
{
    float *r = malloc(n * sizeof *r);
    memcpy(r, x, n * sizeof *r);
    pt_round_array(f, r, n, 0);
    bool same = !memcmp(r, x, n * sizeof *r);
    free(r);
    return same;
}

static void near(const char *what, double got, double want, double scale)
{
    ck_assert_msg(fabs(got - want) <= 1e-6 * scale + 1e-30, "%s: %.9g, want %.9g", what, got, want);
}

static void materialized(const char *preset)
{
    char path[512];
    snprintf(path, sizeof path, "%s/policies/presets/%s.json", PT_SOURCE_DIR, preset);
    pt_model_spec spec;
    ck_assert_msg(pt_model_spec_parse(model, "model", &spec) == PT_OK, "%s", pt_last_error());
    pt_policy pol;
    ck_assert_msg(pt_policy_load(path, &pol) == PT_OK, "%s", pt_last_error());
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    pt_net *n;
    ck_assert_msg(pt_net_create(be, &spec, &pol, ROWS, &n) == PT_OK, "%s", pt_last_error());
    ck_assert_int_eq(pt_net_init_params(n, 3), PT_OK);
    n->train = true;
    for (int i = 0; i < ROWS * 24; i++) n->input[i] = (float)sin(0.37 * i) * 2;
    for (int r = 0; r < ROWS; r++) n->labels[r] = r % 5;
    for (size_t i = 0; i < n->nparams; i++) n->params[i] *= 2.0f; /* every layer matters */
    n->grad_beta = 0.0f;
    ck_assert_msg(pt_net_forward(n, ROWS, 1.0f / ROWS) == PT_OK, "%s", pt_last_error());
    ck_assert_msg(pt_net_backward(n, ROWS) == PT_OK, "%s", pt_last_error());
    int lazy = 0;
    for (int i = 0; i < n->nlayers; i++)
        lazy += n->L[i].y_lazy + n->L[i].dx_lazy + (n->L[i].x_tail.c != NULL) + (n->L[i].dy_tail.c != NULL);
    ck_assert_msg(lazy > 0, "%s: the step left nothing raw or unwritten", preset);
    ck_assert_msg(pt_net_materialize(n) == PT_OK, "%s", pt_last_error());
    for (int i = 0; i < n->nlayers; i++) {
        pt_net_layer *l = &n->L[i];
        ck_assert(!l->y_lazy && !l->dx_lazy && !l->x_tail.c && !l->dy_tail.c);
        if (!pt_layer_is_activation(l)) continue;
        pt_net_layer *p = &n->L[l->spec->in_index[0]], *c = &n->L[i + 1];
        size_t cnt = (size_t)ROWS * (size_t)l->spec->size;
        char what[96];
        snprintf(what, sizeof what, "%s, %s: x in %s", preset, l->spec->name,
                 pt_format_info(pt_gemm_out_format(p->fmt.fwd))->name);
        ck_assert_msg(in_format(pt_gemm_out_format(p->fmt.fwd), p->y, cnt), "%s", what);
        snprintf(what, sizeof what, "%s, %s: dy in %s", preset, l->spec->name,
                 pt_format_info(pt_gemm_out_format(c->fmt.dgrad))->name);
        ck_assert_msg(in_format(pt_gemm_out_format(c->fmt.dgrad), l->dy, cnt), "%s", what);
        double ymax = 0, dxmax = 0;
        for (size_t k = 0; k < cnt; k++) {
            ymax = fmax(ymax, fabs(act_ref(l->spec->type, p->y[k])));
            dxmax = fmax(dxmax, fabs(grad_ref(l->spec->type, p->y[k], l->dy[k])));
        }
        for (size_t k = 0; k < cnt; k++) {
            snprintf(what, sizeof what, "%s, %s: y[%zu]", preset, l->spec->name, k);
            near(what, l->y[k], act_ref(l->spec->type, p->y[k]), ymax);
            snprintf(what, sizeof what, "%s, %s: dx[%zu]", preset, l->spec->name, k);
            near(what, p->dy[k], grad_ref(l->spec->type, p->y[k], l->dy[k]), dxmax);
        }
    }
    /* made once: a second call finds nothing left and changes nothing */
    size_t total = 0;
    for (int i = 0; i < n->nlayers; i++) total += 2 * (size_t)ROWS * (size_t)n->L[i].spec->size;
    float *before = malloc(total * sizeof *before), *at = before;
    for (int i = 0; i < n->nlayers; i++) {
        size_t cnt = (size_t)ROWS * (size_t)n->L[i].spec->size;
        memcpy(at, n->L[i].y, cnt * sizeof *at), at += cnt;
        memcpy(at, n->L[i].dy, cnt * sizeof *at), at += cnt;
    }
    ck_assert_int_eq(pt_net_materialize(n), PT_OK);
    at = before;
    for (int i = 0; i < n->nlayers; i++) {
        size_t cnt = (size_t)ROWS * (size_t)n->L[i].spec->size;
        ck_assert(!memcmp(at, n->L[i].y, cnt * sizeof *at)), at += cnt;
        ck_assert(!memcmp(at, n->L[i].dy, cnt * sizeof *at)), at += cnt;
    }
    free(before);
    pt_net_destroy(n);
    pt_backend_close(be);
    pt_policy_free(&pol);
    pt_model_spec_free(&spec);
}

START_TEST(test_bf16) { materialized("bf16-amp"); }
END_TEST
START_TEST(test_fp16) { materialized("fp16-amp"); }
END_TEST
START_TEST(test_fp8) { materialized("fp8-hybrid"); }
END_TEST

int main(void)
{
    Suite *s = suite_create("materialize");
    TCase *tc = tcase_create("materialize");
    tcase_add_test(tc, test_bf16);
    tcase_add_test(tc, test_fp16);
    tcase_add_test(tc, test_fp8);
    suite_add_tcase(s, tc);
    return pt_check_run(s, CK_FORK_GETENV);
}
