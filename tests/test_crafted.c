/* Crafted files: checkpoints with a recomputed CRC and header values out
 * of range, policies and specs of the wrong shape, IDX headers whose sizes
 * wrap or lie, run databases with values no run writes, and the plots'
 * axes for any range. Each is refused with the file and the field named
 * (or, for the axes, drawn in bounded time), never read out of bounds. */
#include <check.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "instrument/checkpoint_format.h"
#include "check_run.h"
#include "cli/svg.h"
#include "prectune/backend.h"
#include "prectune/data.h"
#include "prectune/fp8.h"
#include "prectune/model.h"
#include "prectune/policy.h"
#include "prectune/telemetry.h"
#include "prectune/trainer.h"

static char dir[64];

static const char *tmp_path(const char *name)
{
    static char buf[8][160];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 160, "%s/%s", dir, name);
    return p;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void expect(pt_status st, const char *a, const char *b, const char *c)
{
    ck_assert_msg(st == PT_ERR_INVALID, "accepted (status %d), expected an error with '%s'", st, a);
    const char *m = pt_last_error();
    ck_assert_msg(strstr(m, a) && (!b || strstr(m, b)) && (!c || strstr(m, c)), "message '%s' lacks '%s' / '%s' / '%s'",
                  m, a, b ? b : "", c ? c : "");
}

/* ---- checkpoints ---------------------------------------------------------- */


#define MODEL_JSON                                                                                  \
    "{\"name\": \"tiny\", \"input\": [2], \"layers\": [{\"name\": \"fc\", \"type\": \"linear\", "  \
    "\"out\": 8}, {\"name\": \"a\", \"type\": \"relu\"}, {\"name\": \"head\", \"type\": \"linear\", " \
    "\"out\": 2}], \"train\": {\"batch\": 16, \"steps\": 50}}"
#define FP8_POLICY                                                                                  \
    "{\"prectune_policy\": 1, \"default\": {\"fwd\": \"fp8_e4m3\", \"dgrad\": \"fp8_e5m2\", "      \
    "\"wgrad\": \"fp8_e5m2\"}, \"fp8\": {\"recipe\": \"delayed\", \"amax_history\": 16}, "         \
    "\"loss_scale\": {\"mode\": \"dynamic\", \"init\": 1024, \"min\": 1, \"max\": 65536}}"

typedef struct fixture {
    pt_model_spec spec;
    pt_policy pol;
    pt_data data;
    pt_backend *be;
} fixture;

static void fixture_open(fixture *x)
{
    const char *csv = tmp_path("d.csv");
    FILE *f = fopen(csv, "w");
    uint64_t s = 3;
    for (int i = 0; i < 200; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double a = (double)(s >> 40) / 16777216.0 - 0.5, b = (double)((s >> 16) & 0xffffff) / 16777216.0 - 0.5;
        fprintf(f, "%.6f,%.6f,%d\n", a, b, a + b > 0);
    }
    fclose(f);
    ck_assert_msg(pt_model_spec_parse(MODEL_JSON, "tiny.json", &x->spec) == PT_OK, "%s", pt_last_error());
    ck_assert_msg(pt_policy_parse(FP8_POLICY, "fp8.json", &x->pol) == PT_OK, "%s", pt_last_error());
    pt_data_options o = pt_data_options_default();
    char spec[200];
    snprintf(spec, sizeof spec, "csv:%s", csv);
    ck_assert_msg(pt_data_open(spec, &o, &x->data) == PT_OK, "%s", pt_last_error());
    ck_assert_int_eq(pt_backend_open("cpu", &x->be), PT_OK);
}

static void fixture_close(fixture *x)
{
    pt_backend_close(x->be);
    pt_data_free(&x->data);
    pt_policy_free(&x->pol);
    pt_model_spec_free(&x->spec);
}

static unsigned char *ckpt;
static size_t ckpt_len;

/* A checkpoint after 5 steps, read back into memory. */
static void make_checkpoint(fixture *x)
{
    pt_trainer *t;
    ck_assert_msg(pt_trainer_create(x->be, &x->spec, &x->pol, &x->data, &t) == PT_OK, "%s", pt_last_error());
    pt_step_record r;
    for (int i = 0; i < 5; i++) ck_assert_msg(pt_trainer_step(t, &r) == PT_OK, "%s", pt_last_error());
    const char *p = tmp_path("good.ptck");
    ck_assert_msg(pt_trainer_save(t, p) == PT_OK, "%s", pt_last_error());
    pt_trainer_destroy(t);
    char *raw;
    ck_assert_int_eq(pt_read_file_max(p, 1 << 24, "test", &raw, &ckpt_len), PT_OK);
    ckpt = (unsigned char *)raw;
}

