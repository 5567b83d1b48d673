/* The transformer's layers beyond their finite-difference checks
 * (test_gradcheck.c): the spec errors they add, the names a gpt_block
 * expands into, the causal mask (a change of a later token moves no
 * earlier output, bit for bit: masked probabilities are exact zeros), the
 * tied head's gradient (the sum of both uses), and training on token data
 * built in memory under every preset (finite, learning, the fused plan
 * bit-identical to the plan with no fusion, perplexity reported). */
#include <check.h>
#include <math.h>
#include <sqlite3.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "instrument/net.h"
#include "prectune/backend.h"
#include "prectune/data.h"
#include "prectune/formats.h"
#include "prectune/model.h"
#include "prectune/policy.h"
#include "prectune/telemetry.h"
#include "prectune/trainer.h"
#include "prectune/tuner.h"

static void spec_error(const char *json, const char *want1, const char *want2)
{
    pt_model_spec s;
    pt_status st = pt_model_spec_parse(json, "m.json", &s);
    ck_assert_msg(st == PT_ERR_INVALID, "accepted: %s", json);
    const char *msg = pt_last_error();
    ck_assert_msg(strstr(msg, "m.json") && strstr(msg, want1) && (!want2 || strstr(msg, want2)),
                  "message '%s' lacks '%s' / '%s'", msg, want1, want2 ? want2 : "");
}

#define EMB "{\"name\": \"wte\", \"type\": \"embedding\", \"vocab\": 16, \"out\": 12}"
#define TOK(T, x) "{\"name\": \"m\", \"input\": [" #T "], \"layers\": [" x "]}"

START_TEST(test_spec_errors)
{
    spec_error(TOK(8, EMB ", {\"name\": \"a\", \"type\": \"attention\", \"heads\": 5}, "
                          "{\"name\": \"z\", \"type\": \"linear\", \"out\": 16}"),
               "layers[1].heads", "5 heads do not divide the width 12");
    spec_error(TOK(8, EMB ", {\"name\": \"h\", \"type\": \"gpt_block\", \"heads\": 8, \"repeat\": 3}, "
                          "{\"name\": \"z\", \"type\": \"linear\", \"out\": 16}"),
               "layers[1].heads", "do not divide");
    spec_error(TOK(8, EMB ", {\"name\": \"p\", \"type\": \"position_embedding\", \"context\": 4}, "
                          "{\"name\": \"z\", \"type\": \"linear\", \"out\": 16}"),
               "layers[1].context", "8 positions, past the table's 4");
    spec_error(TOK(8, EMB ", {\"name\": \"a\", \"type\": \"linear\", \"out\": 10}, "
                          "{\"name\": \"z\", \"type\": \"linear\", \"out\": 16, \"tie\": \"wte\"}"),
               "layers[2].tie", "input width 10 is not the width 12");
    spec_error(TOK(8, EMB ", {\"name\": \"z\", \"type\": \"linear\", \"out\": 15, \"tie\": \"wte\"}"),
               "layers[1].out", "16, not 15");
    spec_error(TOK(8, EMB ", {\"name\": \"a\", \"type\": \"gelu\"}, {\"name\": \"z\", \"type\": \"linear\", \"out\": 16, "
                          "\"tie\": \"a\"}"),
               "layers[2].tie", "not the name of an embedding");
    spec_error(TOK(8, EMB ", {\"name\": \"y\", \"type\": \"linear\", \"out\": 16, \"tie\": \"wte\"}, "
                          "{\"name\": \"a\", \"type\": \"linear\", \"out\": 12}, "
                          "{\"name\": \"z\", \"type\": \"linear\", \"out\": 16, \"tie\": \"wte\"}"),
               "layers[3].tie", "tied to 'y' already");
    spec_error(TOK(8, "{\"name\": \"a\", \"type\": \"linear\", \"out\": 12}, " EMB),
               "layers[1]", "it must be layers[0]");
    spec_error(TOK(8, EMB ", {\"name\": \"h\", \"type\": \"gpt_block\"}"), "layers[1].heads", "missing");
    spec_error(TOK(8, EMB ", {\"name\": \"h\", \"type\": \"gpt_block\", \"heads\": 2, \"norm\": \"batchnorm\"}"),
               "layers[1].norm", "rmsnorm");
    spec_error("{\"name\": \"m\", \"input\": [1, 4, 4], \"layers\": [" EMB "]}", "input", "[T] token ids");
    spec_error(TOK(8, EMB ", {\"name\": \"z\", \"type\": \"linear\", \"out\": 16}], \"loss\": \"mse\", \"x\": [0"),
               "m.json", NULL);
}
END_TEST

