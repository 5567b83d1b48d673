#!/usr/bin/env python3
"""Exports of a model whose names are made to break out of the exporters'
Python and YAML: each name must come back exactly, as a string, and the
outputs must hold no statement or key but their own.

usage: exports_hostile.py PRECTUNE DIR [--plain-model-name]

Writes DIR/hostile.model.json and DIR/hostile.policy.json (names with
newlines, quotes, backslashes, regular-expression syntax, YAML syntax,
Unicode line separators and other non-ASCII characters), exports them
--to torch and --to te-debug, and checks the Python with ast (the exact
list of top-level statements, MODEL_NAME and FP32_LAYERS read back as
literals) and the YAML with PyYAML (the exact keys; the pattern matching
the kept layers' names exactly and no other). --plain-model-name keeps
the model's own name ordinary and breaks out through the layers' names
only (as it does by itself where the spec's loader refuses such a model
name, exit 2 naming the field). Exit 0 when all hold; the files stay for
exports_parse.py."""
import ast
import json
import os
import re
import subprocess
import sys

import yaml

MODEL_NAME = 'm\nimport os; os.system("touch PWNED_MODEL")\n#'
# each a layer's name: at most 63 bytes of UTF-8
NAMES = [
    'a"); __import__("os").system("touch PWNED"); ("',
    "b\n  injected: 1\nx: [",
    "c)|(.*",
    "fc1",
    "c1",
    "tab\there\\back\\",
    "line\u2028sep\u0085nel\r",
    "'single' \"double\" #hash",
    "\u00e9t\u00e9 \u65e5\u672c \U0001f600",
    "}{: - ? ]",
]
FAILED = []


def expect(what, ok, detail=""):
    if not ok:
        FAILED.append(f"{what}{': ' + detail if detail else ''}")


class Refused(Exception):
    pass


def export(prectune, policy, model, to):
    r = subprocess.run([prectune, "export", policy, "--to", to, "--model", model], capture_output=True)
    err = r.stderr.decode(errors="replace")
    if r.returncode == 2 and "hostile.model.json: name" in err:
        raise Refused(err.strip())  # a spec's name that cannot become a path may be refused
    if r.returncode != 0:
        sys.exit(f"prectune export --to {to} failed ({r.returncode}): {err}")
    return r.stdout.decode("utf-8")


def main():
    prectune, d = sys.argv[1], sys.argv[2]
    plain = "--plain-model-name" in sys.argv[3:]
    if not plain:
        try:
            return check(prectune, d, MODEL_NAME)
        except Refused as e:
            print(f"note: the model's name is refused in a spec ({e}); the layers' names break out instead")
    return check(prectune, d, "plain")


def check(prectune, d, model_name):
    layers = []
    for i, n in enumerate(NAMES):
        layers.append({"name": n, "type": "linear", "out": 4 if i < len(NAMES) - 1 else 3})
    model = {"name": model_name, "input": [4], "layers": layers, "loss": "softmax_cross_entropy",
             "train": {"batch": 8, "steps": 10, "seed": 1}}
    kept = NAMES[0:2] + NAMES[3:4] + NAMES[5:9:2] + NAMES[9:]  # the fp32 ones; "c1" and "c)|(.*" stay in fp8
    pol = {"prectune_policy": 1,
           "default": {"fwd": "fp8_e4m3", "dgrad": "fp8_e5m2", "wgrad": "fp8_e5m2"},
           "loss_scale": {"mode": "none"},
           "layers": {n: {"fwd": "fp32", "dgrad": "fp32", "wgrad": "fp32",
                          "reason": "why:\n- " + n + "\n\"#"} for n in kept}}
    mp, pp = os.path.join(d, "hostile.model.json"), os.path.join(d, "hostile.policy.json")
    with open(mp, "w") as f:
        json.dump(model, f)
    with open(pp, "w") as f:
        json.dump(pol, f)

    # PyTorch: exactly these top-level statements, the names as literals
    src = export(prectune, pp, mp, "torch")
    try:
        tree = ast.parse(src)
    except SyntaxError as e:
        sys.exit(f"FAIL: --to torch is not Python: {e}\n{src}")
    top = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            top.append("import " + ",".join(a.name for a in node.names))
        elif isinstance(node, ast.Assign):
            top.append("= " + ",".join(ast.unparse(t) for t in node.targets))
        elif isinstance(node, ast.FunctionDef):
            top.append("def " + node.name)
        else:
            top.append(type(node).__name__ + " " + ast.unparse(node)[:60])
    want = ["import torch", "= MODEL_NAME", "= AUTOCAST_DTYPE", "= FP32_LAYERS", "= scaler",
            "= torch.backends.cuda.matmul.allow_tf32", "def apply_policy"]
    expect("torch: the top-level statements", top == want, f"{top}")
    assigns = {ast.unparse(n.targets[0]): n.value for n in tree.body if isinstance(n, ast.Assign)}
    if "MODEL_NAME" in assigns:
        got = ast.literal_eval(assigns["MODEL_NAME"])
        expect("torch: MODEL_NAME round-trips", got == model_name, repr(got))
    if "FP32_LAYERS" in assigns:
        got = [ast.literal_eval(e) for e in assigns["FP32_LAYERS"].args[0].elts]
        expect("torch: FP32_LAYERS round-trip, in model order", got == kept, repr(got))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func).endswith("system")]
    expect("torch: no os.system call", not calls)

    # Transformer Engine: exactly these keys, the pattern matching the kept names only
    text = export(prectune, pp, mp, "te-debug")
    try:
        te = yaml.safe_load(text)
    except yaml.YAMLError as e:
        sys.exit(f"FAIL: --to te-debug is not YAML: {e}\n{text}")
    expect("te-debug: one top-level key", isinstance(te, dict) and list(te) == ["prectune_disable_fp8"], repr(te))
    sec = te.get("prectune_disable_fp8", {}) if isinstance(te, dict) else {}
    expect("te-debug: the section's keys", sorted(sec) == ["enabled", "layers", "transformer_engine"], repr(sec))
    expect("te-debug: layers", list(sec.get("layers", {})) == ["layer_name_regex_pattern"], repr(sec.get("layers")))
    expect("te-debug: transformer_engine", sec.get("transformer_engine") == {"DisableFP8Layer": {"enabled": True}},
           repr(sec.get("transformer_engine")))
    pat = re.compile(sec.get("layers", {}).get("layer_name_regex_pattern", "$^"))
    for n in NAMES:
        for full in (n, "model.blocks." + n):
            expect(f"te-debug: the pattern on {full!r}", bool(pat.match(full)) == (n in kept))
        expect(f"te-debug: the pattern on {'x' + n!r}", not pat.match("x" + n))
    comments = [l for l in text.split("\n") if l.startswith("#")]
    expect("te-debug: one comment line per kept layer", len(comments) == 3 + len(kept), f"{len(comments)}")
    expect("te-debug: every line pure ASCII", all(c < "\x7f" for c in text), "")

    for f in FAILED:
        print("FAIL:", f)
    print(f"hostile names in the exports: {'ok' if not FAILED else f'{len(FAILED)} failures'}")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
