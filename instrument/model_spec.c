/* Model spec JSON -> pt_model_spec, with shapes inferred and checked, so
 * that every mistake is reported against the file and the JSON path
 * before anything is allocated. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "../common/json_util.h"
#include "prectune/model.h"

static const char *const layer_names[PT_LAYER_TYPE_COUNT] = {
    [PT_LAYER_LINEAR] = "linear",   [PT_LAYER_CONV2D] = "conv2d",
    [PT_LAYER_MAXPOOL] = "maxpool", [PT_LAYER_AVGPOOL] = "avgpool",
    [PT_LAYER_FLATTEN] = "flatten", [PT_LAYER_RELU] = "relu",
    [PT_LAYER_GELU] = "gelu",       [PT_LAYER_LAYERNORM] = "layernorm",
    [PT_LAYER_DROPOUT] = "dropout", [PT_LAYER_ADD] = "add",
    [PT_LAYER_EMBEDDING] = "embedding", [PT_LAYER_POSITION] = "position_embedding",
    [PT_LAYER_RMSNORM] = "rmsnorm", [PT_LAYER_ATTN_QK] = "attention_qk",
    [PT_LAYER_ATTN_SOFTMAX] = "attention_softmax", [PT_LAYER_ATTN_PV] = "attention_pv",
};
_Static_assert(sizeof layer_names / sizeof layer_names[0] == PT_LAYER_TYPE_COUNT,
               "one name per layer type");

const char *pt_layer_type_name(pt_layer_type t)
{
    return (unsigned)t < PT_LAYER_TYPE_COUNT ? layer_names[t] : "?";
}

bool pt_layer_has_gemm(pt_layer_type t)
{
    return t == PT_LAYER_LINEAR || t == PT_LAYER_CONV2D || t == PT_LAYER_ATTN_QK || t == PT_LAYER_ATTN_PV;
}
bool pt_layer_has_weights(pt_layer_type t) { return t == PT_LAYER_LINEAR || t == PT_LAYER_CONV2D; }
bool pt_layer_has_compute_format(pt_layer_type t)
{
    return t == PT_LAYER_LAYERNORM || t == PT_LAYER_RMSNORM || t == PT_LAYER_ATTN_SOFTMAX;
}
int pt_layer_ninputs(pt_layer_type t) { return t == PT_LAYER_ADD || t == PT_LAYER_ATTN_PV ? 2 : 1; }

/* Features of the last dimension of layer j's output (j -1: the model input). */
static int64_t width_of(const pt_model_spec *s, int j)
{
    if (j >= 0) return s->layers[j].size / (s->layers[j].seq > 1 ? s->layers[j].seq : 1);
    int64_t in = 1;
    for (int d = 0; d < s->ninput; d++) in *= s->input[d];
    return in;
}
bool pt_layer_is_act(pt_layer_type t) { return t == PT_LAYER_RELU || t == PT_LAYER_GELU; }

