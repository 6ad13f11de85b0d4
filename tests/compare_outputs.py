#!/usr/bin/env python3
"""Shows that two run folders hold the same numbers.

    compare_outputs.py OLD_DIR NEW_DIR [FILE ...]

Used to check that a change of the code's shape changed no result: every
CSV (default: metrics.csv and the run's other tidy tables) and summary.json
of NEW_DIR must hold exactly the values of OLD_DIR. Byte-identical files
pass at once. Otherwise:

- a CSV may have its columns in another order: each column of OLD_DIR is
  looked up by name in NEW_DIR and every field must be the same text, row by
  row (rows are in the same order);
- summary.json may store a spread over seeds in another form: {mean, ci95,
  sd, n} and {count, mean, sd, ci95, min, max} are compared on the fields
  both have (n is count), and null equals a spread of no value; fields only
  NEW_DIR has are allowed (added information), fields only OLD_DIR has are
  not (lost information); strings that describe (e.g. "definition") must
  match too.

Prints one line per file and exits 1 when any file differs.
"""
import csv
import json
import math
import os
import sys

SPREAD_OLD = {"mean", "ci95", "sd", "n"}


def is_spread(value):
    return isinstance(value, dict) and "mean" in value and ("count" in value or "n" in value)


def spread_fields(value):
    if value is None:
        return {"count": 0}
    out = dict(value)
    if "n" in out and "count" not in out:
        out["count"] = out.pop("n")
    if out.get("count", 0) == 0:
        return {"count": 0}
    return out


def same_number(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return a == b
    return a == b


def compare_json(old, new, path, problems):
    if (is_spread(old) or old is None) and is_spread(new):
        o, n = spread_fields(old), spread_fields(new)
        for key in o:
            if key not in n:
                problems.append(f"{path}/{key}: missing in the new summary")
            elif not same_number(o[key], n[key]):
                problems.append(f"{path}/{key}: {o[key]!r} != {n[key]!r}")
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old:
            if key not in new:
                problems.append(f"{path}/{key}: missing in the new summary")
            else:
                compare_json(old[key], new[key], f"{path}/{key}", problems)
        return
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            problems.append(f"{path}: {len(old)} items, now {len(new)}")
            return
        for i, (o, n) in enumerate(zip(old, new)):
            compare_json(o, n, f"{path}/{i}", problems)
        return
    if not same_number(old, new):
        problems.append(f"{path}: {old!r} != {new!r}")


def compare_csv(old_file, new_file, problems):
    with open(old_file, newline="") as f:
        old = list(csv.DictReader(f))
    with open(new_file, newline="") as f:
        new = list(csv.DictReader(f))
    if len(old) != len(new):
        problems.append(f"{len(old)} rows, now {len(new)}")
        return
    if not old:
        return
    missing = [c for c in old[0] if c not in new[0]]
    if missing:
        problems.append(f"columns missing now: {', '.join(missing)}")
        return
    for i, (o, n) in enumerate(zip(old, new)):
        for column, value in o.items():
            if n[column] != value:
                problems.append(f"row {i + 1}, {column}: {value!r} != {n[column]!r}")
                if len(problems) > 10:
                    return


def compare_file(old_dir, new_dir, name):
    old_file, new_file = os.path.join(old_dir, name), os.path.join(new_dir, name)
    if not os.path.exists(old_file):
        return None
    if not os.path.exists(new_file):
        return ["missing in the new folder"]
    with open(old_file, "rb") as a, open(new_file, "rb") as b:
        if a.read() == b.read():
            return []
    problems = []
    if name.endswith(".json"):
        with open(old_file) as a, open(new_file) as b:
            compare_json(json.load(a), json.load(b), "", problems)
    else:
        compare_csv(old_file, new_file, problems)
    return problems


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    old_dir, new_dir = argv[1], argv[2]
    names = argv[3:] or ["metrics.csv", "densities.csv", "curves.csv", "summary.json"]
    failed = False
    for name in names:
        problems = compare_file(old_dir, new_dir, name)
        if problems is None:
            continue
        if not problems:
            identical = open(os.path.join(old_dir, name), "rb").read() == open(os.path.join(new_dir, name), "rb").read()
            print(f"{name}: {'byte-identical' if identical else 'same values'}")
        else:
            failed = True
            print(f"{name}: DIFFERS")
            for p in problems[:20]:
                print(f"  {p}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
