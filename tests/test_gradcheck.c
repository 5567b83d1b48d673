/* Every layer's backward against central finite differences, in fp32, on
 * small models that put the layer between two linear layers (so that its
 * input gradient reaches the first layer's weights and is checked too);
 * the transformer's layers on token models (embedding first, the loss over
 * every position), where every parameter before a layer checks its input
 * gradient. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "instrument/net.h"
#include "prectune/backend.h"
#include "prectune/model.h"
#include "prectune/policy.h"

static uint64_t rng_state = 5;
static double urand(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

#define ROWS 4

/* the mean loss over the batch (over every position of a sequence) */
static double loss_of(pt_net *n)
{
    int per = n->L[n->nlayers - 1].seq, rows = ROWS * per;
    ck_assert_msg(pt_net_forward(n, ROWS, 1.0f / (float)rows) == PT_OK, "%s", pt_last_error());
    double s = 0;
    for (int r = 0; r < rows; r++) s += n->loss_rows[r];
    return s / rows;
}

/* Builds the net of `json`, fills inputs/labels, compares every parameter
 * gradient (up to 400 of them) with (L(w+h) - L(w-h)) / 2h. */
static void gradcheck(const char *json, const char *what)
{
    pt_model_spec spec;
    ck_assert_msg(pt_model_spec_parse(json, what, &spec) == PT_OK, "%s", pt_last_error());
    pt_policy pol;
    pt_policy_init_fp32(&pol);
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    pt_net *n;
    ck_assert_msg(pt_net_create(be, &spec, &pol, ROWS, &n) == PT_OK, "%s", pt_last_error());
    ck_assert_int_eq(pt_net_init_params(n, 3), PT_OK);
    n->train = true;
    n->dropout_seed = 12345;
    int64_t in = 1;
    for (int d = 0; d < spec.ninput; d++) in *= spec.input[d];
    for (int64_t i = 0; i < ROWS * in; i++)
        n->input[i] = spec.vocab ? (float)(int)(urand() * spec.vocab) : (float)(2 * urand() - 1);
    int per = n->L[n->nlayers - 1].seq;
    int64_t c = spec.layers[spec.nlayers - 1].size / per;
    for (int r = 0; r < ROWS * per; r++) n->labels[r] = spec.vocab ? (int32_t)(urand() * (double)c) : (int32_t)(r % c);
    for (int r = 0; r < ROWS; r++) n->targets[r] = (float)(urand() - 0.5);
    /* larger weights than the default init, so every layer matters */
    for (size_t i = 0; i < n->nparams; i++) n->params[i] *= 2.0f;
    /* embedding tables drawn at GPT-2's 0.02 would make the step h = 1e-3
     * a few percent of a norm's input, whose curvature then dominates the
     * central difference: drawn in [-0.5, 0.5] instead */
    for (int i = 0; i < n->nlayers; i++)
        if (n->L[i].spec->type == PT_LAYER_EMBEDDING || n->L[i].spec->type == PT_LAYER_POSITION)
            for (size_t k = 0; k < n->L[i].nw; k++) n->L[i].w[k] = (float)(urand() - 0.5);
    memset(n->grads, 0, n->nparams * sizeof(float));
    loss_of(n);
    ck_assert_int_eq(pt_net_backward(n, ROWS), PT_OK);
    float *g = malloc(n->nparams * sizeof(float));
    memcpy(g, n->grads, n->nparams * sizeof(float));
    size_t step = n->nparams > 400 ? n->nparams / 400 : 1;
    int checked = 0, bad = 0;
    double worst = 0;
    for (size_t i = 0; i < n->nparams; i += step) {
        float w0 = n->params[i];
        /* small enough that few perturbations cross a relu or max-pool kink */
        float h = 1e-3f * fmaxf(1.0f, fabsf(w0));
        n->params[i] = w0 + h;
        double lp = loss_of(n);
        n->params[i] = w0 - h;
        double lm = loss_of(n);
        n->params[i] = w0;
        double fd = (lp - lm) / (2.0 * h);
        /* tolerance: fp32 loss differences (~1e-7 relative, divided by 2h:
         * about 5e-5 here)
         * plus the O(h^2) truncation of central differences */
        double err = fabs(fd - g[i]), tol = 5e-4 + 1e-2 * fabs(fd);
        if (err > worst) worst = err;
        if (err > tol) {
            if (bad < 5)
                printf("%s: parameter %zu: backward %.6g, finite difference %.6g\n", what, i,
                       (double)g[i], fd);
            bad++;
        }
        checked++;
    }
    printf("%s: %d parameters checked, worst |error| %.2e\n", what, checked, worst);
    ck_assert_msg(bad == 0, "%s: %d of %d gradients disagree with finite differences", what, bad,
                  checked);
    free(g);
    pt_net_destroy(n);
    pt_backend_close(be);
    pt_model_spec_free(&spec);
}