pt_status pt_read_file_max(const char *path, size_t max, const char *limit_what, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return pt_fail(PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            if (cap > max + 2) cap = max + 2 > n + 4096 + 1 ? max + 2 : n + 4096 + 1;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return pt_fail(PT_ERR_NOMEM, "%s: out of memory reading it", path);
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
        if (n > max) {
            free(buf);
            fclose(f);
            return pt_fail(PT_ERR_INVALID, "%s: larger than %zu bytes, the limit for %s", path, max, limit_what);
        }
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return pt_fail(PT_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    return PT_OK;
}

pt_status pt_read_file(const char *path, char **out, size_t *len)
{
    return pt_read_file_max(path, PT_TEXT_FILE_MAX, "a model spec, policy or device table (16 MiB)", out, len);
}

void pt_model_fingerprint(const pt_model_spec *s, char out[24])
{
    XXH64_state_t *h = XXH64_createState();
    XXH64_reset(h, 0);
    char buf[256];
    int n = snprintf(buf, sizeof buf, "input");
    for (int d = 0; d < s->ninput; d++) n += snprintf(buf + n, sizeof buf - (size_t)n, ":%d", s->input[d]);
    XXH64_update(h, buf, (size_t)n + 1);
    for (int i = 0; i < s->nlayers; i++) {
        const pt_layer_spec *l = &s->layers[i];
        const int *in = l->in_index[0] < 0 ? s->input : s->layers[l->in_index[0]].shape;
        int64_t in_size = l->in_index[0] < 0 ? 1 : s->layers[l->in_index[0]].size;
        if (l->in_index[0] < 0)
            for (int d = 0; d < s->ninput; d++) in_size *= s->input[d];
        /* name, type, then the parameter shapes (a linear layer's: out x its
         * input's width, which for a flat input is its size) */
        if (l->in_index[0] >= 0) in_size = width_of(s, l->in_index[0]);
        switch (l->type) {
        case PT_LAYER_LINEAR:
            n = snprintf(buf, sizeof buf, "%s|linear|%dx%lld%s", l->name, l->out, (long long)in_size,
                         l->bias ? "|b" : "");
            if (l->tie[0]) n += snprintf(buf + n, sizeof buf - (size_t)n, "|tie:%s", l->tie);
            break;
        case PT_LAYER_EMBEDDING:
            n = snprintf(buf, sizeof buf, "%s|embedding|%dx%d", l->name, l->vocab, l->out);
            break;
        case PT_LAYER_POSITION:
            n = snprintf(buf, sizeof buf, "%s|position_embedding|%dx%d", l->name, l->context, l->shape[1]);
            break;
        case PT_LAYER_RMSNORM:
            n = snprintf(buf, sizeof buf, "%s|rmsnorm|%lld", l->name, (long long)(l->size / (l->seq > 1 ? l->seq : 1)));
            break;
        case PT_LAYER_ATTN_QK:
        case PT_LAYER_ATTN_SOFTMAX:
        case PT_LAYER_ATTN_PV:
            n = snprintf(buf, sizeof buf, "%s|%s|h%d", l->name, pt_layer_type_name(l->type), l->heads);
            break;
        case PT_LAYER_CONV2D:
            n = snprintf(buf, sizeof buf, "%s|conv2d|%dx%dx%dx%d/s%d/p%d%s", l->name, l->out, in[0],
                         l->kernel, l->kernel, l->stride, l->padding, l->bias ? "|b" : "");
            break;
        case PT_LAYER_LAYERNORM:
            n = snprintf(buf, sizeof buf, "%s|layernorm|%lld", l->name, (long long)(l->size / (l->seq > 1 ? l->seq : 1)));
            break;
        default:
            n = snprintf(buf, sizeof buf, "%s|%s", l->name, pt_layer_type_name(l->type));
        }
        XXH64_update(h, buf, (size_t)n + 1);
    }
    snprintf(out, 24, "xxh64:%016llx", (unsigned long long)XXH64_digest(h));
    XXH64_freeState(h);
}

int64_t pt_model_parameters(const pt_model_spec *s)
{
    int64_t n = 0;
    for (int i = 0; i < s->nlayers; i++) {
        const pt_layer_spec *l = &s->layers[i];
        int j = l->in_index[0];
        int64_t in = width_of(s, j), width = l->size / (l->seq > 1 ? l->seq : 1);
        const int *ish = j < 0 ? s->input : s->layers[j].shape;
        if (l->type == PT_LAYER_LINEAR) n += (l->tie[0] ? 0 : (int64_t)l->out * in) + (l->bias ? l->out : 0);
        else if (l->type == PT_LAYER_CONV2D)
            n += (int64_t)l->out * ish[0] * l->kernel * l->kernel + (l->bias ? l->out : 0);
        else if (l->type == PT_LAYER_LAYERNORM) n += 2 * width;
        else if (l->type == PT_LAYER_RMSNORM) n += width;
        else if (l->type == PT_LAYER_EMBEDDING) n += (int64_t)l->vocab * l->out;
        else if (l->type == PT_LAYER_POSITION) n += (int64_t)l->context * width;
    }
    return n;
}

int pt_model_spec_find(const pt_model_spec *s, const char *name)
{
    for (int i = 0; i < s->nlayers; i++)
        if (strcmp(s->layers[i].name, name) == 0) return i;
    return -1;
}

int pt_model_readers(const pt_model_spec *s, int i)
{
    int r = i == s->nlayers - 1;
    for (int k = 0; k < s->nlayers; k++)
        for (int t = 0; t < pt_layer_ninputs(s->layers[k].type); t++) r += s->layers[k].in_index[t] == i;
    return r;
}

void pt_model_spec_free(pt_model_spec *s)
{
    free(s->layers);
    memset(s, 0, sizeof *s);
}

static const char *const top_keys[] = {"name", "input", "layers", "loss", "optimizer", "train", NULL};
static const char *const optim_keys[] = {"type", "lr", "beta1", "beta2", "eps", "weight_decay",
                                         "momentum", NULL};
static const char *const train_keys[] = {"batch", "steps", "warmup", "schedule", "min_lr_ratio",
                                         "clip_norm", "accumulate", "seed", "eval_every",
                                         "schedule_counts_skipped", "eval_samples", NULL};

/* Keys each layer type accepts (besides name, type, inputs). */
static const char *const *layer_keys(pt_layer_type t)
{
    static const char *const linear[] = {"name", "type", "inputs", "out", "bias", "tie", NULL};
    static const char *const conv[] = {"name", "type", "inputs", "out", "bias", "kernel",
                                       "stride", "padding", NULL};
    static const char *const pool[] = {"name", "type", "inputs", "kernel", "stride", "padding", NULL};
    static const char *const plain[] = {"name", "type", "inputs", NULL};
    static const char *const norm[] = {"name", "type", "inputs", "eps", NULL};
    static const char *const drop[] = {"name", "type", "inputs", "p", NULL};
    static const char *const emb[] = {"name", "type", "vocab", "out", NULL};
    static const char *const pos[] = {"name", "type", "inputs", "context", NULL};
    switch (t) {
    case PT_LAYER_LINEAR: return linear;
    case PT_LAYER_CONV2D: return conv;
    case PT_LAYER_MAXPOOL:
    case PT_LAYER_AVGPOOL: return pool;
    case PT_LAYER_LAYERNORM:
    case PT_LAYER_RMSNORM: return norm;
    case PT_LAYER_DROPOUT: return drop;
    case PT_LAYER_EMBEDDING: return emb;
    case PT_LAYER_POSITION: return pos;
    default: return plain;
    }
}

static pt_status require(const pt_jctx *c, const cJSON *obj, const char *path, const char *key,
                         const char *what)
{
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) return PT_OK;
    char p[256];
    snprintf(p, sizeof p, "%s.%s", path, key);
    return pt_jfail(c, p, "missing (expected %s)", what);
}

/* The layer types a user writes: the pt_layer_type values up to rmsnorm,
 * then the two sugar entries that expand into several layers. */
static const char *const user_types[] = {"linear", "conv2d", "maxpool", "avgpool", "flatten", "relu", "gelu",
                                         "layernorm", "dropout", "add", "embedding", "position_embedding",
                                         "rmsnorm", "attention", "gpt_block", NULL};
enum { SUGAR_ATTENTION = PT_LAYER_RMSNORM + 1, SUGAR_GPT_BLOCK };

/* "inputs": one name (or two for add) into l */
static pt_status parse_inputs(const pt_jctx *c, const cJSON *v, const char *path, pt_layer_spec *l)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(v, "inputs");
    char ipath[96];
    snprintf(ipath, sizeof ipath, "%s.inputs", path);
    int want = l->type == PT_LAYER_ADD ? 2 : 1;
    if (!in && l->type == PT_LAYER_ADD)
        return pt_jfail(c, ipath, "missing (add needs the names of its two input layers)");
    if (in) {
        if (!cJSON_IsArray(in) || cJSON_GetArraySize(in) != want)
            return pt_jfail(c, ipath, "expected an array of %d layer name%s", want,
                            want > 1 ? "s" : "");
        for (int k = 0; k < want; k++) {
            const cJSON *e = cJSON_GetArrayItem(in, k);
            if (!cJSON_IsString(e) || strlen(e->valuestring) >= PT_NAME_MAX)
                return pt_jfail(c, ipath, "element %d: expected a layer name", k);
            strcpy(l->inputs[k], e->valuestring);
        }
        l->ninputs = want;
    }
    return PT_OK;
}