/* Writes the checkpoint with `edit` applied and its CRC recomputed, loads
 * it into a fresh trainer and returns the status. */
static pt_status load_patched(fixture *x, void (*edit)(ckpt_header *, pt_fp8_state *))
{
    unsigned char *b = malloc(ckpt_len);
    memcpy(b, ckpt, ckpt_len);
    ckpt_header h;
    memcpy(&h, b, sizeof h);
    pt_fp8_state s0;
    memcpy(&s0, b + sizeof h, sizeof s0); /* layer 0, role x */
    edit(&h, &s0);
    memcpy(b, &h, sizeof h);
    memcpy(b + sizeof h, &s0, sizeof s0);
    uint32_t crc = (uint32_t)crc32(0L, b, (uInt)(ckpt_len - 4));
    memcpy(b + ckpt_len - 4, &crc, 4);
    const char *p = tmp_path("bad.ptck");
    write_file(p, b, ckpt_len);
    free(b);
    pt_trainer *t;
    ck_assert_int_eq(pt_trainer_create(x->be, &x->spec, &x->pol, &x->data, &t), PT_OK);
    pt_status st = pt_trainer_load(t, p);
    if (st == PT_OK) { /* it must at least run: a few steps */
        pt_step_record r;
        for (int i = 0; i < 3 && st == PT_OK; i++) st = pt_trainer_step(t, &r);
        st = PT_OK;
    }
    pt_trainer_destroy(t);
    return st;
}

static void e_none(ckpt_header *h, pt_fp8_state *s) { (void)h, (void)s; }
static void e_cursor(ckpt_header *h, pt_fp8_state *s) { (void)s, h->cursor = -64; }
static void e_step_neg(ckpt_header *h, pt_fp8_state *s) { (void)s, h->step = -(1ll << 62); }
static void e_step_big(ckpt_header *h, pt_fp8_state *s) { (void)s, h->step = 51; }
static void e_opt(ckpt_header *h, pt_fp8_state *s) { (void)s, h->opt_step = h->step + 1; }
static void e_epoch(ckpt_header *h, pt_fp8_state *s) { (void)s, h->epoch = -1; }
static void e_scale(ckpt_header *h, pt_fp8_state *s) { (void)s, h->scale = NAN; }
static void e_scale_range(ckpt_header *h, pt_fp8_state *s) { (void)s, h->scale = -1e9; }
static void e_growth(ckpt_header *h, pt_fp8_state *s) { (void)s, h->growth_tracker = 1ll << 40; }
static void e_hyst(ckpt_header *h, pt_fp8_state *s) { (void)s, h->hysteresis_left = -3; }
static void e_pos(ckpt_header *h, pt_fp8_state *s) { (void)h, s->pos = 100000; }
static void e_filled(ckpt_header *h, pt_fp8_state *s) { (void)h, s->filled = 1000000; }
static void e_fp8_scale(ckpt_header *h, pt_fp8_state *s) { (void)h, s->scale = -1.0f; }
static void e_count(ckpt_header *h, pt_fp8_state *s) { (void)h, s->clamped = -5; }

