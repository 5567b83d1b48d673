/* Checkpoints: everything a run needs to continue bit-identically, in one
 * versioned binary file with a CRC, written atomically (temp file, fsync,
 * rename, fsync of the directory), so that a crash leaves either the old
 * checkpoint or the new one, never half of one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../common/atomic_file.h"
#include "../kernels/fp8_logic.h"
#include "trainer_state.h"

#include "checkpoint_format.h"

/* The model's structure: layer names, types and parameter counts. */
static uint64_t net_hash(const pt_net *n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n->nlayers; i++) {
        const pt_net_layer *l = &n->L[i];
        for (const char *p = l->spec->name; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
        uint64_t v[3] = {(uint64_t)l->spec->type, l->nw, l->nb};
        for (int k = 0; k < 3; k++) h = (h ^ v[k]) * 0x100000001b3ull;
    }
    return h;
}

/* The bytes of a checkpoint of net n: the header, the fp8 states, the
 * weights and AdamW's two moments, the CRC-32. */
static size_t checkpoint_bytes(const pt_net *n)
{
    return sizeof(ckpt_header) + (size_t)n->nlayers * PT_OPND_COUNT * sizeof(pt_fp8_state) +
           3 * n->nparams * sizeof(float) + 4;
}

pt_status pt_trainer_save(pt_trainer *t, const char *path)
{
    pt_net *n = t->net;
    pt_status st0 = pt_net_fp8_pull(n); /* the device's fp8 states are the current ones */
    if (st0) return st0;
    size_t np = n->nparams * sizeof(float);
    size_t total = checkpoint_bytes(n);
    unsigned char *buf = malloc(total);
    if (!buf) return pt_fail(PT_ERR_NOMEM, "%s: out of memory for the checkpoint", path);
    ckpt_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CKPT_MAGIC, 8);
    h.version = CKPT_VERSION;
    h.nlayers = (uint32_t)n->nlayers;
    snprintf(h.model, sizeof h.model, "%s", t->spec->name);
    h.spec_hash = net_hash(t->net);
    h.nparams = n->nparams;
    h.step = t->step, h.opt_step = t->opt_step, h.sched_step = t->sched_step;
    h.skipped = t->skipped, h.epoch = t->epoch, h.cursor = t->cursor;
    h.scale = t->scaler.scale, h.growth_tracker = t->scaler.growth_tracker;
    h.stuck = t->scaler.stuck, h.hysteresis_left = t->scaler.hysteresis_left;
    unsigned char *p = buf;
    memcpy(p, &h, sizeof h);
    p += sizeof h;
    for (int i = 0; i < n->nlayers; i++) {
        memcpy(p, n->L[i].fp8, sizeof n->L[i].fp8);
        p += sizeof n->L[i].fp8;
    }
    pt_status st = pt_backend_download(t->be, p, n->params, np);
    if (!st) st = pt_backend_download(t->be, p + np, n->opt_m, np);
    if (!st) st = pt_backend_download(t->be, p + 2 * np, n->opt_v, np);
    if (st) {
        free(buf);
        return st;
    }
    p += 3 * np;
    uint32_t crc = (uint32_t)crc32(0L, buf, (uInt)(p - buf));
    memcpy(p, &crc, 4);

    st = pt_write_file_atomic(path, buf, total);
    free(buf);
    return st;
}

/* A header field outside what this model, policy and run allow. */
static pt_status range(const char *path, const char *field, int64_t v, int64_t lo, int64_t hi, const char *why)
{
    if (v >= lo && v <= hi) return PT_OK;
    return pt_fail(PT_ERR_INVALID, "%s: checkpoint field %s is %lld, expected %lld to %lld (%s)", path, field,
                   (long long)v, (long long)lo, (long long)hi, why);
}

/* Every header value against the model, policy and run it is resumed
 * with, before any of it is used as an index, a count or a bound. */
