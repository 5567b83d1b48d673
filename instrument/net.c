/* Building the network: shapes from the spec, formats from the policy,
 * buffers in backend memory, parameters laid out contiguously so that the
 * optimizer, the unscale/check and the gradient norm are one pass each. */
#include "net.h"

#include "../common/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

float *pt_layer_input(pt_net *n, pt_net_layer *l, int i)
{
    int j = l->spec->in_index[i];
    return j < 0 ? n->input : n->L[j].y;
}

float *pt_layer_input_grad(pt_net *n, pt_net_layer *l, int i, bool *acc)
{
    int j = l->spec->in_index[i];
    if (j < 0) return NULL; /* nobody needs the gradient of the data */
    *acc = n->L[j].consumers > 1;
    return n->L[j].dy;
}

float *pt_net_descale(const pt_net_layer *l, int role, pt_format f)
{
    return pt_format_is_fp8(f) ? l->scales + PT_SCALE_DESCALE(role) : NULL;
}

float *pt_net_amax_slot(const pt_net_layer *l, int role) { return l->scales + PT_SCALE_AMAX(role); }

void *pt_net_w16_of(const pt_net *n, const float *p) { return (char *)n->w16 + 2 * (size_t)(p - n->params); }

/* Bytes of a cast copy of count values in f (none for fp32 and tf32, which
 * GEMMs read from the fp32 data itself). */
static size_t cast_bytes(pt_format f, size_t count)
{
    return f == PT_FMT_FP32 || f == PT_FMT_TF32 ? 0 : count * (size_t)pt_format_info(f)->storage_bytes;
}

pt_status pt_net_cast_plan(pt_net *n, pt_net_layer *l, int role, pt_format f, const float *x, size_t count,
                           void *buf, pt_cast_plan *p)
{
    *p = (pt_cast_plan){NULL, NULL, 0, NULL};
    if (f != PT_FMT_E4M3 && f != PT_FMT_E5M2) return PT_OK;
    /* fp8: the recipe runs where the data are (pt_backend_fp8_scale and
     * _record on the layer's scaling state in backend memory), so a device
     * scales, casts and records without waiting for the host; the host's
     * copy (l->fp8) is brought up to date by pt_net_fp8_pull. */
    pt_fp8_state *sd = n->fp8_dev + (size_t)(l - n->L) * PT_OPND_COUNT + role;
    const pt_fp8_recipe *r = &l->recipe;
    float *inv = pt_net_descale(l, role, f), *amax = pt_net_amax_slot(l, role);
    pt_status st;
    if (l->fp8_batched[role] && n->train) { /* scaled with the others as the forward started */
        *p = (pt_cast_plan){&sd->scale, amax, PT_CAST_SATURATE, inv};
        return PT_OK;
    }
    if (r->kind == PT_FP8_CURRENT && !x)
        return pt_fail(PT_ERR_INVALID, "layer '%s': current fp8 scaling needs the tensor before its cast",
                       l->spec->name);
    if (r->kind == PT_FP8_CURRENT &&
        ((st = pt_backend_memset(n->be, amax, 0, sizeof(float))) ||
         (st = pt_backend_cast(n->be, f, x, buf, count, NULL, amax, 0))))
        return st;
    if ((st = pt_backend_fp8_scale(n->be, r, f, sd, r->kind == PT_FP8_CURRENT ? amax : NULL, inv, amax)))
        return st;
    *p = (pt_cast_plan){&sd->scale, amax, PT_CAST_SATURATE, inv};
    return PT_OK;
}

pt_status pt_net_cast_done(pt_net *n, pt_net_layer *l, int role, pt_format f, const pt_cast_plan *p)
{
    if (!p->amax || !n->train) return PT_OK; /* evaluation does not move the history */
    if (l->fp8_batched[role]) return PT_OK; /* recorded with the others as the backward ends */
    pt_fp8_state *sd = n->fp8_dev + (size_t)(l - n->L) * PT_OPND_COUNT + role;
    return pt_backend_fp8_record(n->be, &l->recipe, f, sd, p->amax);
}

