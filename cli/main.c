/* The prectune command: dispatch to a subcommand. Results go to stdout,
 * messages to stderr; exit 0 on success, 1 when a check failed, 2 on bad
 * usage or bad input. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "prectune/data.h"
#include "prectune/prectune.h"
#include "prectune/tuner.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"tune", pt_cmd_tune, "find and validate the cheapest per-layer precision policy"},
    {"train", pt_cmd_train, "train a model spec on a dataset under a precision policy"},
    {"validate", pt_cmd_validate, "a policy against fp32 on the full run, with the criteria"},
    {"policy", pt_cmd_policy, "policy check P [--model M]: validate a policy file"},
    {"export", pt_cmd_export, "a policy for deepspeed, te-debug (Transformer Engine), torch or csv"},
    {"diagnose", pt_cmd_diagnose, "what went wrong in a run (NaN, overflow, spikes), where, why, the fix"},
    {"sample", pt_cmd_sample, "text a trained language model writes from a checkpoint, under a policy"},
    {"plan", pt_cmd_plan, "the step plan: what each layer's passes write under a policy, what is fused"},
    {"report", pt_cmd_report, "runs in a telemetry database; --csv TABLE; --html report"},
    {"formats", pt_cmd_formats,
     "limits of every number format; --cast FORMAT converts numbers read on stdin"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: prectune <command> [options]\n"
            "\n"
            "prectune measures, tunes and ships the numeric precision of neural-network\n"
            "training (fp32 / tf32 / bf16 / fp16 / fp8).\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "options:\n"
            "  -h, --help     this help (and `prectune <command> --help`)\n"
            "  -V, --version  version, and whether CUDA is built in\n");
}

int pt_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "prectune %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return PT_EXIT_USAGE;
}

int pt_cli_int_option(const char *cmd, const char *opt, const char *arg, long long min, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (end == arg || *end || v < min || errno == ERANGE)
        return pt_cli_usage_error(cmd, "--%s '%s': expected an integer >= %lld (and at most %lld)", opt, arg, min, LLONG_MAX);
    *out = v;
    return 0;
}

int pt_cli_criteria(const char *cmd, const char *list, pt_criteria *c)
{
    char buf[256];
    if (strlen(list) >= sizeof buf) return pt_cli_usage_error(cmd, "--criteria: the list is too long");
    snprintf(buf, sizeof buf, "%s", list);
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
        char *eq = strchr(t, '=');
        char *end = NULL;
        double v = eq ? strtod(eq + 1, &end) : NAN;
        if (!eq || end == eq + 1 || *end || !(v >= 0))
            return pt_cli_usage_error(cmd, "--criteria: '%s': expected NAME=VALUE with VALUE >= 0", t);
        *eq = '\0';
        if (!strcmp(t, "loss_rel")) c->loss_rel = v;
        else if (!strcmp(t, "accuracy_drop")) c->accuracy_drop = v;
        else if (!strcmp(t, "skipped")) c->skipped = v;
        else return pt_cli_usage_error(cmd, "--criteria: '%s': expected loss_rel, accuracy_drop or skipped", t);
    }
    return 0;
}

void pt_cli_unstable_fp32(const char *lead, const char *indent, double loss_rel, double acc)
{
    if (isnan(acc)) { /* a language model: its loss alone */
        printf("%sfp32 does not reproduce itself at this length: two seeds end %.1f%% apart in\n"
               "%sheld-out loss, ten times the criterion or more. A policy that passes within\n"
               "%sthat is only as good as such an fp32. Look at the fp32 training first\n"
               "%s(prectune train, then prectune diagnose on its run), or validate on more\n"
               "%sdata or a longer run.\n", lead, 100 * loss_rel, indent, indent, indent, indent);
        return;
    }
    printf("%sfp32 does not reproduce itself at this length: two seeds end %.1f%% apart in\n"
           "%sloss and %.1f points in accuracy, ten times the criteria or more. A policy that\n"
           "%spasses within that is only as good as such an fp32. Look at the fp32 training\n"
           "%sfirst (prectune train, then prectune diagnose on its run), or validate on more\n"
           "%sdata or a longer run.\n", lead, 100 * loss_rel, indent, 100 * acc, indent, indent, indent);
}

int pt_cli_data_option(const char *cmd, int c, const char *arg, pt_data_options *o)
{
    char *end;
    switch (c) {
    case PT_OPT_LABEL: o->label = arg; return 1;
    case PT_OPT_HEADER: o->header = 1; return 1;
    case PT_OPT_NO_HEADER: o->header = 0; return 1;
    case PT_OPT_NO_STANDARDIZE: o->standardize = false; return 1;
    case PT_OPT_VAL_FRACTION:
        o->val_fraction = strtod(arg, &end);
        if (*end || !(o->val_fraction >= 0 && o->val_fraction < 1)) {
            pt_cli_usage_error(cmd, "--val-fraction '%s': expected 0 <= F < 1", arg);
            return -1;
        }
        return 1;
    default: return 0;
    }
}

int pt_cli_lib_error(const char *cmd, int status)
{
    fprintf(stderr, "prectune %s: %s\n", cmd, pt_last_error());
    return status == PT_ERR_INVALID || status == PT_ERR_IO ? PT_EXIT_USAGE : PT_EXIT_FAILED;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return PT_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
        usage(stdout);
        return PT_EXIT_OK;
    }
    if (!strcmp(name, "-V") || !strcmp(name, "--version")) {
        printf("prectune %s (cuda: %s)\n", pt_version(),
               pt_have_cuda() ? "built in" : "not built");
        return PT_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(name, commands[i].name)) {
            int code = commands[i].run(argc - 1, argv + 1);
            /* what went to stdout (an export, a CSV, a summary) must have
             * reached it: a full disk under a redirection is an error */
            errno = 0;
            if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "prectune %s: writing the output (stdout) failed: %s\n", name,
                        strerror(errno ? errno : EIO));
                if (code == PT_EXIT_OK) code = PT_EXIT_USAGE;
            }
            return code;
        }
    fprintf(stderr, "prectune: unknown command '%s' (see prectune --help)\n", name);
    return PT_EXIT_USAGE;
}
