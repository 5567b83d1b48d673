/* Datasets named on the command line: `fashion-mnist` (Debian's
 * dataset-fashion-mnist files), `idx:TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,
 * TEST_LABELS]` (gzipped or not), `csv:FILE` (libcsv; a label column by name
 * or index, header detected, features standardized on the training split,
 * a validation split held out with a seed); for language models
 * `text:FILE` (its bytes are the tokens), `tokens:FILE[,VAL_FILE]` (uint16
 * token ids in llm.c's .bin layout) and `fortunes` (Debian's fortunes
 * package, as text). Malformed files give errors with the file and line
 * or byte offset. Nothing is ever downloaded. */
#ifndef PRECTUNE_DATA_H
#define PRECTUNE_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "prectune/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PT_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
#define PT_FORTUNES_DIR "/usr/share/games/fortunes"

typedef struct pt_dataset {
    int64_t n;          /* samples */
    int64_t dim;        /* features per sample */
    float *x;           /* n * dim */
    int32_t *label;     /* classification: class of each sample */
    float *target;      /* regression: one value per sample */
    /* labels per sample: 0 or 1 (one), or for token sequences the context
     * length T: sample i's x holds T token ids (exact as floats) and
     * label[i*T + t] is the token that follows position t */
    int64_t label_len;
} pt_dataset;

typedef struct pt_data_options {
    bool classification;   /* labels are classes (softmax_cross_entropy) or values (mse) */
    const char *label;     /* csv: label column, a name or a 0-based index (default: last) */
    int header;            /* csv: -1 detect, 0 no header row, 1 header row */
    bool standardize;      /* csv: features to zero mean, unit variance (train split stats) */
    double val_fraction;   /* csv: held-out fraction (default 0.2) */
    uint64_t seed;         /* csv: which rows are held out */
    /* token data (text:, tokens:, fortunes): the model's context length
     * and vocabulary, from its spec (0: the model reads no tokens) */
    int context;
    int vocab;
    /* token data: the digest of the files' bytes a run recorded
     * (pt_data_read.digest); a reader whose files hash otherwise refuses
     * them, so a replay never reads other samples. 0: any */
    uint64_t digest;
} pt_data_options;

pt_data_options pt_data_options_default(void);

/* How a dataset was read: its --data spec and the options, as a run
 * records them so that a replay reads the same samples (label "" is the
 * default, the last column; the options are kept for every kind of data,
 * also where only csv uses them). */
typedef struct pt_data_read {
    char spec[1024];
    char label[256];
    int header;
    bool standardize;
    double val_fraction;
    uint64_t seed;
    int context, vocab;    /* token data: as given (0 for other data) */
    uint64_t digest;       /* token data: XXH64 of the files' bytes in order (0 for other data) */
} pt_data_read;

typedef struct pt_data {
    pt_dataset train, test;
    pt_data_read read;     /* how it was read (pt_data_open) */
    int nclasses;          /* classification */
    int shape[3], ndim;    /* shape of one sample (images: [1, 28, 28]) */
    char desc[512];
    bool tokens;           /* samples are token sequences (nclasses is the vocabulary) */
    double bytes_per_token;/* text: bytes a token stands for (bits per byte); 0: unknown */
} pt_data;

pt_status pt_data_open(const char *spec, const pt_data_options *o, pt_data *out);
void pt_data_free(pt_data *d);

/* The order of samples in an epoch: a permutation of [0, n) from (seed, epoch). */
void pt_data_permutation(int64_t n, uint64_t seed, int64_t epoch, int64_t *perm);

#ifdef __cplusplus
}
#endif
#endif
