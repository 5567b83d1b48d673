/* Token data for language models (data.h): `text:FILE` (a file's bytes
 * are its tokens, vocabulary 256), `tokens:FILE[,VAL_FILE]` (uint16 ids in
 * the .bin layout llm.c and nanoGPT write) and `fortunes` (Debian's
 * fortunes package read as text). Every reader makes one token stream,
 * checks it against the model (its context length T and vocabulary V, from
 * the options: a file's own faults are reported first, whatever the
 * model), and cuts it into samples the same way: windows of T + 1
 * tokens taken with stride T, x the first T, the labels the next T. A file
 * is checked before anything it claims is allocated, and a bad byte or id
 * is named by its file and byte offset. */
#include "data_tokens.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

/* The largest token stream read: 2^30 tokens, 8 GiB of samples (each
 * token once as a float id, once as an int32 label). */
#define PT_TOKENS_MAX ((uint64_t)1 << 30)

/* Held-out chunks are about this many tokens of contiguous text. */
#define PT_HELDOUT_CHUNK_TOKENS 4096

typedef struct stream {
    uint16_t *tok;
    uint64_t n;
} stream;

/* Up to max bytes of f, into a buffer grown as they arrive: a file that
 * claims more than it holds costs what it holds. *more: bytes remain. */
static pt_status read_bytes(FILE *f, const char *path, uint64_t max, uint8_t **out, uint64_t *len, bool *more)
{
    uint8_t *buf = NULL;
    uint64_t got = 0, cap = 0;
    *out = NULL, *len = 0, *more = false;
    while (got < max) {
        if (got == cap) {
            uint64_t ncap = cap ? cap * 2 : (uint64_t)1 << 16;
            if (ncap > max) ncap = max;
            uint8_t *nb = realloc(buf, (size_t)ncap);
            if (!nb) {
                free(buf);
                return pt_fail(PT_ERR_NOMEM, "%s: out of memory for %llu bytes", path, (unsigned long long)ncap);
            }
            buf = nb, cap = ncap;
        }
        size_t r = fread(buf + got, 1, (size_t)(cap - got), f);
        got += r;
        if (r == 0) break;
    }
    if (ferror(f)) {
        free(buf);
        return pt_fail(PT_ERR_IO, "%s: read error: %s", path, strerror(errno));
    }
    if (got == max) {
        int c = fgetc(f);
        *more = c != EOF;
    }
    *out = buf, *len = got;
    return PT_OK;
}

/* The file's size when it is a regular file, else -1 (a pipe: read it to learn) */
static int64_t regular_size(FILE *f)
{
    struct stat sb;
    return fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) ? (int64_t)sb.st_size : -1;
}

/* spec: the --data spec, as the user gave it */
static pt_status check_model(const char *spec, const pt_data_options *o, int min_vocab)
{
    if (o->context < 1)
        return pt_fail(PT_ERR_INVALID, "--data %s: token data are for a language model, and this model's spec gives "
                       "no context length (context): it reads no tokens", spec);
    if (o->vocab < 1)
        return pt_fail(PT_ERR_INVALID, "--data %s: token data are for a language model, and this model's spec gives "
                       "no vocabulary (vocab)", spec);
    if (o->vocab < min_vocab)
        return pt_fail(PT_ERR_INVALID, "--data %s: the model's vocabulary (vocab) is %d tokens, but text is read as "
                       "bytes, %d tokens: give the spec a vocab of %d or more", spec, o->vocab, min_vocab, min_vocab);
    return PT_OK;
}

/* ---- the samples ---------------------------------------------------------- */

static pt_status alloc_set(pt_dataset *ds, int64_t n, int T, const char *path)
{
    ds->n = n, ds->dim = T, ds->label_len = T;
    ds->x = malloc(sizeof(float) * (size_t)(n * T + 1));
    ds->label = malloc(sizeof(int32_t) * (size_t)(n * T + 1));
    if (!ds->x || !ds->label)
        return pt_fail(PT_ERR_NOMEM, "%s: out of memory for %lld samples of %d tokens", path, (long long)n, T);
    return PT_OK;
}

