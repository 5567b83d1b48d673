/* `prectune train`: train a model spec on a dataset under a policy, with a
 * progress line, evaluation, checkpoints (Ctrl-C saves one and stops; a
 * later --resume continues bit-identically), and a summary. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/clock.h"
#include "cli.h"
#include "steps_csv.h"
#include "prectune/prectune.h"
#include "prectune/telemetry.h"
#include "prectune/trainer.h"

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) { (void)sig; interrupted = 1; }

static void help(void)
{
    printf("usage: prectune train MODEL.json --data SPEC [options]\n"
           "\n"
           "Trains the model of MODEL.json on SPEC in the formats of a policy and prints a\n"
           "summary (loss, held-out accuracy, skipped steps, loss scale, speed).\n"
           "\n"
           "  --data SPEC           fashion-mnist | idx:TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,\n"
           "                        TEST_LABELS] | csv:FILE\n"
           "  --policy FILE         per-layer formats, loss scaling, fp8 recipe (default: fp32)\n"
           "  --steps N             optimizer steps (default: the spec's train.steps)\n"
           "  --device DEV          cpu (default), cuda, cuda:N\n"
           "  --checkpoint DIR      save DIR/checkpoint.ptck every --checkpoint-every steps\n"
           "                        (default 200), at the end, on Ctrl-C and when stopped\n"
           "  --checkpoint-every N\n"
           "  --resume              continue from DIR/checkpoint.ptck\n"
           "  --steps-csv FILE      one row per step: loss, scale, skipped and why, lr, norm\n"
           "  --label COL           csv: label column (name or 0-based index; default last)\n"
           "  --header, --no-header csv: the first row is (not) a header (default: detect)\n"
           "  --no-standardize      csv: keep raw feature values\n"
           "  --val-fraction F      csv: held-out fraction (default 0.2)\n"
           "  --db FILE             telemetry database (default: DIR/telemetry.db with\n"
           "                        --checkpoint, else prectune-runs/<model>-<time>.db)\n"
           "  --no-db               record no telemetry\n"
           "  --stats-every K       per-layer statistics every K steps (default 10; always on\n"
           "                        a step with a non-finite gradient; 0: only then)\n"
           "  --drift-every M       drift against an fp32 shadow every M steps (default 100, 0 off)\n"
           "  --force               use a policy made for another model (fingerprint), or one\n"
           "                        whose loss scaling policy check refuses (an incident on purpose)\n"
           "  --stop-on-incident    stop at the first incident (NaN loss, loss spike, divergence,\n"
           "                        skip storm, growing underflow), keeping the last checkpoint\n"
           "                        before it; see prectune diagnose\n"
           "  --json                the summary as JSON on stdout\n"
           "  --quiet               no progress line\n"
           "  --init FILE           initial weights from FILE instead of the seed's: float32\n"
           "                        little-endian, layer by layer (weight in PyTorch's layout,\n"
           "                        then bias), as torch.cat of model.parameters() flattened\n"
           "  --profile-ops         time every backend op (each waits for the one before it) from\n"
           "                        the second step on, and print where the step time goes\n");
}

typedef struct run {
    pt_model_spec spec;
    pt_policy policy;
    pt_data data;
    pt_backend *be;
    pt_trainer *t;
    pt_steps_csv csv;
    pt_telemetry *tel;
    int64_t run_id;
} run;

static void run_free(run *r)
{
    if (r->tel) {
        /* a write error the run already stopped for is not printed twice */
        char said[1024];
        snprintf(said, sizeof said, "%s", pt_last_error());
        pt_trainer_flush_stats(r->t);
        if (pt_telemetry_close(r->tel) && strcmp(said, pt_last_error()) != 0)
            fprintf(stderr, "prectune train: %s\n", pt_last_error());
    }
    pt_trainer_destroy(r->t);
    pt_backend_close(r->be);
    pt_data_free(&r->data);
    pt_policy_free(&r->policy);
    pt_model_spec_free(&r->spec);
    pt_steps_csv_close(&r->csv);
}

/* A checkpoint, once what it has done is on the disk: the steps CSV's rows
 * and the telemetry up to its step. A crash after it then leaves no step
 * without its rows, and a run resumed from it removes those written after
 * it (pt_telemetry_reopen_run, pt_steps_csv_open): each step is recorded
 * once. */
