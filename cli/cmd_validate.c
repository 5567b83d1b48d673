/* `prectune validate`: a policy against fp32 on the model's full training
 * run, with the tuner's criteria, and the step time measured on this
 * device beside the speed-up the policy estimated for its target. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "prectune/prectune.h"
#include "prectune/telemetry.h"
#include "prectune/tuner.h"

int pt_cmd_validate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'},  {"policy", required_argument, 0, 'p'},
        {"steps", required_argument, 0, 's'}, {"device", required_argument, 0, 'D'},
        {"db", required_argument, 0, 'B'},    {"force", no_argument, 0, 'F'},
        PT_DATA_LONGOPTS,
        {"criteria", required_argument, 0, 'c'}, {"no-noise-floor", no_argument, 0, 'N'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *data_spec = NULL, *policy_path = NULL, *device = "cpu", *db = NULL;
    int64_t steps = 0;
    int force = 0, c;
    pt_criteria crit = pt_criteria_default();
    pt_data_options dopt = pt_data_options_default();
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        long long v;
        switch (c) {
        case 'd': data_spec = optarg; break;
        case 'p': policy_path = optarg; break;
        case 's':
            if (pt_cli_int_option("validate", "steps", optarg, 1, &v)) return PT_EXIT_USAGE;
            steps = v;
            break;
        case 'D': device = optarg; break;
        case 'B': db = optarg; break;
        case 'F': force = 1; break;
        case 'c':
            if (pt_cli_criteria("validate", optarg, &crit)) return PT_EXIT_USAGE;
            break;
        case 'N': crit.noise_floor = false; break;
        case 'h':
            printf("usage: prectune validate MODEL.json --data SPEC --policy P.json [--steps N]\n"
                   "          [--criteria loss_rel=0.005,accuracy_drop=0.005,skipped=0.01] [--no-noise-floor]\n"
                   "          [--db FILE] [--force]\n"
                   "          [--label COL] [--header|--no-header] [--no-standardize] [--val-fraction F]\n"
                   "\nTrains MODEL under the policy and in fp32 (same seed, full length), checks the\n"
                   "criteria, and reports the measured step times beside the policy's estimate.\n"
                   "When the policy misses the loss or accuracy criterion, a second fp32 run (seed + 1)\n"
                   "measures fp32's own seed-to-seed spread, and the criterion widens to it: a\n"
                   "difference fp32 shows between two of its seeds is not held against the policy\n"
                   "(--no-noise-floor: hold to the criteria as given).\n"
                   "Exit 0 when every criterion holds, 1 when one fails.\n");
            return PT_EXIT_OK;
        default: {
            int d = pt_cli_data_option("validate", c, optarg, &dopt);
            if (d < 0) return PT_EXIT_USAGE;
            if (d == 0) return pt_cli_usage_error("validate", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        }
    }
    if (optind != argc - 1 || !data_spec || !policy_path)
        return pt_cli_usage_error("validate", "expected MODEL.json --data SPEC --policy P.json (see --help)");
    pt_model_spec spec;
    pt_policy pol, fp32;
    pt_data data;
    memset(&data, 0, sizeof data);
    memset(&pol, 0, sizeof pol);
    pt_backend *be = NULL;
    pt_telemetry *tel = NULL;
    pt_status st = pt_model_spec_load(argv[optind], &spec);
    if (st) return pt_cli_lib_error("validate", st);
    st = pt_policy_load(policy_path, &pol);
    if (!st) st = pt_policy_validate(&pol, &spec, argv[optind], force);
    dopt.classification = spec.loss == PT_LOSS_SOFTMAX_CE;
    dopt.seed = spec.train.seed;
    dopt.context = spec.context, dopt.vocab = spec.vocab; /* token data: the model's T and vocabulary */
    dopt.context = spec.context, dopt.vocab = spec.vocab; /* token data: the model's T and vocabulary */
    if (!st) st = pt_data_open(data_spec, &dopt, &data);
    if (!st) st = pt_backend_open(device, &be);
    if (!st && db) st = pt_telemetry_open(db, &tel);
    pt_policy_init_fp32(&fp32);
    int64_t n = steps ? steps : spec.train.steps;
    pt_probe_result rb, rp, rn;
    pt_verdict v;
    bool noise = false;
    if (!st) st = pt_run_policy(be, &spec, &fp32, &data, tel, "baseline", "fp32", n, spec.train.seed, false, &rb);
    if (!st && rb.diverged)
        st = pt_fail(PT_ERR_STOPPED, "fp32 itself diverged over the %lld steps: there is no baseline to hold the policy "
                     "to. Look at the fp32 training first (prectune train, then prectune diagnose on its run)",
                     (long long)n);
    if (!st) st = pt_run_policy(be, &spec, &pol, &data, tel, "validate", policy_path, n, spec.train.seed, false, &rp);
    if (!st) {
        pt_judge(&crit, &rb, &rp, NULL, &v);
        if (pt_verdict_wants_noise(&crit, &v)) {
            char acc[64] = "";
            if (!isnan(rb.accuracy)) snprintf(acc, sizeof acc, ", accuracy %+.2f points", -100 * v.acc_drop);
            fprintf(stderr, "validate: the policy misses a criterion (%s %+.2f%%%s against fp32); measuring fp32's own "
                    "seed-to-seed spread (seed %llu)\n", data.tokens ? "held-out loss" : "loss", 100 * v.loss_rel, acc,
                    (unsigned long long)spec.train.seed + 1);
            st = pt_run_policy(be, &spec, &fp32, &data, tel, "baseline", "fp32 noise floor", n, spec.train.seed + 1,
                               false, &rn);
            noise = !st;
            if (noise) pt_judge(&crit, &rb, &rp, &rn, &v);
        }
    }
    int code;
    if (st) {
        code = pt_cli_lib_error("validate", st);
    } else {
        printf("%-26s %12s %12s %10s\n", "", "fp32", "policy", "criterion");
        printf("%-26s %12.4f %12.4f %9s\n", data.tokens ? "held-out loss" : "final training loss", rb.final_loss,
               rp.final_loss,
               v.ok_loss ? "ok" : "FAIL");
        printf("  relative change          %+11.2f%% %23s(<= %+.2f%%%s)\n", 100 * v.loss_rel, "", 100 * v.tol_loss,
               v.tol_loss > crit.loss_rel ? ", fp32's spread" : "");
        if (data.tokens) { /* the held-out loss as a perplexity, and in bits per byte where a token's bytes are known */
            printf("%-26s %12.3f %12.3f\n", "  perplexity", exp(rb.final_loss), exp(rp.final_loss));
            if (data.bytes_per_token > 0)
                printf("%-26s %12.4f %12.4f\n", "  bits per byte", rb.final_loss / log(2.0) / data.bytes_per_token,
                       rp.final_loss / log(2.0) / data.bytes_per_token);
        }
        if (!isnan(rb.accuracy))
            printf("%-26s %11.2f%% %11.2f%% %9s (drop <= %.2f points%s)\n", "held-out accuracy", 100 * rb.accuracy,
                   100 * rp.accuracy, v.ok_acc ? "ok" : "FAIL", 100 * v.tol_acc,
                   v.tol_acc > crit.accuracy_drop ? ", fp32's spread" : "");
        printf("%-26s %12s %11.2f%% %9s (<= %.2f%%)\n", "skipped steps", "", 100 * rp.skipped_fraction,
               v.ok_skip ? "ok" : "FAIL", 100 * crit.skipped);
        printf("%-26s %12s %12lld %9s\n", "non-finite master weights", "", (long long)rp.nonfinite,
               v.ok_finite ? "ok" : "FAIL");
        if (noise && rn.diverged)
            printf("fp32 with seed %llu diverged: no noise floor, the criteria hold as given\n",
                   (unsigned long long)spec.train.seed + 1);
        else if (noise)
            printf("%-26s %12.4f %12s   fp32 seed %llu: spread %.2f%% loss%s\n", "noise floor (fp32)", rn.final_loss,
                   "", (unsigned long long)spec.train.seed + 1, 100 * v.noise_loss_rel,
                   isnan(rb.accuracy) ? "" : ", see accuracy below");
        if (noise && !rn.diverged && !isnan(rb.accuracy))
            printf("%-26s %11.2f%% %12s   spread %.2f points\n", "  held-out accuracy", 100 * rn.accuracy, "",
                   100 * v.noise_acc);
        if (noise && !rn.diverged && pt_noise_dominates(&crit, v.noise_loss_rel, v.noise_acc))
            pt_cli_unstable_fp32("warning: ", "  ", v.noise_loss_rel, data.tokens ? NAN : v.noise_acc);
        double ms_b = rb.step_ms, ms_p = rp.step_ms; /* after warm-up */
        if (ms_b > 0 && ms_p > 0)
            printf("%-26s %12.3f %12.3f   measured on %s after warm-up: %.2fx\n", "ms per step", ms_b, ms_p,
                   pt_backend_name(be), ms_b / ms_p);
        if (pol.est_speedup > 0)
            printf("%-26s %12s %11.2fx   estimated for %s\n", "speed-up", "", pol.est_speedup,
                   pol.device[0] ? pol.device : "its target");
        printf("%-26s %10.1f MB %9.1f MB   measured: %+.0f%% (the trainer's tensors at their peak)\n",
               "memory", rb.memory_bytes / 1e6, rp.memory_bytes / 1e6,
               100 * (rp.memory_bytes - rb.memory_bytes) / rb.memory_bytes);
        if (pol.est_speedup > 0)
            printf("%-26s %12s %11.0f%%   estimated saving of activation memory, where activations are kept\n"
                   "%-26s %12s %12s   in their formats (prectune's trainer keeps them in fp32 beside the\n"
                   "%-26s %12s %12s   format copies its GEMMs read, so it does not realize that saving)\n",
                   "", "", 100 * pol.est_memory_saving, "", "", "", "", "", "");
        if (!pt_backend_is_device(be))
            printf("(the CPU backend emulates every format exactly, so it measures no speed-up;\n"
                   " the estimate is for the GPU the policy was tuned for)\n");
        printf("%s\n", !v.passed        ? "validation FAILED"
                        : v.within_noise ? "validation passed within fp32's own seed-to-seed spread (wider than the "
                                           "criteria as given: the difference is one fp32 shows between two seeds)"
                                         : "validation passed");
        code = v.passed ? PT_EXIT_OK : PT_EXIT_FAILED;
    }
    if (tel) pt_telemetry_close(tel);
    pt_backend_close(be);
    pt_data_free(&data);
    pt_policy_free(&pol);
    pt_model_spec_free(&spec);
    return code;
}
