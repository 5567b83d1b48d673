/* The training step (see trainer.h). The order is the one users know from
 * torch.amp: scaled loss -> backward in the layers' formats -> unscale ->
 * check for non-finite gradients -> (skip and back off) or (clip, optimizer
 * step, schedule) -> update the scale. */
#include "prectune/trainer.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/clock.h"
#include "../common/rng.h"
#include "net.h"
#include "prectune/scaler.h"
#include "trainer_state.h"

/* A device backend keeps the training split in its memory when it fits
 * within PT_RESIDENT_BYTES: a batch is then one gather on the device, not
 * a gather on the host and a copy over PCIe (2 ms a step for 4096 x 1024
 * floats on the H100, measured by bench_mlp4096_step --profile). */
#define PT_RESIDENT_BYTES ((size_t)4 << 30)

static pt_status keep_data_on_device(pt_trainer *t)
{
    const pt_dataset *ds = &t->data->train;
    t->dev_perm_epoch = -1;
    size_t xb = (size_t)ds->n * (size_t)ds->dim * sizeof(float), yb = (size_t)ds->n * 4 * (size_t)t->labels_per,
           pb = (size_t)ds->n * sizeof(int32_t);
    if (!pt_backend_is_device(t->be) || ds->n > INT32_MAX || xb + yb > PT_RESIDENT_BYTES) return PT_OK;
    pt_status st = pt_backend_alloc(t->be, xb, &t->dev_x);
    if (!st) st = pt_backend_alloc(t->be, yb, &t->dev_y);
    if (!st) st = pt_backend_alloc(t->be, pb, (void **)&t->dev_perm);
    if (st == PT_ERR_NOMEM) { /* it does not fit after all: batches go through the host */
        pt_backend_free(t->be, t->dev_x), pt_backend_free(t->be, t->dev_y), pt_backend_free(t->be, t->dev_perm);
        t->dev_x = t->dev_y = NULL, t->dev_perm = NULL;
        return PT_OK;
    }
    if (!st) t->dev_bytes = xb + yb + pb;
    if (!st && !(t->perm32 = malloc((size_t)ds->n * sizeof(int32_t)))) st = pt_fail(PT_ERR_NOMEM, "out of memory");
    if (!st) st = pt_backend_upload(t->be, t->dev_x, ds->x, xb);
    if (!st) st = pt_backend_upload(t->be, t->dev_y, ds->label ? (const void *)ds->label : (const void *)ds->target, yb);
    return st;
}