static pt_status parse_layer(const pt_jctx *c, const cJSON *v, int i, int type, pt_layer_spec *l)
{
    char path[64];
    snprintf(path, sizeof path, "layers[%d]", i);
    pt_status st;
    if ((st = pt_jget_string(c, v, path, "name", l->name, sizeof l->name))) return st;
    l->type = (pt_layer_type)type;
    if ((st = pt_jcheck_keys(c, v, path, layer_keys(l->type)))) return st;
    int64_t out = 0, kernel = 0, stride = 0, padding = 0, vocab = 0, context = 0;
    double p = -1, eps = 1e-5;
    l->bias = true;
    if (l->type == PT_LAYER_LINEAR || l->type == PT_LAYER_CONV2D || l->type == PT_LAYER_EMBEDDING) {
        if ((st = require(c, v, path, "out", "the number of outputs, an integer >= 1"))) return st;
        if ((st = pt_jget_int(c, v, path, "out", 1, 1 << 20, &out))) return st;
        if (l->type != PT_LAYER_EMBEDDING && (st = pt_jget_bool(c, v, path, "bias", &l->bias))) return st;
    }
    if (l->type == PT_LAYER_LINEAR && (st = pt_jget_string(c, v, path, "tie", l->tie, sizeof l->tie))) return st;
    if (l->type == PT_LAYER_EMBEDDING) {
        if ((st = require(c, v, path, "vocab", "the vocabulary, an integer >= 2"))) return st;
        if ((st = pt_jget_int(c, v, path, "vocab", 2, 1 << 24, &vocab))) return st;
        l->bias = false;
    }
    if (l->type == PT_LAYER_POSITION && (st = pt_jget_int(c, v, path, "context", 1, 1 << 20, &context))) return st;
    if (l->type == PT_LAYER_CONV2D || l->type == PT_LAYER_MAXPOOL || l->type == PT_LAYER_AVGPOOL) {
        if ((st = require(c, v, path, "kernel", "the kernel size, an integer >= 1"))) return st;
        if ((st = pt_jget_int(c, v, path, "kernel", 1, 64, &kernel))) return st;
        stride = l->type == PT_LAYER_CONV2D ? 1 : kernel;
        if ((st = pt_jget_int(c, v, path, "stride", 1, 64, &stride))) return st;
        if ((st = pt_jget_int(c, v, path, "padding", 0, 64, &padding))) return st;
    }
    if (l->type == PT_LAYER_DROPOUT) {
        if ((st = require(c, v, path, "p", "the drop probability, 0 <= p < 1"))) return st;
        if ((st = pt_jget_float(c, v, path, "p", 0.0, 0.999, false, &p))) return st;
    }
    if ((l->type == PT_LAYER_LAYERNORM || l->type == PT_LAYER_RMSNORM) &&
        (st = pt_jget_float(c, v, path, "eps", 0.0, 1.0, true, &eps)))
        return st;
    l->out = (int)out;
    l->kernel = (int)kernel;
    l->stride = (int)stride;
    l->padding = (int)padding;
    l->p = (float)p;
    l->eps = (float)eps;
    l->vocab = (int)vocab;
    l->context = (int)context;
    return parse_inputs(c, v, path, l);
}

/* The layers as they are expanded from the file's entries. */
typedef struct layer_list {
    pt_layer_spec *a;
    int n, cap;
} layer_list;

static pt_layer_spec *push(layer_list *L, int json_index)
{
    if (L->n == L->cap) {
        int cap = L->cap ? 2 * L->cap : 16;
        pt_layer_spec *na = realloc(L->a, sizeof *na * (size_t)cap);
        if (!na) return NULL;
        L->a = na, L->cap = cap;
    }
    pt_layer_spec *l = &L->a[L->n++];
    memset(l, 0, sizeof *l);
    l->json_index = json_index;
    l->tie_index = -1;
    return l;
}

/* One layer of a sugar entry, named prefix + suffix. */
static pt_status sugar(const pt_jctx *c, layer_list *L, int i, const char *prefix, const char *suffix,
                       pt_layer_type t, pt_layer_spec **out)
{
    char path[64];
    snprintf(path, sizeof path, "layers[%d].name", i);
    pt_layer_spec *l = push(L, i);
    if (!l) return pt_fail(PT_ERR_NOMEM, "%s: out of memory", c->file);
    if ((size_t)snprintf(l->name, sizeof l->name, "%s%s", prefix, suffix) >= sizeof l->name)
        return pt_jfail(c, path, "'%s' makes the layer name '%s%s', longer than %d characters", prefix, prefix,
                        suffix, PT_NAME_MAX - 1);
    l->type = t;
    l->bias = t == PT_LAYER_LINEAR;
    *out = l;
    return PT_OK;
}