/* a 12-block GPT is a short file; policies name its GEMMs */
#define GPT(T, V, D, H, N)                                                                                             \
    "{\"name\": \"gpt\", \"input\": [" #T "], \"layers\": ["                                                          \
    "{\"name\": \"wte\", \"type\": \"embedding\", \"vocab\": " #V ", \"out\": " #D "},"                                 \
    "{\"name\": \"wpe\", \"type\": \"position_embedding\"},"                                                          \
    "{\"name\": \"h\", \"type\": \"gpt_block\", \"heads\": " #H ", \"repeat\": " #N "},"                              \
    "{\"name\": \"lnf\", \"type\": \"layernorm\"},"                                                                  \
    "{\"name\": \"head\", \"type\": \"linear\", \"out\": " #V ", \"tie\": \"wte\", \"bias\": false}],"                 \
    "\"optimizer\": {\"lr\": 1e-2}, \"train\": {\"batch\": 8, \"steps\": 100, \"warmup\": 10, \"seed\": 3}}"

START_TEST(test_gpt_names)
{
    pt_model_spec s;
    ck_assert_msg(pt_model_spec_parse(GPT(64, 512, 96, 4, 12), "gpt.json", &s) == PT_OK, "%s", pt_last_error());
    const char *names[] = {"h0.ln1", "h3.attn.qkv", "h3.attn.qk", "h3.attn.softmax", "h3.attn.pv", "h3.attn.proj",
                           "h3.res1", "h3.ln2", "h3.mlp.fc", "h3.mlp.gelu", "h3.mlp.fc2", "h11.res2"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        ck_assert_msg(pt_model_spec_find(&s, names[k]) >= 0, "no layer %s", names[k]);
    ck_assert_int_eq(s.nlayers, 2 + 12 * 12 + 2);
    ck_assert_int_eq(s.context, 64);
    ck_assert_int_eq(s.vocab, 512);
    const pt_layer_spec *qk = &s.layers[pt_model_spec_find(&s, "h3.attn.qk")];
    ck_assert(pt_layer_has_gemm(qk->type) && !pt_layer_has_weights(qk->type));
    ck_assert_int_eq(qk->shape[0], 4 * 64);
    ck_assert_int_eq(s.layers[pt_model_spec_find(&s, "h3.mlp.fc")].out, 4 * 96);
    ck_assert_int_eq(s.layers[pt_model_spec_find(&s, "h3.mlp.fc2")].out, 96);
    /* parameters, counted by hand: tables, then per block two norms, qkv, proj, fc, fc2 (with biases), the final norm */
    int64_t d = 96, per_block = 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (4 * d * d + 4 * d) + (4 * d * d + d);
    ck_assert_int_eq(pt_model_parameters(&s), 512 * d + 64 * d + 12 * per_block + 2 * d);
    pt_model_spec_free(&s);
}
END_TEST

static pt_net *make_net(pt_backend **be, pt_model_spec *s, const char *json, int rows)
{
    ck_assert_msg(pt_model_spec_parse(json, "t.json", s) == PT_OK, "%s", pt_last_error());
    static pt_policy pol;
    pt_policy_init_fp32(&pol);
    ck_assert_int_eq(pt_backend_open("cpu", be), PT_OK);
    pt_net *n;
    ck_assert_msg(pt_net_create(*be, s, &pol, rows, &n) == PT_OK, "%s", pt_last_error());
    ck_assert_int_eq(pt_net_init_params(n, 7), PT_OK);
    return n;
}

START_TEST(test_causal_mask)
{
    enum { T = 10, V = 16, ROWS = 3, C = 4 };
    pt_backend *be;
    pt_model_spec s;
    pt_net *n = make_net(&be, &s, GPT(10, 16, 12, 3, 2), ROWS);
    n->train = false;
    for (int i = 0; i < ROWS * T; i++) n->input[i] = (float)((i * 7 + 3) % V);
    for (int i = 0; i < ROWS * T; i++) n->labels[i] = (i * 5) % V;
    ck_assert_int_eq(pt_net_forward(n, ROWS, 0.0f), PT_OK);
    const pt_net_layer *last = &n->L[n->nlayers - 1];
    size_t cnt = (size_t)ROWS * T * V;
    float *before = malloc(cnt * sizeof(float));
    memcpy(before, last->y, cnt * sizeof(float));
    for (int r = 0; r < ROWS; r++) n->input[r * T + C] = (float)(((int)n->input[r * T + C] + 5) % V);
    ck_assert_int_eq(pt_net_forward(n, ROWS, 0.0f), PT_OK);
    int moved_later = 0;
    for (int r = 0; r < ROWS; r++)
        for (int t = 0; t < T; t++)
            for (int v = 0; v < V; v++) {
                size_t i = ((size_t)r * T + t) * V + v;
                if (t < C)
                    ck_assert_msg(memcmp(&before[i], &last->y[i], sizeof(float)) == 0,
                                  "sample %d position %d: a later token moved its logit %d (%g to %g)", r, t, v,
                                  (double)before[i], (double)last->y[i]);
                else moved_later += before[i] != last->y[i];
            }
    ck_assert_msg(moved_later > ROWS * (T - C) * V / 2, "the changed token moved only %d later logits", moved_later);
    free(before);
    pt_net_destroy(n);
    pt_backend_close(be);
    pt_model_spec_free(&s);
}
END_TEST

/* a token id outside the vocabulary, or not an integer, stops the forward
 * naming the layer and the token */
START_TEST(test_bad_token)
{
    pt_backend *be;
    pt_model_spec s;
    pt_net *n = make_net(&be, &s, GPT(6, 16, 12, 2, 1), 2);
    float bad[] = {16, -1, 2.5f, NAN};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        for (int i = 0; i < 12; i++) n->input[i] = (float)(i % 16), n->labels[i] = i % 16;
        n->input[7] = bad[k];
        ck_assert_int_eq(pt_net_forward(n, 2, 0.0f), PT_ERR_INVALID);
        const char *msg = pt_last_error();
        ck_assert_msg(strstr(msg, "layer 'wte' (embedding), forward") && strstr(msg, "token 7 is") &&
                          strstr(msg, "not a token id in [0, 16)"),
                      "%s", msg);
    }
    pt_net_destroy(n);
    pt_backend_close(be);
    pt_model_spec_free(&s);
}
END_TEST