/* pt_net_operand, with the transposed copy when buf_t is not NULL */
static pt_status operand(pt_net *n, pt_net_layer *l, int role, const float *x, size_t count, int rows, int cols,
                         pt_format f, void *buf, void *buf_t, bool trans, pt_operand *op)
{
    *op = (pt_operand){.data = x, .fmt = f, .trans = trans};
    if (f == PT_FMT_FP32 || f == PT_FMT_TF32) return PT_OK; /* fp32 storage: the GEMM reads (and for tf32 rounds) it */
    pt_cast_plan p;
    pt_status st = pt_net_cast_plan(n, l, role, f, x, count, buf, &p);
    if (!st)
        st = buf_t ? pt_backend_cast_t(n->be, f, x, rows, cols, buf, buf_t, p.scale, p.amax, p.flags)
                   : pt_backend_cast(n->be, f, x, buf, count, p.scale, p.amax, p.flags);
    if (!st) st = pt_net_cast_done(n, l, role, f, &p);
    if (st) return st;
    *op = (pt_operand){.data = buf, .fmt = f, .scale_inv = p.scale_inv, .trans = trans, .data_t = buf_t};
    return PT_OK;
}

pt_status pt_net_operand(pt_net *n, pt_net_layer *l, int role, const float *x, size_t count,
                         pt_format f, void *buf, bool trans, pt_operand *op)
{
    return operand(n, l, role, x, count, 0, 0, f, buf, NULL, trans, op);
}

pt_status pt_net_operand_t(pt_net *n, pt_net_layer *l, int role, const float *x, int rows, int cols, pt_format f,
                           void *buf, void *buf_t, bool trans, pt_operand *op)
{
    return operand(n, l, role, x, (size_t)rows * (size_t)cols, rows, cols, f, buf, buf_t, trans, op);
}

pt_status pt_net_fp8_pull(pt_net *n)
{
    pt_status st = pt_net_fp8_pull_start(n);
    if (!st) st = pt_backend_wait_copies(n->be);
    return st ? st : pt_net_fp8_pull_finish(n);
}

pt_status pt_net_fp8_pull_start(pt_net *n)
{
    if (!n->fp8_dev) return PT_OK;
    return pt_backend_download_async(n->be, n->fp8_host, n->fp8_dev,
                                     (size_t)n->nlayers * PT_OPND_COUNT * sizeof *n->fp8_host);
}

pt_status pt_net_fp8_pull_finish(pt_net *n)
{
    if (!n->fp8_dev) return PT_OK;
    pt_fp8_state *host = n->fp8_host;
    static const char *const roles[] = {"x", "w", "dy"};
    n->fp8_saturated = 0;
    n->sat_what[0] = '\0';
    for (int i = 0; i < n->nlayers; i++) {
        pt_net_layer *l = &n->L[i];
        for (int k = 0; k < PT_OPND_COUNT; k++) {
            const pt_fp8_state *s = &host[(size_t)i * PT_OPND_COUNT + k], *old = &l->fp8[k];
            n->fp8_clamps += s->clamped - old->clamped;
            n->fp8_nan_amax += s->nan_amax - old->nan_amax;
            if (s->saturated > old->saturated && !n->fp8_saturated++) {
                pt_format f = k == PT_OPND_DY ? l->fmt.dgrad : l->fmt.fwd;
                double mx = pt_format_info(f)->max_finite;
                snprintf(n->sat_what, sizeof n->sat_what, "%s/%s: amax %.4g is %.3gx the %.4g that the "
                         "delayed-scaling history's scale holds in %s", l->spec->name, roles[k], (double)s->sat_amax,
                         (double)s->sat_amax * s->scale / mx, mx / s->scale, pt_format_info(f)->name);
            }
            l->fp8[k] = *s;
        }
    }
    return PT_OK;
}

pt_status pt_net_fp8_push(pt_net *n)
{
    if (!n->fp8_dev) return PT_OK;
    for (int i = 0; i < n->nlayers; i++)
        memcpy(n->fp8_host + (size_t)i * PT_OPND_COUNT, n->L[i].fp8, sizeof n->L[i].fp8);
    return pt_backend_upload(n->be, n->fp8_dev, n->fp8_host,
                             (size_t)n->nlayers * PT_OPND_COUNT * sizeof *n->fp8_host);
}

