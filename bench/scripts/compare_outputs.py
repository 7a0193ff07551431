#!/usr/bin/env python3
"""Independent check of `verify --write-outputs OUT`: compares every written tensor with the golden
reference using only the Python standard library (no Java, no numpy), under each case's own
tolerance rule |got - ref| <= atol + rtol*|ref|.

usage: compare_outputs.py GOLDEN_DIR OUT_DIR
"""
import json
import math
import struct
import sys
from pathlib import Path


def floats(path):
    data = path.read_bytes()
    return struct.unpack("<%df" % (len(data) // 4), data)


def main(golden, out):
    checked = failed = 0
    for backend_dir in sorted(p for p in out.iterdir() if p.is_dir()):
        for case_dir in sorted(p for p in backend_dir.iterdir() if p.is_dir()):
            case = json.loads((golden / case_dir.name / "case.json").read_text())
            for t in case["tensors"]:
                if t["role"] != "output":
                    continue
                got_file = case_dir / (t["name"] + ".f32")
                if not got_file.exists():
                    print("MISSING %s/%s/%s" % (backend_dir.name, case_dir.name, t["name"]))
                    failed += 1
                    continue
                got = floats(got_file)
                ref = floats(golden / case_dir.name / t["file"])
                tol = t["tolerance"]
                bad = len(got) != len(ref) or any(
                    math.isnan(g) or abs(g - r) > tol["atol"] + tol["rtol"] * abs(r) for g, r in zip(got, ref))
                worst = max((abs(g - r) for g, r in zip(got, ref)), default=0.0)
                checked += 1
                failed += bad
                print("%-4s %-7s %-34s %-7s max abs err %.3g (atol %.0e)" % (
                    "FAIL" if bad else "ok", backend_dir.name, case_dir.name, t["name"], worst, tol["atol"]))
    print("%d tensors checked, %d failed" % (checked, failed))
    return 1 if failed or not checked else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