/* the gradient of a tied table is the embedding's scatter plus the head's
 * weight gradient: compared with the untied model whose head weight is
 * set to the same table */
START_TEST(test_tied_gradient)
{
    enum { T = 6, V = 16, D = 12, ROWS = 2 };
    const char *tied = GPT(6, 16, 12, 2, 1);
    char untied[2048];
    snprintf(untied, sizeof untied, "%s", tied);
    char *p = strstr(untied, ", \"tie\": \"wte\"");
    ck_assert(p);
    memmove(p, p + strlen(", \"tie\": \"wte\""), strlen(p + strlen(", \"tie\": \"wte\"")) + 1);
    pt_backend *b1, *b2;
    pt_model_spec s1, s2;
    pt_net *a = make_net(&b1, &s1, tied, ROWS), *u = make_net(&b2, &s2, untied, ROWS);
    ck_assert_uint_eq(u->nparams, a->nparams + (size_t)V * D);
    /* the same weights: the untied net's layout is the tied one's with the head's weight appended */
    memcpy(u->params, a->params, a->nparams * sizeof(float));
    memcpy(u->params + a->nparams, a->params, (size_t)V * D * sizeof(float));
    ck_assert_ptr_eq(a->L[a->nlayers - 1].w, a->L[0].w);
    ck_assert_ptr_eq(u->L[u->nlayers - 1].w, u->params + a->nparams);
    for (pt_net *n = a; n; n = n == a ? u : NULL) {
        n->train = true;
        n->grad_beta = 0.0f; /* as a step's first micro-batch: each layer writes its gradient */
        for (int i = 0; i < ROWS * T; i++) n->input[i] = (float)((i * 3 + 1) % V);
        for (int i = 0; i < ROWS * T; i++) n->labels[i] = (i * 11 + 2) % V;
        ck_assert_int_eq(pt_net_forward(n, ROWS, 1.0f / (ROWS * T)), PT_OK);
        ck_assert_int_eq(pt_net_backward(n, ROWS), PT_OK);
    }
    double worst = 0;
    for (size_t k = 0; k < (size_t)V * D; k++) {
        double want = (double)u->grads[k] + u->grads[a->nparams + k], got = a->grads[k];
        double err = fabs(got - want) / (fabs(want) + 1e-6);
        if (err > worst) worst = err;
    }
    /* one float addition's rounding apart: the tied sum adds the scatter to the head's gradient row by row */
    ck_assert_msg(worst < 1e-5, "tied gradient differs from the sum of both uses by %g relative", worst);
    for (size_t k = (size_t)V * D; k < a->nparams; k++) ck_assert_float_eq(a->grads[k], u->grads[k]);
    pt_net_destroy(a), pt_net_destroy(u);
    pt_backend_close(b1), pt_backend_close(b2);
    pt_model_spec_free(&s1), pt_model_spec_free(&s2);
}
END_TEST

