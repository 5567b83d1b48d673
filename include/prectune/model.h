/* Model specs: the JSON a user writes (DESIGN.md, "Model spec and data"),
 * parsed into plain structs with errors that name the file, the JSON path
 * (for example layers[3].out) and what was expected. */
#ifndef PRECTUNE_MODEL_H
#define PRECTUNE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prectune/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PT_NAME_MAX 64

typedef enum pt_layer_type {
    PT_LAYER_LINEAR = 0,
    PT_LAYER_CONV2D,
    PT_LAYER_MAXPOOL,
    PT_LAYER_AVGPOOL,
    PT_LAYER_FLATTEN,
    PT_LAYER_RELU,
    PT_LAYER_GELU,
    PT_LAYER_LAYERNORM,
    PT_LAYER_DROPOUT,
    PT_LAYER_ADD,
    PT_LAYER_EMBEDDING,     /* token ids -> rows of a table */
    PT_LAYER_POSITION,      /* + a learned table of positions */
    PT_LAYER_RMSNORM,
    /* the pieces an "attention" (or "gpt_block") entry expands into,
     * besides its two linear layers: written by the parser, not by a user */
    PT_LAYER_ATTN_QK,       /* the scores Q K^T / sqrt(head_dim), per head: a GEMM layer */
    PT_LAYER_ATTN_SOFTMAX,  /* the causal softmax of the scores (fp32) */
    PT_LAYER_ATTN_PV,       /* the probabilities times V, per head: a GEMM layer */
    PT_LAYER_TYPE_COUNT
} pt_layer_type;

const char *pt_layer_type_name(pt_layer_type t);
/* Layers with a GEMM (linear, conv2d): the ones a policy gives formats. */
bool pt_layer_has_gemm(pt_layer_type t);
/* Layers with a GEMM and a weight of their own (linear, conv2d); the
 * attention GEMMs multiply two activations. */
bool pt_layer_has_weights(pt_layer_type t);
/* Layers without a GEMM that compute in a format a policy may name (their
 * fwd: fp32, bf16 or fp16): layernorm, rmsnorm, attention_softmax. */
bool pt_layer_has_compute_format(pt_layer_type t);
/* Inputs a layer reads (add and attention_pv: 2; the others: 1). */
int pt_layer_ninputs(pt_layer_type t);
/* The elementwise activations (relu, gelu), which the step plan fuses
 * with the linear layers beside them (instrument/plan.h). */
bool pt_layer_is_act(pt_layer_type t);

typedef enum pt_loss_type { PT_LOSS_SOFTMAX_CE = 0, PT_LOSS_MSE } pt_loss_type;
typedef enum pt_optim_type { PT_OPTIM_ADAMW = 0, PT_OPTIM_SGD } pt_optim_type;
typedef enum pt_schedule { PT_SCHED_CONSTANT = 0, PT_SCHED_COSINE } pt_schedule;

typedef struct pt_layer_spec {
    char name[PT_NAME_MAX];
    pt_layer_type type;
    int out;                /* linear: output features; conv2d: output channels */
    bool bias;              /* linear, conv2d (default true) */
    int kernel, stride, padding; /* conv2d, pools */
    float p;                /* dropout probability */
    float eps;              /* layernorm */
    int ninputs;            /* add: 2 named inputs; others: 0 (the previous layer) or 1 */
    char inputs[2][PT_NAME_MAX];
    int vocab;              /* embedding: rows of the table (token ids 0..vocab-1) */
    int context;            /* position_embedding: rows of the table (the longest sequence) */
    int heads;              /* attention pieces */
    char tie[PT_NAME_MAX];  /* linear: the embedding whose table is its weight ("" none) */
    /* linear layers a sugar entry writes: out = input width * out_num /
     * out_den (0: out as given) */
    int out_num, out_den;
    /* filled by the parser: */
    int in_index[2];        /* layer indices of the inputs, -1 = the model input */
    int tie_index;          /* linear with tie: the embedding's index; else -1 */
    int shape[3], ndim;     /* output shape of one sample: [features], [channels, height, width], or
                               [rows, features] (a sequence: positions, or heads x positions) */
    int seq;                /* rows of one sample's output: shape[0] where ndim is 2, else 1 */
    int64_t size;           /* elements of one sample's output */
    int json_index;         /* the element of the file's "layers" it came from (errors name it) */
} pt_layer_spec;

typedef struct pt_optim_spec {
    pt_optim_type type;
    float lr, beta1, beta2, eps, weight_decay, momentum;
} pt_optim_spec;

typedef struct pt_train_spec {
    int batch;
    int64_t steps;
    int64_t warmup;
    pt_schedule schedule;
    float min_lr_ratio;     /* cosine decays to lr * min_lr_ratio */
    float clip_norm;        /* 0: no clipping */
    int accumulate;         /* micro-batches per optimizer step */
    uint64_t seed;
    int64_t eval_every;     /* 0: only at the end */
    bool schedule_counts_skipped; /* advance the schedule on skipped steps too */
    int64_t eval_samples;   /* held-out samples an evaluation reads, the first ones; 0: all */
} pt_train_spec;

typedef struct pt_model_spec {
    char name[PT_NAME_MAX];
    char source[256];       /* the file it came from (errors name it) */
    int input[3];
    int ninput;             /* 1: [features] (or [T] token ids); 3: [channels, height, width] */
    int context, vocab;     /* a model whose first layer is an embedding: T and the vocabulary; else 0 */
    pt_layer_spec *layers;
    int nlayers;
    pt_loss_type loss;
    pt_optim_spec optim;
    pt_train_spec train;
} pt_model_spec;

/* Parses a spec from a file (path is named in every error). */
pt_status pt_model_spec_load(const char *path, pt_model_spec *out);
/* Parses JSON text; `where` names it in errors. */
pt_status pt_model_spec_parse(const char *json, const char *where, pt_model_spec *out);
void pt_model_spec_free(pt_model_spec *s);

/* "xxh64:<16 hex digits>": a hash of the layer names, types and parameter
 * shapes, so that a policy or a checkpoint can tell it was made for this
 * model (training settings may change without changing it). */
void pt_model_fingerprint(const pt_model_spec *s, char out[24]);

/* Number of trainable parameters. */
int64_t pt_model_parameters(const pt_model_spec *s);

/* Index of the layer with this name, -1 if none. */
int pt_model_spec_find(const pt_model_spec *s, const char *name);

/* How many layers read layer i's output (the loss counts as one for the
 * last layer). */
int pt_model_readers(const pt_model_spec *s, int i);

/* The largest model spec, policy or device table read (16 MiB). */
#define PT_TEXT_FILE_MAX ((size_t)16 << 20)

/* Reads a whole file into a NUL-terminated buffer (caller frees); one of
 * more than PT_TEXT_FILE_MAX bytes (/dev/zero) is refused. */
pt_status pt_read_file(const char *path, char **out, size_t *len);
/* The same with the limit `max`, the error saying it is the limit for
 * `limit_what`. */
pt_status pt_read_file_max(const char *path, size_t max, const char *limit_what, char **out, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