pt_status pt_trainer_create(pt_backend *be, const pt_model_spec *spec, const pt_policy *policy,
                            const pt_data *data, pt_trainer **out)
{
    int64_t in_size = 1;
    for (int d = 0; d < spec->ninput; d++) in_size *= spec->input[d];
    if (data->train.dim != in_size)
        return pt_fail(PT_ERR_INVALID,
                       "%s: input: model '%s' takes %lld input values per sample, but the data (%s) has %lld "
                       "(check \"input\" in the model spec)",
                       spec->source, spec->name, (long long)in_size, data->desc, (long long)data->train.dim);
    const pt_layer_spec *last = &spec->layers[spec->nlayers - 1];
    /* a model that gives a row of logits a position takes a label a position */
    int per = last->seq > 1 ? last->seq : 1;
    int64_t data_per = data->train.label_len > 1 ? data->train.label_len : 1;
    if (data_per != per)
        return pt_fail(PT_ERR_INVALID, "%s: input: model '%s' gives %d output%s a sample (one a position), but the data "
                       "(%s) has %lld label%s a sample (check \"input\", the context length)", spec->source, spec->name,
                       per, per > 1 ? "s" : "", data->desc, (long long)data_per, data_per > 1 ? "s" : "");
    if (spec->loss == PT_LOSS_SOFTMAX_CE) {
        if (!data->train.label)
            return pt_fail(PT_ERR_INVALID, "%s: loss: softmax_cross_entropy needs class labels, the data (%s) has values",
                           spec->source, data->desc);
        if (data->nclasses > last->size / per)
            return pt_fail(PT_ERR_INVALID,
                           "%s: layers[%d].out: the data (%s) has %d classes but the last layer '%s' has %lld outputs",
                           spec->source, last->json_index, data->desc, data->nclasses, last->name,
                           (long long)(last->size / per));
    } else if (!data->train.target || last->size != 1) {
        return pt_fail(PT_ERR_INVALID,
                       "%s: loss: mse trains one value per sample: the data (%s) needs a value label and the last "
                       "layer one output (it has %lld)", spec->source, data->desc, (long long)last->size);
    }
    if (data->train.n < spec->train.batch)
        return pt_fail(PT_ERR_INVALID, "%s: train.batch: the training split of the data (%s) has %lld samples, "
                       "fewer than a batch (%d)", spec->source, data->desc, (long long)data->train.n, spec->train.batch);
    pt_trainer *t = calloc(1, sizeof *t);
    if (!t) return pt_fail(PT_ERR_NOMEM, "out of memory");
    t->be = be;
    t->spec = spec;
    t->policy = policy;
    t->data = data;
    t->labels_per = per;
    pt_status st = pt_net_create(be, spec, policy, spec->train.batch, &t->net);
    if (!st) st = pt_net_init_params(t->net, spec->train.seed);
    size_t batch = (size_t)spec->train.batch;
    t->x_host = malloc(batch * (size_t)in_size * sizeof(float));
    t->y_host = malloc(batch * (size_t)per * sizeof(int32_t));
    t->t_host = malloc(batch * sizeof(float));
    t->out_host = malloc(batch * (size_t)last->size * sizeof(float));
    t->loss_host = malloc(batch * (size_t)per * sizeof(float));
    t->perm = malloc((size_t)data->train.n * sizeof(int64_t));
    if (!st && (!t->x_host || !t->y_host || !t->t_host || !t->out_host || !t->loss_host || !t->perm))
        st = pt_fail(PT_ERR_NOMEM, "out of memory");
    /* the non-finite flag, then (8-byte aligned) the gradients' sum of squares and the loss sum */
    if (!st) st = pt_backend_alloc(be, 24, (void **)&t->flags);
    if (!st) st = pt_backend_alloc_host(be, 24, (void **)&t->flags_host);
    if (!st) st = keep_data_on_device(t);
    if (st) {
        pt_trainer_destroy(t);
        return st;
    }
    pt_scaler_init(&t->scaler, &policy->loss_scale);
    t->epoch = 0;
    t->cursor = 0;
    pt_data_permutation(data->train.n, spec->train.seed, t->epoch, t->perm);
    *out = t;
    return PT_OK;
}

void pt_trainer_destroy(pt_trainer *t)
{
    if (!t) return;
    pt_instrument_free(t);
    pt_net_destroy(t->net);
    if (t->flags) pt_backend_free(t->be, t->flags);
    pt_backend_free_host(t->be, t->flags_host);
    free(t->x_host);
    free(t->y_host);
    free(t->t_host);
    free(t->out_host);
    free(t->loss_host);
    free(t->perm);
    free(t->perm32);
    pt_backend_free(t->be, t->dev_x);
    pt_backend_free(t->be, t->dev_y);
    pt_backend_free(t->be, t->dev_perm);
    free(t);
}

struct pt_net *pt_trainer_net(pt_trainer *t) { return t->net; }

pt_status pt_trainer_init_from_file(pt_trainer *t, const char *path)
{
    if (t->step) return pt_fail(PT_ERR_INVALID, "%s: initial weights can only replace those of a fresh run", path);
    char *data;
    size_t len, want = t->net->nparams * sizeof(float);
    char what[200];
    snprintf(what, sizeof what, "initial weights of model '%s' (%zu parameters as float32)", t->spec->name,
             t->net->nparams);
    pt_status st = pt_read_file_max(path, want, what, &data, &len);
    if (st) return st;
    if (len != want)
        st = pt_fail(PT_ERR_INVALID, "%s: %zu bytes, but model '%s' has %zu parameters (%zu bytes of float32)", path,
                     len, t->spec->name, t->net->nparams, want);
    uint32_t probe = 1;
    if (!st && *(unsigned char *)&probe != 1)
        st = pt_fail(PT_ERR_UNSUPPORTED, "%s: little-endian float32 files need a little-endian host", path);
    for (size_t i = 0; !st && i < t->net->nparams; i++) {
        float v;
        memcpy(&v, data + 4 * i, 4);
        if (!isfinite(v))
            st = pt_fail(PT_ERR_INVALID, "%s: value %zu (byte %zu) is not finite", path, i, 4 * i);
    }
    if (!st) st = pt_trainer_set_params(t, (const float *)data); /* malloc'd: aligned for float */
    free(data);
    return st;
}
int64_t pt_trainer_steps_done(const pt_trainer *t) { return t->step; }
int64_t pt_trainer_skipped(const pt_trainer *t) { return t->skipped; }