typedef struct attn_opts {
    int heads;
    bool bias;
    double dropout; /* on the attention probabilities */
} attn_opts;

/* An attention entry's layers: P.qkv (linear, 3 x width), P.qk, P.softmax,
 * P.drop (dropout, where dropout > 0), P.pv, P.proj (linear, width).
 * `input` names the layer it reads ("" the previous one). */
static pt_status expand_attention(const pt_jctx *c, layer_list *L, int i, const char *P, const char *input,
                                  const attn_opts *o)
{
    pt_layer_spec *l;
    pt_status st;
    char qkv[PT_NAME_MAX + 8], prev[PT_NAME_MAX + 8];
    if ((st = sugar(c, L, i, P, ".qkv", PT_LAYER_LINEAR, &l))) return st;
    l->out_num = 3, l->out_den = 1, l->bias = o->bias;
    if (input[0]) strcpy(l->inputs[0], input), l->ninputs = 1;
    strcpy(qkv, l->name);
    if ((st = sugar(c, L, i, P, ".qk", PT_LAYER_ATTN_QK, &l))) return st;
    l->heads = o->heads;
    if ((st = sugar(c, L, i, P, ".softmax", PT_LAYER_ATTN_SOFTMAX, &l))) return st;
    l->heads = o->heads;
    if (o->dropout > 0) {
        if ((st = sugar(c, L, i, P, ".drop", PT_LAYER_DROPOUT, &l))) return st;
        l->p = (float)o->dropout;
    }
    strcpy(prev, l->name);
    if ((st = sugar(c, L, i, P, ".pv", PT_LAYER_ATTN_PV, &l))) return st;
    l->heads = o->heads, l->ninputs = 2;
    strcpy(l->inputs[0], prev);
    strcpy(l->inputs[1], qkv);
    if ((st = sugar(c, L, i, P, ".proj", PT_LAYER_LINEAR, &l))) return st;
    l->out_num = l->out_den = 1, l->bias = o->bias;
    return PT_OK;
}

static pt_status parse_attention(const pt_jctx *c, const cJSON *v, int i, layer_list *L)
{
    static const char *const keys[] = {"name", "type", "inputs", "heads", "bias", "dropout", NULL};
    char path[64], name[PT_NAME_MAX] = "";
    snprintf(path, sizeof path, "layers[%d]", i);
    pt_status st;
    int64_t heads = 0;
    double drop = 0;
    attn_opts o = {.bias = true};
    pt_layer_spec tmp = {.type = PT_LAYER_LINEAR};
    if ((st = pt_jcheck_keys(c, v, path, keys)) || (st = pt_jget_string(c, v, path, "name", name, sizeof name)) ||
        (st = require(c, v, path, "heads", "the number of heads, an integer >= 1")) ||
        (st = pt_jget_int(c, v, path, "heads", 1, 4096, &heads)) || (st = pt_jget_bool(c, v, path, "bias", &o.bias)) ||
        (st = pt_jget_float(c, v, path, "dropout", 0.0, 0.999, false, &drop)) ||
        (st = parse_inputs(c, v, path, &tmp)))
        return st;
    o.heads = (int)heads, o.dropout = drop;
    return expand_attention(c, L, i, name, tmp.ninputs ? tmp.inputs[0] : "", &o);
}

/* A pre-norm GPT block, `repeat` times, block k named NAME<k>:
 *   .ln1 (layernorm or rmsnorm), .attn.{qkv,qk,softmax,[drop],pv,proj},
 *   [.attn.out_drop], .res1 (add: the block's input + attention),
 *   .ln2, .mlp.fc (mlp x width), .mlp.gelu, .mlp.fc2 (width), [.mlp.drop],
 *   .res2 (add: res1 + mlp). */