/* token data in memory: sequences of a fixed cycle with a random start, so
 * that the next token is learnable from the one before */
static void token_data(pt_data *d, int n, int T, int V)
{
    memset(d, 0, sizeof *d);
    pt_dataset *sets[2] = {&d->train, &d->test};
    for (int k = 0; k < 2; k++) {
        pt_dataset *ds = sets[k];
        ds->n = k ? n / 4 + 3 : n; /* held out: a last batch of 3 */
        ds->dim = T;
        ds->label_len = T;
        ds->x = malloc(sizeof(float) * (size_t)ds->n * T);
        ds->label = malloc(sizeof(int32_t) * (size_t)ds->n * T);
        for (int64_t i = 0; i < ds->n; i++) {
            int start = (int)((i * 2654435761u + (uint64_t)k * 97) % (uint64_t)V);
            for (int t = 0; t < T; t++) {
                ds->x[i * T + t] = (float)((start + 3 * t) % V);
                ds->label[i * T + t] = (start + 3 * (t + 1)) % V;
            }
        }
    }
    d->nclasses = V;
    d->tokens = true;
    d->bytes_per_token = 1.0;
    d->ndim = 1, d->shape[0] = T;
    snprintf(d->desc, sizeof d->desc, "cycle tokens (%d sequences of %d, vocabulary %d)", n, T, V);
}

static uint64_t train(const pt_model_spec *spec, const pt_policy *pol, const pt_data *data, bool fused, double *first,
                      double *last, pt_eval_result *ev)
{
    setenv("PRECTUNE_FUSE", fused ? "1" : "0", 1);
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    pt_trainer *t;
    ck_assert_msg(pt_trainer_create(be, spec, pol, data, &t) == PT_OK, "%s", pt_last_error());
    for (int s = 0; s < spec->train.steps; s++) {
        pt_step_record r;
        ck_assert_msg(pt_trainer_step(t, &r) == PT_OK, "%s", pt_last_error());
        ck_assert_msg(isfinite(r.loss), "%s: step %d: loss %g", pol->source, s, r.loss);
        if (s == 0) *first = r.loss;
        *last = r.loss;
    }
    ck_assert_int_eq(pt_trainer_eval(t, ev), PT_OK);
    uint64_t h;
    ck_assert_int_eq(pt_trainer_weights_hash(t, &h), PT_OK);
    pt_trainer_destroy(t);
    pt_backend_close(be);
    unsetenv("PRECTUNE_FUSE");
    return h;
}

