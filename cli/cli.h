/* Shared by the prectune subcommands: exit codes, and the one way every
 * subcommand reports a usage or input error. */
#ifndef PT_CLI_H
#define PT_CLI_H

#include <stddef.h>

enum { PT_EXIT_OK = 0, PT_EXIT_FAILED = 1, PT_EXIT_USAGE = 2 };

/* Prints "prectune <cmd>: <message>" to stderr and returns PT_EXIT_USAGE. */
int pt_cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Parses the integer value of option --opt into *out: returns 0, or prints
 * "--opt 'arg': expected an integer >= min" and returns PT_EXIT_USAGE. */
int pt_cli_int_option(const char *cmd, const char *opt, const char *arg, long long min, long long *out);

/* Parses --criteria LIST (loss_rel=X,accuracy_drop=Y,skipped=Z, any
 * subset, values >= 0) into *c; returns 0, or prints why and returns
 * PT_EXIT_USAGE. */
struct pt_criteria;
int pt_cli_criteria(const char *cmd, const char *list, struct pt_criteria *c);

/* The warning that fp32 does not reproduce itself at the validation's
 * length (pt_noise_dominates), its first line after `lead`, the others
 * after `indent`; loss_rel relative, acc a fraction. */
/* acc NaN: a language model, whose criteria hold its held-out loss alone */
void pt_cli_unstable_fp32(const char *lead, const char *indent, double loss_rel, double acc);

/* Prints pt_last_error() for a failed library call; returns the exit code
 * that fits the status (2 for bad input, 1 otherwise). */
int pt_cli_lib_error(const char *cmd, int status);

/* The dataset options train, tune and validate share (getopt_long entries
 * to put in their option tables), and their handling: returns 1 when c
 * was one of them (applied to o), 0 when not, -1 after printing why a
 * value is bad. */
enum { PT_OPT_LABEL = 1001, PT_OPT_HEADER, PT_OPT_NO_HEADER, PT_OPT_NO_STANDARDIZE, PT_OPT_VAL_FRACTION };
#define PT_DATA_LONGOPTS                                                                           \
    {"label", required_argument, 0, PT_OPT_LABEL}, {"header", no_argument, 0, PT_OPT_HEADER},     \
        {"no-header", no_argument, 0, PT_OPT_NO_HEADER},                                           \
        {"no-standardize", no_argument, 0, PT_OPT_NO_STANDARDIZE},                                 \
        {"val-fraction", required_argument, 0, PT_OPT_VAL_FRACTION}
struct pt_data_options;
int pt_cli_data_option(const char *cmd, int c, const char *arg, struct pt_data_options *o);

/* The model's name as one safe component of a default file name (see
 * file_name.c): into out (n bytes, truncated to fit). */
void pt_cli_file_name_part(const char *name, char *out, size_t n);

int pt_cmd_formats(int argc, char **argv);
int pt_cmd_train(int argc, char **argv);
int pt_cmd_report(int argc, char **argv);
int pt_cmd_tune(int argc, char **argv);
int pt_cmd_policy(int argc, char **argv);
int pt_cmd_export(int argc, char **argv);
int pt_cmd_validate(int argc, char **argv);
int pt_cmd_diagnose(int argc, char **argv);
int pt_cmd_plan(int argc, char **argv);
int pt_cmd_sample(int argc, char **argv);

#endif