size_t pt_trainer_data_bytes(const pt_trainer *t) { return t->dev_bytes; }
double pt_trainer_loss_scale(const pt_trainer *t) { return pt_scaler_scale(&t->scaler); }
void pt_trainer_reset_scaler(pt_trainer *t) { pt_scaler_init(&t->scaler, &t->policy->loss_scale); }
size_t pt_trainer_param_count(const pt_trainer *t) { return t->net->nparams; }

/* Copies samples idx[0..rows) of a split into the net's input and labels. */
static pt_status load_rows(pt_trainer *t, const pt_dataset *ds, const int64_t *idx, int64_t first,
                           int rows)
{
    int64_t dim = ds->dim;
    size_t per = (size_t)t->labels_per;
    for (int r = 0; r < rows; r++) {
        int64_t i = idx ? idx[r] : first + r;
        memcpy(t->x_host + (size_t)r * dim, ds->x + (size_t)i * dim, (size_t)dim * sizeof(float));
        if (ds->label) memcpy(t->y_host + r * per, ds->label + (size_t)i * per, per * sizeof(int32_t));
        else t->t_host[r] = ds->target[i];
    }
    pt_status st = pt_backend_upload(t->be, t->net->input, t->x_host, (size_t)rows * dim * sizeof(float));
    if (st) return st;
    if (ds->label) return pt_backend_upload(t->be, t->net->labels, t->y_host, (size_t)rows * per * sizeof(int32_t));
    return pt_backend_upload(t->be, t->net->targets, t->t_host, (size_t)rows * sizeof(float));
}

/* The next training batch (epochs reshuffle; a partial tail is dropped). */
static pt_status next_batch(pt_trainer *t)
{
    int b = t->spec->train.batch;
    if (t->cursor + b > t->data->train.n) {
        t->epoch++;
        t->cursor = 0;
        pt_data_permutation(t->data->train.n, t->spec->train.seed, t->epoch, t->perm);
    }
    pt_status st = PT_OK;
    const pt_dataset *ds = &t->data->train;
    if (!t->dev_x) {
        st = load_rows(t, ds, t->perm + t->cursor, 0, b);
    } else {
        if (t->dev_perm_epoch != t->epoch) { /* once per epoch */
            for (int64_t i = 0; i < ds->n; i++) t->perm32[i] = (int32_t)t->perm[i];
            st = pt_backend_upload(t->be, t->dev_perm, t->perm32, (size_t)ds->n * sizeof(int32_t));
            t->dev_perm_epoch = st ? -1 : t->epoch;
        }
        if (!st) st = pt_backend_gather_rows(t->be, t->dev_x, (size_t)ds->dim * sizeof(float), t->dev_perm + t->cursor,
                                             b, t->net->input);
        if (!st) st = pt_backend_gather_rows(t->be, t->dev_y, 4 * (size_t)t->labels_per, t->dev_perm + t->cursor, b,
                                             ds->label ? (void *)t->net->labels : (void *)t->net->targets);
    }
    t->cursor += b;
    return st;
}

static double lr_at(const pt_trainer *t, int64_t s)
{
    const pt_train_spec *tr = &t->spec->train;
    double lr = t->spec->optim.lr * t->policy->lr_scale;
    if (s < tr->warmup) return lr * (double)(s + 1) / (double)tr->warmup;
    if (tr->schedule == PT_SCHED_CONSTANT || tr->steps <= tr->warmup) return lr;
    double progress = (double)(s - tr->warmup) / (double)(tr->steps - tr->warmup);
    if (progress > 1.0) progress = 1.0;
    double lo = lr * tr->min_lr_ratio;
    return lo + (lr - lo) * 0.5 * (1.0 + cos(3.14159265358979323846 * progress));
}