#define MLP_AROUND(MID)                                                                     \
    "{\"name\": \"t\", \"input\": [6], \"layers\": [{\"name\": \"a\", \"type\": \"linear\", " \
    "\"out\": 5}, " MID ", {\"name\": \"z\", \"type\": \"linear\", \"out\": 3}]}"

START_TEST(test_linear) { gradcheck(MLP_AROUND("{\"name\": \"m\", \"type\": \"linear\", \"out\": 4, \"bias\": false}"), "linear"); }
END_TEST
START_TEST(test_relu) { gradcheck(MLP_AROUND("{\"name\": \"m\", \"type\": \"relu\"}"), "relu"); }
END_TEST
START_TEST(test_gelu) { gradcheck(MLP_AROUND("{\"name\": \"m\", \"type\": \"gelu\"}"), "gelu"); }
END_TEST
START_TEST(test_layernorm) { gradcheck(MLP_AROUND("{\"name\": \"m\", \"type\": \"layernorm\"}"), "layernorm"); }
END_TEST
START_TEST(test_dropout) { gradcheck(MLP_AROUND("{\"name\": \"m\", \"type\": \"dropout\", \"p\": 0.3}"), "dropout"); }
END_TEST
START_TEST(test_add)
{
    gradcheck(MLP_AROUND("{\"name\": \"g\", \"type\": \"gelu\"}, {\"name\": \"b\", \"type\": "
                         "\"linear\", \"out\": 5}, {\"name\": \"m\", \"type\": \"add\", \"inputs\": "
                         "[\"b\", \"a\"]}"),
              "add (residual)");
}
END_TEST
START_TEST(test_mse)
{
    gradcheck("{\"name\": \"t\", \"input\": [4], \"loss\": \"mse\", \"layers\": [{\"name\": \"a\", "
              "\"type\": \"linear\", \"out\": 3}, {\"name\": \"g\", \"type\": \"gelu\"}, "
              "{\"name\": \"z\", \"type\": \"linear\", \"out\": 1}]}",
              "mse loss");
}
END_TEST

#define CNN(MID)                                                                          \
    "{\"name\": \"t\", \"input\": [2, 6, 6], \"layers\": [{\"name\": \"c1\", \"type\": "  \
    "\"conv2d\", \"out\": 3, \"kernel\": 3, \"padding\": 1}, " MID ", {\"name\": \"f\", " \
    "\"type\": \"flatten\"}, {\"name\": \"z\", \"type\": \"linear\", \"out\": 3}]}"

START_TEST(test_conv2d)
{
    gradcheck(CNN("{\"name\": \"c2\", \"type\": \"conv2d\", \"out\": 2, \"kernel\": 3, \"stride\": 2}"),
              "conv2d (stride 2, no padding)");
}
END_TEST
START_TEST(test_maxpool) { gradcheck(CNN("{\"name\": \"p\", \"type\": \"maxpool\", \"kernel\": 2}"), "maxpool"); }
END_TEST
START_TEST(test_avgpool)
{
    gradcheck(CNN("{\"name\": \"p\", \"type\": \"avgpool\", \"kernel\": 3, \"stride\": 2, \"padding\": 1}"),
              "avgpool (padding 1)");
}
END_TEST