static pt_status parse_gpt_block(const pt_jctx *c, const cJSON *v, int i, layer_list *L)
{
    static const char *const keys[] = {"name", "type", "inputs", "heads", "repeat", "norm", "eps", "mlp",
                                       "bias", "dropout", "attn_dropout", NULL};
    static const char *const norms[] = {"layernorm", "rmsnorm", NULL};
    char path[64], name[PT_NAME_MAX] = "";
    snprintf(path, sizeof path, "layers[%d]", i);
    pt_status st;
    int64_t heads = 0, repeat = 1, mlp = 4;
    double eps = 1e-5, drop = 0, adrop = 0;
    int norm = 0;
    attn_opts o = {.bias = true};
    pt_layer_spec tmp = {.type = PT_LAYER_LINEAR};
    if ((st = pt_jcheck_keys(c, v, path, keys)) || (st = pt_jget_string(c, v, path, "name", name, sizeof name)) ||
        (st = require(c, v, path, "heads", "the number of heads, an integer >= 1")) ||
        (st = pt_jget_int(c, v, path, "heads", 1, 4096, &heads)) ||
        (st = pt_jget_int(c, v, path, "repeat", 1, 1024, &repeat)) ||
        (st = pt_jget_enum(c, v, path, "norm", norms, &norm)) ||
        (st = pt_jget_float(c, v, path, "eps", 0.0, 1.0, true, &eps)) ||
        (st = pt_jget_int(c, v, path, "mlp", 1, 64, &mlp)) || (st = pt_jget_bool(c, v, path, "bias", &o.bias)) ||
        (st = pt_jget_float(c, v, path, "dropout", 0.0, 0.999, false, &drop)) ||
        (st = pt_jget_float(c, v, path, "attn_dropout", 0.0, 0.999, false, &adrop)) ||
        (st = parse_inputs(c, v, path, &tmp)))
        return st;
    o.heads = (int)heads, o.dropout = adrop;
    char x[PT_NAME_MAX];
    if (tmp.ninputs) snprintf(x, sizeof x, "%s", tmp.inputs[0]);
    else if (L->n) snprintf(x, sizeof x, "%s", L->a[L->n - 1].name);
    else return pt_jfail(c, path, "a gpt_block adds its input back (a residual): it needs a layer before it");
    pt_layer_type nt = norm ? PT_LAYER_RMSNORM : PT_LAYER_LAYERNORM;
    for (int k = 0; k < repeat; k++) {
        char P[PT_NAME_MAX + 16], A[PT_NAME_MAX + 24], res1[PT_NAME_MAX + 16];
        snprintf(P, sizeof P, "%s%d", name, k);
        snprintf(A, sizeof A, "%s.attn", P);
        pt_layer_spec *l;
        if ((st = sugar(c, L, i, P, ".ln1", nt, &l))) return st;
        l->eps = (float)eps;
        strcpy(l->inputs[0], x), l->ninputs = 1;
        if ((st = expand_attention(c, L, i, A, "", &o))) return st;
        if (drop > 0) {
            if ((st = sugar(c, L, i, P, ".attn.out_drop", PT_LAYER_DROPOUT, &l))) return st;
            l->p = (float)drop;
        }
        char attn_out[PT_NAME_MAX], mlp_out[PT_NAME_MAX]; /* copies: a push may move the list */
        strcpy(attn_out, L->a[L->n - 1].name);
        if ((st = sugar(c, L, i, P, ".res1", PT_LAYER_ADD, &l))) return st;
        l->ninputs = 2;
        strcpy(l->inputs[0], x);
        strcpy(l->inputs[1], attn_out);
        strcpy(res1, l->name);
        if ((st = sugar(c, L, i, P, ".ln2", nt, &l))) return st;
        l->eps = (float)eps;
        if ((st = sugar(c, L, i, P, ".mlp.fc", PT_LAYER_LINEAR, &l))) return st;
        l->out_num = (int)mlp, l->out_den = 1, l->bias = o.bias;
        if ((st = sugar(c, L, i, P, ".mlp.gelu", PT_LAYER_GELU, &l))) return st;
        if ((st = sugar(c, L, i, P, ".mlp.fc2", PT_LAYER_LINEAR, &l))) return st;
        l->out_num = 1, l->out_den = (int)mlp, l->bias = o.bias;
        if (drop > 0) {
            if ((st = sugar(c, L, i, P, ".mlp.drop", PT_LAYER_DROPOUT, &l))) return st;
            l->p = (float)drop;
        }
        strcpy(mlp_out, L->a[L->n - 1].name);
        if ((st = sugar(c, L, i, P, ".res2", PT_LAYER_ADD, &l))) return st;
        l->ninputs = 2;
        strcpy(l->inputs[0], res1);
        strcpy(l->inputs[1], mlp_out);
        snprintf(x, sizeof x, "%s", l->name);
    }
    return PT_OK;
}

/* Output shape of layer i from its inputs' shapes; errors name the file's
 * layers[json_index]. */