static pt_status sum_loss(pt_trainer *t, int rows, double *sum)
{
    pt_status st = pt_backend_download(t->be, t->loss_host, t->net->loss_rows, (size_t)rows * sizeof(float));
    if (st) return st;
    for (int r = 0; r < rows; r++) *sum += t->loss_host[r];
    return PT_OK;
}

/* The optimizer over all parameters behind the step's gate (skipped on a
 * non-finite gradient, clipped by the global norm), at learning rate lr
 * and AdamW step opt_step + 1. */
static pt_status optimizer_step(pt_trainer *t, double lr, const pt_optim_gate *gate)
{
    pt_net *n = t->net;
    const pt_optim_spec *o = &t->spec->optim;
    if (o->type == PT_OPTIM_ADAMW) {
        /* the weights' 16-bit copy is written with the update: whether the
         * device applies the step or skips it, the copy matches the weights */
        pt_adamw h = {.lr = (float)lr,
                      .beta1 = o->beta1,
                      .beta2 = o->beta2,
                      .eps = o->eps,
                      .weight_decay = o->weight_decay,
                      .step = t->opt_step + 1,
                      .copy = n->w16,
                      .copy_fmt = n->w16_fmt};
        pt_status st = pt_backend_adamw(t->be, &h, gate, n->params, n->grads, n->opt_m, n->opt_v, n->nparams);
        n->w16_valid = n->w16 && !st;
        return st;
    }
    n->w16_valid = false;
    return pt_backend_sgd(t->be, (float)lr, o->momentum, o->weight_decay, gate, n->params, n->grads, n->opt_m,
                          n->nparams);
}