/* window w of s into sample i: x = tokens [wT, wT + T), labels one later */
static void put_window(pt_dataset *ds, int64_t i, const stream *s, int64_t w, int T)
{
    const uint16_t *p = s->tok + (size_t)w * (size_t)T;
    float *x = ds->x + (size_t)i * (size_t)T;
    int32_t *y = ds->label + (size_t)i * (size_t)T;
    for (int t = 0; t < T; t++) x[t] = (float)p[t], y[t] = p[t + 1];
}

static pt_status enough(const char *path, const stream *s, int T)
{
    if (s->n < (uint64_t)T + 1)
        return pt_fail(PT_ERR_INVALID, "%s: %llu tokens, fewer than the %lld one sample needs (the model's context "
                       "of %d tokens, and the token that follows)", path, (unsigned long long)s->n, (long long)T + 1, T);
    return PT_OK;
}

/* All of s's windows into ds, in order. */
static pt_status all_windows(const char *path, const stream *s, int T, pt_dataset *ds)
{
    pt_status st = enough(path, s, T);
    int64_t nw = st ? 0 : (int64_t)((s->n - 1) / (uint64_t)T);
    if (!st) st = alloc_set(ds, nw, T, path);
    for (int64_t w = 0; !st && w < nw; w++) put_window(ds, w, s, w, T);
    return st;
}

/* The training windows and a held-out split of one stream. The held-out
 * samples are whole chunks of consecutive windows (about
 * PT_HELDOUT_CHUNK_TOKENS tokens of contiguous text each, and at least 8
 * chunks in all), chosen by the seed: not single windows interleaved with
 * training ones. Text is correlated far beyond one window (a fortune, a
 * paragraph, a function runs on), so a held-out window whose neighbours on
 * both sides were trained on measures recall of that text more than
 * generalization; with chunks, only the edges of a chunk touch training
 * text (its first input token is the last label of the window before, as
 * at any cut of a stream). Chunks rather than one tail cut so that the
 * split is drawn from the whole file (fortunes: every file of the
 * package) and differs by seed, as csv's does. The fraction is of chunks:
 * floor(val_fraction x chunks), at least one where val_fraction > 0 and
 * there are two chunks or more, never all of them. */
static pt_status split_windows(const char *path, const stream *s, const pt_data_options *o, pt_data *d)
{
    int T = o->context;
    pt_status st = enough(path, s, T);
    if (st) return st;
    int64_t nw = (int64_t)((s->n - 1) / (uint64_t)T);
    int64_t per = (PT_HELDOUT_CHUNK_TOKENS + T - 1) / T;
    if (nw / per < 8) per = nw / 8 > 0 ? nw / 8 : 1;
    int64_t nchunks = (nw + per - 1) / per;
    int64_t nheld = (int64_t)floor(o->val_fraction * (double)nchunks);
    if (o->val_fraction > 0 && nheld == 0 && nchunks > 1) nheld = 1;
    if (nheld >= nchunks) nheld = nchunks - 1;
    if (nheld < 0) nheld = 0;
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)nchunks);
    unsigned char *held = calloc((size_t)nchunks, 1);
    if (!perm || !held) st = pt_fail(PT_ERR_NOMEM, "%s: out of memory", path);
    int64_t ntest = 0;
    if (!st) {
        pt_data_permutation(nchunks, o->seed, -1, perm);
        for (int64_t k = 0; k < nheld; k++) held[perm[k]] = 1;
        for (int64_t c = 0; c < nchunks; c++)
            if (held[c]) ntest += (c + 1) * per <= nw ? per : nw - c * per;
        st = alloc_set(&d->train, nw - ntest, T, path);
    }
    if (!st) st = alloc_set(&d->test, ntest, T, path);
    for (int64_t w = 0, i = 0, j = 0; !st && w < nw; w++) {
        if (held[w / per]) put_window(&d->test, j++, s, w, T);
        else put_window(&d->train, i++, s, w, T);
    }
    free(perm);
    free(held);
    return st;
}