static pt_status infer_shape(const pt_jctx *c, pt_model_spec *s, int i)
{
    pt_layer_spec *l = &s->layers[i];
    char path[64], fpath[96];
    snprintf(path, sizeof path, "layers[%d]", l->json_index);
    int nin = pt_layer_ninputs(l->type);
    int ish[2][3], idim[2];
    for (int k = 0; k < nin; k++) {
        int j = k < l->ninputs ? pt_model_spec_find(s, l->inputs[k]) : i - 1;
        if (k < l->ninputs && j < 0)
            return pt_jfail(c, path, "input '%s' is not the name of a layer", l->inputs[k]);
        if (j >= i)
            return pt_jfail(c, path, "input '%s' comes after this layer (layers run in order)",
                            l->inputs[k]);
        l->in_index[k] = j;
        if (j < 0) {
            memcpy(ish[k], s->input, sizeof ish[k]);
            idim[k] = s->ninput;
        } else {
            memcpy(ish[k], s->layers[j].shape, sizeof ish[k]);
            idim[k] = s->layers[j].ndim;
        }
    }
    char shape_s[64];
    if (idim[0] == 1) snprintf(shape_s, sizeof shape_s, "[%d]", ish[0][0]);
    else if (idim[0] == 2) snprintf(shape_s, sizeof shape_s, "[%d, %d]", ish[0][0], ish[0][1]);
    else snprintf(shape_s, sizeof shape_s, "[%d, %d, %d]", ish[0][0], ish[0][1], ish[0][2]);
    memcpy(l->shape, ish[0], sizeof l->shape);
    l->ndim = idim[0];
    int width = idim[0] == 2 ? ish[0][1] : ish[0][0]; /* the last dimension, for flat and sequence inputs */
    if (l->type == PT_LAYER_EMBEDDING && i != 0)
        return pt_jfail(c, path, "an embedding reads the model's token ids: it must be layers[0]");
    if (l->type != PT_LAYER_EMBEDDING && s->layers[0].type == PT_LAYER_EMBEDDING && l->in_index[0] < 0)
        return pt_jfail(c, path, "the model's input is token ids, which only the embedding (layers[0]) reads");
    switch (l->type) {
    case PT_LAYER_LINEAR:
        if (idim[0] == 3)
            return pt_jfail(c, path, "linear needs a flat input, got %s: add a flatten layer before it",
                            shape_s);
        if (l->out_num) {
            int64_t o = (int64_t)width * l->out_num;
            if (o % l->out_den) return pt_jfail(c, path, "the width %d does not divide by %d", width, l->out_den);
            if (o / l->out_den > (1 << 20))
                return pt_jfail(c, path, "'%s' would have %lld outputs, more than %d", l->name,
                                (long long)(o / l->out_den), 1 << 20);
            l->out = (int)(o / l->out_den);
        }
        if (l->tie[0]) {
            int e = pt_model_spec_find(s, l->tie);
            snprintf(fpath, sizeof fpath, "%s.tie", path);
            if (e < 0 || e >= i || s->layers[e].type != PT_LAYER_EMBEDDING)
                return pt_jfail(c, fpath, "'%s' is not the name of an embedding layer before this one", l->tie);
            if (width != s->layers[e].out)
                return pt_jfail(c, fpath, "the head's input width %d is not the width %d of embedding '%s' (a tied "
                                "head's weight is the embedding's table)", width, s->layers[e].out, l->tie);
            if (l->out != s->layers[e].vocab) {
                snprintf(fpath, sizeof fpath, "%s.out", path);
                return pt_jfail(c, fpath, "a head tied to embedding '%s' has one output per token of its vocabulary: "
                                "%d, not %d", l->tie, s->layers[e].vocab, l->out);
            }
            for (int k = e + 1; k < i; k++)
                if (s->layers[k].tie_index == e)
                    return pt_jfail(c, fpath, "embedding '%s' is tied to '%s' already (one head a table)", l->tie,
                                    s->layers[k].name);
            l->tie_index = e;
        }
        if (idim[0] == 2) l->shape[1] = l->out;
        else l->shape[0] = l->out;
        break;
    case PT_LAYER_EMBEDDING:
        if (s->ninput != 1)
            return pt_jfail(c, "input", "a model whose first layer is an embedding takes [T] token ids, got %s",
                            shape_s);
        l->shape[0] = ish[0][0], l->shape[1] = l->out, l->shape[2] = 0;
        l->ndim = 2;
        break;
    case PT_LAYER_POSITION:
        if (idim[0] != 2)
            return pt_jfail(c, path, "position_embedding adds to a sequence [T, width], got %s", shape_s);
        if (!l->context) l->context = ish[0][0];
        if (ish[0][0] > l->context) {
            snprintf(fpath, sizeof fpath, "%s.context", path);
            return pt_jfail(c, fpath, "the sequence has %d positions, past the table's %d", ish[0][0], l->context);
        }
        break;
    case PT_LAYER_ATTN_QK:
        if (idim[0] != 2 || width % 3)
            return pt_jfail(c, path, "%s reads a sequence of q, k and v [T, 3 x width], got %s",
                            pt_layer_type_name(l->type), shape_s);
        if (width / 3 % l->heads) {
            snprintf(fpath, sizeof fpath, "%s.heads", path);
            return pt_jfail(c, fpath, "%d heads do not divide the width %d", l->heads, width / 3);
        }
        if ((int64_t)l->heads * ish[0][0] * ish[0][0] > INT_MAX)
            return pt_jfail(c, path, "%d heads of %d x %d scores are more than %d values a sample", l->heads,
                            ish[0][0], ish[0][0], INT_MAX);
        l->shape[0] = l->heads * ish[0][0], l->shape[1] = ish[0][0];
        break;
    case PT_LAYER_ATTN_SOFTMAX:
        if (idim[0] != 2 || ish[0][0] != (int64_t)l->heads * ish[0][1])
            return pt_jfail(c, path, "attention_softmax reads the scores [heads x T, T], got %s", shape_s);
        break;
    case PT_LAYER_ATTN_PV:
        if (idim[0] != 2 || idim[1] != 2 || ish[1][1] % 3 || ish[0][1] != ish[1][0] ||
            ish[0][0] != (int64_t)l->heads * ish[1][0] || ish[1][1] / 3 % l->heads)
            return pt_jfail(c, path, "attention_pv reads the probabilities [heads x T, T] and q, k, v [T, 3 x width]");
        l->shape[0] = ish[1][0], l->shape[1] = ish[1][1] / 3;
        break;
    case PT_LAYER_CONV2D:
    case PT_LAYER_MAXPOOL:
    case PT_LAYER_AVGPOOL: {
        if (idim[0] != 3)
            return pt_jfail(c, path, "%s needs a [channels, height, width] input, got %s",
                            pt_layer_type_name(l->type), shape_s);
        int oh = (ish[0][1] + 2 * l->padding - l->kernel) / l->stride + 1;
        int ow = (ish[0][2] + 2 * l->padding - l->kernel) / l->stride + 1;
        if (ish[0][1] + 2 * l->padding < l->kernel || ish[0][2] + 2 * l->padding < l->kernel || oh < 1 || ow < 1)
            return pt_jfail(c, path, "kernel %d does not fit the input %s (padding %d)", l->kernel,
                            shape_s, l->padding);
        if (l->type != PT_LAYER_CONV2D && l->padding * 2 > l->kernel)
            return pt_jfail(c, path, "padding %d is more than half the kernel %d", l->padding,
                            l->kernel);
        l->shape[0] = l->type == PT_LAYER_CONV2D ? l->out : ish[0][0];
        l->shape[1] = oh;
        l->shape[2] = ow;
        break;
    }
    case PT_LAYER_FLATTEN: {
        int64_t flat = idim[0] == 3 ? (int64_t)ish[0][0] * ish[0][1] * ish[0][2]
                     : idim[0] == 2 ? (int64_t)ish[0][0] * ish[0][1] : ish[0][0];
        if (flat > INT_MAX)
            return pt_jfail(c, path, "flattening %s gives %lld values a sample, more than %d", shape_s,
                            (long long)flat, INT_MAX);
        l->shape[0] = (int)flat;
        l->shape[1] = l->shape[2] = 0;
        l->ndim = 1;
        break;
    }
    case PT_LAYER_LAYERNORM:
    case PT_LAYER_RMSNORM:
        if (idim[0] == 3)
            return pt_jfail(c, path, "%s normalizes a flat input, got %s: flatten first",
                            pt_layer_type_name(l->type), shape_s);
        break;
    case PT_LAYER_ADD:
        if (idim[0] != idim[1] || memcmp(ish[0], ish[1], sizeof(int) * (size_t)idim[0]) != 0)
            return pt_jfail(c, path, "add needs inputs of the same shape ('%s' and '%s' differ)",
                            l->inputs[0], l->inputs[1]);
        break;
    default: break;
    }
    l->seq = l->ndim == 2 ? l->shape[0] : 1;
    l->size = 1;
    for (int d = 0; d < l->ndim; d++) l->size *= l->shape[d];
    if (l->size > INT_MAX)
        return pt_jfail(c, path, "its output has %lld values a sample, more than %d", (long long)l->size, INT_MAX);
    return PT_OK;
}