START_TEST(test_train_presets)
{
    pt_model_spec s;
    ck_assert_msg(pt_model_spec_parse(GPT(16, 32, 32, 4, 2), "gpt.json", &s) == PT_OK, "%s", pt_last_error());
    pt_data d;
    token_data(&d, 256, 16, 32);
    const char *presets[] = {"fp32", "bf16-amp", "fp16-amp", "fp8-hybrid"};
    for (size_t k = 0; k < sizeof presets / sizeof presets[0]; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/policies/presets/%s.json", PT_SOURCE_DIR, presets[k]);
        pt_policy pol;
        ck_assert_msg(pt_policy_load(path, &pol) == PT_OK, "%s", pt_last_error());
        double f0, l0, f1, l1;
        pt_eval_result e0, e1;
        uint64_t fused = train(&s, &pol, &d, true, &f0, &l0, &e0);
        uint64_t plain = train(&s, &pol, &d, false, &f1, &l1, &e1);
        printf("%s: loss %.4f -> %.4f, held-out %.4f, perplexity %.3f, %.4f bits per byte\n", presets[k], f0, l0,
               e0.loss, e0.perplexity, e0.bits_per_byte);
        ck_assert_msg(fused == plain, "%s: the fused plan changed the weights", presets[k]);
        /* ln 32 = 3.47 at chance: 100 steps of a learnable cycle halve it at least */
        ck_assert_msg(l0 < 0.5 * f0, "%s: loss %g -> %g", presets[k], f0, l0);
        ck_assert(isnan(e0.accuracy));
        ck_assert_double_eq_tol(e0.perplexity, exp(e0.loss), 1e-9 * e0.perplexity);
        ck_assert_double_eq_tol(e0.bits_per_byte, e0.loss / log(2.0), 1e-12);
        pt_policy_free(&pol);
    }
    pt_data_free(&d);
    pt_model_spec_free(&s);
}
END_TEST

/* a policy that names attention's GEMMs: fp8 scores, bf16 values, the rest fp32 */
START_TEST(test_policy_names_attention)
{
    pt_model_spec s;
    ck_assert(pt_model_spec_parse(GPT(16, 32, 32, 4, 2), "gpt.json", &s) == PT_OK);
    pt_policy pol;
    const char *json = "{\"prectune_policy\": 1, \"layers\": {"
                       "\"h1.attn.qk\": {\"fwd\": \"fp8_e4m3\", \"dgrad\": \"fp8_e5m2\", \"wgrad\": \"fp8_e5m2\"},"
                       "\"h1.attn.pv\": {\"fwd\": \"bf16\", \"dgrad\": \"bf16\", \"wgrad\": \"bf16\"},"
                       "\"h0.mlp.fc2\": {\"fwd\": \"fp16\", \"dgrad\": \"fp16\", \"wgrad\": \"fp16\"}},"
                       "\"fp8\": {\"recipe\": \"delayed\", \"amax_history\": 16, \"amax_compute\": \"max\", \"margin\": 0}}";
    ck_assert_msg(pt_policy_parse(json, "p.json", &pol) == PT_OK, "%s", pt_last_error());
    pt_data d;
    token_data(&d, 256, 16, 32);
    double f0, l0, f1, l1;
    pt_eval_result e0, e1;
    uint64_t fused = train(&s, &pol, &d, true, &f0, &l0, &e0);
    uint64_t plain = train(&s, &pol, &d, false, &f1, &l1, &e1);
    ck_assert(fused == plain);
    ck_assert_msg(l0 < 0.5 * f0, "loss %g -> %g", f0, l0);
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    pt_net *n;
    ck_assert_int_eq(pt_net_create(be, &s, &pol, 4, &n), PT_OK);
    const pt_net_layer *qk = &n->L[pt_model_spec_find(&s, "h1.attn.qk")];
    ck_assert_int_eq(qk->fmt.fwd, PT_FMT_E4M3);
    ck_assert_int_eq(qk->fmt.dgrad, PT_FMT_E5M2);
    ck_assert_int_eq(n->L[pt_model_spec_find(&s, "h0.attn.qk")].fmt.fwd, PT_FMT_FP32);
    pt_net_destroy(n);
    pt_backend_close(be);
    /* the softmax computes in a format a policy names (fp32, bf16, fp16), not fp8 */
    pt_policy bad;
    ck_assert(pt_policy_parse("{\"prectune_policy\": 1, \"layers\": {\"h1.attn.softmax\": {\"fwd\": \"fp8_e4m3\"}}}",
                              "b.json", &bad) == PT_OK);
    ck_assert_int_eq(pt_policy_check_model(&bad, &s), PT_ERR_INVALID);
    ck_assert(strstr(pt_last_error(), "layers.h1.attn.softmax.fwd: a softmax computes in fp32, bf16 or fp16"));
    pt_policy_free(&bad);
    pt_policy_free(&pol);
    pt_data_free(&d);
    pt_model_spec_free(&s);
}
END_TEST