START_TEST(test_checkpoint_header_ranges)
{
    fixture x;
    fixture_open(&x);
    make_checkpoint(&x);
    ck_assert_msg(load_patched(&x, e_none) == PT_OK, "the unmodified checkpoint: %s", pt_last_error());
    const char *bad = "bad.ptck";
    expect(load_patched(&x, e_cursor), bad, "cursor is -64", "expected 0 to ");
    expect(load_patched(&x, e_step_neg), bad, "step is -4611686018427387904", "expected 0 to 50");
    expect(load_patched(&x, e_step_big), bad, "step is 51", "expected 0 to 50");
    expect(load_patched(&x, e_opt), bad, "opt_step is 6", "expected 0 to 5");
    expect(load_patched(&x, e_epoch), bad, "epoch is -1", NULL);
    expect(load_patched(&x, e_scale), bad, "field scale is nan", "finite loss scale");
    expect(load_patched(&x, e_scale_range), bad, "field scale is -1e+09", "a finite loss scale above 0");
    expect(load_patched(&x, e_growth), bad, "growth_tracker is 1099511627776", "growth_interval");
    expect(load_patched(&x, e_hyst), bad, "hysteresis_left is -3", "expected 1 to 1");
    expect(load_patched(&x, e_pos), bad, "layers[0] 'fc' fp8 x pos is 100000", "expected 0 to 15");
    expect(load_patched(&x, e_filled), bad, "layers[0] 'fc' fp8 x filled is 1000000", "expected 0 to 16");
    expect(load_patched(&x, e_fp8_scale), bad, "layers[0] 'fc' fp8 x scale is -1", NULL);
    expect(load_patched(&x, e_count), bad, "layers[0] 'fc' fp8 x clamped is -5", NULL);
    /* a file longer than a checkpoint of this model is not read whole */
    pt_trainer *t;
    ck_assert_int_eq(pt_trainer_create(x.be, &x.spec, &x.pol, &x.data, &t), PT_OK);
    expect(pt_trainer_load(t, "/dev/zero"), "/dev/zero", "the limit for a checkpoint of model 'tiny'", NULL);
    /* --init: the model's parameter count bounds what is read */
    expect(pt_trainer_init_from_file(t, "/dev/zero"), "/dev/zero", "the limit for initial weights of model 'tiny'",
           NULL);
    pt_trainer_destroy(t);
    free(ckpt);
    fixture_close(&x);
}
END_TEST

/* Errors about the model and the data together name both. */
START_TEST(test_model_data_errors_name_the_files)
{
    fixture x;
    fixture_open(&x);
    pt_model_spec wide, ten, big;
    pt_trainer *t;
    ck_assert_int_eq(pt_model_spec_parse("{\"name\": \"w\", \"input\": [3], \"layers\": [{\"name\": \"h\", "
                                         "\"type\": \"linear\", \"out\": 2}]}", "wide.json", &wide), PT_OK);
    expect(pt_trainer_create(x.be, &wide, &x.pol, &x.data, &t), "wide.json: input", "d.csv", "takes 3 input values");
    ck_assert_int_eq(pt_model_spec_parse("{\"name\": \"b\", \"input\": [2], \"layers\": [{\"name\": \"h\", "
                                         "\"type\": \"linear\", \"out\": 2}], \"train\": {\"batch\": 1000}}",
                                         "batch.json", &big), PT_OK);
    expect(pt_trainer_create(x.be, &big, &x.pol, &x.data, &t), "batch.json: train.batch", "d.csv", "fewer than a batch");
    ck_assert_int_eq(pt_model_spec_parse("{\"name\": \"t\", \"input\": [2], \"layers\": [{\"name\": \"h\", "
                                         "\"type\": \"linear\", \"out\": 1}], \"loss\": \"mse\"}", "mse.json", &ten),
                     PT_OK);
    expect(pt_trainer_create(x.be, &ten, &x.pol, &x.data, &t), "mse.json: loss", "d.csv", NULL);
    pt_model_spec_free(&wide);
    pt_model_spec_free(&big);
    pt_model_spec_free(&ten);
    fixture_close(&x);
}
END_TEST

/* ---- policies and specs ----------------------------------------------------- */

static void policy_error(const char *json, const char *field, const char *what)
{
    pt_policy p;
    expect(pt_policy_parse(json, "p.json", &p), "p.json: ", field, what);
}

