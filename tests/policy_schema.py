#!/usr/bin/env python3
"""Checks policy files against policies/policy.schema.json with an
independent validator (Debian's python3-jsonschema, JSON Schema 2020-12).

usage: policy_schema.py SCHEMA POLICY.json...

Every POLICY must validate. Then the first one is broken in the ways a
hand edit breaks a policy (an unknown key, a misspelt format, a negative
loss scale, a string where a number goes, evidence with an unknown
field), and each broken copy must be rejected: the schema is a contract,
not documentation. Exit 0 when all of that holds, 1 otherwise."""
import copy
import json
import sys

try:
    import jsonschema
except ImportError:
    sys.exit("policy_schema.py: python3-jsonschema is missing (scripts/deps.sh installs it)")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failed = 0
    policies = []
    for path in sys.argv[2:]:
        with open(path) as f:
            p = json.load(f)
        errors = sorted(validator.iter_errors(p), key=lambda e: list(e.path))
        for e in errors:
            print(f"FAIL: {path}: {'/'.join(map(str, e.path)) or '(top)'}: {e.message}")
        failed += bool(errors)
        policies.append((path, p))
    print(f"{len(policies) - failed} of {len(policies)} policies valid against {sys.argv[1]}")

    path, good = policies[0]
    def broken(name, edit):
        p = copy.deepcopy(good)
        edit(p)
        return name, p
    cases = [
        broken("unknown top-level key", lambda p: p.update(loss_scaling={"mode": "dynamic"})),
        broken("misspelt default format", lambda p: p["default"].update(fwd="bfloat16")),
        broken("loss scale as a string", lambda p: p.setdefault("loss_scale", {"mode": "static"}).update(init="65536")),
        broken("negative loss scale", lambda p: p.setdefault("loss_scale", {"mode": "static"}).update(init=-1)),
        broken("unknown fp8 recipe", lambda p: p.setdefault("fp8", {}).update(recipe="sometimes")),
        broken("version 2", lambda p: p.update(prectune_policy=2)),
        broken("a layer in fp64", lambda p: p.setdefault("layers", {}).update(fc9={"fwd": "fp32", "dgrad": "fp64"})),
    ]
    if "validation" in good:
        cases.append(broken("unknown evidence field",
                            lambda p: p["validation"].update(noise_level=0.1)))
        cases.append(broken("noise floor as a string",
                            lambda p: p["validation"].setdefault("criteria", {}).update(noise_floor="yes")))
    for name, p in cases:
        if validator.is_valid(p):
            print(f"FAIL: the schema accepts a policy with {name} (from {path})")
            failed += 1
    print(f"{len(cases)} broken copies of {path} checked")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