static void describe(pt_data *d, const char *what, const pt_data_options *o, uint64_t tokens)
{
    d->tokens = true;
    d->ndim = 1, d->shape[0] = o->context;
    snprintf(d->desc, sizeof d->desc, "%.360s (%llu tokens: %lld train + %lld held-out windows of %d, vocabulary %d)",
             what, (unsigned long long)tokens, (long long)d->train.n, (long long)d->test.n, o->context, d->nclasses);
}

static pt_status check_digest(const char *what, const pt_data_options *o, uint64_t digest)
{
    if (o->digest && o->digest != digest)
        return pt_fail(PT_ERR_INVALID, "%s: its bytes differ from those the recorded run read (digest %016llx, the run "
                       "recorded %016llx): replay it on the same files", what, (unsigned long long)digest,
                       (unsigned long long)o->digest);
    return PT_OK;
}

/* ---- text ----------------------------------------------------------------- */

/* Appends path's bytes to *s as tokens (and to the digest). */
static pt_status append_text(const char *path, stream *s, XXH64_state_t *h)
{
    FILE *f = fopen(path, "rb");
    if (!f) return pt_fail(PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int64_t size = regular_size(f);
    uint64_t room = PT_TOKENS_MAX - s->n;
    pt_status st = PT_OK;
    if (size >= 0 && (uint64_t)size > room)
        st = pt_fail(PT_ERR_INVALID, "%s: %lld bytes: more than %llu tokens, the limit for token data", path,
                     (long long)size, (unsigned long long)PT_TOKENS_MAX);
    uint8_t *b = NULL;
    uint64_t n = 0;
    bool more = false;
    if (!st) st = read_bytes(f, path, room, &b, &n, &more);
    fclose(f);
    if (!st && more)
        st = pt_fail(PT_ERR_INVALID, "%s: more than %llu bytes, the limit for token data", path,
                     (unsigned long long)PT_TOKENS_MAX);
    if (!st && n) {
        uint16_t *t = realloc(s->tok, sizeof(uint16_t) * (size_t)(s->n + n));
        if (!t) st = pt_fail(PT_ERR_NOMEM, "%s: out of memory for %llu tokens", path, (unsigned long long)(s->n + n));
        else {
            s->tok = t;
            for (uint64_t i = 0; i < n; i++) t[s->n + i] = b[i];
            s->n += n;
            XXH64_update(h, b, (size_t)n);
        }
    }
    free(b);
    return st;
}

static pt_status text_stream_done(const char *what, const char *path, stream *s, XXH64_state_t *h,
                                  const pt_data_options *o, pt_data *d)
{
    uint64_t digest = XXH64_digest(h);
    pt_status st = check_digest(path, o, digest);
    if (!st) st = split_windows(path, s, o, d);
    if (!st) {
        d->read.digest = digest;
        d->nclasses = 256;
        d->bytes_per_token = 1;
        describe(d, what, o, s->n);
    }
    return st;
}

pt_status pt_tokens_open_text(const char *path, const pt_data_options *o, pt_data *d)
{
    memset(d, 0, sizeof *d);
    stream s = {0};
    XXH64_state_t *h = XXH64_createState();
    if (!h) return pt_fail(PT_ERR_NOMEM, "%s: out of memory", path);
    XXH64_reset(h, 0);
    pt_status st = append_text(path, &s, h);
    if (!st && !s.n) st = pt_fail(PT_ERR_INVALID, "%s: empty: no text to read", path);
    char spec[1100];
    snprintf(spec, sizeof spec, "text:%s", path);
    if (!st) st = check_model(spec, o, 256);
    char what[1100];
    snprintf(what, sizeof what, "text %s", path);
    if (!st) st = text_stream_done(what, path, &s, h, o, d);
    XXH64_freeState(h);
    free(s.tok);
    return st;
}

/* ---- fortunes ------------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

/* The package's fortune files are the plain files of the folder; each has
 * a strfile index beside it (.dat) and a UTF-8 link (.u8), which are not
 * text. Subfolders (other packages' offensive or translated sets) are left
 * out, so the text is the fortunes package's. */
pt_status pt_tokens_open_fortunes(const char *dir, const pt_data_options *o, pt_data *d)
{
    memset(d, 0, sizeof *d);
    pt_status st = PT_OK;
    DIR *dh = opendir(dir);
    if (!dh)
        return pt_fail(PT_ERR_IO, "--data fortunes: %s: cannot open: %s (install Debian's fortunes package; "
                       "scripts/deps.sh does)", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while (!st && (e = readdir(dh))) {
        if (e->d_name[0] == '.' || ends_with(e->d_name, ".dat") || ends_with(e->d_name, ".u8")) continue;
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, sizeof(char *) * cap);
            if (!nn) {
                st = pt_fail(PT_ERR_NOMEM, "%s: out of memory", dir);
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(path))) st = pt_fail(PT_ERR_NOMEM, "%s: out of memory", dir);
        else n++;
    }
    closedir(dh);
    if (!st && n == 0)
        st = pt_fail(PT_ERR_IO, "--data fortunes: %s holds no fortune files (install Debian's fortunes package; "
                     "scripts/deps.sh does)", dir);
    if (n) qsort(names, n, sizeof *names, by_name);
    stream s = {0};
    XXH64_state_t *h = XXH64_createState();
    if (!st && !h) st = pt_fail(PT_ERR_NOMEM, "%s: out of memory", dir);
    if (h) XXH64_reset(h, 0);
    for (size_t i = 0; !st && i < n; i++) st = append_text(names[i], &s, h);
    if (!st && !s.n) st = pt_fail(PT_ERR_INVALID, "--data fortunes: %s: its files are empty: no text to read", dir);
    if (!st) st = check_model("fortunes", o, 256);
    char what[4200];
    snprintf(what, sizeof what, "fortunes (%zu files of %s)", n, dir);
    if (!st) st = text_stream_done(what, dir, &s, h, o, d);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    if (h) XXH64_freeState(h);
    free(s.tok);
    return st;
}