START_TEST(test_policy_shapes)
{
    policy_error("{\"prectune_policy\":1,\"validation\":{\"criteria\":[0]}}", "validation.criteria", "expected an object");
    policy_error("{\"prectune_policy\":1,\"validation\":{\"baseline\":[1,2]}}", "validation.baseline", "expected an object");
    policy_error("{\"prectune_policy\":1,\"validation\":{\"policy\":[]}}", "validation.policy", "expected an object");
    policy_error("{\"prectune_policy\":1,\"validation\":{\"criteria\":\"x\"}}", "validation.criteria", "expected an object");
    policy_error("{\"prectune_policy\":1,\"validation\":{\"seeds\":[\"a\"]}}", "validation.seeds[0]", "expected an integer");
    policy_error("{\"prectune_policy\":1,\"validation\":{\"seeds\":[1e300]}}", "validation.seeds[0]", "expected an integer");
    policy_error("{\"prectune_policy\":1,\"validation\":{\"seeds\":[-1]}}", "validation.seeds[0]", "expected an integer");
    policy_error("{\"prectune_policy\":1,\"validation\":{\"steps\":9223372036854775807}}", "validation.steps", "out of range");
    policy_error("{\"prectune_policy\":1,\"validation\":{\"steps\":1e30}}", "validation.steps", "out of range");
    policy_error("{\"prectune_policy\":1,\"loss_scale\":{\"mode\":\"dynamic\",\"growth_interval\":1e19}}",
                 "loss_scale.growth_interval", "out of range");
    policy_error("{\"prectune_policy\":1,\"tf32\":true,\"tf32\":false}", "tf32", "duplicate key");
    policy_error("{\"prectune_policy\":1,\"layers\":{\"fc\":{\"fwd\":\"bf16\"},\"fc\":{\"fwd\":\"fp16\"}}}", "layers.fc",
                 "duplicate key");
    policy_error("{\"prectune_policy\":1,\"layers\":{\"f\xff\":{\"fwd\":\"bf16\"}}}", "layers", "not valid UTF-8");
    policy_error("{\"prectune_policy\":1,\"description\":\"caf\xc3\"}", "description", "not valid UTF-8");
    /* and a good one with every validation field still parses */
    pt_policy p;
    ck_assert_msg(pt_policy_parse("{\"prectune_policy\":1,\"description\":\"caf\xc3\xa9\",\"validation\":{\"seeds\":[7,8],"
                                  "\"criteria\":{\"loss_rel\":0.01},\"baseline\":{\"final_loss\":0.5},"
                                  "\"policy\":{\"final_loss\":0.5}}}", "p.json", &p) == PT_OK, "%s", pt_last_error());
    ck_assert_int_eq(p.validation.nseeds, 2);
    ck_assert_int_eq(p.validation.seeds[1], 8);
    pt_policy_free(&p);
    /* the one validation: policy check and train refuse the same */
    ck_assert_int_eq(pt_policy_parse("{\"prectune_policy\":1,\"default\":{\"fwd\":\"fp16\",\"dgrad\":\"fp16\","
                                     "\"wgrad\":\"fp16\"}}", "noscale.json", &p), PT_OK);
    expect(pt_policy_validate(&p, NULL, NULL, false), "noscale.json: loss_scale.mode", "fp16", NULL);
    ck_assert_int_eq(pt_policy_validate(&p, NULL, NULL, true), PT_OK);
    pt_policy_free(&p);
    ck_assert_int_eq(pt_policy_parse("{\"prectune_policy\":1,\"default\":{\"fwd\":\"fp16\",\"dgrad\":\"fp16\","
                                     "\"wgrad\":\"fp16\"},\"loss_scale\":{\"mode\":\"static\",\"init\":1e30}}",
                                     "static.json", &p), PT_OK);
    expect(pt_policy_validate(&p, NULL, NULL, false), "static.json: loss_scale.init", "2^24", NULL);
    pt_policy_free(&p);
    expect(pt_policy_load("/dev/zero", &p), "/dev/zero", "the limit for a model spec, policy", "16 MiB");
}
END_TEST

START_TEST(test_spec_shapes)
{
    pt_model_spec s;
    expect(pt_model_spec_parse("{\"name\": \"m\", \"input\": [16777216, 16777216, 16777216], \"layers\": "
                               "[{\"name\": \"f\", \"type\": \"flatten\"}, {\"name\": \"h\", \"type\": \"linear\", "
                               "\"out\": 2}]}", "m.json", &s), "m.json: input", "more than 2147483647", NULL);
    expect(pt_model_spec_parse("{\"name\": \"m\", \"input\": [1, 8192, 8192], \"layers\": [{\"name\": \"c\", "
                               "\"type\": \"conv2d\", \"out\": 1048576, \"kernel\": 1}, {\"name\": \"f\", \"type\": "
                               "\"flatten\"}, {\"name\": \"h\", \"type\": \"linear\", \"out\": 2}]}", "m.json", &s),
           "m.json: layers[0]", "more than 2147483647", NULL);
    expect(pt_model_spec_parse("{\"name\": \"m\", \"name\": \"n\", \"input\": [4], \"layers\": [{\"name\": \"h\", "
                               "\"type\": \"linear\", \"out\": 2}]}", "m.json", &s), "m.json: name", "duplicate key", NULL);
    expect(pt_model_spec_parse("{\"name\": \"m\xe2\x82\", \"input\": [4], \"layers\": [{\"name\": \"h\", "
                               "\"type\": \"linear\", \"out\": 2}]}", "m.json", &s), "m.json: name", "not valid UTF-8", NULL);
    /* 2^63 is past int64 (the double nearest INT64_MAX) */
    expect(pt_model_spec_parse("{\"name\": \"m\", \"input\": [4], \"layers\": [{\"name\": \"h\", \"type\": \"linear\", "
                               "\"out\": 2}], \"train\": {\"seed\": 9223372036854775808}}", "m.json", &s),
           "m.json: train.seed", "out of range", NULL);
    expect(pt_model_spec_load("/dev/zero", &s), "/dev/zero", "16 MiB", NULL);
}
END_TEST

