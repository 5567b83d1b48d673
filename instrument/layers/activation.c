/* relu and gelu (exact, erf), in fp32. Where the step plan says so
 * (plan.h), the forward pass also writes the input cast of the linear
 * layer after it, and the backward pass the weight-gradient cast and the
 * bias gradient of the linear layer before it, into the buffers bound to
 * this layer for that; and either pass reads its input as the codes a
 * GEMM wrote. */
#include "../net.h"

static pt_act act_of(const pt_net_layer *l)
{
    return l->spec->type == PT_LAYER_RELU ? PT_ACT_RELU : PT_ACT_GELU;
}

/* The GEMM tail left on x (NULL: none). It is kept raw: the backward
 * pass finishes x again as it reads it. */
static const pt_gemm_tail *x_tail(const pt_net_layer *l)
{
    return l->plan->x_codes ? &l->x_tail : NULL;
}

pt_status pt_activation_forward(pt_net *n, pt_net_layer *l, int rows)
{
    size_t cnt = (size_t)rows * (size_t)l->spec->size;
    const float *x = pt_layer_input(n, l, 0);
    int g = l->plan->cast_for;
    if (g < 0 && !l->plan->x_codes) return pt_backend_act_fwd(n->be, act_of(l), x, l->y, cnt);
    /* y itself, which nothing else reads in the step, is left to
     * pt_net_materialize where the cast is written instead */
    pt_format f = g >= 0 ? l->cast_fmt : PT_FMT_FP32;
    pt_cast_plan p = {NULL, NULL, 0, NULL};
    pt_status st = g >= 0 ? pt_net_cast_plan(n, &n->L[g], PT_OPND_X, f, NULL, cnt, l->cast_out, &p) : PT_OK;
    if (!st)
        st = pt_backend_act_fwd_cast(n->be, &(pt_act_fwd_desc){.act = act_of(l),
                                                               .x = x,
                                                               .y = g >= 0 ? NULL : l->y,
                                                               .n = cnt,
                                                               .cols = l->cast_cols,
                                                               .cast = {.to = f,
                                                                        .scale = p.scale,
                                                                        .amax = p.amax,
                                                                        .flags = p.flags,
                                                                        .codes = l->cast_out,
                                                                        .codes_t = l->cast_out_t},
                                                               .x_tail = x_tail(l)});
    if (!st && g >= 0) st = pt_net_cast_done(n, &n->L[g], PT_OPND_X, f, &p);
    return st;
}

pt_status pt_activation_backward(pt_net *n, pt_net_layer *l, int rows)
{
    size_t cnt = (size_t)rows * (size_t)l->spec->size;
    const float *x = pt_layer_input(n, l, 0);
    int q = l->plan->in_grad_of;
    float *dx = q >= 0 ? l->dx_out : pt_grad_target(n, l, 0);
    if (!dx) return PT_OK;
    if (q < 0 && !l->plan->x_codes && !l->plan->dy_codes) {
        pt_status st = pt_backend_act_bwd(n->be, act_of(l), x, l->dy, dx, cnt);
        return st ? st : pt_grad_done(n, l, 0, dx, cnt);
    }
    pt_format f = q >= 0 ? l->plan->in_grad_fmt : PT_FMT_FP32;
    pt_cast_plan p = {NULL, NULL, 0, NULL};
    pt_status st = f != PT_FMT_FP32 ? pt_net_cast_plan(n, &n->L[q], PT_OPND_DY, f, NULL, cnt, l->grad_out, &p) : PT_OK;
    if (!st)
        st = pt_backend_act_bwd_bias(n->be, &(pt_act_bwd_desc){.act = act_of(l),
                                                               .x = x,
                                                               .dy = l->dy,
                                                               .dx = l->plan->dx_unwritten ? NULL : dx,
                                                               .n = cnt,
                                                               .cols = q >= 0 ? l->grad_cols : (int)l->spec->size,
                                                               .cast = {.to = f,
                                                                        .scale = p.scale,
                                                                        .amax = p.amax,
                                                                        .flags = p.flags,
                                                                        .codes = l->grad_out,
                                                                        .codes_t = l->grad_out_t},
                                                               .db = l->db_out,
                                                               .db_beta = n->grad_beta,
                                                               .x_tail = x_tail(l),
                                                               .dy_tail = l->plan->dy_codes ? &l->dy_tail : NULL});
    if (!st && f != PT_FMT_FP32) st = pt_net_cast_done(n, &n->L[q], PT_OPND_DY, f, &p);
    if (!st && q < 0) st = pt_grad_done(n, l, 0, dx, cnt);
    return st;
}

pt_status pt_activation_materialize(pt_net *n, pt_net_layer *l, int rows, bool backward)
{
    size_t cnt = (size_t)rows * (size_t)l->spec->size;
    float *x = pt_layer_input(n, l, 0);
    const pt_plan_layer *p = l->plan;
    if (!backward && (p->x_codes || p->y_unwritten)) {
        /* x finished in place, and y written (again, where it was: the same values) */
        pt_gemm_tail t = l->x_tail;
        t.keep_raw = false;
        return pt_backend_act_fwd_cast(
            n->be, &(pt_act_fwd_desc){.act = act_of(l), .x = x, .y = l->y, .n = cnt, .x_tail = p->x_codes ? &t : NULL});
    }
    if (backward && p->dx_unwritten) {
        /* dx into the linear layer's dy, which it is; dy finished in place */
        pt_gemm_tail t = l->dy_tail;
        t.keep_raw = false;
        return pt_backend_act_bwd_bias(n->be, &(pt_act_bwd_desc){.act = act_of(l),
                                                                 .x = x,
                                                                 .dy = l->dy,
                                                                 .dx = l->dx_out,
                                                                 .n = cnt,
                                                                 .cols = (int)l->spec->size,
                                                                 .dy_tail = p->dy_codes ? &t : NULL});
    }
    if (backward && p->dy_codes) /* dx was written: dy alone to decode from the GEMM's codes */
        return pt_backend_decode(n->be, l->dy_tail.fmt, l->dy_tail.packed, l->dy, cnt, NULL);
    return PT_OK;
}