pt_status pt_trainer_step(pt_trainer *t, pt_step_record *rec)
{
    const pt_train_spec *tr = &t->spec->train;
    pt_net *n = t->net;
    double t0 = pt_now_s();
    memset(rec, 0, sizeof *rec);
    rec->step = t->step;
    double scale = pt_scaler_scale(&t->scaler);
    rec->scale = scale;
    int b = tr->batch, accum = tr->accumulate, per = t->labels_per;
    /* the step's flag, gradient sum of squares and loss sum, in backend memory
     * and read back together once the step's work is done: no wait mid-step */
    double *sumsq_dev = (double *)((char *)t->flags + 8), *loss_dev = (double *)((char *)t->flags + 16);
    pt_status st = pt_backend_memset(t->be, t->flags, 0, 24);
    int64_t clamps0 = n->fp8_clamps, nan0 = n->fp8_nan_amax;
    n->train = true;
    for (int m = 0; m < accum && !st; m++) {
        /* every parameter's gradient is written by its layer's backward: the
         * first micro-batch's overwrite n->grads (no pass to zero them), the
         * others add to them */
        n->grad_beta = m == 0 ? 0.0f : 1.0f;
        n->dropout_seed = pt_mix64(tr->seed * 0x9e3779b97f4a7c15ull + (uint64_t)t->step * 1000003u + (uint64_t)m);
        if (!st) st = next_batch(t);
        /* each micro-batch's loss is a mean over the whole optimizer batch
         * (over every position of a sequence), times the loss scale */
        if (!st) st = pt_net_forward(n, b, (float)(scale / ((double)b * per * accum)));
        if (!st) st = pt_backend_sum(t->be, n->loss_rows, (size_t)b * (size_t)per, loss_dev);
        if (!st) st = pt_net_backward(n, b);
    }
    n->grad_beta = 1.0f;
    if (st) return st;
    /* unscale, and look for inf/NaN in any gradient; the flag, the sum of
     * squares and the loss sum (and the fp8 states) come back in copies
     * queued behind that. The optimizer decides the step on the device
     * (pt_optim_gate: the flag, and the clipping from the sum of squares),
     * so it is queued before the host reads the copies, and the device
     * runs it while the host does the step's bookkeeping. Statistics due
     * this step must see the weights before the update: then, and when an
     * fp8 cast might clamp (a clamp asks for statistics, known only from
     * the copies), the optimizer is queued after the host has read them.
     * Under a loss scale the early optimizer also unscales the gradients
     * as it reads them (the check only reads them: half the bytes), and a
     * step whose statistics come after the fact (a non-finite gradient)
     * unscales them first. */
    int32_t found = 0;
    double sumsq = 0, loss_sum = 0;
    float inv = (float)(1.0 / scale);
    bool early = !pt_instrument_stats_due(t, t->step) && !(t->tel && n->fp8_dev);
    if ((st = pt_backend_unscale_check(t->be, n->grads, n->nparams, inv, early ? PT_UNSCALE_READ : PT_UNSCALE_WRITE,
                                       t->flags, sumsq_dev)) ||
        (st = pt_backend_download_async(t->be, t->flags_host, t->flags, 24)) || (st = pt_net_fp8_pull_start(n)))
        return st;
    pt_optim_gate gate = {.found = t->flags, .sumsq = sumsq_dev, .clip_norm = tr->clip_norm, .unscale = early ? inv : 1.0f};
    double lr = lr_at(t, t->sched_step);
    if (early && (st = optimizer_step(t, lr, &gate))) return st;
    if ((st = pt_backend_wait_copies(t->be)) || (st = pt_net_fp8_pull_finish(n))) return st;
    memcpy(&found, t->flags_host, sizeof found);
    memcpy(&sumsq, t->flags_host + 8, sizeof sumsq);
    memcpy(&loss_sum, t->flags_host + 16, sizeof loss_sum);
    rec->loss = loss_sum / ((double)b * per * accum);
    rec->grad_norm = sqrt(sumsq);
    /* statistics see this step's activations, weights and (unscaled) gradients */
    rec->fp8_saturated = n->fp8_saturated;
    if (early && found && t->tel && inv != 1.0f && (st = pt_backend_scale(t->be, n->grads, n->nparams, inv)))
        return st; /* the optimizer skipped the step: the gradients are still scaled */
    if (t->tel && (st = pt_instrument_step(t, t->step, found != 0, n->fp8_saturated ? n->sat_what : NULL))) return st;
    pt_step_outcome out = pt_scaler_update(&t->scaler, found != 0);
    rec->fp8_clamped = n->fp8_clamps - clamps0;
    rec->fp8_nan_amax = n->fp8_nan_amax - nan0;
    if (out == PT_STEP_APPLIED) {
        if (!early && (st = optimizer_step(t, lr, &gate))) return st;
        rec->lr = lr;
        t->opt_step++;
        t->sched_step++;
    } else {
        rec->skipped = true;
        rec->skip_reason = "non-finite gradient";
        t->skipped++;
        if (tr->schedule_counts_skipped) t->sched_step++;
    }
    if (t->tel && t->drift_every && !rec->skipped && t->step % t->drift_every == 0 &&
        (st = pt_instrument_drift(t, t->step)))
        return st;
    t->step++;
    rec->ms = 1e3 * (pt_now_s() - t0);
    pt_incident inc;
    if (t->tel && pt_incident_step(&t->detector, rec, &inc) && (st = pt_instrument_incident(t, rec->step, &inc)))
        return st;
    if (out == PT_STEP_DEATH_SPIRAL) {
        const pt_scaler_config *c = &t->scaler.cfg;
        if (c->mode == PT_SCALE_DYNAMIC)
            return pt_fail(PT_ERR_STOPPED,
                           "loss-scale death spiral at step %lld: the scale is at its minimum (%g) "
                           "and the last %lld steps all overflowed, so training makes no progress. "
                           "Some gradients overflow even unscaled: move the layers that overflow "
                           "to bf16 or fp32, or lower the learning rate",
                           (long long)rec->step, t->scaler.scale, (long long)t->scaler.stuck);
        return pt_fail(PT_ERR_STOPPED,
                       "%lld consecutive steps overflowed with a %s loss scale of %g at step %lld: "
                       "lower the scale or use dynamic loss scaling",
                       (long long)t->scaler.stuck, c->mode == PT_SCALE_STATIC ? "static" : "fixed",
                       t->scaler.scale, (long long)rec->step);
    }
    return PT_OK;
}

