#!/usr/bin/env python3
"""Writes crates/tern-server/src/aws_output_shapes.json: the output shape of
every KMS operation, taken from botocore's service model
(botocore/data/kms/2014-11-01/service-2.json), reduced to what the JSON
encoder needs to shape a response as AWS does: each structure's members with
their shape and whether the model marks them required, each list's member
shape, and which shapes are maps or scalars.

    python3 scripts/gen-aws-shapes.py            # rewrite the file
    python3 scripts/gen-aws-shapes.py --check    # exit 1 if it is stale

Run it with the interop venv's python (scripts/ensure-deps.sh --python) after
botocore gains KMS operations; tests/interop/test_shapes.py checks tern's
answers against the installed model directly.
"""
import json
import pathlib
import sys

import botocore.session

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/tern-server/src/aws_output_shapes.json"


def reduce(model):
    shapes = model["shapes"]
    keep = {}

    def visit(name):
        if name in keep:
            return
        s = shapes[name]
        t = s["type"]
        if t == "structure":
            req = set(s.get("required", []))
            keep[name] = {
                "structure": {
                    m: {"shape": v["shape"], "required": m in req} for m, v in sorted(s["members"].items())
                }
            }
            for v in s["members"].values():
                visit(v["shape"])
        elif t == "list":
            keep[name] = {"list": s["member"]["shape"]}
            visit(s["member"]["shape"])
        elif t == "map":
            keep[name] = {"map": s["value"]["shape"]}
            visit(s["value"]["shape"])
        else:
            keep[name] = {"scalar": t}

    ops = {}
    for op, o in sorted(model["operations"].items()):
        out = o.get("output", {}).get("shape")
        ops[op] = out
        if out:
            visit(out)
    return {
        "source": "botocore %s, kms 2014-11-01" % botocore.__version__,
        "operations": ops,
        "shapes": dict(sorted(keep.items())),
    }


def main():
    loader = botocore.session.get_session().get_component("data_loader")
    model = loader.load_service_model("kms", "service-2")
    text = json.dumps(reduce(model), indent=1, sort_keys=False) + "\n"
    if "--check" in sys.argv:
        old = json.loads(OUT.read_text())
        new = json.loads(text)
        old.pop("source", None)
        new.pop("source", None)
        if old != new:
            print(f"{OUT} is stale: run scripts/gen-aws-shapes.py", file=sys.stderr)
            sys.exit(1)
        return
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