static pt_status alloc_f(pt_net *n, size_t count, float **p)
{
    pt_status st = pt_backend_alloc(n->be, count * sizeof(float), (void **)p);
    if (!st) st = pt_backend_memset(n->be, *p, 0, count * sizeof(float));
    return st;
}

/* The one fp8 format role `role` of l is cast in a training micro-batch,
 * or fp32 where it is cast in none, or twice (an input gradient in another
 * fp8 format than the weight gradient's): the forward's copy is reused by
 * a backward GEMM in fp8 (pt_gemm_layer_backward), and a role cast only
 * by the backward is cast there once. */
static pt_format fp8_role_format(const pt_net_layer *l, int role)
{
    pt_layer_formats f = l->fmt;
    bool fw = pt_format_is_fp8(f.fwd), wg = pt_format_is_fp8(f.wgrad);
    bool dg = pt_format_is_fp8(f.dgrad) && l->spec->in_index[0] >= 0; /* an input gradient to make */
    if (role == PT_OPND_X) return fw ? f.fwd : wg ? f.wgrad : PT_FMT_FP32;
    if (role == PT_OPND_W) return fw ? f.fwd : dg ? f.dgrad : PT_FMT_FP32;
    if (wg && dg && f.dgrad != f.wgrad) return PT_FMT_FP32;
    return wg ? f.wgrad : dg ? f.dgrad : PT_FMT_FP32;
}

/* n->fp8_batch: the delayed recipe's roles, in backend memory */
static pt_status fp8_batch_create(pt_net *n)
{
    pt_fp8_entry *e = malloc(sizeof *e * (size_t)n->nlayers * PT_OPND_COUNT);
    if (!e) return pt_fail(PT_ERR_NOMEM, "out of memory");
    int k = 0;
    for (int i = 0; i < n->nlayers; i++) {
        pt_net_layer *l = &n->L[i];
        if (!pt_layer_has_gemm(l->spec->type) || l->recipe.kind != PT_FP8_DELAYED) continue;
        for (int r = 0; r < PT_OPND_COUNT; r++) {
            pt_format f = fp8_role_format(l, r);
            if (f == PT_FMT_FP32) continue;
            e[k++] = (pt_fp8_entry){.recipe = l->recipe,
                                    .state = n->fp8_dev + (size_t)i * PT_OPND_COUNT + r,
                                    .scale_inv = pt_net_descale(l, r, f),
                                    .amax = pt_net_amax_slot(l, r),
                                    .max_finite = pt_format_info(f)->max_finite,
                                    .overflow = pt_format_overflow_threshold(f)};
            l->fp8_batched[r] = true;
        }
    }
    pt_status st = PT_OK;
    if (k && !(st = pt_backend_alloc(n->be, sizeof *e * (size_t)k, (void **)&n->fp8_batch)))
        st = pt_backend_upload(n->be, n->fp8_batch, e, sizeof *e * (size_t)k);
    n->fp8_nbatch = st ? 0 : k;
    free(e);
    return st;
}

void pt_plan_caps_of(pt_backend *be, pt_plan_caps *caps)
{
    caps->fp8_twins = pt_backend_fp8_twins(be);
    for (int f = 0; f < PT_FMT_COUNT; f++) caps->conv[f] = pt_backend_supports(be, PT_OP_CONV, (pt_format)f);
}

pt_status pt_net_create(pt_backend *be, const pt_model_spec *spec, const pt_policy *policy,
                        int batch, pt_net **out)
{
    return pt_net_create_plan(be, spec, policy, batch, pt_plan_fusion_setting(), out);
}

/* The buffers through which the plan has a layer's pass write for, or read
 * from, a neighbour (the pt_net_layer fields after `plan`). */