static pt_status check_header(const pt_trainer *t, const ckpt_header *h, const char *path)
{
    const pt_train_spec *tr = &t->spec->train;
    const pt_scaler_config *sc = &t->scaler.cfg;
    int64_t steps = tr->steps, accum = tr->accumulate > 1 ? tr->accumulate : 1;
    char why[160];
    snprintf(why, sizeof why, "model '%s' trains %lld steps", t->spec->name, (long long)steps);
    pt_status st;
    if ((st = range(path, "step", h->step, 0, steps, why)) ||
        (st = range(path, "opt_step", h->opt_step, 0, h->step, "optimizer steps applied, at most the steps")) ||
        (st = range(path, "sched_step", h->sched_step, 0, h->step, "schedule position, at most the steps")) ||
        (st = range(path, "skipped", h->skipped, 0, h->step, "skipped steps, at most the steps")) ||
        (st = range(path, "epoch", h->epoch, 0, h->step * accum + 1, "one batch at least per epoch")))
        return st;
    snprintf(why, sizeof why, "the training split has %lld samples", (long long)t->data->train.n);
    if ((st = range(path, "cursor", h->cursor, 0, t->data->train.n, why))) return st;
    /* not bounded by this policy's min and max: a replay loads a checkpoint
     * written under another policy, then restarts the scaler from its own */
    if (!isfinite(h->scale) || !(h->scale > 0))
        return pt_fail(PT_ERR_INVALID, "%s: checkpoint field scale is %g, expected a finite loss scale above 0", path,
                       h->scale);
    int64_t hyst = sc->hysteresis > 0 ? sc->hysteresis : 1;
    if ((st = range(path, "growth_tracker", h->growth_tracker, 0, sc->growth_interval > 1 ? sc->growth_interval - 1 : 0,
                    "below the policy's loss_scale.growth_interval")) ||
        (st = range(path, "stuck", h->stuck, 0, sc->max_stuck > 0 ? sc->max_stuck : h->step,
                    "consecutive skipped steps, at most the policy's loss_scale.max_stuck")) ||
        (st = range(path, "hysteresis_left", h->hysteresis_left, 1, hyst, "the policy's loss_scale.hysteresis")))
        return st;
    return PT_OK;
}

/* One layer's fp8 scaling states against its recipe: the history's
 * position and filled count index a history of the recipe's length. */
static pt_status check_fp8(const pt_fp8_state *states, const pt_net_layer *l, int i, const char *path)
{
    static const char *const roles[PT_OPND_COUNT] = {"x", "w", "dy"};
    const pt_fp8_recipe *r = &l->recipe;
    int64_t hlen = r->amax_history > 0 && r->amax_history <= PT_FP8_HISTORY_MAX ? r->amax_history : 16;
    for (int k = 0; k < PT_OPND_COUNT; k++) {
        const pt_fp8_state *s = &states[k];
        char field[PT_NAME_MAX + 64];
        char why[96];
        snprintf(why, sizeof why, "the fp8 recipe's amax_history is %lld", (long long)hlen);
        pt_status st;
        snprintf(field, sizeof field, "layers[%d] '%s' fp8 %s pos", i, l->spec->name, roles[k]);
        if ((st = range(path, field, s->pos, 0, hlen - 1, why))) return st;
        snprintf(field, sizeof field, "layers[%d] '%s' fp8 %s filled", i, l->spec->name, roles[k]);
        if ((st = range(path, field, s->filled, 0, hlen, why))) return st;
        const int64_t counts[3] = {s->clamped, s->nan_amax, s->saturated};
        static const char *const cnames[3] = {"clamped", "nan_amax", "saturated"};
        for (int c = 0; c < 3; c++) {
            snprintf(field, sizeof field, "layers[%d] '%s' fp8 %s %s", i, l->spec->name, roles[k], cnames[c]);
            if ((st = range(path, field, counts[c], 0, INT64_MAX, "a count"))) return st;
        }
        if (!(s->scale >= 0.0f && s->scale <= PT_FP8_MAX_SCALE))
            return pt_fail(PT_ERR_INVALID, "%s: checkpoint field layers[%d] '%s' fp8 %s scale is %g, expected 0 to "
                           "2^64", path, i, l->spec->name, roles[k], (double)s->scale);
    }
    return PT_OK;
}

/* Reads the checkpoint at path for net n into *raw (the caller frees it)
 * and its header into *h, checked: its size, magic, version, that it is of
 * this model, and its CRC. */
