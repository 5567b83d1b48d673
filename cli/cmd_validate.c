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
        {"criteria", required_argument, 0, 'c'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *data_spec = NULL, *policy_path = NULL, *device = "cpu", *db = NULL;
    int64_t steps = 0;
    int force = 0, c;
    double crit[3] = {0.005, 0.005, 0.01};
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
            if (sscanf(optarg, "loss_rel=%lf,accuracy_drop=%lf,skipped=%lf", &crit[0], &crit[1], &crit[2]) != 3)
                return pt_cli_usage_error("validate", "--criteria '%s': expected loss_rel=X,accuracy_drop=Y,skipped=Z", optarg);
            break;
        case 'h':
            printf("usage: prectune validate MODEL.json --data SPEC --policy P.json [--steps N]\n"
                   "          [--criteria loss_rel=0.005,accuracy_drop=0.005,skipped=0.01] [--db FILE] [--force]\n"
                   "          [--label COL] [--header|--no-header] [--no-standardize] [--val-fraction F]\n"
                   "\nTrains MODEL under the policy and in fp32 (same seed, full length), checks the\n"
                   "criteria, and reports the measured step times beside the policy's estimate.\n"
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
    if (!st && !force) st = pt_policy_check_fingerprint(&pol, &spec, argv[optind]);
    if (!st) st = pt_policy_check_model(&pol, &spec);
    dopt.classification = spec.loss == PT_LOSS_SOFTMAX_CE;
    dopt.seed = spec.train.seed;
    if (!st) st = pt_data_open(data_spec, &dopt, &data);
    if (!st) st = pt_backend_open(device, &be);
    if (!st && db) st = pt_telemetry_open(db, &tel);
    pt_policy_init_fp32(&fp32);
    int64_t n = steps ? steps : spec.train.steps;
    pt_probe_result rb, rp;
    if (!st) st = pt_run_policy(be, &spec, &fp32, &data, tel, "baseline", "fp32", n, spec.train.seed, false, &rb);
    if (!st) st = pt_run_policy(be, &spec, &pol, &data, tel, "validate", policy_path, n, spec.train.seed, false, &rp);
    int code;
    if (st) {
        code = pt_cli_lib_error("validate", st);
    } else {
        double loss_rel = (rp.final_loss - rb.final_loss) / fabs(rb.final_loss);
        double drop = isnan(rb.accuracy) ? 0 : rb.accuracy - rp.accuracy;
        bool ok_loss = loss_rel <= crit[0], ok_acc = drop <= crit[1], ok_skip = rp.skipped_fraction <= crit[2],
             ok_nf = rp.nonfinite == 0 && !rp.diverged;
        printf("%-26s %12s %12s %10s\n", "", "fp32", "policy", "criterion");
        printf("%-26s %12.4f %12.4f %9s%s\n", "final training loss", rb.final_loss, rp.final_loss,
               ok_loss ? "ok" : "FAIL", "");
        printf("  relative change          %+11.2f%% %23s(<= %+.2f%%)\n", 100 * loss_rel, "", 100 * crit[0]);
        if (!isnan(rb.accuracy))
            printf("%-26s %11.2f%% %11.2f%% %9s (drop <= %.2f points)\n", "held-out accuracy", 100 * rb.accuracy,
                   100 * rp.accuracy, ok_acc ? "ok" : "FAIL", 100 * crit[1]);
        printf("%-26s %12s %11.2f%% %9s (<= %.2f%%)\n", "skipped steps", "", 100 * rp.skipped_fraction,
               ok_skip ? "ok" : "FAIL", 100 * crit[2]);
        printf("%-26s %12s %12lld %9s\n", "non-finite master weights", "", (long long)rp.nonfinite, ok_nf ? "ok" : "FAIL");
        double ms_b = rb.seconds / (double)n * 1e3, ms_p = rp.seconds / (double)n * 1e3;
        printf("%-26s %12.3f %12.3f   measured on %s: %.2fx\n", "ms per step", ms_b, ms_p, pt_backend_name(be),
               ms_b / ms_p);
        if (pol.est_speedup > 0)
            printf("%-26s %12s %11.2fx   estimated for %s\n", "speed-up", "", pol.est_speedup,
                   pol.device[0] ? pol.device : "its target");
        if (!pt_backend_is_device(be))
            printf("(the CPU backend emulates every format exactly, so it measures no speed-up;\n"
                   " the estimate is for the GPU the policy was tuned for)\n");
        bool passed = ok_loss && ok_acc && ok_skip && ok_nf;
        printf("%s\n", passed ? "validation passed" : "validation FAILED");
        code = passed ? PT_EXIT_OK : PT_EXIT_FAILED;
    }
    if (tel) pt_telemetry_close(tel);
    pt_backend_close(be);
    pt_data_free(&data);
    pt_policy_free(&pol);
    pt_model_spec_free(&spec);
    return code;
}
