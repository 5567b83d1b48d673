/* `prectune policy check P [--model M]` and `prectune export P --to X
 * --model M`: a policy's file validated with precise errors, and its
 * translation for DeepSpeed, Transformer Engine, PyTorch or a spreadsheet. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "prectune/export.h"
#include "prectune/policy.h"

int pt_cmd_policy(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "check") != 0) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            printf("usage: prectune policy check POLICY.json [--model MODEL.json]\n"
                   "\nValidates a policy file: its schema, known formats and settings, the loss\n"
                   "scale's sanity and, with --model, that it was made for that model (fingerprint)\n"
                   "and names only its layers. Exit 0 when it is good, 2 with the reason if not.\n");
            return PT_EXIT_OK;
        }
        return pt_cli_usage_error("policy", "expected: policy check POLICY.json [--model MODEL.json]");
    }
    static const struct option opts[] = {{"model", required_argument, 0, 'm'}, {0, 0, 0, 0}};
    const char *model = NULL;
    int c;
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'm') model = optarg;
        else return pt_cli_usage_error("policy", "unknown or incomplete option '%s'", argv[optind - 1]);
    }
    if (optind != argc - 1) return pt_cli_usage_error("policy", "expected one POLICY.json");
    pt_policy p;
    pt_status st = pt_policy_load(argv[optind], &p);
    if (st) return pt_cli_lib_error("policy check", st);
    pt_model_spec m;
    bool have_model = false;
    if (model) {
        st = pt_model_spec_load(model, &m);
        have_model = !st;
    }
    if (!st) st = pt_policy_validate(&p, have_model ? &m : NULL, model, false);
    if (!st && p.validation.present && !p.validation.passed)
        fprintf(stderr, "note: %s records a validation that did not pass\n", p.source);
    int code = st ? pt_cli_lib_error("policy check", st) : PT_EXIT_OK;
    if (!st && have_model) pt_policy_warnings(&p, &m, "", stdout);
    if (!st)
        printf("%s: ok (%d layer override%s%s%s)\n", argv[optind], p.nlayers, p.nlayers == 1 ? "" : "s",
               model ? ", matches " : "", model ? model : "");
    const pt_policy_evidence *e = &p.validation;
    if (!st && e->present) /* what the evidence says, so that a failed or noise-bound validation is seen */
        printf("%s: validated over %lld steps%s%s: %s\n", argv[optind], (long long)e->steps,
               e->device[0] ? " on " : "", e->device,
               !e->passed        ? "FAILED (the tuner wrote it anyway: the best it found)"
               : e->within_noise ? "passed within fp32's own seed-to-seed spread, wider than the criteria"
                                 : "passed");
    if (have_model) pt_model_spec_free(&m);
    pt_policy_free(&p);
    return code;
}

int pt_cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {
        {"to", required_argument, 0, 't'}, {"model", required_argument, 0, 'm'},
        {"force", no_argument, 0, 'f'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *to = NULL, *model = NULL;
    int force = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't': to = optarg; break;
        case 'm': model = optarg; break;
        case 'f': force = 1; break;
        case 'h':
            printf("usage: prectune export POLICY.json --to deepspeed|te-debug|torch|csv --model MODEL.json\n"
                   "\nWrites on stdout what another tool reads: DeepSpeed's fp16/bf16 config block,\n"
                   "a Transformer Engine debug YAML disabling fp8 for the layers kept out of it, a\n"
                   "PyTorch snippet (autocast + GradScaler), or CSV with one row per layer.\n");
            return PT_EXIT_OK;
        default: return pt_cli_usage_error("export", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1 || !to || !model)
        return pt_cli_usage_error("export", "expected POLICY.json --to FORMAT --model MODEL.json (see --help)");
    pt_policy p;
    pt_model_spec m;
    pt_status st = pt_policy_load(argv[optind], &p);
    if (st) return pt_cli_lib_error("export", st);
    st = pt_model_spec_load(model, &m);
    if (st) {
        pt_policy_free(&p);
        return pt_cli_lib_error("export", st);
    }
    st = pt_policy_validate(&p, &m, model, force);
    if (!st) st = pt_policy_export(&p, &m, to, stdout);
    int code = st ? pt_cli_lib_error("export", st) : PT_EXIT_OK;
    pt_model_spec_free(&m);
    pt_policy_free(&p);
    return code;
}