/* A token model around MID: embedding (vocab 7, width 6) on T = 5 tokens,
 * MID, a linear head over every position. */
#define TOK_AROUND(MID)                                                                                 \
    "{\"name\": \"t\", \"input\": [5], \"layers\": [{\"name\": \"e\", \"type\": \"embedding\", \"vocab\": 7, " \
    "\"out\": 6}, {\"name\": \"a\", \"type\": \"linear\", \"out\": 6}, " MID                          \
    ", {\"name\": \"z\", \"type\": \"linear\", \"out\": 7}]}"

START_TEST(test_embedding) { gradcheck(TOK_AROUND("{\"name\": \"g\", \"type\": \"gelu\"}"), "embedding, sequence linear"); }
END_TEST
START_TEST(test_position)
{
    gradcheck(TOK_AROUND("{\"name\": \"p\", \"type\": \"position_embedding\", \"context\": 8}"),
              "position_embedding (table past T)");
}
END_TEST
START_TEST(test_rmsnorm) { gradcheck(TOK_AROUND("{\"name\": \"m\", \"type\": \"rmsnorm\"}"), "rmsnorm"); }
END_TEST
START_TEST(test_seq_layernorm) { gradcheck(TOK_AROUND("{\"name\": \"m\", \"type\": \"layernorm\"}"), "layernorm on a sequence"); }
END_TEST
START_TEST(test_attention)
{
    gradcheck(TOK_AROUND("{\"name\": \"at\", \"type\": \"attention\", \"heads\": 2}"), "attention (2 heads)");
}
END_TEST
START_TEST(test_attention_dropout)
{
    gradcheck(TOK_AROUND("{\"name\": \"at\", \"type\": \"attention\", \"heads\": 3, \"bias\": false, "
                         "\"dropout\": 0.2}"),
              "attention (3 heads, no bias, dropout on the probabilities)");
}
END_TEST
START_TEST(test_gpt_block)
{
    gradcheck("{\"name\": \"t\", \"input\": [5], \"layers\": [{\"name\": \"e\", \"type\": \"embedding\", "
              "\"vocab\": 7, \"out\": 6}, {\"name\": \"p\", \"type\": \"position_embedding\"}, "
              "{\"name\": \"h\", \"type\": \"gpt_block\", \"heads\": 2, \"repeat\": 2, \"norm\": \"rmsnorm\", "
              "\"mlp\": 2}, {\"name\": \"lnf\", \"type\": \"layernorm\"}, "
              "{\"name\": \"head\", \"type\": \"linear\", \"out\": 7, \"tie\": \"e\"}]}",
              "2 gpt_blocks (rmsnorm), tied head with a bias");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gradcheck");
    TCase *tc = tcase_create("gradcheck");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_linear);
    tcase_add_test(tc, test_relu);
    tcase_add_test(tc, test_gelu);
    tcase_add_test(tc, test_layernorm);
    tcase_add_test(tc, test_dropout);
    tcase_add_test(tc, test_add);
    tcase_add_test(tc, test_mse);
    tcase_add_test(tc, test_conv2d);
    tcase_add_test(tc, test_maxpool);
    tcase_add_test(tc, test_avgpool);
    tcase_add_test(tc, test_embedding);
    tcase_add_test(tc, test_position);
    tcase_add_test(tc, test_rmsnorm);
    tcase_add_test(tc, test_seq_layernorm);
    tcase_add_test(tc, test_attention);
    tcase_add_test(tc, test_attention_dropout);
    tcase_add_test(tc, test_gpt_block);
    suite_add_tcase(s, tc);
    return pt_check_run(s, CK_FORK_GETENV);
}