static pt_status save_checkpoint(run *r, const char *path)
{
    pt_status st = pt_steps_csv_sync(&r->csv);
    if (!st && r->tel) st = pt_trainer_flush_stats(r->t);
    if (!st && r->tel) st = pt_telemetry_flush(r->tel);
    if (!st) st = pt_trainer_save(r->t, path);
    return st;
}

/* The run's end in its telemetry after a failure: an event with the
 * message, and the status. The message stays pt_last_error()'s. */
static void record_failure(run *r, const char *why, const char *severity)
{
    if (!r->tel) return;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", pt_last_error());
    pt_telemetry_event(r->tel, r->run_id, pt_trainer_steps_done(r->t), severity, why, msg);
    pt_telemetry_end_run(r->tel, r->run_id, why);
    pt_fail(PT_ERR_IO, "%s", msg);
}

static void progress(const pt_step_record *s, int64_t total, double rate, double last_acc)
{
    double eta = rate > 0 ? (double)(total - s->step - 1) / rate : 0;
    fprintf(stderr, "\r\033[Kstep %lld/%lld  loss %.4f  scale %g%s  %.0f steps/s  eta %.0fs",
            (long long)s->step + 1, (long long)total, s->loss, s->scale,
            s->skipped ? " (skipped)" : "", rate, eta);
    if (!isnan(last_acc)) fprintf(stderr, "  acc %.2f%%", 100 * last_acc);
    fflush(stderr);
}