static void bind(pt_net *n)
{
    for (int i = 0; i < n->nlayers; i++) {
        pt_net_layer *l = &n->L[i];
        const pt_plan_layer *p = l->plan;
        int j = l->spec->in_index[0];
        if (p->x_codes) {
            const pt_net_layer *q = &n->L[j];
            l->x_tail = (pt_gemm_tail){q->y, NULL, q->spec->out, pt_gemm_out_format(q->plan->fmt.fwd), true, q->y16};
        }
        if (p->dy_codes) {
            /* the linear layer this activation alone feeds */
            for (int k = i + 1; k < n->nlayers; k++)
                if (n->L[k].spec->in_index[0] == i && n->L[k].plan->dx_codes) {
                    l->dy_tail = (pt_gemm_tail){l->dy, NULL, (int)l->spec->size,
                                                pt_gemm_out_format(n->L[k].plan->fmt.dgrad), true, l->dy16};
                    n->L[k].dx16 = l->dy16;
                }
        }
        if (p->cast_for >= 0) {
            const pt_net_layer *g = &n->L[p->cast_for];
            l->cast_out = g->saved, l->cast_out_t = g->saved_t, l->cast_cols = g->in_cols;
            l->cast_fmt = g->fmt.fwd;
        }
        if (p->in_grad_of >= 0) {
            pt_net_layer *q = &n->L[p->in_grad_of];
            bool cast = p->in_grad_fmt != PT_FMT_FP32;
            l->grad_out = cast ? q->gbuf : NULL, l->grad_out_t = cast ? q->gbuf_t : NULL;
            l->db_out = q->gb, l->grad_cols = q->spec->out, l->dx_out = q->dy;
        }
    }
}

