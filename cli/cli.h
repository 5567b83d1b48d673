/* Shared by the prectune subcommands: exit codes, and the one way every
 * subcommand reports a usage or input error. */
#ifndef PT_CLI_H
#define PT_CLI_H

enum { PT_EXIT_OK = 0, PT_EXIT_FAILED = 1, PT_EXIT_USAGE = 2 };

/* Prints "prectune <cmd>: <message>" to stderr and returns PT_EXIT_USAGE. */
int pt_cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prints pt_last_error() for a failed library call; returns the exit code
 * that fits the status (2 for bad input, 1 otherwise). */
int pt_cli_lib_error(const char *cmd, int status);

int pt_cmd_formats(int argc, char **argv);
int pt_cmd_train(int argc, char **argv);
int pt_cmd_report(int argc, char **argv);
int pt_cmd_tune(int argc, char **argv);
int pt_cmd_policy(int argc, char **argv);
int pt_cmd_export(int argc, char **argv);
int pt_cmd_validate(int argc, char **argv);

#endif
