/* Dispatch from a layer's type to its forward and backward, and the one
 * rule for handing an input gradient back to the layer that produced it. */
#include "../net.h"

pt_status pt_layer_forward(pt_net *n, pt_net_layer *l, int rows)
{
    switch (l->spec->type) {
    case PT_LAYER_LINEAR: return pt_linear_forward(n, l, rows);
    case PT_LAYER_CONV2D: return pt_conv2d_forward(n, l, rows);
    case PT_LAYER_MAXPOOL:
    case PT_LAYER_AVGPOOL: return pt_pool_forward(n, l, rows);
    case PT_LAYER_RELU:
    case PT_LAYER_GELU: return pt_activation_forward(n, l, rows);
    case PT_LAYER_LAYERNORM: return pt_layernorm_forward(n, l, rows);
    case PT_LAYER_DROPOUT: return pt_dropout_forward(n, l, rows);
    case PT_LAYER_ADD: return pt_add_forward(n, l, rows);
    case PT_LAYER_FLATTEN: return pt_flatten_forward(n, l, rows);
    case PT_LAYER_EMBEDDING: return pt_embedding_forward(n, l, rows);
    case PT_LAYER_POSITION: return pt_position_forward(n, l, rows);
    case PT_LAYER_RMSNORM: return pt_rmsnorm_forward(n, l, rows);
    case PT_LAYER_ATTN_QK: return pt_attn_qk_forward(n, l, rows);
    case PT_LAYER_ATTN_SOFTMAX: return pt_attn_softmax_forward(n, l, rows);
    case PT_LAYER_ATTN_PV: return pt_attn_pv_forward(n, l, rows);
    default: return pt_fail(PT_ERR_UNSUPPORTED, "layer %s: unknown type", l->spec->name);
    }
}

pt_status pt_layer_backward(pt_net *n, pt_net_layer *l, int rows)
{
    switch (l->spec->type) {
    case PT_LAYER_LINEAR: return pt_linear_backward(n, l, rows);
    case PT_LAYER_CONV2D: return pt_conv2d_backward(n, l, rows);
    case PT_LAYER_MAXPOOL:
    case PT_LAYER_AVGPOOL: return pt_pool_backward(n, l, rows);
    case PT_LAYER_RELU:
    case PT_LAYER_GELU: return pt_activation_backward(n, l, rows);
    case PT_LAYER_LAYERNORM: return pt_layernorm_backward(n, l, rows);
    case PT_LAYER_DROPOUT: return pt_dropout_backward(n, l, rows);
    case PT_LAYER_ADD: return pt_add_backward(n, l, rows);
    case PT_LAYER_FLATTEN: return pt_flatten_backward(n, l, rows);
    case PT_LAYER_EMBEDDING: return pt_embedding_backward(n, l, rows);
    case PT_LAYER_POSITION: return pt_position_backward(n, l, rows);
    case PT_LAYER_RMSNORM: return pt_rmsnorm_backward(n, l, rows);
    case PT_LAYER_ATTN_QK: return pt_attn_qk_backward(n, l, rows);
    case PT_LAYER_ATTN_SOFTMAX: return pt_attn_softmax_backward(n, l, rows);
    case PT_LAYER_ATTN_PV: return pt_attn_pv_backward(n, l, rows);
    default: return pt_fail(PT_ERR_UNSUPPORTED, "layer %s: unknown type", l->spec->name);
    }
}

float *pt_grad_target(pt_net *n, pt_net_layer *l, int i)
{
    bool acc = false;
    float *dst = pt_layer_input_grad(n, l, i, &acc);
    return dst && acc ? n->scratch : dst;
}

pt_status pt_grad_done(pt_net *n, pt_net_layer *l, int i, const float *g, size_t count)
{
    bool acc = false;
    float *dst = pt_layer_input_grad(n, l, i, &acc);
    return dst && acc ? pt_backend_acc(n->be, g, dst, count) : PT_OK;
}
