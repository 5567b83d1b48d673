/* `prectune tune`: from a model spec and data to a validated precision
 * policy (see include/prectune/tuner.h), with progress on stderr and the
 * policy's summary on stdout. Started again with the same arguments it
 * resumes from its database. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "prectune/prectune.h"
#include "prectune/telemetry.h"
#include "prectune/tuner.h"

static void help(void)
{
    printf("usage: prectune tune MODEL.json --data SPEC [options]\n"
           "\n"
           "Finds the cheapest per-layer precision that trains MODEL as well as fp32 and\n"
           "writes it as a validated policy file.\n"
           "\n"
           "  --data SPEC           as for train (fashion-mnist, idx:..., csv:FILE, random: or synthetic:N,DIM,C)\n"
           "  --out FILE            the policy (default: MODEL-NAME.policy.json)\n"
           "  --formats LIST        formats to consider, of fp32,tf32,bf16,fp16,fp8\n"
           "                        (default fp32,bf16,fp16,fp8)\n"
           "  --probe-steps N       steps of each probe run (default 300)\n"
           "  --validate-steps N    steps of the validation against fp32 (default: the model's\n"
           "                        train.steps, the run the policy is for)\n"
           "  --budget-runs R       probe runs at most (default 60)\n"
           "  --budget-time T       seconds at most for the search (default: none); the progress\n"
           "                        lines say the time left of it, and an estimate of the time to go\n"
           "  --criteria LIST       the validation's criteria, any of\n"
           "                        loss_rel=0.005,accuracy_drop=0.005,skipped=0.01\n"
           "  --no-noise-floor      hold the validation to the criteria as given; by default a\n"
           "                        policy that misses the loss or accuracy criterion is held\n"
           "                        to fp32's own seed-to-seed spread at full length instead\n"
           "                        when that is larger (one more fp32 run measures it)\n"
           "  --device-table FILE   the cost model's target device (default: the H100 table)\n"
           "  --calibrate FILE      measure the target device's table on --device with prectune's\n"
           "                        own kernels (GEMM throughput per format, copy bandwidth), write\n"
           "                        it to FILE and use it (instead of --device-table)\n"
           "  --db FILE             where probe runs are kept (default prectune-runs/NAME-tune.db);\n"
           "                        the same arguments resume an interrupted tune\n"
           "  --device DEV          cpu (default), cuda, cuda:N\n"
           "  --label, --header, --no-header, --no-standardize, --val-fraction: as for train\n"
           "  --quiet               no progress\n");
}

static int parse_formats(const char *list, pt_tune_options *o)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (int f = 0; f < PT_FMT_COUNT; f++) o->allowed[f] = false;
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
        if (!strcmp(t, "fp8")) o->allowed[PT_FMT_E4M3] = o->allowed[PT_FMT_E5M2] = true;
        else {
            pt_format f = pt_format_from_name(t);
            if (f == PT_FMT_COUNT || f == PT_FMT_E4M3 || f == PT_FMT_E5M2)
                return pt_cli_usage_error("tune", "--formats: '%s' is not one of fp32, tf32, bf16, fp16, fp8", t);
            o->allowed[f] = true;
        }
    }
    return 0;
}

int pt_cmd_tune(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'},        {"out", required_argument, 0, 'o'},
        {"formats", required_argument, 0, 'f'},     {"probe-steps", required_argument, 0, 'p'},
        {"budget-runs", required_argument, 0, 'R'}, {"budget-time", required_argument, 0, 'T'},
        {"criteria", required_argument, 0, 'c'},    {"device-table", required_argument, 0, 't'},
        {"db", required_argument, 0, 'B'},          {"device", required_argument, 0, 'D'},
        PT_DATA_LONGOPTS,                           {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},              {"calibrate", required_argument, 0, 'C'},
        {"no-noise-floor", no_argument, 0, 'N'},    {"validate-steps", required_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    const char *data_spec = NULL, *out_path = NULL, *db_path = NULL, *device = "cpu", *table = NULL,
               *calibrate = NULL;
    pt_tune_options o = pt_tune_options_default();
    o.progress = true;
    pt_data_options dopt = pt_data_options_default();
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        long long v;
        switch (c) {
        case 'd': data_spec = optarg; break;
        case 'o': out_path = optarg; break;
        case 'f': if (parse_formats(optarg, &o)) return PT_EXIT_USAGE; break;
        case 'p':
            if (pt_cli_int_option("tune", "probe-steps", optarg, 10, &v)) return PT_EXIT_USAGE;
            o.probe_steps = v;
            break;
        case 'V':
            if (pt_cli_int_option("tune", "validate-steps", optarg, 10, &v)) return PT_EXIT_USAGE;
            o.validate_steps = v;
            break;
        case 'R':
            if (pt_cli_int_option("tune", "budget-runs", optarg, 3, &v)) return PT_EXIT_USAGE;
            o.budget_runs = (int)v;
            break;
        case 'T':
            o.budget_seconds = strtod(optarg, &end);
            if (*end || !(o.budget_seconds > 0)) return pt_cli_usage_error("tune", "--budget-time '%s': expected seconds > 0", optarg);
            break;
        case 'c': if (pt_cli_criteria("tune", optarg, &o.crit)) return PT_EXIT_USAGE; break;
        case 'N': o.crit.noise_floor = false; break;
        case 't': table = optarg; break;
        case 'C': calibrate = optarg; break;
        case 'B': db_path = optarg; break;
        case 'D': device = optarg; break;
        case 'q': o.progress = false; break;
        case 'h': help(); return PT_EXIT_OK;
        default: {
            int d = pt_cli_data_option("tune", c, optarg, &dopt);
            if (d < 0) return PT_EXIT_USAGE;
            if (d == 0) return pt_cli_usage_error("tune", "unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
        }
        }
    }
    if (optind != argc - 1) return pt_cli_usage_error("tune", "expected one MODEL.json (see --help)");
    if (!data_spec) return pt_cli_usage_error("tune", "--data SPEC is required (see --help)");
    if (calibrate && table) return pt_cli_usage_error("tune", "--calibrate measures the device table: drop --device-table");
    pt_model_spec spec;
    pt_data data;
    memset(&data, 0, sizeof data);
    pt_backend *be = NULL;
    pt_telemetry *tel = NULL;
    pt_policy pol;
    memset(&pol, 0, sizeof pol);
    pt_status st = pt_model_spec_load(argv[optind], &spec);
    if (st) return pt_cli_lib_error("tune", st);
    if (table) st = pt_device_table_load(table, &o.device);
    dopt.classification = spec.loss == PT_LOSS_SOFTMAX_CE;
    dopt.seed = spec.train.seed;
    dopt.context = spec.context, dopt.vocab = spec.vocab; /* token data: the model's T and vocabulary */
    dopt.context = spec.context, dopt.vocab = spec.vocab; /* token data: the model's T and vocabulary */
    if (!st) st = pt_data_open(data_spec, &dopt, &data);
    if (!st) st = pt_backend_open(device, &be);
    if (!st && calibrate) {
        if (o.progress) fprintf(stderr, "calibrating %s ...\n", pt_backend_name(be));
        st = pt_device_calibrate(be, &o.device);
        if (!st) st = pt_device_table_write(&o.device, calibrate);
        if (!st && o.progress)
            fprintf(stderr, "device table %s: GEMM TFLOP/s fp32 %.1f, tf32 %.1f, bf16 %.1f, fp16 %.1f, fp8 %.1f; "
                    "copy %.0f GB/s\n", calibrate, o.device.tflops[PT_FMT_FP32], o.device.tflops[PT_FMT_TF32],
                    o.device.tflops[PT_FMT_BF16], o.device.tflops[PT_FMT_FP16], o.device.tflops[PT_FMT_E4M3],
                    o.device.gbs);
    }
    char dbp[4096], outp[4096], part[PT_NAME_MAX];
    pt_cli_file_name_part(spec.name, part, sizeof part); /* the defaults stay where they are said to be */
    if (db_path) snprintf(dbp, sizeof dbp, "%s", db_path);
    else {
        mkdir("prectune-runs", 0755);
        snprintf(dbp, sizeof dbp, "prectune-runs/%s-tune.db", part);
    }
    snprintf(outp, sizeof outp, "%s", out_path ? out_path : "");
    if (!out_path) snprintf(outp, sizeof outp, "%s.policy.json", part);
    if (!st) { /* before the tune, not after it: the policy's folder must take the file */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", outp);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        const char *d = slash ? (dir[0] ? dir : "/") : ".";
        if (access(d, W_OK) != 0)
            st = pt_fail(PT_ERR_INVALID, "--out %s: cannot write into %s (%s)", outp, d, strerror(errno));
    }
    if (!st) st = pt_telemetry_open(dbp, &tel);
    /* one tune at a time on a database: a second would run the same
     * probes again beside the first */
    bool claimed = false;
    if (!st) claimed = !(st = pt_telemetry_claim(tel, "tune"));
    if (!st && o.progress)
        fprintf(stderr, "tuning %s on %s (%s); probe runs in %s; cost model: %s\n", spec.name, data.desc,
                pt_backend_name(be), dbp, o.device.name);
    pt_tune_summary sum;
    memset(&sum, 0, sizeof sum);
    if (!st) st = pt_tune(be, &spec, &data, tel, &o, &pol, &sum);
    if (!st) st = pt_policy_write(&pol, outp);
    int code = PT_EXIT_OK;
    if (st) {
        code = pt_cli_lib_error("tune", st);
        if (st == PT_ERR_STOPPED) code = PT_EXIT_FAILED;
    } else {
        printf("policy           %s (%s)\n", outp, pol.validation.passed ? "validated" : "VALIDATION FAILED");
        printf("model            %s, %s\n", pol.model, pol.fingerprint);
        printf("default          fwd %s, dgrad %s, wgrad %s\n", pt_format_info(pol.def.fwd)->name,
               pt_format_info(pol.def.dgrad)->name, pt_format_info(pol.def.wgrad)->name);
        for (int i = 0; i < pol.nlayers; i++)
            printf("  %-14s fwd %s, dgrad %s, wgrad %s%s%s\n", pol.layers[i].name,
                   pt_format_info(pol.layers[i].f.fwd)->name, pt_format_info(pol.layers[i].f.dgrad)->name,
                   pt_format_info(pol.layers[i].f.wgrad)->name, pol.layers[i].reason[0] ? "\n                 " : "",
                   pol.layers[i].reason);
        printf("loss scale       %s", pol.loss_scale.mode == PT_SCALE_DYNAMIC ? "dynamic" : pol.loss_scale.mode == PT_SCALE_STATIC ? "static" : "none");
        if (pol.loss_scale.mode != PT_SCALE_NONE) printf(", init %g", pol.loss_scale.init);
        const pt_policy_evidence *e = &pol.validation;
        /* a held-out accuracy to speak of (a language model's criteria hold its held-out loss alone) */
        bool classes = spec.loss == PT_LOSS_SOFTMAX_CE && !e->heldout_loss;
        char acc[96] = "", nacc[64] = "";
        if (classes) {
            snprintf(acc, sizeof acc, ", accuracy %.2f%% vs %.2f%%", 100 * e->accuracy, 100 * e->base_accuracy);
            snprintf(nacc, sizeof nacc, ", accuracy %.2f%%", 100 * e->noise_accuracy);
        }
        printf("\nvalidation       %lld steps: %s %.4f vs fp32 %.4f%s, %.2f%% skipped\n", (long long)e->steps,
               e->heldout_loss ? "held-out loss" : "loss", e->loss, e->base_loss, acc, 100 * e->skipped_fraction);
        if (e->heldout_loss) { /* the same losses as perplexities, and in bits per byte where a token's bytes are known */
            printf("                 perplexity %.3f vs fp32 %.3f", exp(e->loss), exp(e->base_loss));
            if (data.bytes_per_token > 0)
                printf(", %.4f vs %.4f bits per byte", e->loss / log(2.0) / data.bytes_per_token,
                       e->base_loss / log(2.0) / data.bytes_per_token);
            printf("\n");
        }
        if (e->noise_present && !e->noise_diverged)
            printf("                 fp32 with seed %lld: loss %.4f (%.2f%% from seed %lld)%s: %s\n",
                   (long long)(e->nseeds > 1 ? e->seeds[1] : e->seeds[0] + 1), e->noise_loss,
                   100 * fabs(e->noise_loss - e->base_loss) / fabs(e->base_loss), (long long)e->seeds[0], nacc,
                   e->within_noise ? "the policy passed within that spread, wider than the criteria"
                   : e->passed     ? "the policy passed the criteria as given"
                                   : "the policy missed even that spread");
        double nl = fabs(e->noise_loss - e->base_loss) / fabs(e->base_loss),
               na = classes ? fabs(e->noise_accuracy - e->base_accuracy) : e->heldout_loss ? NAN : 0;
        if (e->noise_present && !e->noise_diverged && pt_noise_dominates(&o.crit, nl, na))
            pt_cli_unstable_fp32("warning          ", "                 ", nl, na);
        printf("estimate         %.2fx faster per step than fp32, %.0f%% less activation memory, on %s\n",
               pol.est_speedup, 100 * pol.est_memory_saving, o.device.name);
        bool all_fp32 = pol.def.fwd == PT_FMT_FP32 && pol.def.dgrad == PT_FMT_FP32 && pol.def.wgrad == PT_FMT_FP32;
        for (int i = 0; i < pol.nlayers && all_fp32; i++)
            all_fp32 = pol.layers[i].f.fwd == PT_FMT_FP32 && pol.layers[i].f.dgrad == PT_FMT_FP32 &&
                       pol.layers[i].f.wgrad == PT_FMT_FP32;
        if (all_fp32)
            printf("                 every layer stays in fp32: none gains from a lower format on this device\n"
                   "                 (the reasons above say why, layer by layer)\n");
        printf("tuning           %d probe runs (%d reused from %s), %.0f s\n", sum.probes_run, sum.probes_reused,
               dbp, sum.seconds);
        code = pol.validation.passed ? PT_EXIT_OK : PT_EXIT_FAILED;
    }
    pt_policy_free(&pol);
    if (claimed && pt_telemetry_release(tel, "tune") && !code) code = pt_cli_lib_error("tune", PT_ERR_IO);
    if (tel && pt_telemetry_close(tel) && !code) code = pt_cli_lib_error("tune", PT_ERR_IO);
    pt_backend_close(be);
    pt_data_free(&data);
    pt_model_spec_free(&spec);
    return code;
}