static pt_status read_checked(const pt_net *n, const char *path, char **raw, ckpt_header *h)
{
    size_t len, total = checkpoint_bytes(n);
    char what[200];
    snprintf(what, sizeof what, "a checkpoint of model '%s' (%zu parameters)", n->spec->name, n->nparams);
    pt_status st = pt_read_file_max(path, total, what, raw, &len);
    if (st) return st;
    uint32_t crc;
    if (len < sizeof *h) st = pt_fail(PT_ERR_INVALID, "%s: not a prectune checkpoint (too short)", path);
    else if (memcpy(h, *raw, sizeof *h), memcmp(h->magic, CKPT_MAGIC, 8) != 0)
        st = pt_fail(PT_ERR_INVALID, "%s: not a prectune checkpoint", path);
    else if (h->version != CKPT_VERSION)
        st = pt_fail(PT_ERR_INVALID, "%s: checkpoint version %u, this prectune reads version %u", path, h->version,
                     CKPT_VERSION);
    else if (strncmp(h->model, n->spec->name, sizeof h->model) != 0 || h->spec_hash != net_hash(n) ||
             h->nparams != n->nparams || h->nlayers != (uint32_t)n->nlayers)
        st = pt_fail(PT_ERR_INVALID,
                     "%s: the checkpoint is of model '%.*s' (%llu parameters), not of this '%s' "
                     "(%zu parameters) or its layers changed",
                     path, (int)sizeof h->model, h->model, (unsigned long long)h->nparams, n->spec->name, n->nparams);
    else if (len != total || (memcpy(&crc, *raw + total - 4, 4),
                              crc != (uint32_t)crc32(0L, (const Bytef *)*raw, (uInt)(total - 4))))
        st = pt_fail(PT_ERR_INVALID, "%s: checkpoint is damaged (size or checksum wrong)", path);
    if (st) free(*raw), *raw = NULL;
    return st;
}

/* The fp8 states (each checked first) and the weights of a checked
 * checkpoint into net n; *rest: where AdamW's moments start. */
static pt_status load_net_state(pt_net *n, const char *raw, const char *path, const char **rest)
{
    const char *p = raw + sizeof(ckpt_header);
    for (int i = 0; i < n->nlayers; i++) {
        pt_fp8_state states[PT_OPND_COUNT];
        memcpy(states, p + (size_t)i * sizeof states, sizeof states);
        pt_status st = check_fp8(states, &n->L[i], i, path);
        if (st) return st;
    }
    for (int i = 0; i < n->nlayers; i++) {
        memcpy(n->L[i].fp8, p, sizeof n->L[i].fp8);
        p += sizeof n->L[i].fp8;
    }
    n->w16_valid = false; /* the weights change outside the optimizer */
    pt_status st = pt_net_fp8_push(n);
    if (!st) st = pt_backend_upload(n->be, n->params, p, n->nparams * sizeof(float));
    *rest = p + n->nparams * sizeof(float);
    return st;
}

pt_status pt_trainer_load(pt_trainer *t, const char *path)
{
    pt_net *n = t->net;
    size_t np = n->nparams * sizeof(float);
    char *raw;
    ckpt_header h;
    pt_status st = read_checked(n, path, &raw, &h);
    if (st) return st;
    const char *p;
    if ((st = check_header(t, &h, path)) || (st = load_net_state(n, raw, path, &p)) ||
        (st = pt_backend_upload(t->be, n->opt_m, p, np)) || (st = pt_backend_upload(t->be, n->opt_v, p + np, np)))
        goto out;
    t->step = h.step, t->opt_step = h.opt_step, t->sched_step = h.sched_step;
    t->skipped = h.skipped, t->epoch = h.epoch, t->cursor = h.cursor;
    t->scaler.scale = h.scale, t->scaler.growth_tracker = h.growth_tracker;
    t->scaler.stuck = h.stuck, t->scaler.hysteresis_left = (int)h.hysteresis_left;
    pt_data_permutation(t->data->train.n, t->spec->train.seed, t->epoch, t->perm);
    t->dev_perm_epoch = -1; /* the device copy, if any, is of another epoch's */
out:
    free(raw);
    return st;
}

int64_t pt_checkpoint_step(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    ckpt_header h;
    size_t n = fread(&h, 1, sizeof h, f);
    fclose(f);
    if (n != sizeof h || memcmp(h.magic, CKPT_MAGIC, 8) != 0 || h.version != CKPT_VERSION) return -1;
    return h.step;
}

/* The weights and fp8 scaling states of a checkpoint into a net of the
 * same model, for running it outside training (prectune sample): the same
 * checks of the file as pt_trainer_load makes, but none of the training
 * state (optimizer moments, data position, loss scale) is read into it. */
pt_status pt_net_load_checkpoint(pt_net *n, const char *path, int64_t *step)
{
    char *raw;
    ckpt_header h;
    pt_status st = read_checked(n, path, &raw, &h);
    if (st) return st;
    const char *rest;
    if (h.step < 0)
        st = pt_fail(PT_ERR_INVALID, "%s: checkpoint field step is %lld, expected 0 or more", path, (long long)h.step);
    else st = load_net_state(n, raw, path, &rest);
    if (!st && step) *step = h.step;
    free(raw);
    return st;
}