/* statistics of every tensor of the attention's layers, and drift against
 * the fp32 shadow: exact (+inf dB) for the layers before the first
 * low-precision GEMM, finite after it */
/* a softmax and an rmsnorm a policy names in bf16 write bf16 values (and
 * the run trains); the same layers in fp32 write others */
START_TEST(test_compute_formats)
{
    pt_model_spec s;
    const char *json = "{\"name\": \"g\", \"input\": [16], \"layers\": ["
                       "{\"name\": \"wte\", \"type\": \"embedding\", \"vocab\": 32, \"out\": 32},"
                       "{\"name\": \"h\", \"type\": \"gpt_block\", \"heads\": 4, \"norm\": \"rmsnorm\"},"
                       "{\"name\": \"head\", \"type\": \"linear\", \"out\": 32, \"tie\": \"wte\"}],"
                       "\"optimizer\": {\"lr\": 1e-2}, \"train\": {\"batch\": 8, \"steps\": 100, \"warmup\": 10}}";
    ck_assert_msg(pt_model_spec_parse(json, "g.json", &s) == PT_OK, "%s", pt_last_error());
    pt_policy pol;
    ck_assert_msg(pt_policy_parse("{\"prectune_policy\": 1, \"layers\": {\"h0.attn.softmax\": {\"fwd\": \"bf16\"},"
                                  "\"h0.ln1\": {\"fwd\": \"bf16\"}}}", "p.json", &pol) == PT_OK, "%s", pt_last_error());
    ck_assert_msg(pt_policy_check_model(&pol, &s) == PT_OK, "%s", pt_last_error());
    pt_data d;
    token_data(&d, 256, 16, 32);
    double f0, l0;
    pt_eval_result e;
    train(&s, &pol, &d, true, &f0, &l0, &e);
    ck_assert_msg(l0 < 0.5 * f0, "loss %g -> %g", f0, l0);
    for (int k = 0; k < 2; k++) {
        pt_policy fp32;
        pt_policy_init_fp32(&fp32);
        pt_backend *be;
        ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
        pt_net *n;
        ck_assert_int_eq(pt_net_create(be, &s, k ? &fp32 : &pol, 4, &n), PT_OK);
        ck_assert_int_eq(pt_net_init_params(n, 5), PT_OK);
        for (int i = 0; i < 4 * 16; i++) n->input[i] = (float)((i * 5) % 32), n->labels[i] = i % 32;
        ck_assert_int_eq(pt_net_forward(n, 4, 0.0f), PT_OK);
        const char *names[] = {"h0.attn.softmax", "h0.ln1"};
        for (int q = 0; q < 2; q++) {
            const pt_net_layer *l = &n->L[pt_model_spec_find(&s, names[q])];
            size_t cnt = 4 * (size_t)l->spec->size, off = 0;
            for (size_t i = 0; i < cnt; i++) off += pt_round(PT_FMT_BF16, l->y[i], 0) != l->y[i];
            /* fp32: most values are not bf16 ones (a causal softmax has nearly half its values exact zeros) */
            ck_assert_msg(k ? off > cnt / 3 : off == 0, "%s in %s: %zu of %zu values not bf16", names[q],
                          k ? "fp32" : "bf16", off, cnt);
        }
        pt_net_destroy(n);
        pt_backend_close(be);
    }
    pt_policy_free(&pol);
    pt_data_free(&d);
    pt_model_spec_free(&s);
}
END_TEST