/* ---- IDX headers ---------------------------------------------------------- */

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8),
    p[3] = (unsigned char)v;
}

/* An images file of the given header (and `extra` data bytes) and a labels
 * file of n labels. */
static const char *idx_spec(uint32_t n, uint32_t rows, uint32_t cols, size_t extra, bool gz)
{
    unsigned char h[16] = {0, 0, 8, 3};
    be32(h + 4, n), be32(h + 8, rows), be32(h + 12, cols);
    const char *img = tmp_path(gz ? "img.gz" : "img");
    unsigned char *buf = calloc(1, 16 + extra);
    memcpy(buf, h, 16);
    if (gz) {
        gzFile f = gzopen(img, "wb");
        gzwrite(f, buf, (unsigned)(16 + extra));
        gzclose(f);
    } else {
        write_file(img, buf, 16 + extra);
    }
    free(buf);
    unsigned char l[8] = {0, 0, 8, 1};
    be32(l + 4, 2);
    unsigned char lab[10] = {0};
    memcpy(lab, l, 8);
    const char *lp = tmp_path("lab");
    write_file(lp, lab, 10);
    static char spec[400];
    snprintf(spec, sizeof spec, "idx:%s,%s", img, lp);
    return spec;
}

START_TEST(test_idx_headers)
{
    pt_data d;
    pt_data_options o = pt_data_options_default();
    /* 65536 x 2^24 x 2^24 wraps a 64-bit count to 0 */
    expect(pt_data_open(idx_spec(65536, 1u << 24, 1u << 24, 0, false), &o, &d), "img", "16 GiB", NULL);
    /* 2 x 2^15 x 2^15: 2 GiB claimed by a 16-byte file (plain: its size; gzip: what decompresses) */
    expect(pt_data_open(idx_spec(2, 1u << 15, 1u << 15, 0, false), &o, &d), "img", "truncated", "the file holds 0");
    expect(pt_data_open(idx_spec(2, 1u << 15, 1u << 15, 100, true), &o, &d), "img.gz", "truncated", "100 of 2147483648");
    expect(pt_data_open(idx_spec(0x80000000u, 1, 1, 0, false), &o, &d), "img", "dimension 0", "2147483647");
    /* and a good pair reads */
    ck_assert_msg(pt_data_open(idx_spec(2, 2, 2, 8, true), &o, &d) == PT_OK, "%s", pt_last_error());
    ck_assert_int_eq(d.train.n, 2);
    pt_data_free(&d);
    /* the same gzip with every data byte but a cut or damaged trailer
     * (CRC-32 and length, its last 8 bytes), or more data than claimed */
    const char *spec = idx_spec(2, 2, 2, 8, true), *img = tmp_path("img.gz");
    FILE *f = fopen(img, "rb");
    unsigned char gz[256];
    size_t len = fread(gz, 1, sizeof gz, f);
    fclose(f);
    ck_assert(len > 8 && len < sizeof gz);
    write_file(img, gz, len - 8);
    expect(pt_data_open(spec, &o, &d), "img.gz", "cut or damaged after its 8 data bytes", "unexpected end of file");
    write_file(img, gz, len - 3);
    expect(pt_data_open(spec, &o, &d), "img.gz", "cut or damaged", NULL);
    gz[len - 6] ^= 0xff; /* in the CRC */
    write_file(img, gz, len);
    expect(pt_data_open(spec, &o, &d), "img.gz", "damaged", "incorrect data check");
    expect(pt_data_open(idx_spec(2, 2, 2, 9, true), &o, &d), "img.gz", "more data than the IDX header's 8 bytes", NULL);
}
END_TEST

/* ---- run databases ---------------------------------------------------------- */