pt_status pt_net_create_plan(pt_backend *be, const pt_model_spec *spec, const pt_policy *policy, int batch,
                             bool fused, pt_net **out)
{
    pt_status st = pt_policy_check_model(policy, spec);
    if (st) return st;
    pt_net *n = calloc(1, sizeof *n);
    if (!n) return pt_fail(PT_ERR_NOMEM, "out of memory");
    n->be = be;
    n->spec = spec;
    n->policy = policy;
    n->batch = batch;
    n->nlayers = spec->nlayers;
    n->L = calloc((size_t)spec->nlayers, sizeof *n->L);
    n->grad_beta = 1.0f;
    pt_plan_caps caps;
    pt_plan_caps_of(be, &caps);
    if (!n->L || (st = pt_plan_build(spec, policy, &caps, batch, fused, &n->plan))) {
        if (!n->L) st = pt_fail(PT_ERR_NOMEM, "out of memory");
        free(n->L);
        free(n);
        return st;
    }
    int64_t in_size = 1;
    for (int d = 0; d < spec->ninput; d++) in_size *= spec->input[d];
    /* parameter counts and consumers */
    size_t offs = 0;
    size_t max_size = (size_t)in_size;
    for (int i = 0; i < n->nlayers; i++) {
        pt_net_layer *l = &n->L[i];
        const pt_layer_spec *s = &spec->layers[i];
        l->spec = s;
        l->index = i;
        l->plan = &n->plan.L[i];
        l->fmt = l->plan->fmt;
        l->recipe = l->plan->recipe;
        int j = s->in_index[0];
        l->in_size = j < 0 ? in_size : spec->layers[j].size;
        l->seq = s->seq > 1 ? s->seq : 1;
        l->in_seq = j >= 0 && spec->layers[j].seq > 1 ? spec->layers[j].seq : 1;
        l->in_cols = (int)(l->in_size / l->in_seq);
        l->consumers = l->plan->readers;
        size_t width = (size_t)(s->size / l->seq);
        if (s->type == PT_LAYER_LINEAR) {
            l->fan_in = l->in_cols;
            l->nw = (size_t)s->out * (size_t)l->in_cols;
            l->nb = s->bias ? (size_t)s->out : 0;
            l->w_shared = s->tie_index >= 0;
        } else if (s->type == PT_LAYER_EMBEDDING) {
            l->nw = (size_t)s->vocab * width;
        } else if (s->type == PT_LAYER_POSITION) {
            l->nw = (size_t)s->context * width;
        } else if (s->type == PT_LAYER_RMSNORM) {
            l->nw = width;
        } else if (s->type == PT_LAYER_CONV2D) {
            const int *ish = j < 0 ? spec->input : spec->layers[j].shape;
            l->fan_in = ish[0] * s->kernel * s->kernel;
            l->nw = (size_t)s->out * (size_t)l->fan_in;
            l->nb = s->bias ? (size_t)s->out : 0;
            l->cs = (pt_conv_shape){.n = batch, .c = ish[0], .h = ish[1], .w = ish[2], .k = s->kernel,
                                    .stride = s->stride, .pad = s->padding, .oh = s->shape[1], .ow = s->shape[2]};
        } else if (s->type == PT_LAYER_MAXPOOL || s->type == PT_LAYER_AVGPOOL) {
            const int *ish = j < 0 ? spec->input : spec->layers[j].shape;
            l->cs = (pt_conv_shape){.n = batch, .c = ish[0], .h = ish[1], .w = ish[2], .k = s->kernel,
                                    .stride = s->stride, .pad = s->padding, .oh = s->shape[1], .ow = s->shape[2]};
        } else if (s->type == PT_LAYER_LAYERNORM) {
            l->nw = l->nb = width;
        }
        offs += (l->w_shared ? 0 : l->nw) + l->nb;
        if ((size_t)s->size > max_size) max_size = (size_t)s->size;
        if ((size_t)l->in_size > max_size) max_size = (size_t)l->in_size;
        if (s->type == PT_LAYER_CONV2D &&
            (size_t)s->shape[1] * (size_t)s->shape[2] * (size_t)l->fan_in > max_size)
            max_size = (size_t)s->shape[1] * (size_t)s->shape[2] * (size_t)l->fan_in;
    }
    n->nparams = offs;
    size_t np = offs ? offs : 1;
    int last_seq = n->L[n->nlayers - 1].seq; /* labels and losses a sample: one a position */
    if ((st = alloc_f(n, np, &n->params)) || (st = alloc_f(n, np, &n->grads)) ||
        (st = alloc_f(n, np, &n->opt_m)) || (st = alloc_f(n, np, &n->opt_v)) ||
        (st = alloc_f(n, (size_t)batch * (size_t)in_size, &n->input)) ||
        (st = pt_backend_alloc(be, sizeof(int32_t) * (size_t)batch * (size_t)last_seq, (void **)&n->labels)) ||
        (st = alloc_f(n, (size_t)batch * (size_t)spec->layers[n->nlayers - 1].size, &n->targets)) ||
        (st = alloc_f(n, (size_t)batch * (size_t)last_seq, &n->loss_rows)) ||
        (st = alloc_f(n, (size_t)batch * max_size, &n->scratch)))
        goto fail;
    /* the weights' 16-bit copy, for the layers that read their weights in it */
    n->w16_fmt = n->plan.w16_fmt;
    if (n->w16_fmt != PT_FMT_FP32 && (st = pt_backend_alloc(be, np * 2, &n->w16))) goto fail;
    bool uses_fp8 = false;
    offs = 0;
    for (int i = 0; i < n->nlayers; i++) {
        pt_net_layer *l = &n->L[i];
        const pt_layer_spec *s = l->spec;
        size_t nout = (size_t)batch * (size_t)s->size, in = (size_t)batch * (size_t)l->in_size;
        if (l->w_shared) { /* a tied head: the embedding's table, laid out before it */
            l->w = n->L[s->tie_index].w, l->gw = n->L[s->tie_index].gw;
            n->L[s->tie_index].grad_shared = true;
        } else {
            l->w = n->params + offs, l->gw = n->grads + offs;
            offs += l->nw;
        }
        l->b = l->nb ? n->params + offs : NULL, l->gb = l->nb ? n->grads + offs : NULL;
        offs += l->nb;
        if ((st = alloc_f(n, nout, &l->y)) || (st = alloc_f(n, nout, &l->dy)) ||
            (st = alloc_f(n, PT_SCALE_SLOTS, &l->scales)))
            goto fail;
        for (int r = 0; r < PT_OPND_COUNT; r++) pt_fp8_state_init(&l->fp8[r]);
        uses_fp8 |= pt_format_is_fp8(l->fmt.fwd) || pt_format_is_fp8(l->fmt.dgrad) || pt_format_is_fp8(l->fmt.wgrad);
        if (s->type == PT_LAYER_ATTN_QK || s->type == PT_LAYER_ATTN_PV) {
            /* operands: qk's x is q and its w is k ([batch, heads, T, head_dim] each), its dy the scores
             * [batch, heads, T, T]; pv's x is the probabilities, its w v, its dy the output */
            size_t qkv = (size_t)batch * (size_t)l->in_size, d = qkv / 3, tt = (size_t)batch * (size_t)s->size;
            if (s->type == PT_LAYER_ATTN_PV) qkv = (size_t)batch * (size_t)spec->layers[s->in_index[1]].size, d = qkv / 3;
            bool qk = s->type == PT_LAYER_ATTN_QK;
            size_t xc = qk ? d : (size_t)batch * (size_t)l->in_size, wc = d, dyc = qk ? tt : d;
            pt_layer_formats f = l->fmt;
            size_t sz_w = cast_bytes(f.fwd, wc) > cast_bytes(f.dgrad, wc) ? cast_bytes(f.fwd, wc) : cast_bytes(f.dgrad, wc);
            size_t sz_g = cast_bytes(f.dgrad, dyc) > cast_bytes(f.wgrad, dyc) ? cast_bytes(f.dgrad, dyc)
                                                                              : cast_bytes(f.wgrad, dyc);
            if ((st = pt_backend_alloc(be, cast_bytes(f.fwd, xc), &l->saved)) ||
                (st = pt_backend_alloc(be, sz_w, &l->wbuf)) || (st = pt_backend_alloc(be, sz_g, &l->gbuf)) ||
                (st = pt_backend_alloc(be, f.wgrad == f.fwd ? 0 : cast_bytes(f.wgrad, xc), &l->xbuf)) ||
                (st = alloc_f(n, qkv, &l->heads)) || (st = alloc_f(n, qkv, &l->dheads)) ||
                (!qk && ((st = alloc_f(n, d, &l->ho)) || (st = alloc_f(n, d, &l->dho)))))
                goto fail;
        } else if (pt_layer_has_gemm(s->type)) {
            /* a conv2d's x operand is its im2col rows, unless the backend
             * convolves its formats directly (then it is x itself) */
            bool cols = s->type == PT_LAYER_CONV2D && !l->plan->conv_direct;
            size_t x_count = cols ? (size_t)batch * (size_t)l->cs.oh * (size_t)l->cs.ow * (size_t)l->fan_in : in;
            size_t dy_count = nout;
            if (cols && ((st = alloc_f(n, x_count, &l->cols)) || (st = alloc_f(n, x_count, &l->dcols))))
                goto fail;
            if (s->type == PT_LAYER_CONV2D &&
                ((st = alloc_f(n, nout, &l->rows)) || (st = alloc_f(n, nout, &l->drows))))
                goto fail;
            /* buffers only for what is not fp32, each in its format's storage:
             * a bf16 layer keeps its input for the backward in 2 bytes a value */
            pt_layer_formats f = l->fmt;
            size_t sz_saved = cast_bytes(f.fwd, x_count);
            size_t sz_w = cast_bytes(f.fwd, l->nw) > cast_bytes(f.dgrad, l->nw)
                              ? cast_bytes(f.fwd, l->nw) : cast_bytes(f.dgrad, l->nw);
            size_t sz_g = cast_bytes(f.dgrad, dy_count) > cast_bytes(f.wgrad, dy_count)
                              ? cast_bytes(f.dgrad, dy_count) : cast_bytes(f.wgrad, dy_count);
            size_t sz_x = f.wgrad == f.fwd ? 0 : cast_bytes(f.wgrad, x_count);
            bool w_copy = l->plan->w_from_copy;
            if (w_copy) l->wbuf = pt_net_w16_of(n, l->w);
            if ((st = pt_backend_alloc(be, sz_saved, &l->saved)) ||
                (!w_copy && (st = pt_backend_alloc(be, sz_w, &l->wbuf))) ||
                (st = pt_backend_alloc(be, sz_g, &l->gbuf)) ||
                (st = pt_backend_alloc(be, sz_x, &l->xbuf)))
                goto fail;
            /* the 16-bit codes an activation reads of this GEMM's output,
             * and the transposed copies the backward's fp8 GEMMs read */
            const pt_plan_layer *p = l->plan;
            if ((p->y_codes && (st = pt_backend_alloc(be, nout * 2, &l->y16))) ||
                (p->x_t && (st = pt_backend_alloc(be, x_count, &l->saved_t))) ||
                (p->w_t && (st = pt_backend_alloc(be, l->nw, &l->wbuf_t))) ||
                (p->dy_t && (st = pt_backend_alloc(be, dy_count, &l->gbuf_t))))
                goto fail;
        }
        /* an activation's dy as the codes of the input-gradient GEMM after it */
        if (l->plan->dy_codes && (st = pt_backend_alloc(be, nout * 2, &l->dy16))) goto fail;
        if (s->type == PT_LAYER_LAYERNORM && (st = alloc_f(n, 2 * (size_t)batch * (size_t)l->seq, &l->aux))) goto fail;
        if (s->type == PT_LAYER_RMSNORM && (st = alloc_f(n, (size_t)batch * (size_t)l->seq, &l->aux))) goto fail;
        if (s->type == PT_LAYER_MAXPOOL && (st = alloc_f(n, nout, &l->aux))) goto fail;
    }
    /* the fp8 scaling states, in backend memory, where the recipe runs */
    size_t fp8_bytes = (size_t)n->nlayers * PT_OPND_COUNT * sizeof(pt_fp8_state);
    if (uses_fp8 && ((st = pt_backend_alloc_host(be, fp8_bytes, (void **)&n->fp8_host)) ||
                     (st = pt_backend_alloc(be, fp8_bytes, (void **)&n->fp8_dev)) || (st = pt_net_fp8_push(n)) ||
                     (st = fp8_batch_create(n))))
        goto fail;
    bind(n);
    *out = n;
    return PT_OK;
fail:
    pt_net_destroy(n);
    return st;
}

