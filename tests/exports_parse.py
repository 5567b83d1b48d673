#!/usr/bin/env python3
"""The exporters' outputs parsed back by independent parsers and checked
field by field against the policy and model they came from.

usage: exports_parse.py PRECTUNE POLICY.json MODEL.json

Runs `prectune export POLICY --to T --model MODEL` for each target, parses
the DeepSpeed block with json, the Transformer Engine debug config with
PyYAML (python3-yaml), the PyTorch snippet with Python's own parser (ast:
syntax, the assignments and the GradScaler call's arguments) and the CSV
with the csv module, and compares every field with what the policy file
says, resolved here from the JSON (a layer's own formats, else the
default; tf32 turning fp32 GEMMs into tf32). Exit 0 when all agree."""
import ast
import csv
import io
import json
import math
import re
import subprocess
import sys

import yaml

FP8 = ("fp8_e4m3", "fp8_e5m2")
SCALER_DEFAULTS = {"mode": "none", "init": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                   "growth_interval": 2000, "hysteresis": 1, "min": 1.0}
failures = []


def expect(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, expected {want!r}")


def export(prectune, policy, model, to):
    # bytes decoded as they are: a carriage return in a name stays one
    r = subprocess.run([prectune, "export", policy, "--to", to, "--model", model], capture_output=True)
    if r.returncode != 0:
        sys.exit(f"prectune export --to {to} failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
    return r.stdout.decode("utf-8")


def main():
    prectune, policy_path, model_path = sys.argv[1:4]
    with open(policy_path) as f:
        pol = json.load(f)
    with open(model_path) as f:
        model = json.load(f)
    default = pol.get("default", {"fwd": "fp32", "dgrad": "fp32", "wgrad": "fp32"})
    tf32 = pol.get("tf32", False)
    gemm = [l for l in model["layers"] if l["type"] in ("linear", "conv2d")]

    def formats(name):
        f = dict(pol.get("layers", {}).get(name, default))
        for k in ("fwd", "dgrad", "wgrad"):
            f.setdefault(k, default[k])
            if tf32 and f[k] == "fp32":
                f[k] = "tf32"
        return f

    fmts = {l["name"]: formats(l["name"]) for l in gemm}
    ls = dict(SCALER_DEFAULTS, **pol.get("loss_scale", {}))

    # DeepSpeed: the fp16 block with the loss-scale settings, or bf16
    ds = json.loads(export(prectune, policy_path, model_path, "deepspeed"))
    fp16 = any(f["fwd"] == "fp16" or f["dgrad"] == "fp16" for f in fmts.values())
    bf16 = any(f["fwd"] == "bf16" or f["dgrad"] == "bf16" or f["fwd"] in FP8 for f in fmts.values())
    if fp16:
        expect("deepspeed keys", sorted(ds), ["fp16"])
        b = ds["fp16"]
        expect("deepspeed fp16.enabled", b["enabled"], True)
        expect("deepspeed fp16.loss_scale", b["loss_scale"], ls["init"] if ls["mode"] == "static" else 0)
        expect("deepspeed fp16.initial_scale_power", b["initial_scale_power"], round(math.log2(ls["init"])))
        expect("deepspeed fp16.loss_scale_window", b["loss_scale_window"], ls["growth_interval"])
        expect("deepspeed fp16.hysteresis", b["hysteresis"], ls["hysteresis"])
        expect("deepspeed fp16.min_loss_scale", b["min_loss_scale"], ls["min"])
    elif bf16:
        expect("deepspeed", ds, {"bf16": {"enabled": True}})
    else:
        expect("deepspeed", ds, {"fp16": {"enabled": False}})

    # Transformer Engine: the layers kept out of fp8, by a regular expression
    te = yaml.safe_load(export(prectune, policy_path, model_path, "te-debug"))
    kept = [n for n, f in fmts.items() if f["fwd"] not in FP8]
    if not kept:
        expect("te-debug (no layer kept out of fp8)", te, None)
    else:
        sec = te["prectune_disable_fp8"]
        expect("te-debug enabled", sec["enabled"], True)
        expect("te-debug DisableFP8Layer", sec["transformer_engine"], {"DisableFP8Layer": {"enabled": True}})
        pat = re.compile(sec["layers"]["layer_name_regex_pattern"])
        for l in model["layers"]:
            expect(f"te-debug pattern on '{l['name']}'", bool(pat.match(l["name"])), l["name"] in kept)

    # PyTorch: a valid module; the dtype, the fp32 layers, the scaler
    tree = ast.parse(export(prectune, policy_path, model_path, "torch"))
    assigns = {}
    calls = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            t = node.targets[0]
            name = t.id if isinstance(t, ast.Name) else ast.unparse(t)
            assigns[name] = node.value
            if isinstance(node.value, ast.Call):
                calls[name] = node.value
    dtype = "float16" if any(f["fwd"] == "fp16" for f in fmts.values()) else "bfloat16"
    expect("torch AUTOCAST_DTYPE", ast.unparse(assigns["AUTOCAST_DTYPE"]), f"torch.{dtype}")
    fp32 = assigns["FP32_LAYERS"]
    expect("torch FP32_LAYERS", sorted(ast.literal_eval(fp32.args[0])),
           sorted(n for n, f in fmts.items() if f["fwd"] in ("fp32", "tf32")))
    kw = {k.arg: ast.literal_eval(k.value) for k in calls["scaler"].keywords}
    if ls["mode"] == "none":
        expect("torch GradScaler", kw, {"enabled": False})
    else:
        expect("torch GradScaler", kw, {"init_scale": ls["init"], "growth_factor": ls["growth_factor"],
                                        "backoff_factor": ls["backoff_factor"],
                                        "growth_interval": ls["growth_interval"]})
    expect("torch allow_tf32", ast.literal_eval(assigns["torch.backends.cuda.matmul.allow_tf32"]), tf32)

    # CSV: one row per GEMM layer, in model order
    rows = list(csv.reader(io.StringIO(export(prectune, policy_path, model_path, "csv"), newline="")))
    expect("csv header", rows[0], ["layer", "type", "fwd", "dgrad", "wgrad", "reason"])
    want = [[l["name"], l["type"], fmts[l["name"]]["fwd"], fmts[l["name"]]["dgrad"], fmts[l["name"]]["wgrad"],
             pol.get("layers", {}).get(l["name"], {}).get("reason", "")] for l in gemm]
    expect("csv rows", rows[1:], want)

    for f in failures:
        print("FAIL:", f)
    print(f"exports of {policy_path}: {'ok' if not failures else f'{len(failures)} mismatches'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
