#!/usr/bin/env python3
"""Known answers of compare_outputs.py: the same numbers in another column
order or another spread form pass; a changed number, a lost column or a lost
summary field fail."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def folder(root, name, csv_text, summary):
    path = os.path.join(root, name)
    os.makedirs(path)
    with open(os.path.join(path, "metrics.csv"), "w") as f:
        f.write(csv_text)
    with open(os.path.join(path, "summary.json"), "w") as f:
        json.dump(summary, f)
    return path


def compare(a, b):
    return subprocess.run([sys.executable, os.path.join(HERE, "compare_outputs.py"), a, b],
                          capture_output=True, text=True).returncode


def main():
    failures = []
    with tempfile.TemporaryDirectory() as root:
        old = folder(root, "old", "epoch,kl\n0,0.5\n1,0.25\n", {"kl": {"mean": 0.3, "ci95": 0.1, "sd": 0.05, "n": 3}})
        cases = {
            "reordered columns, new spread form": (
                "kl,epoch\n0.5,0\n0.25,1\n", {"kl": {"count": 3, "mean": 0.3, "sd": 0.05, "ci95": 0.1, "min": 0.2,
                                                      "max": 0.4}}, 0),
            "a changed number": ("epoch,kl\n0,0.5\n1,0.26\n", {"kl": {"mean": 0.3, "ci95": 0.1, "sd": 0.05, "n": 3}}, 1),
            "a lost column": ("epoch\n0\n1\n", {"kl": {"mean": 0.3, "ci95": 0.1, "sd": 0.05, "n": 3}}, 1),
            "a lost summary field": ("epoch,kl\n0,0.5\n1,0.25\n", {}, 1),
            "a changed spread": ("epoch,kl\n0,0.5\n1,0.25\n", {"kl": {"count": 3, "mean": 0.31, "sd": 0.05,
                                                                      "ci95": 0.1}}, 1),
        }
        for i, (what, (csv_text, summary, expected)) in enumerate(cases.items()):
            new = folder(root, f"new{i}", csv_text, summary)
            if compare(old, new) != expected:
                failures.append(f"{what}: expected exit {expected}")
    for f in failures:
        print("FAIL:", f)
    print(f"{len(cases) - len(failures)} of {len(cases)} cases pass")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