/* ---- tokens (.bin) -------------------------------------------------------- */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* One .bin file: its header checked, its size against the header's count
 * (before allocating what the count claims), every id below the vocabulary. */
static pt_status read_bin(const char *path, int vocab, stream *s, XXH64_state_t *h)
{
    FILE *f = fopen(path, "rb");
    if (!f) return pt_fail(PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int64_t size = regular_size(f);
    uint8_t hdr[PT_TOKEN_FILE_HEADER_BYTES], *b = NULL;
    size_t got = fread(hdr, 1, sizeof hdr, f);
    pt_status st = PT_OK;
    int32_t magic = (int32_t)le32(hdr), version = (int32_t)le32(hdr + 4), count = (int32_t)le32(hdr + 8);
    if (got == 0)
        st = pt_fail(PT_ERR_INVALID, "%s: empty (a token file starts with a header of 256 int32: magic %d, version "
                     "%d, token count)", path, PT_TOKEN_FILE_MAGIC, PT_TOKEN_FILE_VERSION);
    else if (got < sizeof hdr)
        st = pt_fail(PT_ERR_INVALID, "%s: %zu bytes, too short for the %d-byte header of a token file", path, got,
                     PT_TOKEN_FILE_HEADER_BYTES);
    else if (magic != PT_TOKEN_FILE_MAGIC)
        st = pt_fail(PT_ERR_INVALID, "%s: magic %d at byte offset 0, expected %d (a token file of llm.c's .bin "
                     "layout)", path, magic, PT_TOKEN_FILE_MAGIC);
    else if (version != PT_TOKEN_FILE_VERSION)
        st = pt_fail(PT_ERR_INVALID, "%s: version %d at byte offset 4, expected %d (uint16 token ids)", path, version,
                     PT_TOKEN_FILE_VERSION);
    else if (count < 1)
        st = pt_fail(PT_ERR_INVALID, "%s: token count %d at byte offset 8, expected 1 or more", path, count);
    else if ((uint64_t)count > PT_TOKENS_MAX)
        st = pt_fail(PT_ERR_INVALID, "%s: token count %d at byte offset 8: more than %llu, the limit for token data",
                     path, count, (unsigned long long)PT_TOKENS_MAX);
    uint64_t want = 2 * (uint64_t)(count > 0 ? count : 0), have = 0; /* count < 2^31: no overflow */
    if (!st && size >= 0 && (uint64_t)size != PT_TOKEN_FILE_HEADER_BYTES + want)
        st = pt_fail(PT_ERR_INVALID, "%s: %s: the token count at byte offset 8 claims %d tokens (%llu bytes after the "
                     "header), the file holds %llu bytes after it", path,
                     (uint64_t)size < PT_TOKEN_FILE_HEADER_BYTES + want ? "truncated" : "trailing bytes", count,
                     (unsigned long long)want, (unsigned long long)((uint64_t)size - PT_TOKEN_FILE_HEADER_BYTES));
    bool more = false;
    if (!st) st = read_bytes(f, path, want, &b, &have, &more);
    fclose(f);
    if (!st && (have < want || more)) /* not a regular file: its size is known only now */
        st = pt_fail(PT_ERR_INVALID, "%s: %s: the token count at byte offset 8 claims %d tokens (%llu bytes after the "
                     "header), the file holds %s%llu", path, more ? "trailing bytes" : "truncated", count,
                     (unsigned long long)want, more ? "more than " : "", (unsigned long long)have);
    if (!st) {
        uint16_t *t = realloc(s->tok, sizeof(uint16_t) * (size_t)(s->n + (uint64_t)count));
        if (!t) st = pt_fail(PT_ERR_NOMEM, "%s: out of memory for %d tokens", path, count);
        else s->tok = t;
    }
    for (int64_t i = 0; !st && i < count; i++) {
        uint16_t id = (uint16_t)(b[2 * i] | b[2 * i + 1] << 8);
        if (vocab > 0 && id >= vocab) /* no vocabulary: check_model refuses the model after the files */
            st = pt_fail(PT_ERR_INVALID, "%s: token %u at byte offset %lld (token %lld of the file) is not below the "
                         "model's vocabulary (vocab) of %d", path, id, (long long)(PT_TOKEN_FILE_HEADER_BYTES + 2 * i),
                         (long long)i, vocab);
        s->tok[s->n + (uint64_t)i] = id;
    }
    if (!st) {
        s->n += (uint64_t)count;
        XXH64_update(h, hdr, sizeof hdr);
        XXH64_update(h, b, (size_t)want);
    }
    free(b);
    return st;
}

pt_status pt_tokens_open_bin(const char *list, const pt_data_options *o, pt_data *d)
{
    memset(d, 0, sizeof *d);
    pt_status st;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", list);
    char *comma = strchr(buf, ',');
    const char *train = buf, *val = comma ? comma + 1 : NULL;
    if (comma) *comma = '\0';
    if (!train[0] || (val && (!val[0] || strchr(val, ','))))
        return pt_fail(PT_ERR_INVALID, "--data tokens:%s: expected tokens:FILE or tokens:FILE,VAL_FILE", list);
    stream s = {0}, v = {0};
    XXH64_state_t *h = XXH64_createState();
    if (!h) return pt_fail(PT_ERR_NOMEM, "%s: out of memory", train);
    XXH64_reset(h, 0);
    st = read_bin(train, o->vocab, &s, h);
    if (!st && val) st = read_bin(val, o->vocab, &v, h);
    char spec[4200];
    snprintf(spec, sizeof spec, "tokens:%s", list);
    if (!st) st = check_model(spec, o, 1);
    uint64_t digest = XXH64_digest(h);
    if (!st) st = check_digest(train, o, digest);
    if (!st && val) {
        st = all_windows(train, &s, o->context, &d->train);
        if (!st) st = all_windows(val, &v, o->context, &d->test);
    } else if (!st) {
        st = split_windows(train, &s, o, d);
    }
    if (!st) {
        d->read.digest = digest;
        d->nclasses = o->vocab;
        d->bytes_per_token = 0;
        char what[4200];
        snprintf(what, sizeof what, "tokens %s%s%s", train, val ? ", held out " : "", val ? val : "");
        describe(d, what, o, s.n + v.n);
    }
    XXH64_freeState(h);
    free(s.tok);
    free(v.tok);
    return st;
}