/* A database written by the telemetry writer, then `sql` run on it. */
static pt_status check_db(const char *sql)
{
    const char *p = tmp_path("r.db");
    unlink(p);
    pt_telemetry *t;
    ck_assert_int_eq(pt_telemetry_open(p, &t), PT_OK);
    pt_run_info info = {.kind = "train", .model = "m", .fingerprint = "xxh64:0", .policy_source = "p", .device = "cpu",
                        .data = "d", .command = "c", .seed = 1, .steps = 10};
    int64_t run;
    ck_assert_int_eq(pt_telemetry_begin_run(t, &info, &run), PT_OK);
    for (int s = 0; s < 3; s++) {
        pt_step_record r = {.step = s, .loss = 1.0 / (s + 1), .scale = 1024};
        ck_assert_int_eq(pt_telemetry_step(t, run, &r), PT_OK);
        pt_stats st;
        memset(&st, 0, sizeof st);
        st.count = 100, st.absmax = 1, st.scale = 1;
        ck_assert_int_eq(pt_telemetry_layer_stats(t, run, s, 1, "fc", PT_ROLE_X, "fp32", &st), PT_OK);
    }
    ck_assert_int_eq(pt_telemetry_end_run(t, run, "finished"), PT_OK);
    ck_assert_int_eq(pt_telemetry_close(t), PT_OK);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(p, &db), SQLITE_OK);
    if (sql) ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
    pt_status st = pt_telemetry_check_readable(db, p);
    sqlite3_close(db);
    return st;
}

START_TEST(test_database_values)
{
    ck_assert_msg(check_db(NULL) == PT_OK, "%s", pt_last_error());
    expect(check_db("PRAGMA user_version = 99"), "r.db", "schema version", "99");
    expect(check_db("PRAGMA user_version = 0"), "r.db", "schema version", NULL);
    expect(check_db("UPDATE layer_stats SET layer_index = 1000000000"), "r.db: table layer_stats, column layer_index",
           "1000000000", NULL);
    expect(check_db("UPDATE layer_stats SET layer_index = -1"), "table layer_stats, column layer_index", NULL, NULL);
    expect(check_db("UPDATE steps SET scale = 0 WHERE step = 1"), "r.db: table steps, column scale", "above 0", NULL);
    expect(check_db("UPDATE steps SET step = -2 WHERE step = 1"), "table steps, column step", NULL, NULL);
    expect(check_db("UPDATE layer_stats SET nan = 101"), "table layer_stats, column nan", "0 to count", NULL);
    expect(check_db("UPDATE layer_stats SET role = 'q'"), "table layer_stats, column role", NULL, NULL);
    expect(check_db("UPDATE layer_stats SET count = 'many'"), "table layer_stats, column count", NULL, NULL);
    expect(check_db("UPDATE layer_stats SET layer = CAST(X'66FF' AS TEXT)"), "table layer_stats, column layer",
           "UTF-8", NULL);
}
END_TEST

/* ---- plot axes -------------------------------------------------------------- */

static size_t axes_bytes(double x0, double x1, double y0, double y1, bool ylog2)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    svg_plot p;
    svg_begin(&p, f, 900, 320, x0, x1, y0, y1, ylog2, "t", "x", "y");
    svg_end(&p);
    fclose(f);
    free(buf);
    return n;
}

START_TEST(test_axes_bounded)
{
    const double v[] = {0, -0.0, 1, -1e308, 1e308, 1e-320, 1e300, 1e300 + 1e284, NAN, INFINITY, -INFINITY};
    size_t nv = sizeof v / sizeof v[0];
    for (size_t a = 0; a < nv; a++)
        for (size_t b = 0; b < nv; b++)
            for (int lg = 0; lg < 2; lg++) {
                size_t n = axes_bytes(v[a], v[b], v[a], v[b], lg);
                ck_assert_msg(n < 40000, "axes for [%g, %g] (log %d): %zu bytes", v[a], v[b], lg, n);
            }
    ck_assert_uint_gt(axes_bytes(0, 100, 0, 1, false), axes_bytes(NAN, NAN, NAN, NAN, false));
}
END_TEST

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/pt_crafted_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    Suite *s = suite_create("crafted");
    TCase *tc = tcase_create("crafted");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_checkpoint_header_ranges);
    tcase_add_test(tc, test_model_data_errors_name_the_files);
    tcase_add_test(tc, test_policy_shapes);
    tcase_add_test(tc, test_spec_shapes);
    tcase_add_test(tc, test_idx_headers);
    tcase_add_test(tc, test_database_values);
    tcase_add_test(tc, test_axes_bounded);
    suite_add_tcase(s, tc);
    int rc = pt_check_run(s, CK_FORK_GETENV);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) rc = EXIT_FAILURE;
    return rc;
}
