/* Datasets (see data.h): IDX through zlib (plain files read through gzread
 * as well), the random and synthetic data, and pt_data_open's dispatch;
 * the CSV reader is in data_csv.c, the token readers in data_tokens.c. */
#include "prectune/data.h"

#include <cblas.h>
#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../common/rng.h"
#include "data_csv.h"
#include "data_tokens.h"

pt_data_options pt_data_options_default(void)
{
    return (pt_data_options){.classification = true, .label = NULL, .header = -1,
                             .standardize = true, .val_fraction = 0.2, .seed = 1};
}

void pt_data_free(pt_data *d)
{
    pt_dataset *s[2] = {&d->train, &d->test};
    for (int i = 0; i < 2; i++) {
        free(s[i]->x);
        free(s[i]->label);
        free(s[i]->target);
    }
    memset(d, 0, sizeof *d);
}

void pt_data_permutation(int64_t n, uint64_t seed, int64_t epoch, int64_t *perm)
{
    uint64_t s = seed * 0x2545f4914f6cdd1dull + (uint64_t)epoch * 0x9e3779b97f4a7c15ull + 1;
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)(pt_splitmix(&s) % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* ---- IDX ----------------------------------------------------------------- */

/* The largest IDX data read: 16 GiB of bytes (64 GiB as float32). */
#define PT_IDX_MAX_BYTES ((uint64_t)1 << 34)

/* The header's element count (checked for overflow and against the
 * limit), then the data read in growing pieces, so that a header claiming
 * more than the file holds fails at the file's end, after allocating about
 * what it held: never what the header claims. A plain file's size is
 * compared with the header before anything is read. */
/* zlib's error on f after a short read, without the path it puts first
 * (NULL: none, the file simply ended) */
static const char *gz_damage(gzFile f, const char *path)
{
    int zerr = Z_OK;
    const char *msg = gzerror(f, &zerr);
    if (zerr == Z_OK || !msg) return NULL;
    size_t n = strlen(path);
    return strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ' ? msg + n + 2 : msg;
}

static pt_status idx_read(const char *path, int want_dims, uint32_t dims[3], uint8_t **data,
                          size_t *count)
{
    *data = NULL;
    gzFile f = gzopen(path, "rb");
    if (!f) return pt_fail(PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char h[4];
    pt_status st = PT_OK;
    uint8_t *buf = NULL;
    if (gzread(f, h, 4) != 4) {
        const char *z = gz_damage(f, path);
        st = z ? pt_fail(PT_ERR_INVALID, "%s: the gzip stream is damaged: %s", path, z)
               : pt_fail(PT_ERR_INVALID, "%s: too short for an IDX header", path);
        goto out;
    }
    if (h[0] || h[1] || h[2] != 0x08 || h[3] != want_dims) {
        st = pt_fail(PT_ERR_INVALID,
                     "%s: not an IDX file of unsigned bytes with %d dimension%s (magic %02x%02x%02x%02x, "
                     "expected 000008%02x)",
                     path, want_dims, want_dims > 1 ? "s" : "", h[0], h[1], h[2], h[3], want_dims);
        goto out;
    }
    uint64_t n = 1;
    for (int d = 0; d < want_dims; d++) {
        unsigned char b[4];
        if (gzread(f, b, 4) != 4) {
            const char *z = gz_damage(f, path);
            st = z ? pt_fail(PT_ERR_INVALID, "%s: the gzip stream is damaged: %s", path, z)
                   : pt_fail(PT_ERR_INVALID, "%s: truncated IDX header", path);
            goto out;
        }
        dims[d] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        if (dims[d] > INT32_MAX) {
            st = pt_fail(PT_ERR_INVALID, "%s: IDX dimension %d is %u, more than %d", path, d, dims[d], INT32_MAX);
            goto out;
        }
        /* dims < 2^31 and n <= 2^34 before: the product fits 64 bits */
        n *= dims[d];
        if (n > PT_IDX_MAX_BYTES) {
            st = pt_fail(PT_ERR_INVALID, "%s: the IDX header claims more than %llu data bytes (16 GiB), the limit "
                         "for an IDX file", path, (unsigned long long)PT_IDX_MAX_BYTES);
            goto out;
        }
    }
    if (gzdirect(f)) { /* not compressed: the file's size says it all */
        FILE *p = fopen(path, "rb");
        long size = -1;
        if (p && fseek(p, 0, SEEK_END) == 0) size = ftell(p);
        if (p) fclose(p);
        uint64_t header = 4 + 4 * (uint64_t)want_dims;
        if (size >= 0 && (uint64_t)size < header + n) {
            st = pt_fail(PT_ERR_INVALID, "%s: truncated: the IDX header claims %llu data bytes, the file holds %llu",
                         path, (unsigned long long)n, (unsigned long long)((uint64_t)size - header));
            goto out;
        }
    }
    size_t got = 0, cap = 0;
    while (got < n) {
        if (got == cap) {
            size_t ncap = cap ? cap * 2 : (size_t)1 << 20;
            if (ncap > n) ncap = (size_t)n;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                st = pt_fail(PT_ERR_NOMEM, "%s: out of memory for %zu bytes", path, ncap);
                goto out;
            }
            buf = nb, cap = ncap;
        }
        size_t want = cap - got > (1u << 30) ? (1u << 30) : cap - got;
        int r = gzread(f, buf + got, (unsigned)want);
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got != n) {
        const char *z = gz_damage(f, path);
        st = z && strcmp(z, "unexpected end of file")
                 ? pt_fail(PT_ERR_INVALID, "%s: the gzip stream is damaged after %zu of %llu data bytes: %s", path,
                           got, (unsigned long long)n, z)
                 : pt_fail(PT_ERR_INVALID, "%s: truncated: %zu of %llu data bytes", path, got, (unsigned long long)n);
        goto out;
    }
    /* every byte the header promises is here; a gzip stream must also end
     * there, with its trailer (CRC-32 and length) intact, which zlib checks
     * only as the stream's end is read */
    if (!gzdirect(f)) {
        unsigned char extra;
        int r = gzread(f, &extra, 1);
        const char *z = gz_damage(f, path);
        if (r > 0) {
            st = pt_fail(PT_ERR_INVALID, "%s: more data than the IDX header's %llu bytes (a header that does not "
                         "match its data?)", path, (unsigned long long)n);
            goto out;
        }
        if (r < 0 || z) {
            st = pt_fail(PT_ERR_INVALID, "%s: the gzip stream is cut or damaged after its %llu data bytes: %s", path,
                         (unsigned long long)n, z ? z : "a read error");
            goto out;
        }
    }
    if (!buf) buf = malloc(1);
    if (!buf) {
        st = pt_fail(PT_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    *data = buf, buf = NULL;
    *count = (size_t)n;
out:
    free(buf);
    gzclose(f);
    return st;
}

static pt_status idx_pair(const char *images, const char *labels, pt_dataset *ds, int shape[3],
                          int *nclasses)
{
    uint32_t di[3] = {0}, dl[3] = {0};
    uint8_t *img = NULL, *lab = NULL;
    size_t ni = 0, nl = 0;
    pt_status st = idx_read(images, 3, di, &img, &ni);
    if (!st) st = idx_read(labels, 1, dl, &lab, &nl);
    if (!st && dl[0] != di[0])
        st = pt_fail(PT_ERR_INVALID, "%s has %u labels but %s has %u images", labels, dl[0], images,
                     di[0]);
    if (!st) {
        ds->n = di[0];
        ds->dim = (int64_t)di[1] * di[2];
        ds->x = malloc((size_t)ds->n * (size_t)ds->dim * sizeof(float));
        ds->label = malloc((size_t)ds->n * sizeof(int32_t));
        if (!ds->x || !ds->label) st = pt_fail(PT_ERR_NOMEM, "%s: out of memory", images);
    }
    if (!st) {
        for (size_t i = 0; i < ni; i++) ds->x[i] = img[i] / 255.0f;
        for (int64_t i = 0; i < ds->n; i++) {
            ds->label[i] = lab[i];
            if (lab[i] + 1 > *nclasses) *nclasses = lab[i] + 1;
        }
        shape[0] = 1, shape[1] = (int)di[1], shape[2] = (int)di[2];
    }
    free(img);
    free(lab);
    return st;
}

static pt_status open_idx(const char *list, pt_data *d)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", list);
    char *parts[4];
    int n = 0;
    for (char *tok = strtok(buf, ","); tok && n < 4; tok = strtok(NULL, ",")) parts[n++] = tok;
    if (n != 2 && n != 4)
        return pt_fail(PT_ERR_INVALID,
                       "--data idx:%s: expected idx:TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,TEST_LABELS]",
                       list);
    pt_status st = idx_pair(parts[0], parts[1], &d->train, d->shape, &d->nclasses);
    if (!st && n == 4) {
        int shape2[3];
        st = idx_pair(parts[2], parts[3], &d->test, shape2, &d->nclasses);
        if (!st && memcmp(shape2, d->shape, sizeof shape2) != 0)
            st = pt_fail(PT_ERR_INVALID, "%s: images of %dx%d, but the training images are %dx%d",
                         parts[2], shape2[1], shape2[2], d->shape[1], d->shape[2]);
    }
    d->ndim = 3;
    snprintf(d->desc, sizeof d->desc, "idx %s (%lld train, %lld test, %d classes)", parts[0],
             (long long)d->train.n, (long long)d->test.n, d->nclasses);
    return st;
}

/* random:N,DIM,CLASSES: N training samples of DIM N(0,1) features and
 * uniform labels, plus N/8 held-out ones: data with nothing to learn, for
 * timing a model (the PyTorch references of bench/ draw the same
 * distribution).
 * synthetic:N,DIM,CLASSES: the same features, labelled by a fixed random
 * linear teacher (the class whose uniform(-1,1) weight vector has the
 * largest product with x), 10% of them replaced by a uniform label: a task
 * with something to learn and a loss floor, for tuning a model that has
 * no data set of its own (a loss that goes to 0 makes relative criteria
 * meaningless, as memorizing random labels does; give it enough samples
 * that the model cannot memorize them in its steps).
 *
 * Every number is counter-based (pt_splitmix's m-th draw of a stream is
 * pt_mix64(s0 + m * golden)): feature pair p of a split is Box-Muller of
 * draws 2p+1 and 2p+2 of its feature stream, sample i's label draws are
 * 2i+1 and 2i+2 of its label stream. So the features are made by all
 * cores at once and the same data come out on any machine; the teacher's
 * logits are one OpenBLAS sgemm. */
#define PT_GOLDEN 0x9e3779b97f4a7c15ull

static inline double unit_draw(uint64_t s0, uint64_t m)
{
    return ((double)(pt_mix64(s0 + m * PT_GOLDEN) >> 11) + 0.5) / 9007199254740992.0;
}

typedef struct feature_job {
    float *x;
    uint64_t s0, pair0, pair1, total;
} feature_job;

static void *feature_worker(void *arg)
{
    const feature_job *j = arg;
    for (uint64_t p = j->pair0; p < j->pair1; p++) {
        double r = sqrt(-2 * log(unit_draw(j->s0, 2 * p + 1))), a = 6.283185307179586 * unit_draw(j->s0, 2 * p + 2);
        j->x[2 * p] = (float)(r * cos(a));
        if (2 * p + 1 < j->total) j->x[2 * p + 1] = (float)(r * sin(a));
    }
    return NULL;
}

static void make_features(float *x, uint64_t total, uint64_t s0)
{
    enum { MAX_THREADS = 64 };
    uint64_t pairs = (total + 1) / 2;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = pairs < (1u << 16) || cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : (int)cores;
    pthread_t th[MAX_THREADS];
    bool started[MAX_THREADS] = {false};
    feature_job jobs[MAX_THREADS];
    for (int t = 0; t < nt; t++) {
        jobs[t] = (feature_job){x, s0, pairs * (uint64_t)t / (uint64_t)nt, pairs * (uint64_t)(t + 1) / (uint64_t)nt,
                                total};
        if (t > 0) started[t] = pthread_create(&th[t], NULL, feature_worker, &jobs[t]) == 0;
    }
    for (int t = 0; t < nt; t++) /* this thread: its own share, and any whose thread did not start */
        if (!started[t]) feature_worker(&jobs[t]);
    for (int t = 1; t < nt; t++)
        if (started[t]) pthread_join(th[t], NULL);
}

static pt_status random_split(pt_dataset *ds, int64_t n, int64_t dim, int classes, uint64_t s0, const float *teacher)
{
    ds->n = n, ds->dim = dim;
    ds->x = malloc((size_t)(n * dim) * sizeof(float));
    ds->label = malloc((size_t)n * sizeof(int32_t));
    float *logits = teacher ? malloc((size_t)n * (size_t)classes * sizeof(float)) : NULL;
    if (!ds->x || !ds->label || (teacher && !logits)) {
        free(logits);
        return pt_fail(PT_ERR_NOMEM, "random data: out of memory for %lld x %lld", (long long)n, (long long)dim);
    }
    make_features(ds->x, (uint64_t)(n * dim), pt_mix64(s0 ^ 0x66656174ull));
    if (teacher)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, classes, (int)dim, 1.0f, ds->x, (int)dim, teacher,
                    (int)dim, 0.0f, logits, classes);
    uint64_t ls = pt_mix64(s0 ^ 0x6c61626cull);
    for (int64_t i = 0; i < n; i++) {
        uint64_t u = pt_mix64(ls + (2 * (uint64_t)i + 1) * PT_GOLDEN), v = pt_mix64(ls + (2 * (uint64_t)i + 2) * PT_GOLDEN);
        ds->label[i] = (int32_t)(u % (uint64_t)classes);
        if (!teacher || v % 10 == 0) continue; /* uniform, or 10% label noise */
        const float *z = logits + (size_t)i * (size_t)classes;
        int best = 0;
        for (int c = 1; c < classes; c++)
            if (z[c] > z[best]) best = c;
        ds->label[i] = best;
    }
    free(logits);
    return PT_OK;
}

static pt_status open_random(const char *kind, const char *args, const pt_data_options *o, pt_data *d)
{
    long long n, dim, classes;
    char end;
    bool learnable = !strcmp(kind, "synthetic");
    if (sscanf(args, "%lld,%lld,%lld%c", &n, &dim, &classes, &end) != 3 || n < 1 || n > (1ll << 31) || dim < 1 ||
        dim > (1 << 24) || n * dim > (1ll << 32) || classes < 2 || classes > 1000000 ||
        (learnable && classes * dim > (1ll << 26)))
        return pt_fail(PT_ERR_INVALID, "--data %s:%s: expected %s:N,DIM,CLASSES (N samples of DIM features, "
                       "N x DIM at most 2^32, CLASSES >= 2)", kind, args, kind);
    if (!o->classification)
        return pt_fail(PT_ERR_INVALID, "--data %s:%s: this data has class labels; the model's loss needs values", kind,
                       args);
    uint64_t s = o->seed * 0x2545f4914f6cdd1dull + 7;
    float *teacher = NULL;
    if (learnable) {
        if (!(teacher = malloc((size_t)(classes * dim) * sizeof(float))))
            return pt_fail(PT_ERR_NOMEM, "--data %s: out of memory", kind);
        uint64_t ts = s ^ 0x5bd1e995u;
        for (long long i = 0; i < classes * dim; i++)
            teacher[i] = (float)(((double)(pt_splitmix(&ts) >> 11) / 9007199254740992.0) * 2 - 1);
    }
    pt_status st = random_split(&d->train, n, dim, (int)classes, pt_mix64(s + 1), teacher);
    if (!st) st = random_split(&d->test, n / 8 > 0 ? n / 8 : 1, dim, (int)classes, pt_mix64(s + 2), teacher);
    free(teacher);
    if (st) return st;
    d->nclasses = (int)classes, d->ndim = 1, d->shape[0] = (int)dim;
    snprintf(d->desc, sizeof d->desc, "%s N(0,1), %lld train + %lld held out, %lld features, %lld classes%s", kind, n,
             (long long)d->test.n, dim, classes, learnable ? " (linear teacher, 10% label noise)" : "");
    return PT_OK;
}

static void note_read(const char *spec, const pt_data_options *o, bool tokens, pt_data_read *r)
{
    snprintf(r->spec, sizeof r->spec, "%s", spec);
    snprintf(r->label, sizeof r->label, "%s", o->label ? o->label : "");
    r->header = o->header, r->standardize = o->standardize;
    r->val_fraction = o->val_fraction, r->seed = o->seed;
    if (tokens) r->context = o->context, r->vocab = o->vocab; /* the digest: set by the reader */
}

pt_status pt_data_open(const char *spec, const pt_data_options *o, pt_data *d)
{
    memset(d, 0, sizeof *d);
    pt_data_options def = pt_data_options_default();
    if (!o) o = &def;
    pt_status st;
    if (strcmp(spec, "fashion-mnist") == 0) {
        char list[2048];
        snprintf(list, sizeof list,
                 "%s/train-images-idx3-ubyte.gz,%s/train-labels-idx1-ubyte.gz,"
                 "%s/t10k-images-idx3-ubyte.gz,%s/t10k-labels-idx1-ubyte.gz",
                 PT_FASHION_MNIST_DIR, PT_FASHION_MNIST_DIR, PT_FASHION_MNIST_DIR,
                 PT_FASHION_MNIST_DIR);
        st = open_idx(list, d);
        if (st == PT_ERR_IO)
            st = pt_fail(PT_ERR_IO, "--data fashion-mnist: %s (install Debian's "
                         "dataset-fashion-mnist package)", pt_last_error());
        else if (!st)
            snprintf(d->desc, sizeof d->desc, "fashion-mnist (%lld train, %lld test, %d classes)",
                     (long long)d->train.n, (long long)d->test.n, d->nclasses);
    } else if (strncmp(spec, "idx:", 4) == 0) {
        st = open_idx(spec + 4, d);
    } else if (strncmp(spec, "csv:", 4) == 0) {
        st = pt_csv_open(spec + 4, o, d);
    } else if (strncmp(spec, "text:", 5) == 0) {
        st = pt_tokens_open_text(spec + 5, o, d);
    } else if (strncmp(spec, "tokens:", 7) == 0) {
        st = pt_tokens_open_bin(spec + 7, o, d);
    } else if (strcmp(spec, "fortunes") == 0) {
        st = pt_tokens_open_fortunes(PT_FORTUNES_DIR, o, d);
    } else if (strncmp(spec, "random:", 7) == 0) {
        st = open_random("random", spec + 7, o, d);
    } else if (strncmp(spec, "synthetic:", 10) == 0) {
        st = open_random("synthetic", spec + 10, o, d);
    } else {
        st = pt_fail(PT_ERR_INVALID,
                     "--data '%s': expected fashion-mnist, idx:TRAIN_IMAGES,TRAIN_LABELS[,...], "
                     "csv:FILE, random:N,DIM,CLASSES, synthetic:N,DIM,CLASSES, text:FILE, "
                     "tokens:FILE[,VAL_FILE] or fortunes", spec);
    }
    if (st) pt_data_free(d);
    else {
        note_read(spec, o, d->tokens, &d->read);
    }
    return st;
}