void pt_net_destroy(pt_net *n)
{
    if (!n) return;
    pt_backend *be = n->be;
    for (int i = 0; i < n->nlayers; i++) {
        pt_net_layer *l = &n->L[i];
        void *bufs[] = {l->y,    l->dy,     l->saved,  l->plan->w_from_copy ? NULL : l->wbuf, l->gbuf, l->xbuf,
                        l->cols, l->dcols,  l->rows,   l->drows, l->aux, l->scales, l->saved_t, l->wbuf_t,
                        l->gbuf_t, l->y16,   l->dy16, l->heads, l->dheads, l->ho, l->dho};
        for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++) pt_backend_free(be, bufs[k]);
    }
    void *bufs[] = {n->params, n->grads, n->opt_m, n->opt_v, n->input, n->labels, n->targets,
                    n->loss_rows, n->scratch, n->fp8_dev, n->w16, n->fp8_batch};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++) pt_backend_free(be, bufs[k]);
    pt_backend_free_host(be, n->fp8_host);
    pt_plan_free(&n->plan);
    free(n->L);
    free(n);
}

pt_status pt_net_init_params(pt_net *n, uint64_t seed)
{
    float *h = malloc((n->nparams ? n->nparams : 1) * sizeof(float));
    if (!h) return pt_fail(PT_ERR_NOMEM, "out of memory");
    uint64_t s = seed * 0x632be59bd9b4e019ull + 7;
    size_t off = 0;
    for (int i = 0; i < n->nlayers; i++) {
        pt_net_layer *l = &n->L[i];
        size_t own = l->w_shared ? 0 : l->nw; /* the weights laid out here */
        if (l->spec->type == PT_LAYER_LAYERNORM || l->spec->type == PT_LAYER_RMSNORM) {
            for (size_t k = 0; k < l->nw; k++) h[off + k] = 1.0f;
            for (size_t k = 0; k < l->nb; k++) h[off + l->nw + k] = 0.0f;
        } else if (l->spec->type == PT_LAYER_EMBEDDING || l->spec->type == PT_LAYER_POSITION) {
            /* N(0, 0.02), GPT-2's (nn.Embedding's own default, N(0, 1), makes a tied head's first
             * logits sqrt(width) times too large): Box-Muller on the same counter-based stream */
            for (size_t k = 0; k < l->nw; k++) {
                double u1 = ((double)(pt_splitmix(&s) >> 11) + 1.0) / 9007199254740993.0;
                double u2 = (double)(pt_splitmix(&s) >> 11) / 9007199254740992.0;
                h[off + k] = (float)(0.02 * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
            }
        } else {
            /* kaiming_uniform_(a=sqrt(5)) for weights and the bias rule of
             * nn.Linear / nn.Conv2d: both U(-1/sqrt(fan_in), 1/sqrt(fan_in));
             * a tied head's weight is the embedding's, its bias alone its own */
            float bound = l->fan_in ? 1.0f / sqrtf((float)l->fan_in) : 0.0f;
            for (size_t k = 0; k < own + l->nb; k++) {
                double u = (double)(pt_splitmix(&s) >> 11) / 9007199254740992.0;
                h[off + k] = (float)((2.0 * u - 1.0) * bound);
            }
        }
        off += own + l->nb;
    }
    n->w16_valid = false; /* the weights change outside the optimizer */
    pt_status st = pt_backend_upload(n->be, n->params, h, n->nparams * sizeof(float));
    free(h);
    return st;
}

/* A failed op, said with the layer and pass it belongs to (a CUDA or
 * cuBLASLt error names the operation; this names where in the model). */
static pt_status in_layer(pt_status st, const pt_net_layer *l, const char *pass)
{
    if (!st) return st;
    return pt_fail(st, "layer '%s' (%s), %s: %s", l->spec->name, pt_layer_type_name(l->spec->type), pass,
                   pt_last_error());
}

pt_status pt_net_materialize(pt_net *n)
{
    pt_status st;
    for (int pass = 0; pass < 2; pass++) { /* the forwards' first: the backwards read x finished */
        if (!(pass ? n->bwd_unwritten : n->fwd_unwritten)) continue;
        for (int i = 0; i < n->nlayers; i++)
            if (pt_layer_is_act(n->L[i].spec->type) &&
                (st = in_layer(pt_activation_materialize(n, &n->L[i], n->rows, pass == 1), &n->L[i], "materialize")))
                return st;
        if (pass) n->bwd_unwritten = false;
        else n->fwd_unwritten = false;
    }
    return PT_OK;
}

pt_status pt_net_forward(pt_net *n, int rows, float grad_scale)
{
    pt_status st;
    /* what the last backward left unwritten can no longer be made once
     * this forward writes the x it depends on (pt_net_materialize) */
    n->bwd_unwritten = false;
    n->fwd_unwritten = true;
    n->rows = rows;
    if (n->train && (st = pt_backend_fp8_scale_many(n->be, n->fp8_batch, n->fp8_nbatch))) return st;
    for (int i = 0; i < n->nlayers; i++)
        if ((st = in_layer(pt_layer_forward(n, &n->L[i], rows), &n->L[i], "forward"))) return st;
    pt_net_layer *last = &n->L[n->nlayers - 1];
    int c = (int)(last->spec->size / last->seq);
    float *dlogits = grad_scale != 0.0f ? last->dy : NULL;
    if (n->spec->loss == PT_LOSS_SOFTMAX_CE) /* a sequence: one row of logits a position */
        return pt_backend_softmax_ce(n->be, last->y, n->labels, n->loss_rows, dlogits, rows * last->seq, c,
                                     grad_scale);
    return pt_backend_mse(n->be, last->y, n->targets, n->loss_rows, dlogits, rows, c, grad_scale);
}

pt_status pt_net_backward(pt_net *n, int rows)
{
    pt_status st;
    /* gradients of layer outputs read by several layers are sums: start at zero */
    for (int i = 0; i < n->nlayers - 1; i++)
        if (n->L[i].consumers > 1 &&
            (st = pt_backend_memset(n->be, n->L[i].dy, 0,
                                    (size_t)rows * (size_t)n->L[i].spec->size * sizeof(float))))
            return st;
    n->bwd_unwritten = true;
    for (int i = n->nlayers - 1; i >= 0; i--)
        if ((st = in_layer(pt_layer_backward(n, &n->L[i], rows), &n->L[i], "backward"))) return st;
    return n->train ? pt_backend_fp8_record_many(n->be, n->fp8_batch, n->fp8_nbatch) : PT_OK;
}