static int mkdir_p(const char *dir)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int pt_cmd_train(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'},      {"policy", required_argument, 0, 'p'},
        {"steps", required_argument, 0, 's'},     {"device", required_argument, 0, 'D'},
        {"checkpoint", required_argument, 0, 'c'}, {"checkpoint-every", required_argument, 0, 'e'},
        {"resume", no_argument, 0, 'r'},          {"steps-csv", required_argument, 0, 'S'},
        PT_DATA_LONGOPTS,                         {"json", no_argument, 0, 'j'},
        {"quiet", no_argument, 0, 'q'},           {"help", no_argument, 0, 'h'},
        {"db", required_argument, 0, 'B'},        {"no-db", no_argument, 0, 'n'},
        {"force", no_argument, 0, 'F'},           {"stop-on-incident", no_argument, 0, 'I'},
        {"stats-every", required_argument, 0, 'K'}, {"drift-every", required_argument, 0, 'M'},
        {"profile-ops", no_argument, 0, 'P'},     {"init", required_argument, 0, 'W'},
        {0, 0, 0, 0},
    };
    const char *data_spec = NULL, *policy_path = NULL, *device = "cpu", *ckpt_dir = NULL,
               *steps_csv = NULL, *init = NULL;
    int64_t steps = 0, every = 200, stats_every = 10, drift_every = 100;
    const char *db_path = NULL;
    int no_db = 0;
    int resume = 0, json = 0, quiet = 0, force = 0, stop_on_incident = 0, profile = 0, c;
    pt_data_options dopt = pt_data_options_default();
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        long long v;
        switch (c) {
        case 'd': data_spec = optarg; break;
        case 'p': policy_path = optarg; break;
        case 's':
            if (pt_cli_int_option("train", "steps", optarg, 1, &v)) return PT_EXIT_USAGE;
            steps = v;
            break;
        case 'D': device = optarg; break;
        case 'c': ckpt_dir = optarg; break;
        case 'e':
            if (pt_cli_int_option("train", "checkpoint-every", optarg, 1, &v)) return PT_EXIT_USAGE;
            every = v;
            break;
        case 'r': resume = 1; break;
        case 'S': steps_csv = optarg; break;
        case 'B': db_path = optarg; break;
        case 'F': force = 1; break;
        case 'I': stop_on_incident = 1; break;
        case 'n': no_db = 1; break;
        case 'K':
            if (pt_cli_int_option("train", "stats-every", optarg, 0, &v)) return PT_EXIT_USAGE;
            stats_every = v;
            break;
        case 'M':
            if (pt_cli_int_option("train", "drift-every", optarg, 0, &v)) return PT_EXIT_USAGE;
            drift_every = v;
            break;
        case 'j': json = 1; break;
        case 'q': quiet = 1; break;
        case 'P': profile = 1; break;
        case 'W': init = optarg; break;
        case 'h': help(); return PT_EXIT_OK;
        default: {
            int d = pt_cli_data_option("train", c, optarg, &dopt);
            if (d < 0) return PT_EXIT_USAGE;
            if (d == 0)
                return pt_cli_usage_error("train", "unknown or incomplete option '%s' (see --help)",
                                          argv[optind - 1]);
        }
        }
    }
    if (optind != argc - 1)
        return pt_cli_usage_error("train", "expected one MODEL.json (see --help)");
    if (!data_spec) return pt_cli_usage_error("train", "--data SPEC is required (see --help)");
    if (resume && !ckpt_dir) return pt_cli_usage_error("train", "--resume needs --checkpoint DIR");

    run r;
    memset(&r, 0, sizeof r);
    pt_status st = pt_model_spec_load(argv[optind], &r.spec);
    if (st) return pt_cli_lib_error("train", st);
    if (steps) r.spec.train.steps = steps;
    if (policy_path) st = pt_policy_load(policy_path, &r.policy);
    else pt_policy_init_fp32(&r.policy);
    if (!st && policy_path) st = pt_policy_validate(&r.policy, &r.spec, argv[optind], force);
    dopt.classification = r.spec.loss == PT_LOSS_SOFTMAX_CE;
    dopt.seed = r.spec.train.seed;
    dopt.context = r.spec.context, dopt.vocab = r.spec.vocab; /* token data: the model's T and vocabulary */
    if (!st) st = pt_data_open(data_spec, &dopt, &r.data);
    if (!st) st = pt_backend_open(device, &r.be);
    if (!st) st = pt_trainer_create(r.be, &r.spec, &r.policy, &r.data, &r.t);
    if (!st && init) {
        if (resume) st = pt_fail(PT_ERR_INVALID, "--init %s: a resumed run continues from its checkpoint", init);
        else st = pt_trainer_init_from_file(r.t, init);
    }
    char ckpt[4096] = "";
    if (!st && ckpt_dir) {
        struct stat sb;
        int bad = mkdir_p(ckpt_dir) != 0 ? errno : stat(ckpt_dir, &sb) != 0 ? errno : !S_ISDIR(sb.st_mode) ? ENOTDIR : 0;
        if (bad) {
            fprintf(stderr, "prectune train: --checkpoint %s: cannot create the folder: %s\n", ckpt_dir,
                    strerror(bad));
            run_free(&r);
            return PT_EXIT_USAGE;
        }
        snprintf(ckpt, sizeof ckpt, "%s/checkpoint.ptck", ckpt_dir);
        if (!resume || access(ckpt, F_OK) != 0) {
            /* the state before any step: what a replay of an incident in the
             * first steps starts from */
            char initial[4200];
            snprintf(initial, sizeof initial, "%s/checkpoint-initial.ptck", ckpt_dir);
            st = pt_trainer_save(r.t, initial);
        }
        if (!st && resume) {
            if (access(ckpt, F_OK) == 0) {
                st = pt_trainer_load(r.t, ckpt);
                if (!st && !quiet)
                    fprintf(stderr, "resuming %s at step %lld\n", ckpt,
                            (long long)pt_trainer_steps_done(r.t));
            } else if (!quiet) {
                fprintf(stderr, "no checkpoint at %s yet: starting from step 0\n", ckpt);
            }
        }
    }
    char fingerprint[24];
    pt_model_fingerprint(&r.spec, fingerprint);
    if (!st && !no_db) {
        char path[4096];
        if (db_path) {
            snprintf(path, sizeof path, "%s", db_path);
        } else if (ckpt_dir) {
            snprintf(path, sizeof path, "%s/telemetry.db", ckpt_dir);
        } else {
            time_t now = time(NULL);
            char stamp[32];
            strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&now));
            if (mkdir_p("prectune-runs") != 0) {
                fprintf(stderr, "prectune train: cannot create prectune-runs/: %s\n", strerror(errno));
                run_free(&r);
                return PT_EXIT_USAGE;
            }
            char part[PT_NAME_MAX];
            pt_cli_file_name_part(r.spec.name, part, sizeof part); /* inside prectune-runs/, whatever the name */
            snprintf(path, sizeof path, "prectune-runs/%s-%s.db", part, stamp);
        }
        st = pt_telemetry_open(path, &r.tel);
        if (!st && resume) st = pt_telemetry_reopen_run(r.tel, fingerprint, pt_trainer_steps_done(r.t), &r.run_id);
        if (!st && !r.run_id) {
            char *spec_text = NULL, *policy_text = NULL, cmd[4096] = "prectune";
            pt_read_file(argv[optind], &spec_text, NULL);
            if (policy_path) pt_read_file(policy_path, &policy_text, NULL);
            for (int i = 0; i < argc; i++) {
                strncat(cmd, " ", sizeof cmd - strlen(cmd) - 1);
                strncat(cmd, argv[i], sizeof cmd - strlen(cmd) - 1);
            }
            pt_run_info info = {"train", r.spec.name, fingerprint, spec_text, policy_text,
                                r.policy.source, pt_backend_name(r.be), r.data.desc, cmd,
                                (int64_t)r.spec.train.seed, r.spec.train.steps, &r.data.read};
            st = pt_telemetry_begin_run(r.tel, &info, &r.run_id);
            free(spec_text);
            free(policy_text);
        }
        if (!st) st = pt_trainer_instrument(r.t, r.tel, r.run_id, stats_every, drift_every);
        if (!st && !quiet) fprintf(stderr, "telemetry: %s (run %lld)\n", path, (long long)r.run_id);
    }
    if (!st && steps_csv) st = pt_steps_csv_open(&r.csv, steps_csv, resume ? pt_trainer_steps_done(r.t) : 0);
    if (st) {
        int code = pt_cli_lib_error("train", st);
        run_free(&r);
        return code;
    }
    pt_policy_warnings(&r.policy, &r.spec, "prectune train: ", stderr);
    if (!quiet)
        fprintf(stderr, "training %s on %s, %s, policy %s, %lld steps of %d\n", r.spec.name,
                r.data.desc, pt_backend_name(r.be), r.policy.source, (long long)r.spec.train.steps,
                r.spec.train.batch);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    bool tty = !quiet && isatty(2);
    /* a crash at a fixed point, for the tests of resuming after kill -9
     * (tests/cli_io.sh): killed as kill -9 kills, once this many steps are
     * done and the checkpoint due then is written */
    const char *kill_env = getenv("PRECTUNE_TEST_KILL_AFTER_STEPS");
    int64_t kill_after = kill_env ? atoll(kill_env) : 0;
    double t0 = pt_now_s();
    int64_t start = pt_trainer_steps_done(r.t), total = r.spec.train.steps;
    double last_loss = NAN, tail_loss = 0, last_acc = NAN;
    int64_t tail_n = 0, fp8_clamped = 0, fp8_nan = 0;
    int stopped_by_incident = 0;
    pt_eval_result ev = {0};
    ev.accuracy = ev.perplexity = ev.bits_per_byte = NAN;
    int code = PT_EXIT_OK;
    while (pt_trainer_steps_done(r.t) < total) {
        if (interrupted) {
            st = pt_fail(PT_ERR_STOPPED, "interrupted at step %lld", (long long)pt_trainer_steps_done(r.t));
            break;
        }
        pt_step_record rec;
        st = pt_trainer_step(r.t, &rec);
        if (r.csv.f) {
            pt_status cs = pt_steps_csv_row(&r.csv, &rec);
            if (cs && !st) st = cs;
        }
        if (r.tel) {
            pt_status ts = pt_telemetry_step(r.tel, r.run_id, &rec);
            if (!ts && (rec.fp8_clamped || rec.fp8_nan_amax)) {
                char msg[160];
                snprintf(msg, sizeof msg, "%lld fp8 scales kept for a zero or tiny amax, %lld for a NaN/inf amax",
                         (long long)rec.fp8_clamped, (long long)rec.fp8_nan_amax);
                ts = pt_telemetry_event(r.tel, r.run_id, rec.step, rec.fp8_nan_amax ? "error" : "warning",
                                        rec.fp8_nan_amax ? "fp8_nan_amax" : "fp8_scale_clamped", msg);
            }
            if (ts && !st) st = ts;
        }
        last_loss = rec.loss;
        fp8_clamped += rec.fp8_clamped;
        fp8_nan += rec.fp8_nan_amax;
        if (rec.step >= total - 50 || total - start < 50) tail_loss += rec.loss, tail_n++;
        if (st) break;
        const char *inc_msg;
        if (stop_on_incident && pt_trainer_incidents(r.t, &inc_msg) > 0) {
            st = pt_fail(PT_ERR_STOPPED, "incident: %s (--stop-on-incident)", inc_msg);
            stopped_by_incident = 1;
            break;
        }
        int64_t done = pt_trainer_steps_done(r.t);
        if (profile && done == start + 1 && (st = pt_backend_profile(r.be, true))) break; /* after the warm-up step */
        if (r.spec.train.eval_every && done % r.spec.train.eval_every == 0 && done < total) {
            if ((st = pt_trainer_eval(r.t, &ev))) break;
            if (r.tel && (st = pt_telemetry_eval(r.tel, r.run_id, &ev))) break;
            last_acc = ev.accuracy;
            if (!quiet && !tty && !isnan(ev.perplexity))
                fprintf(stderr, "step %lld: held-out loss %.4f perplexity %.3f\n", (long long)done, ev.loss,
                        ev.perplexity);
            else if (!quiet && !tty)
                fprintf(stderr, "step %lld: held-out loss %.4f accuracy %.2f%%\n", (long long)done,
                        ev.loss, 100 * ev.accuracy);
        }
        if (ckpt[0] && done % every == 0 && (st = save_checkpoint(&r, ckpt))) break;
        if (kill_after > 0 && done == kill_after) raise(SIGKILL);
        if (tty && (done % 10 == 0 || done == total)) {
            double secs = pt_now_s() - t0;
            progress(&rec, total, (double)(done - start) / (secs > 0 ? secs : 1), last_acc);
        }
    }
    if (tty) fputc('\n', stderr);
    if (st) {
        const char *why = interrupted ? "interrupted" : st == PT_ERR_STOPPED ? "stopped" : "failed";
        record_failure(&r, why, interrupted ? "info" : "error");
    }
    if (st) {
        /* keep what was done: a checkpoint to resume or diagnose from */
        if (ckpt[0] && st == PT_ERR_STOPPED && stopped_by_incident) {
            /* the periodic checkpoint stays: it is from before the incident */
            fprintf(stderr, "prectune train: %s\n", pt_last_error());
            fprintf(stderr, "the last checkpoint before the incident is %s%s; prectune diagnose the telemetry\n",
                    access(ckpt, F_OK) == 0 ? ckpt : ckpt_dir,
                    access(ckpt, F_OK) == 0 ? "" : "/checkpoint-initial.ptck");
            code = PT_EXIT_FAILED;
        } else if (ckpt[0] && st == PT_ERR_STOPPED) {
            pt_status s2 = save_checkpoint(&r, ckpt);
            fprintf(stderr, "prectune train: %s\n", pt_last_error());
            if (!s2) fprintf(stderr, "checkpoint saved to %s (resume with --resume)\n", ckpt);
            code = interrupted ? 130 : PT_EXIT_FAILED;
        } else {
            code = pt_cli_lib_error("train", st);
            if (st == PT_ERR_STOPPED) code = interrupted ? 130 : PT_EXIT_FAILED;
        }
        run_free(&r);
        return code;
    }
    double secs = pt_now_s() - t0;
    if (profile) {
        fprintf(stderr, "%.3f ms/step wall over all %lld steps; ", 1e3 * secs / (double)(total - start),
                (long long)(total - start));
        pt_backend_profile_print(r.be, total - start - 1, stderr);
        pt_backend_profile(r.be, false); /* evaluation and the checkpoint are not steps */
    }
    if (!(st = pt_trainer_eval(r.t, &ev)) && r.tel) st = pt_telemetry_eval(r.tel, r.run_id, &ev);
    if (!st && ckpt[0]) st = save_checkpoint(&r, ckpt);
    if (!st) st = pt_steps_csv_close(&r.csv);
    if (!st && r.tel && !(st = pt_trainer_flush_stats(r.t))) st = pt_telemetry_end_run(r.tel, r.run_id, "finished");
    if (st) {
        record_failure(&r, "failed", "error");
        code = pt_cli_lib_error("train", st);
        run_free(&r);
        return code;
    }
    int64_t nonfinite = 0;
    uint64_t hash = 0;
    pt_trainer_nonfinite_params(r.t, &nonfinite);
    pt_trainer_weights_hash(r.t, &hash);
    int64_t skipped = pt_trainer_skipped(r.t);
    double final_loss = tail_n ? tail_loss / (double)tail_n : last_loss;
    double rate = (double)(total - start) / (secs > 0 ? secs : 1);
    char hash_s[32];
    snprintf(hash_s, sizeof hash_s, "%016llx", (unsigned long long)hash);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", r.spec.name);
        cJSON_AddStringToObject(o, "data", r.data.desc);
        cJSON_AddStringToObject(o, "device", pt_backend_name(r.be));
        cJSON_AddStringToObject(o, "policy", r.policy.source);
        cJSON_AddNumberToObject(o, "steps", (double)total);
        cJSON_AddNumberToObject(o, "final_train_loss", final_loss);
        cJSON_AddNumberToObject(o, "eval_loss", ev.loss);
        if (!isnan(ev.accuracy)) cJSON_AddNumberToObject(o, "accuracy", ev.accuracy);
        if (!isnan(ev.perplexity)) cJSON_AddNumberToObject(o, "perplexity", ev.perplexity);
        if (!isnan(ev.bits_per_byte)) cJSON_AddNumberToObject(o, "bits_per_byte", ev.bits_per_byte);
        cJSON_AddNumberToObject(o, "skipped_steps", (double)skipped);
        cJSON_AddNumberToObject(o, "skipped_fraction", (double)skipped / (double)total);
        cJSON_AddNumberToObject(o, "final_loss_scale", pt_trainer_loss_scale(r.t));
        cJSON_AddNumberToObject(o, "nonfinite_params", (double)nonfinite);
        cJSON_AddNumberToObject(o, "fp8_scale_clamped", (double)fp8_clamped);
        cJSON_AddNumberToObject(o, "fp8_nan_amax", (double)fp8_nan);
        cJSON_AddNumberToObject(o, "parameters", (double)pt_trainer_param_count(r.t));
        cJSON_AddNumberToObject(o, "seconds", secs);
        cJSON_AddNumberToObject(o, "steps_per_second", rate);
        cJSON_AddStringToObject(o, "weights_hash", hash_s);
        char *s = cJSON_Print(o);
        puts(s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("model            %s (%zu parameters)\n", r.spec.name, pt_trainer_param_count(r.t));
        printf("data             %s\n", r.data.desc);
        printf("device, policy   %s, %s\n", pt_backend_name(r.be), r.policy.source);
        printf("steps            %lld (%lld skipped, %.2f%%)\n", (long long)total, (long long)skipped,
               100.0 * (double)skipped / (double)total);
        printf("train loss       %.4f (mean of the last %lld steps)\n", final_loss, (long long)tail_n);
        if (!isnan(ev.accuracy))
            printf("held-out         loss %.4f, accuracy %.2f%% (%lld samples)\n", ev.loss,
                   100 * ev.accuracy, (long long)ev.samples);
        else if (!isnan(ev.perplexity) && !isnan(ev.bits_per_byte))
            printf("held-out         loss %.4f a token, perplexity %.3f, %.4f bits per byte (%lld samples)\n",
                   ev.loss, ev.perplexity, ev.bits_per_byte, (long long)ev.samples);
        else if (!isnan(ev.perplexity))
            printf("held-out         loss %.4f a token, perplexity %.3f (%lld samples)\n", ev.loss, ev.perplexity,
                   (long long)ev.samples);
        else
            printf("held-out         loss %.6f (%lld samples)\n", ev.loss, (long long)ev.samples);
        printf("loss scale       %g at the end\n", pt_trainer_loss_scale(r.t));
        printf("master weights   %s\n", nonfinite ? "NON-FINITE VALUES" : "all finite");
        if (fp8_clamped || fp8_nan)
            printf("fp8 scales       %lld kept or clamped for a zero/tiny amax, %lld NaN/inf amax "
                   "(scale kept)\n", (long long)fp8_clamped, (long long)fp8_nan);
        printf("time             %.1f s, %.1f steps/s\n", secs, rate);
        printf("weights hash     %s\n", hash_s);
    }
    run_free(&r);
    return nonfinite ? PT_EXIT_FAILED : PT_EXIT_OK;
}