static pt_status parse_optim(const pt_jctx *c, const cJSON *v, pt_optim_spec *o)
{
    pt_status st;
    if ((st = pt_jexpect_object(c, v, "optimizer"))) return st;
    if ((st = pt_jcheck_keys(c, v, "optimizer", optim_keys))) return st;
    static const char *const types[] = {"adamw", "sgd", NULL};
    int t = 0;
    if ((st = pt_jget_enum(c, v, "optimizer", "type", types, &t))) return st;
    o->type = (pt_optim_type)t;
    double lr = o->lr, b1 = o->beta1, b2 = o->beta2, eps = o->eps, wd = o->weight_decay,
           mom = o->momentum;
    if ((st = pt_jget_float(c, v, "optimizer", "lr", 0.0, 10.0, true, &lr)) ||
        (st = pt_jget_float(c, v, "optimizer", "beta1", 0.0, 0.999999, false, &b1)) ||
        (st = pt_jget_float(c, v, "optimizer", "beta2", 0.0, 0.999999999, false, &b2)) ||
        (st = pt_jget_float(c, v, "optimizer", "eps", 0.0, 1.0, true, &eps)) ||
        (st = pt_jget_float(c, v, "optimizer", "weight_decay", 0.0, 10.0, false, &wd)) ||
        (st = pt_jget_float(c, v, "optimizer", "momentum", 0.0, 0.999999, false, &mom)))
        return st;
    o->lr = (float)lr, o->beta1 = (float)b1, o->beta2 = (float)b2, o->eps = (float)eps;
    o->weight_decay = (float)wd, o->momentum = (float)mom;
    return PT_OK;
}

static pt_status parse_train(const pt_jctx *c, const cJSON *v, pt_train_spec *t)
{
    pt_status st;
    if ((st = pt_jexpect_object(c, v, "train"))) return st;
    if ((st = pt_jcheck_keys(c, v, "train", train_keys))) return st;
    int64_t batch = t->batch, steps = t->steps, warmup = t->warmup, accum = t->accumulate,
            seed = (int64_t)t->seed, eval = t->eval_every, eval_n = t->eval_samples;
    double minr = t->min_lr_ratio, clip = t->clip_norm;
    int sched = (int)t->schedule;
    static const char *const scheds[] = {"constant", "cosine", NULL};
    if ((st = pt_jget_int(c, v, "train", "batch", 1, 1 << 20, &batch)) ||
        (st = pt_jget_int(c, v, "train", "steps", 1, (int64_t)1 << 40, &steps)) ||
        (st = pt_jget_int(c, v, "train", "warmup", 0, (int64_t)1 << 40, &warmup)) ||
        (st = pt_jget_enum(c, v, "train", "schedule", scheds, &sched)) ||
        (st = pt_jget_float(c, v, "train", "min_lr_ratio", 0.0, 1.0, false, &minr)) ||
        (st = pt_jget_float(c, v, "train", "clip_norm", 0.0, 1e9, false, &clip)) ||
        (st = pt_jget_int(c, v, "train", "accumulate", 1, 1024, &accum)) ||
        (st = pt_jget_int(c, v, "train", "seed", 0, INT64_MAX, &seed)) ||
        (st = pt_jget_int(c, v, "train", "eval_every", 0, (int64_t)1 << 40, &eval)) ||
        (st = pt_jget_int(c, v, "train", "eval_samples", 0, (int64_t)1 << 40, &eval_n)) ||
        (st = pt_jget_bool(c, v, "train", "schedule_counts_skipped", &t->schedule_counts_skipped)))
        return st;
    if (warmup > steps)
        return pt_jfail(c, "train.warmup", "%lld is more than train.steps (%lld)",
                        (long long)warmup, (long long)steps);
    t->batch = (int)batch, t->steps = steps, t->warmup = warmup, t->accumulate = (int)accum;
    t->seed = (uint64_t)seed, t->eval_every = eval, t->eval_samples = eval_n, t->min_lr_ratio = (float)minr;
    t->clip_norm = (float)clip, t->schedule = (pt_schedule)sched;
    return PT_OK;
}

