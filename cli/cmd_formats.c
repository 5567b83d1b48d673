/* `prectune formats`: the limits of every format, and a calculator that
 * shows what a format does to given numbers (the bits and the value), so
 * that a user can check a claim about rounding or overflow in seconds. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "prectune/formats.h"

static void help(void)
{
    printf("usage: prectune formats [--json]\n"
           "       prectune formats --cast FORMAT [--scale S] [--saturate] [--json] < numbers\n"
           "\n"
           "Without --cast: the table of every format's limits.\n"
           "With --cast: reads one number per line on stdin (decimal, hex-float such as\n"
           "0x1.8p+0, inf or nan; blank lines are skipped), multiplies it by S (fp8-style\n"
           "scaling, default 1), encodes it in FORMAT with round-to-nearest-even and prints\n"
           "the code in hex and the value it decodes to (and that value divided by S).\n"
           "\n"
           "  --cast FORMAT   one of: %s\n"
           "  --scale S       multiply by S before encoding (finite, > 0)\n"
           "  --saturate      clamp overflow to the largest finite value (e4m3 always does)\n"
           "  --json          machine-readable output\n",
           pt_format_names());
}

static const char *overflow_name(const pt_format_traits *t)
{
    return t->overflow == PT_OVERFLOW_SATURATE ? "saturate" : "inf";
}

static int print_table(int json)
{
    if (json) {
        cJSON *arr = cJSON_CreateArray();
        for (int f = 0; f < PT_FMT_COUNT; f++) {
            const pt_format_traits *t = pt_format_info((pt_format)f);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", t->name);
            cJSON_AddNumberToObject(o, "bits", t->bits);
            cJSON_AddNumberToObject(o, "storage_bytes", t->storage_bytes);
            cJSON_AddNumberToObject(o, "exponent_bits", t->exp_bits);
            cJSON_AddNumberToObject(o, "mantissa_bits", t->man_bits);
            cJSON_AddNumberToObject(o, "bias", t->bias);
            cJSON_AddNumberToObject(o, "max_finite", t->max_finite);
            cJSON_AddNumberToObject(o, "min_normal", t->min_normal);
            cJSON_AddNumberToObject(o, "min_subnormal", t->min_subnormal);
            cJSON_AddNumberToObject(o, "epsilon", t->epsilon);
            cJSON_AddStringToObject(o, "overflow", overflow_name(t));
            cJSON_AddBoolToObject(o, "has_inf", t->has_inf);
            cJSON_AddItemToArray(arr, o);
        }
        char *s = cJSON_Print(arr);
        puts(s);
        free(s);
        cJSON_Delete(arr);
        return PT_EXIT_OK;
    }
    printf("%-9s %4s %5s %5s %-14s %-14s %-14s %-11s %s\n", "format", "bits", "e/m", "bytes",
           "max finite", "min normal", "min subnormal", "epsilon", "overflow gives");
    for (int f = 0; f < PT_FMT_COUNT; f++) {
        const pt_format_traits *t = pt_format_info((pt_format)f);
        char em[16];
        snprintf(em, sizeof em, "%d/%d", t->exp_bits, t->man_bits);
        printf("%-9s %4d %5s %5d %-14.8g %-14.8g %-14.8g %-11.6g %s\n", t->name, t->bits, em,
               t->storage_bytes, t->max_finite, t->min_normal, t->min_subnormal, t->epsilon,
               t->overflow == PT_OVERFLOW_SATURATE ? "saturate (no inf)"
                                                   : "inf (saturate with --saturate)");
    }
    return PT_EXIT_OK;
}

/* What happened to y (the scaled input) in the format. */
static const char *cast_note(const pt_format_traits *t, float y, float v)
{
    if (isnan(y)) return "nan";
    if (isinf(y)) return isinf(v) ? "exact" : "saturated";
    if (isinf(v)) return "overflow to inf";
    if (fabsf(y) > (float)t->max_finite && fabsf(v) == (float)t->max_finite) return "saturated";
    if (y != 0.0f && v == 0.0f) return "underflow to zero";
    if (v == y) return fabsf(v) < t->min_normal && v != 0.0f ? "exact (subnormal)" : "exact";
    return fabsf(v) < t->min_normal ? "rounded (subnormal)" : "rounded";
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

static void fmt_value(char *buf, size_t n, double v)
{
    if (isnan(v)) snprintf(buf, n, "nan");
    else if (isinf(v)) snprintf(buf, n, v < 0 ? "-inf" : "inf");
    else snprintf(buf, n, "%.9g", v);
}

static int cast_stdin(pt_format f, float scale, unsigned flags, int json)
{
    const pt_format_traits *t = pt_format_info(f);
    int hexw = t->storage_bytes * 2;
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    char line[4096];
    long lineno = 0;
    int scaled = scale != 1.0f;
    if (!json) {
        if (scaled)
            printf("%-16s %-16s %-10s %-16s %-16s %s\n", "input", "scaled", "code", "value",
                   "value/scale", "note");
        else
            printf("%-16s %-10s %-16s %s\n", "input", "code", "value", "note");
    }
    while (fgets(line, sizeof line, stdin)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(stdin)) {
            cJSON_Delete(arr);
            return pt_cli_usage_error("formats", "stdin:%ld: line longer than %zu characters",
                                      lineno, sizeof line - 1);
        }
        char *s = trim(line);
        if (!*s) continue;
        char *end;
        errno = 0;
        float x = strtof(s, &end);
        if (end == s || *end) {
            cJSON_Delete(arr);
            return pt_cli_usage_error(
                "formats",
                "stdin:%ld: '%s' is not a number (expected decimal such as 1.5e-3, hex-float "
                "such as 0x1.8p+0, inf or nan)",
                lineno, s);
        }
        /* ERANGE only flags a decimal outside fp32: it became inf or a
         * rounded tiny value, and that fp32 value is what we encode. */
        float y = x * scale;
        uint32_t code = pt_encode(f, y, flags);
        float v = pt_decode(f, code);
        char in_s[48], y_s[48], v_s[48], u_s[48], code_s[24];
        fmt_value(in_s, sizeof in_s, x);
        fmt_value(y_s, sizeof y_s, y);
        fmt_value(v_s, sizeof v_s, v);
        fmt_value(u_s, sizeof u_s, (double)v / scale);
        snprintf(code_s, sizeof code_s, "0x%0*x", hexw, (unsigned)code);
        const char *note = cast_note(t, y, v);
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "input", s);
            cJSON_AddStringToObject(o, "fp32", in_s);
            if (scaled) cJSON_AddStringToObject(o, "scaled", y_s);
            cJSON_AddStringToObject(o, "code", code_s);
            cJSON_AddStringToObject(o, "value", v_s);
            if (scaled) cJSON_AddStringToObject(o, "value_over_scale", u_s);
            cJSON_AddStringToObject(o, "note", note);
            cJSON_AddItemToArray(arr, o);
        } else if (scaled) {
            printf("%-16s %-16s %-10s %-16s %-16s %s\n", in_s, y_s, code_s, v_s, u_s, note);
        } else {
            printf("%-16s %-10s %-16s %s\n", in_s, code_s, v_s, note);
        }
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "format", t->name);
        cJSON_AddNumberToObject(o, "scale", scale);
        cJSON_AddBoolToObject(o, "saturate", (flags & PT_CAST_SATURATE) != 0 ||
                                                 t->overflow == PT_OVERFLOW_SATURATE);
        cJSON_AddItemToObject(o, "values", arr);
        char *out = cJSON_Print(o);
        puts(out);
        free(out);
        cJSON_Delete(o);
    }
    return PT_EXIT_OK;
}

