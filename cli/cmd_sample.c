/* prectune sample: text from a trained language model. Loads the weights
 * of a checkpoint that `train --checkpoint DIR` wrote, runs the forward in
 * a policy's formats (fp32 by default) on the context and draws each next
 * token from the softmax of the last position's logits divided by the
 * temperature (temperature 0: the argmax), with a counter-based random
 * number from the seed, so the same command prints the same text on every
 * machine whose logits agree. Seeing what a policy does to the text a
 * model writes is the point: the loss says how much, this shows what. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "../instrument/net.h"
#include "prectune/backend.h"
#include "prectune/model.h"
#include "prectune/policy.h"

static void help(FILE *out)
{
    fprintf(out,
            "usage: prectune sample MODEL.json --checkpoint DIR [--policy P.json] [--prompt TEXT]\n"
            "                       [--tokens N] [--temperature T] [--seed S] [--device DEV] [--json] [--force]\n"
            "\n"
            "Writes N tokens that the language model of MODEL.json, with the weights of\n"
            "DIR/checkpoint.ptck (train --checkpoint DIR), continues TEXT with.\n"
            "\n"
            "  --checkpoint DIR   the directory train --checkpoint wrote (or a .ptck file)\n"
            "  --policy FILE      the formats of the forward (default: fp32)\n"
            "  --prompt TEXT      the context: bytes for a model of vocabulary 256, else token ids\n"
            "                     separated by spaces or commas (default: a newline; token 0)\n"
            "  --tokens N         tokens to write (default 200)\n"
            "  --temperature T    the logits are divided by T before the softmax (default 0.8);\n"
            "                     0: the most likely token every time\n"
            "  --seed S           the random numbers' seed (default 1)\n"
            "  --device DEV       cpu (default), cuda, cuda:N\n"
            "  --json             the prompt, the tokens and each step's logits as JSON\n"
            "  --force            use a policy made for another model (fingerprint)\n"
            "\n"
            "A model of vocabulary 256 reads and writes bytes (text:, fortunes): the text is\n"
            "printed as it is, other than tab and newline the bytes below 32 or above 126\n"
            "escaped as \\xHH, and a backslash as \\\\. Past the model's context, the last T\n"
            "tokens are the context.\n");
}

/* A uniform number in [0, 1) from (seed, i): splitmix64's finalizer on a
 * counter, the top 53 bits. */
