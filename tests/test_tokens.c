/* The token readers (text:, tokens:, fortunes) through pt_data_open with
 * explicit context and vocabulary, on files made here: every sample is a
 * window of the stream (checked against the stream itself), the held-out
 * split is whole chunks of consecutive windows drawn by the seed, and
 * every malformed file is refused naming the file and the field or byte
 * offset. Debian's fortunes are read when installed (else said so). */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "../common/rng.h"
#include "instrument/data_tokens.h"
#include "prectune/data.h"
#include "prectune/diagnose.h"
#include "prectune/telemetry.h"

static char dir[256];

static const char *tmp_path(const char *name)
{
    static char paths[8][512];
    static int k;
    char *p = paths[k++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static const char *write_bytes(const char *name, const void *b, size_t n)
{
    const char *p = tmp_path(name);
    FILE *f = fopen(p, "wb");
    ck_assert(f);
    if (n) ck_assert_int_eq(fwrite(b, 1, n, f), n);
    fclose(f);
    return p;
}

/* a .bin token file as llm.c writes it, with a header that may lie */
static const char *write_bin(const char *name, const uint16_t *ids, int n, int32_t magic, int32_t version,
                             int32_t count)
{
    size_t bytes = 1024 + 2 * (size_t)n;
    uint8_t *b = calloc(1, bytes);
    int32_t h[3] = {magic, version, count};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 4; k++) b[4 * i + k] = (uint8_t)((uint32_t)h[i] >> (8 * k));
    for (int i = 0; i < n; i++) b[1024 + 2 * i] = (uint8_t)ids[i], b[1024 + 2 * i + 1] = (uint8_t)(ids[i] >> 8);
    const char *p = write_bytes(name, b, bytes);
    free(b);
    return p;
}

static pt_data_options opts(int T, int V)
{
    pt_data_options o = pt_data_options_default();
    o.context = T, o.vocab = V;
    return o;
}

static void refused(const char *spec, const pt_data_options *o, pt_status want, const char *w1, const char *w2)
{
    pt_data d;
    pt_status st = pt_data_open(spec, o, &d);
    ck_assert_msg(st == want, "%s: status %d, expected %d (%s)", spec, st, want, st ? pt_last_error() : "accepted");
    const char *m = pt_last_error();
    ck_assert_msg(strstr(m, w1) && (!w2 || strstr(m, w2)), "%s: message '%s' lacks '%s' / '%s'", spec, m, w1,
                  w2 ? w2 : "");
}

/* Every sample of both splits is a window of the stream at a multiple of
 * T (its x the T tokens there, its labels the T after them), each window
 * is in exactly one split, each split in stream order. held[w] = 1 when
 * window w is held out. */
static void check_windows(const pt_data *d, const uint16_t *s, uint64_t n, int T, unsigned char *held)
{
    int64_t nw = (int64_t)((n - 1) / (uint64_t)T);
    ck_assert_int_eq(d->train.n + d->test.n, nw);
    const pt_dataset *sets[2] = {&d->train, &d->test};
    int64_t next = 0;
    for (int k = 0; k < 2; k++) {
        const pt_dataset *ds = sets[k];
        ck_assert(ds->dim == T && ds->label_len == T);
        int64_t last = -1;
        for (int64_t i = 0; i < ds->n; i++) {
            const float *x = ds->x + i * T;
            const int32_t *y = ds->label + i * T;
            int64_t w = last + 1; /* in order: the first window at or after `last` that matches */
            for (; w < nw; w++) {
                int t = 0;
                for (; t < T; t++)
                    if (x[t] != (float)s[w * T + t] || y[t] != s[w * T + t + 1]) break;
                if (t == T) break;
            }
            ck_assert_msg(w < nw, "split %d sample %lld is no window of the stream after window %lld", k, (long long)i,
                          (long long)last);
            if (held) held[w] = (unsigned char)k;
            last = w;
            next++;
        }
    }
    ck_assert_int_eq(next, nw);
}

/* random bytes (pt_mix64 of the position): windows of 16 all differ, so a
 * sample names its window */
static uint8_t *pattern(size_t n)
{
    uint8_t *b = malloc(n);
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(pt_mix64(i + 1) >> 56);
    return b;
}

START_TEST(test_text)
{
    const int T = 16;
    const size_t n = 25 * 256 * 16 + 1; /* 25 whole chunks of 256 windows */
    uint8_t *b = pattern(n);
    uint16_t *s = malloc(n * sizeof *s);
    for (size_t i = 0; i < n; i++) s[i] = b[i];
    char spec[600];
    snprintf(spec, sizeof spec, "text:%s", write_bytes("a.txt", b, n));
    pt_data_options o = opts(T, 256);
    pt_data d, e;
    ck_assert_int_eq(pt_data_open(spec, &o, &d), PT_OK);
    ck_assert(d.tokens && d.nclasses == 256 && d.bytes_per_token == 1 && d.ndim == 1 && d.shape[0] == T);
    ck_assert(d.read.context == T && d.read.vocab == 256 && d.read.digest != 0);
    int64_t nw = (int64_t)((n - 1) / T);
    unsigned char *held = calloc((size_t)nw, 1);
    check_windows(&d, s, n, T, held);
    /* held out: whole chunks of 256 windows (4096 tokens), floor(0.2 x 25) = 5 of the 25 */
    int64_t runs = 0;
    for (int64_t w = 0; w < nw; w++)
        if (held[w] && (w == 0 || !held[w - 1])) {
            runs++;
            ck_assert_msg(w % 256 == 0, "a held-out run starts at window %lld, inside a chunk", (long long)w);
        }
    ck_assert(runs >= 1 && runs <= 5);
    ck_assert_int_eq(d.test.n, 5 * 256);
    /* the same seed, the same split; another seed, another */
    ck_assert_int_eq(pt_data_open(spec, &o, &e), PT_OK);
    ck_assert(e.test.n == d.test.n && memcmp(e.test.x, d.test.x, sizeof(float) * (size_t)(d.test.n * T)) == 0);
    ck_assert(e.read.digest == d.read.digest);
    pt_data_free(&e);
    o.seed = 2;
    ck_assert_int_eq(pt_data_open(spec, &o, &e), PT_OK);
    ck_assert(e.test.n == d.test.n && memcmp(e.test.x, d.test.x, sizeof(float) * (size_t)(d.test.n * T)) != 0);
    pt_data_free(&e);
    /* no held-out split */
    o.val_fraction = 0;
    ck_assert_int_eq(pt_data_open(spec, &o, &e), PT_OK);
    ck_assert(e.test.n == 0 && e.train.n == nw);
    pt_data_free(&e);
    /* a replay's digest: the same files pass, others are refused */
    o = opts(T, 256);
    o.digest = d.read.digest;
    ck_assert_int_eq(pt_data_open(spec, &o, &e), PT_OK);
    pt_data_free(&e);
    o.digest = d.read.digest ^ 1;
    refused(spec, &o, PT_ERR_INVALID, "a.txt: its bytes differ", "digest");
    pt_data_free(&d);
    /* exactly T + 1 bytes: one sample, nothing to hold out */
    snprintf(spec, sizeof spec, "text:%s", write_bytes("one.txt", b, T + 1));
    o = opts(T, 256);
    ck_assert_int_eq(pt_data_open(spec, &o, &d), PT_OK);
    ck_assert(d.train.n == 1 && d.test.n == 0 && d.train.x[T - 1] == b[T - 1] && d.train.label[T - 1] == b[T]);
    pt_data_free(&d);
    /* a small text still holds out: at least 8 chunks */
    snprintf(spec, sizeof spec, "text:%s", write_bytes("small.txt", b, 40 * T + 1));
    ck_assert_int_eq(pt_data_open(spec, &o, &d), PT_OK);
    ck_assert(d.train.n + d.test.n == 40 && d.test.n == 5); /* chunks of 5 windows, floor(0.2 x 8) = 1 */
    check_windows(&d, s, 40 * T + 1, T, NULL);
    pt_data_free(&d);
    free(held);
    free(b);
    free(s);
}
END_TEST

START_TEST(test_text_errors)
{
    char spec[600];
    uint8_t b[64] = {0};
    snprintf(spec, sizeof spec, "text:%s", write_bytes("empty.txt", b, 0));
    pt_data_options o = opts(16, 256);
    refused(spec, &o, PT_ERR_INVALID, "empty.txt: empty", NULL);
    snprintf(spec, sizeof spec, "text:%s", write_bytes("short.txt", b, 16));
    refused(spec, &o, PT_ERR_INVALID, "short.txt: 16 tokens, fewer than the 17", "context");
    snprintf(spec, sizeof spec, "text:%s", write_bytes("ok.txt", b, 64));
    o = opts(16, 255);
    refused(spec, &o, PT_ERR_INVALID, "vocab", "255");
    o = opts(0, 256);
    refused(spec, &o, PT_ERR_INVALID, "--data text:/tmp/pt_tokens_", "no context length (context)");
    o = opts(16, 0);
    refused(spec, &o, PT_ERR_INVALID, "ok.txt: token data are for a language model", "no vocabulary (vocab)");
    o = opts(16, 256);
    refused("text:/nonexistent/x.txt", &o, PT_ERR_IO, "/nonexistent/x.txt: cannot open", NULL);
    /* past the limit (2^30 tokens): refused by its size, before a byte is
     * read or allocated (a sparse file: no disk is used) */
    const char *big = tmp_path("big.txt");
    FILE *f = fopen(big, "wb");
    ck_assert(f && ftruncate(fileno(f), ((off_t)1 << 30) + 1) == 0);
    fclose(f);
    snprintf(spec, sizeof spec, "text:%s", big);
    refused(spec, &o, PT_ERR_INVALID, "big.txt: 1073741825 bytes: more than 1073741824 tokens, the limit", NULL);
    unlink(big);
    /* the data options' default (what a model that reads no tokens gives) */
    snprintf(spec, sizeof spec, "text:%s", tmp_path("ok.txt"));
    refused(spec, NULL, PT_ERR_INVALID, "context", NULL);
}
END_TEST

START_TEST(test_tokens_bin)
{
    const int T = 32, V = 50257, N = 5000;
    uint16_t *ids = malloc(sizeof(uint16_t) * N), *val = malloc(sizeof(uint16_t) * N);
    for (int i = 0; i < N; i++) ids[i] = (uint16_t)((i * 7919u) % V), val[i] = (uint16_t)((i * 104729u + 3) % V);
    char spec[1200];
    const char *a = write_bin("a.bin", ids, N, 20240520, 1, N), *v = write_bin("v.bin", val, 700, 20240520, 1, 700);
    snprintf(spec, sizeof spec, "tokens:%s", a);
    pt_data_options o = opts(T, V);
    pt_data d;
    ck_assert_int_eq(pt_data_open(spec, &o, &d), PT_OK);
    ck_assert(d.tokens && d.nclasses == V && d.bytes_per_token == 0 && d.test.n > 0);
    check_windows(&d, ids, N, T, NULL);
    uint64_t dig = d.read.digest;
    pt_data_free(&d);
    /* with a held-out file: all of a's windows train, all of v's are held out */
    snprintf(spec, sizeof spec, "tokens:%s,%s", a, v);
    ck_assert_int_eq(pt_data_open(spec, &o, &d), PT_OK);
    ck_assert(d.train.n == (N - 1) / T && d.test.n == 699 / T);
    ck_assert(d.read.digest != dig);
    for (int64_t i = 0; i < d.test.n; i++)
        for (int t = 0; t < T; t++)
            ck_assert(d.test.x[i * T + t] == val[i * T + t] && d.test.label[i * T + t] == val[i * T + t + 1]);
    for (int64_t i = 0; i < d.train.n; i++) ck_assert(d.train.x[i * T] == ids[i * T]);
    pt_data_free(&d);
    /* the vocabulary bounds every id: one past it, with its offset */
    for (int i = 0; i < N; i++) ids[i] = (uint16_t)(ids[i] % 1000);
    ids[123] = 1000;
    snprintf(spec, sizeof spec, "tokens:%s", write_bin("big.bin", ids, N, 20240520, 1, N));
    o = opts(T, 1000);
    refused(spec, &o, PT_ERR_INVALID, "big.bin: token 1000 at byte offset 1270 (token 123", "vocab");
    o = opts(T, 1001);
    ck_assert_int_eq(pt_data_open(spec, &o, &d), PT_OK);
    pt_data_free(&d);
    free(ids);
    free(val);
}
END_TEST

START_TEST(test_tokens_bin_errors)
{
    uint16_t ids[64] = {1, 2, 3};
    char spec[1200];
    pt_data_options o = opts(16, 256);
#define BAD(name, want1, want2, ...)                                                                                  \
    do {                                                                                                              \
        snprintf(spec, sizeof spec, "tokens:%s", write_bin(name, __VA_ARGS__));                                        \
        refused(spec, &o, PT_ERR_INVALID, want1, want2);                                                              \
    } while (0)
    BAD("magic.bin", "magic.bin: magic 12345 at byte offset 0, expected 20240520", NULL, ids, 64, 12345, 1, 64);
    BAD("version.bin", "version.bin: version 2 at byte offset 4, expected 1", NULL, ids, 64, 20240520, 2, 64);
    BAD("long.bin", "long.bin: truncated: the token count at byte offset 8 claims 65 tokens", "holds 128 bytes", ids,
        64, 20240520, 1, 65);
    BAD("huge.bin", "huge.bin: token count 2147483647 at byte offset 8: more than", NULL, ids, 64, 20240520, 1,
        2147483647);
    BAD("neg.bin", "neg.bin: token count -5 at byte offset 8, expected 1 or more", NULL, ids, 64, 20240520, 1, -5);
    BAD("zero.bin", "zero.bin: token count 0 at byte offset 8", NULL, ids, 0, 20240520, 1, 0);
    BAD("trail.bin", "trail.bin: trailing bytes: the token count at byte offset 8 claims 63 tokens", NULL, ids, 64,
        20240520, 1, 63);
    BAD("few.bin", "few.bin: 10 tokens, fewer than the 17", NULL, ids, 10, 20240520, 1, 10);
    /* a file cut inside its header, and an empty one */
    uint8_t hdr[1024] = {0};
    snprintf(spec, sizeof spec, "tokens:%s", write_bytes("cut.bin", hdr, 100));
    refused(spec, &o, PT_ERR_INVALID, "cut.bin: 100 bytes, too short for the 1024-byte header", NULL);
    snprintf(spec, sizeof spec, "tokens:%s", write_bytes("empty.bin", hdr, 0));
    refused(spec, &o, PT_ERR_INVALID, "empty.bin: empty", "magic 20240520");
    /* the held-out file is checked as well, and named */
    const char *good = write_bin("good.bin", ids, 64, 20240520, 1, 64);
    snprintf(spec, sizeof spec, "tokens:%s,%s", good, write_bin("badval.bin", ids, 64, 20240520, 3, 64));
    refused(spec, &o, PT_ERR_INVALID, "badval.bin: version 3", NULL);
    snprintf(spec, sizeof spec, "tokens:%s,%s", good, write_bin("shortval.bin", ids, 8, 20240520, 1, 8));
    refused(spec, &o, PT_ERR_INVALID, "shortval.bin: 8 tokens, fewer than", NULL);
    /* the spec's grammar */
    refused("tokens:", &o, PT_ERR_INVALID, "expected tokens:FILE or tokens:FILE,VAL_FILE", NULL);
    snprintf(spec, sizeof spec, "tokens:%s,%s,%s", good, good, good);
    refused(spec, &o, PT_ERR_INVALID, "expected tokens:FILE or tokens:FILE,VAL_FILE", NULL);
    refused("tokens:/nonexistent/t.bin", &o, PT_ERR_IO, "/nonexistent/t.bin: cannot open", NULL);
    /* a model that reads no tokens, after the file's own checks */
    snprintf(spec, sizeof spec, "tokens:%s", good);
    o = opts(0, 0);
    refused(spec, &o, PT_ERR_INVALID, "--data tokens:/tmp/pt_tokens_", "no context length (context)");
    o = opts(16, 0);
    refused(spec, &o, PT_ERR_INVALID, "good.bin: token data are for a language model", "no vocabulary (vocab)");
}
END_TEST

/* A pipe: no size to compare, so the data are read as they come; a header
 * that claims more than arrives costs what arrived, and is refused. */
START_TEST(test_tokens_pipe)
{
    const char *fifo = tmp_path("pipe.bin");
    unlink(fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    pid_t pid = fork();
    if (pid == 0) {
        uint8_t b[1024 + 20] = {0};
        int32_t h[3] = {20240520, 1, 1 << 29};
        memcpy(b, h, sizeof h); /* little-endian hosts only: the tests run on x86-64 and arm64 */
        FILE *f = fopen(fifo, "wb");
        if (f) fwrite(b, 1, sizeof b, f), fclose(f);
        _exit(0);
    }
    char spec[600];
    snprintf(spec, sizeof spec, "tokens:%s", fifo);
    pt_data_options o = opts(4, 256);
    refused(spec, &o, PT_ERR_INVALID, "pipe.bin: truncated: the token count at byte offset 8 claims 536870912",
            "holds 20");
    waitpid(pid, NULL, 0);
}
END_TEST

static void put_file(const char *name, const char *text)
{
    write_bytes(name, text, strlen(text));
}

START_TEST(test_fortunes)
{
    /* a folder laid out as the package's: plain files in name order, not
     * their .dat indexes, .u8 links or subfolders */
    char f[512];
    snprintf(f, sizeof f, "%s/fortunes", dir);
    ck_assert_int_eq(mkdir(f, 0700), 0);
    put_file("fortunes/zen", "Z is last.\n%\n");
    put_file("fortunes/art", "Art first.\n%\n");
    put_file("fortunes/art.dat", "\x01\x02\x03 index");
    char link[600];
    snprintf(link, sizeof link, "%s/art.u8", f);
    ck_assert_int_eq(symlink("art", link), 0);
    snprintf(link, sizeof link, "%s/off", f);
    ck_assert_int_eq(mkdir(link, 0700), 0);
    put_file("fortunes/off/rude", "not this\n");
    const char *want = "Art first.\n%\nZ is last.\n%\n";
    size_t n = strlen(want);
    uint16_t s[64];
    for (size_t i = 0; i < n; i++) s[i] = (uint8_t)want[i];
    pt_data_options o = opts(2, 256);
    o.val_fraction = 0;
    pt_data d;
    ck_assert_int_eq(pt_tokens_open_fortunes(f, &o, &d), PT_OK);
    ck_assert(d.tokens && d.nclasses == 256 && d.bytes_per_token == 1 && d.train.n == (int64_t)(n - 1) / 2);
    check_windows(&d, s, n, 2, NULL);
    pt_data_free(&d);
    /* absent or empty: the folder and the package named */
    ck_assert_int_eq(pt_tokens_open_fortunes("/nonexistent/fortunes", &o, &d), PT_ERR_IO);
    ck_assert(strstr(pt_last_error(), "/nonexistent/fortunes: cannot open") &&
              strstr(pt_last_error(), "Debian's fortunes package"));
    snprintf(f, sizeof f, "%s/fortunes/off", dir);
    unlink(tmp_path("fortunes/off/rude"));
    ck_assert_int_eq(pt_tokens_open_fortunes(f, &o, &d), PT_ERR_IO);
    ck_assert(strstr(pt_last_error(), "holds no fortune files") && strstr(pt_last_error(), "fortunes package"));
    put_file("fortunes/off/blank", "");
    ck_assert_int_eq(pt_tokens_open_fortunes(f, &o, &d), PT_ERR_INVALID);
    ck_assert(strstr(pt_last_error(), "off: its files are empty"));
    /* the package itself, when installed */
    struct stat sb;
    if (stat(PT_FORTUNES_DIR, &sb) != 0) {
        fprintf(stderr, "test_fortunes: %s is absent (Debian's fortunes package is not installed): the package's "
                "text is not read; the made-up folder above was\n", PT_FORTUNES_DIR);
        return;
    }
    o = opts(64, 256);
    ck_assert_int_eq(pt_data_open("fortunes", &o, &d), PT_OK);
    int64_t total = (d.train.n + d.test.n) * 64;
    ck_assert_msg(total > 1000000 && total < 20000000, "fortunes: %lld tokens", (long long)total);
    ck_assert(d.test.n > 0 && d.tokens && d.read.digest != 0);
    for (int64_t i = 0; i < d.train.n * 64; i++) ck_assert(d.train.x[i] >= 0 && d.train.x[i] < 256);
    ck_assert_str_eq(d.read.spec, "fortunes");
    pt_data_free(&d);
}
END_TEST

/* A run records how it read token data (the spec, the seed, the context,
 * the vocabulary and the files' digest); a replay (pt_replay_data) reads
 * the same samples from that record alone, takes the files from another
 * path of the same kind, and refuses another kind or files that changed. */
START_TEST(test_replay_record)
{
    const int T = 8;
    uint8_t *b = pattern(4001);
    char spec[600];
    snprintf(spec, sizeof spec, "text:%s", write_bytes("run.txt", b, 4001));
    pt_data_options o = opts(T, 256);
    o.seed = 9;
    pt_data d, e;
    ck_assert_int_eq(pt_data_open(spec, &o, &d), PT_OK);
    const char *db = tmp_path("run.db");
    pt_telemetry *t;
    ck_assert_int_eq(pt_telemetry_open(db, &t), PT_OK);
    pt_run_info info = {"train", "lm", "xxh64:1", NULL, NULL, "p", "cpu", d.desc, "c", 9, 10, &d.read};
    int64_t run;
    ck_assert_int_eq(pt_telemetry_begin_run(t, &info, &run), PT_OK);
    ck_assert_int_eq(pt_telemetry_close(t), PT_OK);
    /* what diagnose --replay gives: the options' defaults, no context (the CLI has no spec for it there) */
    pt_data_options given = pt_data_options_default(), ro;
    char spec_out[1024], label_out[256];
    ck_assert_int_eq(pt_replay_data(db, run, NULL, &given, 0, spec_out, sizeof spec_out, label_out, sizeof label_out,
                                    &ro), PT_OK);
    ck_assert_str_eq(spec_out, spec);
    ck_assert(ro.context == T && ro.vocab == 256 && ro.seed == 9 && ro.digest == d.read.digest);
    ck_assert_int_eq(pt_data_open(spec_out, &ro, &e), PT_OK);
    ck_assert(e.train.n == d.train.n && e.test.n == d.test.n);
    ck_assert(memcmp(e.test.x, d.test.x, sizeof(float) * (size_t)(d.test.n * T)) == 0);
    ck_assert(memcmp(e.train.label, d.train.label, sizeof(int32_t) * (size_t)(d.train.n * T)) == 0);
    pt_data_free(&e);
    /* the same file elsewhere is the same data; another kind is refused */
    char moved[600];
    snprintf(moved, sizeof moved, "text:%s", write_bytes("moved.txt", b, 4001));
    ck_assert_int_eq(pt_replay_data(db, run, moved, &given, 0, spec_out, sizeof spec_out, label_out,
                                    sizeof label_out, &ro), PT_OK);
    ck_assert_int_eq(pt_data_open(spec_out, &ro, &e), PT_OK);
    pt_data_free(&e);
    ck_assert_int_eq(pt_replay_data(db, run, "tokens:x.bin", &given, 0, spec_out, sizeof spec_out, label_out,
                                    sizeof label_out, &ro), PT_ERR_INVALID);
    ck_assert(strstr(pt_last_error(), "trained on text:"));
    /* the file changed since the run: refused, not read as other samples */
    b[77] ^= 1;
    write_bytes("run.txt", b, 4001);
    ck_assert_int_eq(pt_replay_data(db, run, NULL, &given, 0, spec_out, sizeof spec_out, label_out, sizeof label_out,
                                    &ro), PT_OK);
    refused(spec_out, &ro, PT_ERR_INVALID, "run.txt: its bytes differ from those the recorded run read", NULL);
    pt_data_free(&d);
    free(b);
}
END_TEST

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/pt_tokens_%d", getpid());
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return 1;
    Suite *s = suite_create("tokens");
    TCase *tc = tcase_create("tokens");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_text);
    tcase_add_test(tc, test_text_errors);
    tcase_add_test(tc, test_tokens_bin);
    tcase_add_test(tc, test_tokens_bin_errors);
    tcase_add_test(tc, test_tokens_pipe);
    tcase_add_test(tc, test_fortunes);
    tcase_add_test(tc, test_replay_record);
    suite_add_tcase(s, tc);
    int rc = pt_check_run(s, CK_FORK_GETENV);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return rc;
}
