/* The C side of tests/torch_gpt_parity.py: a model on token sequences from
 * a file, from the initial weights of another (as `train --init` reads
 * them), without the text readers. Writes, for the first batch (every
 * sequence of the file), the logits, the mean loss over its tokens and
 * every parameter's gradient, then the loss of each of `steps` training
 * steps on that batch.
 *
 * usage: gpt_probe MODEL.json TOKENS.bin INIT.bin OUTDIR POLICY.json STEPS [DEVICE]
 * TOKENS.bin: int32 little-endian, n sequences of T + 1 tokens (a sample's
 * inputs are the first T, its labels the last T); INIT.bin "-": the
 * trainer's own initial weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instrument/net.h"
#include "prectune/backend.h"
#include "prectune/data.h"
#include "prectune/model.h"
#include "prectune/policy.h"
#include "prectune/trainer.h"

static int die(const char *what)
{
    fprintf(stderr, "gpt_probe: %s: %s\n", what, pt_last_error());
    return 1;
}

static int write_floats(const char *dir, const char *name, const float *v, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(v, sizeof(float), n, f) != n || fclose(f)) {
        fprintf(stderr, "gpt_probe: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 7 && argc != 8) {
        fprintf(stderr, "usage: gpt_probe MODEL.json TOKENS.bin INIT.bin OUTDIR POLICY.json STEPS [DEVICE]\n");
        return 2;
    }
    pt_model_spec spec;
    pt_policy pol;
    if (pt_model_spec_load(argv[1], &spec)) return die(argv[1]);
    if (pt_policy_load(argv[5], &pol)) return die(argv[5]);
    int T = spec.context, steps = atoi(argv[6]);
    FILE *f = fopen(argv[2], "rb");
    if (!f || !T) return fprintf(stderr, "gpt_probe: %s: cannot read (or the model takes no tokens)\n", argv[2]), 1;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    int n = (int)(bytes / 4 / (T + 1));
    int32_t *tok = malloc((size_t)bytes);
    if (!tok || fread(tok, 1, (size_t)bytes, f) != (size_t)bytes) return fprintf(stderr, "gpt_probe: short read\n"), 1;
    fclose(f);
    pt_data d;
    memset(&d, 0, sizeof d);
    pt_dataset *ds = &d.train;
    ds->n = n, ds->dim = T, ds->label_len = T;
    ds->x = malloc(sizeof(float) * (size_t)n * T);
    ds->label = malloc(sizeof(int32_t) * (size_t)n * T);
    for (int i = 0; i < n; i++)
        for (int t = 0; t < T; t++) {
            ds->x[(size_t)i * T + t] = (float)tok[(size_t)i * (T + 1) + t];
            ds->label[(size_t)i * T + t] = tok[(size_t)i * (T + 1) + t + 1];
        }
    d.nclasses = spec.vocab, d.tokens = true;
    snprintf(d.desc, sizeof d.desc, "%s", argv[2]);
    spec.train.batch = n; /* one batch: every step sees every sequence */
    spec.train.steps = steps;
    pt_backend *be;
    pt_trainer *t;
    if (pt_backend_open(argc > 7 ? argv[7] : "cpu", &be) || pt_trainer_create(be, &spec, &pol, &d, &t))
        return die("trainer");
    if (strcmp(argv[3], "-") && pt_trainer_init_from_file(t, argv[3])) return die(argv[3]); /* "-": the default init */
    /* the first batch, in file order */
    pt_net *net = pt_trainer_net(t);
    if (pt_backend_upload(be, net->input, ds->x, sizeof(float) * (size_t)n * T) ||
        pt_backend_upload(be, net->labels, ds->label, sizeof(int32_t) * (size_t)n * T))
        return die("upload");
    net->train = true;
    net->grad_beta = 0.0f;
    if (pt_net_forward(net, n, 1.0f / ((float)n * T)) || pt_net_backward(net, n)) return die("forward and backward");
    net->grad_beta = 1.0f;
    const pt_net_layer *last = &net->L[net->nlayers - 1];
    size_t nl = (size_t)n * (size_t)last->spec->size;
    float *rows = malloc(sizeof(float) * (size_t)n * T), *logits = malloc(sizeof(float) * nl),
          *grads = malloc(sizeof(float) * net->nparams);
    if (!rows || !logits || !grads || pt_backend_download(be, rows, net->loss_rows, sizeof(float) * (size_t)n * T) ||
        pt_backend_download(be, logits, last->y, sizeof(float) * nl) ||
        pt_backend_download(be, grads, net->grads, sizeof(float) * net->nparams))
        return die("download");
    double loss = 0;
    for (int i = 0; i < n * T; i++) loss += rows[i];
    if (write_floats(argv[4], "logits.bin", logits, nl) || write_floats(argv[4], "grads.bin", grads, net->nparams))
        return 1;
    free(rows), free(logits), free(grads);
    char path[4096];
    snprintf(path, sizeof path, "%s/losses.txt", argv[4]);
    FILE *o = fopen(path, "w");
    if (!o) return fprintf(stderr, "gpt_probe: cannot write %s\n", path), 1;
    fprintf(o, "%.9g\n", loss / ((double)n * T));
    for (int s = 0; s < steps; s++) {
        pt_step_record r;
        if (pt_trainer_step(t, &r)) return die("step");
        fprintf(o, "%.9g\n", r.loss);
    }
    fclose(o);
    pt_trainer_destroy(t);
    pt_backend_close(be);
    pt_data_free(&d);
    pt_policy_free(&pol);
    pt_model_spec_free(&spec);
    free(tok);
    return 0;
}