static double uniform(uint64_t seed, uint64_t i)
{
    uint64_t z = seed * 0x9e3779b97f4a7c15ull + (i + 1) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

/* The next token from one position's logits: the argmax at temperature 0
 * (the first of equal maxima), else the inverse CDF of softmax(z / temp)
 * at u, computed in double. */
static int draw(const float *z, int V, double temp, double u)
{
    int arg = 0;
    for (int j = 1; j < V; j++)
        if (z[j] > z[arg]) arg = j;
    if (temp == 0) return arg;
    double m = z[arg], sum = 0;
    for (int j = 0; j < V; j++) sum += exp(((double)z[j] - m) / temp);
    double target = u * sum, acc = 0;
    for (int j = 0; j < V; j++) {
        acc += exp(((double)z[j] - m) / temp);
        if (acc > target) return j;
    }
    return arg; /* u * sum rounded up to the whole sum */
}

static void put_byte(FILE *out, int b)
{
    if (b == '\\') fputs("\\\\", out);
    else if (b == '\n' || b == '\t' || (b >= 32 && b <= 126)) fputc(b, out);
    else fprintf(out, "\\x%02x", b);
}

/* The prompt as token ids: bytes for a byte vocabulary, else ids. */
static int parse_prompt(const char *text, bool bytes, int V, int T, int **ids, int *n)
{
    size_t len = strlen(text);
    *ids = malloc(sizeof(int) * (len + 1));
    if (!*ids) return pt_cli_usage_error("sample", "out of memory");
    *n = 0;
    if (bytes) {
        for (size_t i = 0; i < len; i++) (*ids)[(*n)++] = (unsigned char)text[i];
    } else {
        const char *p = text;
        while (*p) {
            while (*p == ' ' || *p == ',') p++;
            if (!*p) break;
            char *end;
            errno = 0;
            long v = strtol(p, &end, 10);
            if (end == p || errno || v < 0 || v >= V)
                return pt_cli_usage_error("sample", "--prompt: '%.40s' is not a token id of the vocabulary (0 to %d)",
                                          p, V - 1);
            (*ids)[(*n)++] = (int)v;
            p = end;
        }
    }
    if (*n > T)
        return pt_cli_usage_error("sample", "--prompt: %d tokens, longer than the model's context of %d", *n, T);
    if (*n == 0) (*ids)[(*n)++] = bytes ? '\n' : 0;
    return 0;
}

int pt_cmd_sample(int argc, char **argv)
{
    static const struct option opts[] = {
        {"checkpoint", required_argument, 0, 'c'}, {"policy", required_argument, 0, 'p'},
        {"prompt", required_argument, 0, 'P'},     {"tokens", required_argument, 0, 'n'},
        {"temperature", required_argument, 0, 't'}, {"seed", required_argument, 0, 's'},
        {"device", required_argument, 0, 'd'},     {"json", no_argument, 0, 'j'},
        {"force", no_argument, 0, 'f'},            {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *ckpt = NULL, *policy_path = NULL, *prompt = "", *device = "cpu";
    long long ntok = 200, seed = 1;
    double temp = 0.8;
    bool json = false, force = false;
    int c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': ckpt = optarg; break;
        case 'p': policy_path = optarg; break;
        case 'P': prompt = optarg; break;
        case 'n':
            if ((rc = pt_cli_int_option("sample", "tokens", optarg, 0, &ntok))) return rc;
            break;
        case 's':
            if ((rc = pt_cli_int_option("sample", "seed", optarg, 0, &seed))) return rc;
            break;
        case 't': {
            char *end;
            temp = strtod(optarg, &end);
            if (end == optarg || *end || !(temp >= 0) || !isfinite(temp))
                return pt_cli_usage_error("sample", "--temperature '%s': expected a number >= 0", optarg);
            break;
        }
        case 'd': device = optarg; break;
        case 'j': json = true; break;
        case 'f': force = true; break;
        case 'h': help(stdout); return PT_EXIT_OK;
        default: help(stderr); return PT_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) return pt_cli_usage_error("sample", "expected one MODEL.json (see --help)");
    if (!ckpt) return pt_cli_usage_error("sample", "--checkpoint DIR is required (the directory train --checkpoint wrote)");
    if (ntok > 1000000) return pt_cli_usage_error("sample", "--tokens %lld: at most 1000000", ntok);
    const char *model_path = argv[optind];

    char path[4096];
    struct stat sb;
    if (stat(ckpt, &sb) == 0 && S_ISDIR(sb.st_mode)) snprintf(path, sizeof path, "%s/checkpoint.ptck", ckpt);
    else snprintf(path, sizeof path, "%s", ckpt);
    if (stat(path, &sb) != 0)
        return pt_cli_usage_error("sample", "--checkpoint %s: no checkpoint %s (%s): train with --checkpoint DIR",
                                  ckpt, path, strerror(errno));

    pt_model_spec spec;
    pt_status st = pt_model_spec_load(model_path, &spec);
    if (st) return pt_cli_lib_error("sample", st);
    if (!spec.vocab || !spec.context) {
        pt_model_spec_free(&spec);
        return pt_cli_usage_error("sample", "%s: layers[0]: the model reads no tokens (sampling needs a language "
                                  "model: an embedding first, a head of the vocabulary's width last)", model_path);
    }
    const int V = spec.vocab, T = spec.context;
    const pt_layer_spec *last = &spec.layers[spec.nlayers - 1];
    if (last->size != (int64_t)T * V) {
        pt_model_spec_free(&spec);
        return pt_cli_usage_error("sample", "%s: layers[%d]: the last layer gives %lld values a sample, not a row of "
                                  "%d logits for each of the %d positions", model_path, spec.nlayers - 1,
                                  (long long)last->size, V, T);
    }
    const bool bytes = V == 256;
    int *prompt_ids = NULL, np = 0;
    if ((rc = parse_prompt(prompt, bytes, V, T, &prompt_ids, &np))) {
        free(prompt_ids);
        pt_model_spec_free(&spec);
        return rc;
    }

    pt_policy pol;
    if (policy_path) st = pt_policy_load(policy_path, &pol);
    else pt_policy_init_fp32(&pol);
    if (!st && !force) st = pt_policy_check_fingerprint(&pol, &spec, model_path);
    if (!st) st = pt_policy_check_model(&pol, &spec);
    pt_backend *be = NULL;
    pt_net *net = NULL;
    int64_t ck_step = 0;
    if (!st) st = pt_backend_open(device, &be);
    if (!st) st = pt_net_create(be, &spec, &pol, 1, &net);
    if (!st) st = pt_net_load_checkpoint(net, path, &ck_step);
    size_t total = (size_t)np + (size_t)ntok;
    int *seq = malloc(sizeof(int) * (total + 1));
    float *x = malloc(sizeof(float) * (size_t)T);
    int32_t *lab = calloc((size_t)T, sizeof(int32_t));
    float *logits = malloc(sizeof(float) * (size_t)T * (size_t)V);
    if (!st && (!seq || !x || !lab || !logits)) st = pt_fail(PT_ERR_NOMEM, "out of memory");
    if (!st) {
        memcpy(seq, prompt_ids, sizeof(int) * (size_t)np);
        net->train = false;
    }
    if (!st && json)
        printf("{\"model\": \"%s\", \"checkpoint_step\": %lld, \"temperature\": %.17g, \"seed\": %lld, \"steps\": [",
               spec.name, (long long)ck_step, temp, seed);
    if (!st && !json && bytes)
        for (int i = 0; i < np; i++) put_byte(stdout, seq[i]);
    for (size_t k = np; !st && k < total; k++) {
        /* the context: the last T tokens; positions past it are padding,
         * which the causal mask keeps from the positions before them */
        size_t from = k > (size_t)T ? k - (size_t)T : 0;
        int len = (int)(k - from);
        for (int i = 0; i < T; i++) x[i] = i < len ? (float)seq[from + (size_t)i] : 0.0f;
        if ((st = pt_backend_upload(be, net->input, x, sizeof(float) * (size_t)T)) ||
            (st = pt_backend_upload(be, net->labels, lab, sizeof(int32_t) * (size_t)T)) ||
            (st = pt_net_forward(net, 1, 0.0f)) ||
            (st = pt_backend_download(be, logits, net->L[net->nlayers - 1].y, sizeof(float) * (size_t)T * (size_t)V)))
            break;
        const float *z = logits + (size_t)(len - 1) * (size_t)V;
        int tok = draw(z, V, temp, uniform((uint64_t)seed, k - (size_t)np));
        seq[k] = tok;
        if (json) {
            printf("%s\n  {\"token\": %d, \"logits\": [", k == (size_t)np ? "" : ",", tok);
            for (int j = 0; j < V; j++) printf("%s%.9g", j ? ", " : "", (double)z[j]);
            printf("]}");
        } else if (bytes) {
            put_byte(stdout, tok);
            fflush(stdout);
        } else {
            printf("%s%d", k == (size_t)np ? "" : " ", tok);
        }
    }
    if (!st && json) {
        printf("],\n \"prompt\": [");
        for (int i = 0; i < np; i++) printf("%s%d", i ? ", " : "", seq[i]);
        printf("], \"tokens\": [");
        for (size_t k = np; k < total; k++) printf("%s%d", k == (size_t)np ? "" : ", ", seq[k]);
        printf("]}\n");
    } else if (!st) {
        putchar('\n');
    }
    rc = st ? pt_cli_lib_error("sample", st) : PT_EXIT_OK;
    free(seq);
    free(x);
    free(lab);
    free(logits);
    free(prompt_ids);
    pt_net_destroy(net);
    pt_backend_close(be);
    pt_policy_free(&pol);
    pt_model_spec_free(&spec);
    return rc;
}