START_TEST(test_instrumented)
{
    char db_path[128], p[160];
    snprintf(db_path, sizeof db_path, "/tmp/pt_tf_%d.db", getpid());
    unlink(db_path);
    snprintf(p, sizeof p, "%s-wal", db_path), unlink(p);
    snprintf(p, sizeof p, "%s-shm", db_path), unlink(p);
    pt_model_spec s;
    ck_assert(pt_model_spec_parse(GPT(16, 32, 32, 4, 2), "gpt.json", &s) == PT_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/policies/presets/fp8-hybrid.json", PT_SOURCE_DIR);
    pt_policy pol;
    ck_assert_int_eq(pt_policy_load(path, &pol), PT_OK);
    pt_data d;
    token_data(&d, 256, 16, 32);
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    pt_trainer *t;
    ck_assert_msg(pt_trainer_create(be, &s, &pol, &d, &t) == PT_OK, "%s", pt_last_error());
    pt_telemetry *tel;
    ck_assert_int_eq(pt_telemetry_open(db_path, &tel), PT_OK);
    pt_run_info info = {"train", "gpt", "xxh64:1", NULL, NULL, "fp8", "cpu", "tokens", "test", 1, 6, NULL};
    int64_t run;
    ck_assert_int_eq(pt_telemetry_begin_run(tel, &info, &run), PT_OK);
    ck_assert_int_eq(pt_trainer_instrument(t, tel, run, 2, 2), PT_OK);
    for (int k = 0; k < 6; k++) {
        pt_step_record r;
        ck_assert_msg(pt_trainer_step(t, &r) == PT_OK, "%s", pt_last_error());
    }
    ck_assert_int_eq(pt_trainer_flush_stats(t), PT_OK);
    ck_assert_int_eq(pt_telemetry_end_run(tel, run, "finished"), PT_OK);
    ck_assert_int_eq(pt_telemetry_close(tel), PT_OK);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    struct { const char *sql; double min; } q[] = {
        /* qk: x (its input, q k v), w (k), dy (the scores' gradient), dw (k's gradient), on steps 0, 2, 4 */
        {"SELECT count(*) FROM layer_stats WHERE layer = 'h1.attn.qk' AND role IN ('x', 'w', 'dy', 'dw') AND count > 0",
         12},
        {"SELECT count(*) FROM layer_stats WHERE layer = 'h1.attn.pv' AND role = 'w' AND count = 8 * 16 * 32", 3},
        {"SELECT count(*) FROM layer_stats WHERE layer = 'h1.attn.softmax' AND role IN ('w', 'dw')", 0},
        {"SELECT count(*) FROM layer_stats WHERE layer = 'wte' AND role = 'dw' AND count = 32 * 32", 3},
        {"SELECT count(*) FROM drift WHERE layer = 'h1.attn.pv' AND sqnr_db > 10 AND sqnr_db < 1e300", 3},
        {"SELECT count(*) FROM drift WHERE layer = 'wpe' AND sqnr_db > 1e300", 3},
    };
    for (size_t k = 0; k < sizeof q / sizeof q[0]; k++) {
        sqlite3_stmt *st;
        ck_assert_msg(sqlite3_prepare_v2(db, q[k].sql, -1, &st, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
        ck_assert(sqlite3_step(st) == SQLITE_ROW);
        double got = sqlite3_column_double(st, 0);
        ck_assert_msg(q[k].min ? got >= q[k].min : got == 0, "%s: %g", q[k].sql, got);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    pt_trainer_destroy(t);
    pt_backend_close(be);
    pt_data_free(&d);
    pt_policy_free(&pol);
    pt_model_spec_free(&s);
    unlink(db_path);
}
END_TEST

/* a run resumed from a checkpoint continues bit for bit (labels a position
 * and the data position included) */
START_TEST(test_resume)
{
    pt_model_spec s;
    ck_assert(pt_model_spec_parse(GPT(16, 32, 32, 4, 1), "gpt.json", &s) == PT_OK);
    pt_policy pol;
    pt_policy_init_fp32(&pol);
    pt_data d;
    token_data(&d, 40, 16, 32); /* 5 batches an epoch: the run crosses epochs */
    char ckpt[128];
    snprintf(ckpt, sizeof ckpt, "/tmp/pt_tf_ckpt_%d", getpid());
    uint64_t h[2];
    for (int k = 0; k < 2; k++) {
        pt_backend *be;
        ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
        pt_trainer *t;
        ck_assert_int_eq(pt_trainer_create(be, &s, &pol, &d, &t), PT_OK);
        if (k) ck_assert_msg(pt_trainer_load(t, ckpt) == PT_OK, "%s", pt_last_error());
        for (int step = k ? 7 : 0; step < 14; step++) {
            pt_step_record r;
            ck_assert_int_eq(pt_trainer_step(t, &r), PT_OK);
            if (!k && step == 6) ck_assert_msg(pt_trainer_save(t, ckpt) == PT_OK, "%s", pt_last_error());
        }
        ck_assert_int_eq(pt_trainer_weights_hash(t, &h[k]), PT_OK);
        pt_trainer_destroy(t);
        pt_backend_close(be);
    }
    ck_assert_msg(h[0] == h[1], "resumed %016llx, straight %016llx", (unsigned long long)h[1], (unsigned long long)h[0]);
    unlink(ckpt);
    pt_data_free(&d);
    pt_model_spec_free(&s);
}
END_TEST

/* the tuner on a token model: range analysis from the attention GEMMs'
 * statistics, its search over them as over linear layers, a validated
 * policy that names them */
START_TEST(test_tune)
{
    char db_path[128], p[160];
    snprintf(db_path, sizeof db_path, "/tmp/pt_tf_tune_%d.db", getpid());
    unlink(db_path);
    snprintf(p, sizeof p, "%s-wal", db_path), unlink(p);
    snprintf(p, sizeof p, "%s-shm", db_path), unlink(p);
    pt_model_spec s;
    ck_assert(pt_model_spec_parse(GPT(16, 32, 32, 4, 1), "gpt.json", &s) == PT_OK);
    pt_data d;
    token_data(&d, 256, 16, 32);
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    pt_telemetry *tel;
    ck_assert_int_eq(pt_telemetry_open(db_path, &tel), PT_OK);
    pt_tune_options o = pt_tune_options_default();
    o.probe_steps = 40;
    o.validate_steps = 100;
    o.budget_runs = 30;
    pt_policy out;
    pt_tune_summary sum;
    ck_assert_msg(pt_tune(be, &s, &d, tel, &o, &out, &sum) == PT_OK, "%s", pt_last_error());
    printf("tune: %d probes, validation %s, %.3f -> %.3f ms a step\n", sum.probes_run,
           out.validation.passed ? "passed" : "failed", sum.fp32_cost.step_ms, sum.policy_cost.step_ms);
    ck_assert_int_eq(pt_policy_check_model(&out, &s), PT_OK);
    ck_assert(sum.policy_cost.step_ms <= sum.fp32_cost.step_ms);
    for (int i = 0; i < s.nlayers; i++)
        if (pt_layer_has_gemm(s.layers[i].type))
            printf("  %s: %s\n", s.layers[i].name, pt_format_info(pt_policy_formats(&out, s.layers[i].name).fwd)->name);
    pt_policy_free(&out);
    ck_assert_int_eq(pt_telemetry_close(tel), PT_OK);
    pt_backend_close(be);
    pt_data_free(&d);
    pt_model_spec_free(&s);
    unlink(db_path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("transformer");
    TCase *tc = tcase_create("transformer");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_spec_errors);
    tcase_add_test(tc, test_gpt_names);
    tcase_add_test(tc, test_causal_mask);
    tcase_add_test(tc, test_tied_gradient);
    tcase_add_test(tc, test_bad_token);
    tcase_add_test(tc, test_train_presets);
    tcase_add_test(tc, test_policy_names_attention);
    tcase_add_test(tc, test_compute_formats);
    tcase_add_test(tc, test_instrumented);
    tcase_add_test(tc, test_resume);
    tcase_add_test(tc, test_tune);
    suite_add_tcase(s, tc);
    return pt_check_run(s, CK_FORK_GETENV);
}