pt_status pt_trainer_eval(pt_trainer *t, pt_eval_result *out)
{
    const pt_dataset *ds = t->data->test.n ? &t->data->test : &t->data->train;
    pt_net *n = t->net;
    n->train = false;
    int b = t->spec->train.batch;
    const pt_layer_spec *last = &t->spec->layers[t->spec->nlayers - 1];
    int per = t->labels_per, c = (int)(last->size / per);
    double loss = 0;
    int64_t correct = 0, n_eval = ds->n;
    /* train.eval_samples: that many held-out samples evenly spaced over the
     * set (sample k x n / eval_samples), the same ones at every evaluation */
    int64_t *idx = NULL;
    if (t->spec->train.eval_samples > 0 && t->spec->train.eval_samples < n_eval) {
        n_eval = t->spec->train.eval_samples;
        if (!(idx = malloc(sizeof(int64_t) * (size_t)b))) return pt_fail(PT_ERR_NOMEM, "out of memory");
    }
    pt_status st = PT_OK;
    for (int64_t first = 0; first < n_eval && !st; first += b) {
        int rows = (int)(n_eval - first < b ? n_eval - first : b);
        for (int r = 0; idx && r < rows; r++) idx[r] = (first + r) * ds->n / n_eval;
        if ((st = load_rows(t, ds, idx, first, rows)) || (st = pt_net_forward(n, rows, 0.0f)) ||
            (st = sum_loss(t, rows * per, &loss)))
            break;
        if (!ds->label || per > 1) continue; /* token data: perplexity, not accuracy */
        if ((st = pt_backend_download(t->be, t->out_host, n->L[n->nlayers - 1].y,
                                      (size_t)rows * c * sizeof(float))))
            break;
        for (int r = 0; r < rows; r++) {
            const float *z = t->out_host + (size_t)r * c;
            int arg = 0;
            for (int j = 1; j < c; j++)
                if (z[j] > z[arg]) arg = j;
            correct += arg == ds->label[idx ? idx[r] : first + r];
        }
    }
    free(idx);
    out->step = t->step;
    out->samples = n_eval;
    out->loss = loss / ((double)n_eval * per);
    out->accuracy = ds->label && per == 1 ? (double)correct / (double)n_eval : NAN;
    /* token data: perplexity, and bits per byte where a token's bytes are known */
    bool tokens = t->data->tokens || per > 1;
    out->perplexity = tokens ? exp(out->loss) : NAN;
    out->bits_per_byte = tokens && t->data->bytes_per_token > 0 ? out->loss / log(2.0) / t->data->bytes_per_token : NAN;
    return st;
}

pt_status pt_trainer_params(pt_trainer *t, float *host)
{
    return pt_backend_download(t->be, host, t->net->params, t->net->nparams * sizeof(float));
}

pt_status pt_trainer_set_params(pt_trainer *t, const float *host)
{
    t->net->w16_valid = false; /* the weights change outside the optimizer */
    return pt_backend_upload(t->be, t->net->params, host, t->net->nparams * sizeof(float));
}

pt_status pt_trainer_nonfinite_params(pt_trainer *t, int64_t *count)
{
    float *h = malloc(t->net->nparams * sizeof(float) + 1);
    if (!h) return pt_fail(PT_ERR_NOMEM, "out of memory");
    pt_status st = pt_trainer_params(t, h);
    *count = 0;
    for (size_t i = 0; !st && i < t->net->nparams; i++) *count += !isfinite(h[i]);
    free(h);
    return st;
}

pt_status pt_trainer_weights_hash(pt_trainer *t, uint64_t *hash)
{
    float *h = malloc(t->net->nparams * sizeof(float) + 1);
    if (!h) return pt_fail(PT_ERR_NOMEM, "out of memory");
    pt_status st = pt_trainer_params(t, h);
    uint64_t x = 0xcbf29ce484222325ull; /* FNV-1a over the bytes */
    const unsigned char *p = (const unsigned char *)h;
    for (size_t i = 0; !st && i < t->net->nparams * sizeof(float); i++) x = (x ^ p[i]) * 0x100000001b3ull;
    *hash = x;
    free(h);
    return st;
}
