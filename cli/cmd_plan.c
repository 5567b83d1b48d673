/* prectune plan: the step plan a model trains under with a policy on a
 * device, printed a line a layer (instrument/plan.h): which pass writes
 * each cast and copy, what a GEMM writes as codes, what is left for
 * statistics to materialize. For a user asking why a layer costs what it
 * does, and for checking what --policy changes in the step. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "../instrument/net.h"
#include "prectune/backend.h"
#include "prectune/model.h"
#include "prectune/policy.h"

static void help(FILE *out)
{
    fprintf(out, "usage: prectune plan MODEL.json [--policy FILE] [--device DEV] [--no-fusion]\n"
                 "\n"
                 "Prints the step plan of MODEL.json under a policy: per layer, its formats and what\n"
                 "each of its passes writes for its neighbours (casts, 16-bit codes, bias gradients)\n"
                 "and what is left unwritten until statistics read it.\n"
                 "\n"
                 "  --policy FILE  per-layer formats (default: fp32)\n"
                 "  --device DEV   cpu (default), cuda, cuda:N: the backend whose capabilities count\n"
                 "  --no-fusion    the plan with no fusion (as PRECTUNE_FUSE=0 trains)\n"
                 "  --force        use a policy made for another model (fingerprint)\n");
}

int pt_cmd_plan(int argc, char **argv)
{
    static const struct option opts[] = {{"policy", required_argument, 0, 'p'}, {"device", required_argument, 0, 'd'},
                                         {"no-fusion", no_argument, 0, 'n'},    {"force", no_argument, 0, 'f'},
                                         {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *policy_path = NULL, *device = "cpu";
    bool fused = true, force = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': policy_path = optarg; break;
        case 'd': device = optarg; break;
        case 'n': fused = false; break;
        case 'f': force = true; break;
        case 'h': help(stdout); return PT_EXIT_OK;
        default: help(stderr); return PT_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) return pt_cli_usage_error("plan", "expected one MODEL.json (see --help)");
    const char *model_path = argv[optind];
    pt_model_spec spec;
    pt_policy pol;
    pt_status st = pt_model_spec_load(model_path, &spec);
    if (st) return pt_cli_lib_error("plan", st);
    if (policy_path) st = pt_policy_load(policy_path, &pol);
    else pt_policy_init_fp32(&pol);
    if (!st && !force) st = pt_policy_check_fingerprint(&pol, &spec, model_path);
    if (!st) st = pt_policy_check_model(&pol, &spec);
    pt_backend *be = NULL;
    if (!st) st = pt_backend_open(device, &be);
    pt_plan plan = {0};
    if (!st) {
        pt_plan_caps caps;
        pt_plan_caps_of(be, &caps);
        st = pt_plan_build(&spec, &pol, &caps, spec.train.batch, fused, &plan);
    }
    int rc = st ? pt_cli_lib_error("plan", st) : PT_EXIT_OK;
    if (!st) {
        printf("%s on %s, batch %d, policy %s\n", spec.name, pt_backend_name(be), spec.train.batch,
               policy_path ? policy_path : "fp32");
        pt_plan_print(&plan, &spec, stdout);
    }
    pt_plan_free(&plan);
    pt_backend_close(be);
    pt_policy_free(&pol);
    pt_model_spec_free(&spec);
    return rc;
}