int pt_cmd_formats(int argc, char **argv)
{
    static const struct option opts[] = {
        {"cast", required_argument, 0, 'c'}, {"scale", required_argument, 0, 's'},
        {"saturate", no_argument, 0, 'S'},   {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},       {0, 0, 0, 0},
    };
    const char *cast = NULL;
    float scale = 1.0f;
    unsigned flags = PT_CAST_DEFAULT;
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:s:Sjh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cast = optarg; break;
        case 's': {
            char *end;
            scale = strtof(optarg, &end);
            if (end == optarg || *end || !(scale > 0.0f) || isinf(scale))
                return pt_cli_usage_error("formats",
                                          "--scale '%s': expected a finite number > 0", optarg);
            break;
        }
        case 'S': flags |= PT_CAST_SATURATE; break;
        case 'j': json = 1; break;
        case 'h': help(); return PT_EXIT_OK;
        default:
            return pt_cli_usage_error("formats", "unknown or incomplete option '%s' (see --help)",
                                      argv[optind - 1]);
        }
    }
    if (optind < argc)
        return pt_cli_usage_error("formats", "unexpected argument '%s' (see --help)",
                                  argv[optind]);
    if (!cast) {
        if (scale != 1.0f || flags)
            return pt_cli_usage_error("formats", "--scale and --saturate need --cast FORMAT");
        return print_table(json);
    }
    pt_format f = pt_format_from_name(cast);
    if (f == PT_FMT_COUNT)
        return pt_cli_usage_error("formats", "--cast '%s': unknown format (expected one of: %s)",
                                  cast, pt_format_names());
    return cast_stdin(f, scale, flags, json);
}
