/* `prectune diagnose RUN.db`: what went wrong in a run, where, why, and
 * the policy change that fixes it (written with --patch FILE). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/temp_dir.h"
#include "cli.h"
#include "prectune/data.h"
#include "prectune/diagnose.h"

int pt_cmd_diagnose(int argc, char **argv)
{
    static const struct option opts[] = {
        {"run", required_argument, 0, 'r'}, {"json", no_argument, 0, 'j'},
        {"patch", required_argument, 0, 'p'}, {"replay", no_argument, 0, 'R'},
        {"data", required_argument, 0, 'd'}, {"checkpoint", required_argument, 0, 'c'},
        {"device", required_argument, 0, 'D'}, PT_DATA_LONGOPTS,
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    long long run = 0;
    int json = 0, replay = 0, c;
    unsigned given = 0; /* the data options given, PT_GIVEN_* */
    const char *patch = NULL, *data_spec = NULL, *ckpt = NULL, *device = "cpu";
    pt_data_options dopt = pt_data_options_default();
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
        {
            long long v;
            if (pt_cli_int_option("diagnose", "run", optarg, 1, &v)) return PT_EXIT_USAGE;
            run = v;
            break;
        }
        case 'j': json = 1; break;
        case 'p': patch = optarg; break;
        case 'R': replay = 1; break;
        case 'd': data_spec = optarg; break;
        case 'c': ckpt = optarg; break;
        case 'D': device = optarg; break;
        case 'h':
            printf("usage: prectune diagnose RUN.db|TELEMETRY.csv [--run ID] [--json] [--patch FILE]\n"
                   "       prectune diagnose RUN.db --replay --checkpoint DIR [--data SPEC] [--label ...]\n"
                   "\nNames the first step and the first tensor (in execution order: forward by layer,\n"
                   "then backward in reverse) that went non-finite, separates the origin from values\n"
                   "that only carried it, shows the trend that led there, classifies the cause and\n"
                   "proposes the fix; --patch writes the patched policy. --replay trains again from the\n"
                   "latest checkpoint at or before the incident, with statistics on every step, under\n"
                   "the run's policy (the incident must come back) and under the patch (it must not).\n"
                   "The replay reads the data as the run recorded it (its --data, --label, --header,\n"
                   "--no-standardize, --val-fraction); an option given that differs is refused.\n"
                   "Exit 0 when the run had no incident, 1 when it had one.\n");
            return PT_EXIT_OK;
        default: {
            given |= c == PT_OPT_LABEL               ? PT_GIVEN_LABEL
                     : c == PT_OPT_HEADER || c == PT_OPT_NO_HEADER ? PT_GIVEN_HEADER
                     : c == PT_OPT_NO_STANDARDIZE   ? PT_GIVEN_STANDARDIZE
                     : c == PT_OPT_VAL_FRACTION     ? PT_GIVEN_VAL_FRACTION
                                                    : 0u;
            int dd = pt_cli_data_option("diagnose", c, optarg, &dopt);
            if (dd < 0) return PT_EXIT_USAGE;
            if (dd == 0) return pt_cli_usage_error("diagnose", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        }
    }
    if (optind != argc - 1) return pt_cli_usage_error("diagnose", "expected one RUN.db (see --help)");
    const char *path = argv[optind];
    size_t len = strlen(path);
    char tmpdir[4096] = "", tmpdb[4200] = "";
    pt_status st;
    if (len > 4 && !strcmp(path + len - 4, ".csv")) {
        /* telemetry of another framework: import it (into a private
         * folder of its own), then the same diagnosis */
        if ((st = pt_temp_dir_create("prectune-diagnose", tmpdir, sizeof tmpdir)))
            return pt_cli_lib_error("diagnose", st);
        snprintf(tmpdb, sizeof tmpdb, "%s/imported.db", tmpdir);
        st = pt_diagnose_import_csv(path, tmpdb);
        if (st) {
            pt_temp_dir_remove(tmpdir);
            return pt_cli_lib_error("diagnose", st);
        }
        path = tmpdb;
    }
    pt_diagnosis d;
    st = pt_diagnose_db(path, run, &d);
    pt_temp_dir_remove(tmpdir);
    if (st) return pt_cli_lib_error("diagnose", st);
    if (json) {
        char *s = pt_diagnosis_json(&d);
        puts(s);
        free(s);
    } else {
        pt_diagnosis_print(&d, stdout);
    }
    if (patch && d.has_patch) {
        st = pt_policy_write(&d.patch, patch);
        if (st) {
            pt_diagnosis_free(&d);
            return pt_cli_lib_error("diagnose", st);
        }
        fprintf(stderr, "patched policy written to %s\n", patch);
    } else if (patch) {
        fprintf(stderr, "no policy change to write: %s\n", d.incident ? "the fix is not a precision change" : "no incident");
    }
    int code = d.incident ? PT_EXIT_FAILED : PT_EXIT_OK;
    if (replay) {
        if (!ckpt) {
            pt_diagnosis_free(&d);
            return pt_cli_usage_error("diagnose", "--replay needs --checkpoint DIR");
        }
        dopt.classification = true;
        char spec_buf[1024], label_buf[256];
        pt_data_options ro;
        pt_replay_result rr;
        st = pt_replay_data(argv[optind], d.run, data_spec, &dopt, given, spec_buf, sizeof spec_buf, label_buf,
                            sizeof label_buf, &ro);
        if (!st) st = pt_diagnose_replay(argv[optind], &d, spec_buf, &ro, ckpt, device, &rr);
        if (st) {
            pt_diagnosis_free(&d);
            return pt_cli_lib_error("diagnose", st);
        }
        printf("replay from the checkpoint of step %lld to step %lld, statistics and the fp32 shadow on every step:\n",
               (long long)rr.checkpoint_step, (long long)rr.to_step - 1);
        printf("  with the run's policy   %s: %s\n", rr.original ? "the incident comes back" : "NO INCIDENT",
               rr.original_what);
        printf("  with the patch          %s: %s\n", rr.patched ? "THE INCIDENT STAYS" : "no incident",
               rr.patched_what);
        printf("%s\n", rr.original && !rr.patched ? "the patch fixes it" : "the replay does not confirm the fix");
        if (!(rr.original && !rr.patched)) code = PT_EXIT_FAILED;
    }
    pt_diagnosis_free(&d);
    return code;
}