static void defaults(pt_model_spec *s)
{
    memset(s, 0, sizeof *s);
    s->loss = PT_LOSS_SOFTMAX_CE;
    s->optim = (pt_optim_spec){PT_OPTIM_ADAMW, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 0.9f};
    s->train = (pt_train_spec){.batch = 128, .steps = 1000, .warmup = 0,
                               .schedule = PT_SCHED_COSINE, .min_lr_ratio = 0.0f,
                               .clip_norm = 0.0f, .accumulate = 1, .seed = 1, .eval_every = 0};
}

static pt_status parse(const pt_jctx *c, const cJSON *root, pt_model_spec *s)
{
    pt_status st;
    if ((st = pt_jexpect_object(c, root, ""))) return st;
    if ((st = pt_jcheck_keys(c, root, "", top_keys))) return st;
    if ((st = require(c, root, "", "name", "the model's name")) ||
        (st = pt_jget_string(c, root, "", "name", s->name, sizeof s->name)))
        return st;
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "input");
    if (!in) return pt_jfail(c, "input", "missing (expected [features] or [channels, height, width])");
    int nin = cJSON_IsArray(in) ? cJSON_GetArraySize(in) : 0;
    if (nin != 1 && nin != 3)
        return pt_jfail(c, "input", "expected [features] or [channels, height, width]");
    for (int k = 0; k < nin; k++) {
        const cJSON *e = cJSON_GetArrayItem(in, k);
        double d = cJSON_GetNumberValue(e);
        if (!cJSON_IsNumber(e) || d < 1 || d > (1 << 24) || d != (int)d)
            return pt_jfail(c, "input", "element %d: expected a positive integer", k);
        s->input[k] = (int)d;
    }
    s->ninput = nin;
    int64_t in_values = 1; /* each factor is at most 2^24: checked as it grows, the product fits */
    for (int k = 0; k < nin && in_values <= INT_MAX; k++) in_values *= s->input[k];
    if (in_values > INT_MAX)
        return pt_jfail(c, "input", "%lld values a sample, more than %d", (long long)in_values, INT_MAX);
    static const char *const losses[] = {"softmax_cross_entropy", "mse", NULL};
    int loss = 0;
    if ((st = pt_jget_enum(c, root, "", "loss", losses, &loss))) return st;
    s->loss = (pt_loss_type)loss;
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "optimizer")) && (st = parse_optim(c, v, &s->optim)))
        return st;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "train")) && (st = parse_train(c, v, &s->train)))
        return st;
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) == 0)
        return pt_jfail(c, "layers", "expected a non-empty array of layers");
    layer_list L = {0};
    int nj = cJSON_GetArraySize(layers);
    st = PT_OK;
    for (int i = 0; i < nj && !st; i++) {
        const cJSON *e = cJSON_GetArrayItem(layers, i);
        char path[64];
        snprintf(path, sizeof path, "layers[%d]", i);
        int type = 0;
        if ((st = pt_jexpect_object(c, e, path)) || (st = require(c, e, path, "name", "a unique layer name")) ||
            (st = require(c, e, path, "type", "the layer type")) ||
            (st = pt_jget_enum(c, e, path, "type", user_types, &type)))
            break;
        if (type == SUGAR_ATTENTION) st = parse_attention(c, e, i, &L);
        else if (type == SUGAR_GPT_BLOCK) st = parse_gpt_block(c, e, i, &L);
        else {
            pt_layer_spec *l = push(&L, i);
            st = l ? parse_layer(c, e, i, type, l) : pt_fail(PT_ERR_NOMEM, "%s: out of memory", c->file);
        }
    }
    s->layers = L.a;
    s->nlayers = L.n;
    if (st) return st;
    for (int i = 0; i < s->nlayers; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(s->layers[j].name, s->layers[i].name) == 0) {
                char p[64];
                snprintf(p, sizeof p, "layers[%d].name", s->layers[i].json_index);
                return pt_jfail(c, p, "'%s' is already the name of %slayers[%d]", s->layers[i].name,
                                s->layers[j].json_index == s->layers[i].json_index ? "a layer of " : "",
                                s->layers[j].json_index);
            }
    for (int i = 0; i < s->nlayers; i++)
        if ((st = infer_shape(c, s, i))) return st;
    pt_layer_spec *last = &s->layers[s->nlayers - 1];
    char lp[64];
    snprintf(lp, sizeof lp, "layers[%d]", last->json_index);
    if (last->ndim == 3 || (last->ndim == 2 && s->loss != PT_LOSS_SOFTMAX_CE))
        return pt_jfail(c, lp, "the last layer must give one vector per sample (flatten it)%s",
                        last->ndim == 2 ? ", or with softmax_cross_entropy one per position" : "");
    int classes = last->ndim == 2 ? last->shape[1] : last->shape[0];
    if (s->loss == PT_LOSS_SOFTMAX_CE && classes < 2)
        return pt_jfail(c, lp, "softmax_cross_entropy needs at least 2 outputs (classes), got %d", classes);
    if (s->layers[0].type == PT_LAYER_EMBEDDING) {
        s->context = s->input[0];
        s->vocab = s->layers[0].vocab;
    }
    return PT_OK;
}

pt_status pt_model_spec_parse(const char *json, const char *where, pt_model_spec *out)
{
    pt_jctx c = {where};
    defaults(out);
    snprintf(out->source, sizeof out->source, "%s", where);
    cJSON *root;
    pt_status st = pt_jparse(&c, json, &root);
    if (st) return st;
    st = parse(&c, root, out);
    cJSON_Delete(root);
    if (st) pt_model_spec_free(out);
    return st;
}

pt_status pt_model_spec_load(const char *path, pt_model_spec *out)
{
    char *text;
    pt_status st = pt_read_file(path, &text, NULL);
    if (st) return st;
    st = pt_model_spec_parse(text, path, out);
    free(text);
    return st;
}
