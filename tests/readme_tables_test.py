#!/usr/bin/env python3
"""Known answers of scripts/readme_tables.py: its number formatting is
diffgen's (the expected texts are what fmt 9.1, behind format_significant and
format_pm, prints for the same doubles, including ties and exponents); --check
fails on a hand-edited cell and names its block, --write restores it; a claim
that a summary does not bear out stops the rendering."""
import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRIPT = os.path.join(ROOT, "scripts", "readme_tables.py")

spec = importlib.util.spec_from_file_location("readme_tables", SCRIPT)
rt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rt)


def spread(mean, ci95, count=5):
    return {"count": count, "mean": mean, "sd": 0.0, "ci95": ci95, "min": mean, "max": mean}


FORMAT_CASES = [
    # (function, arguments, diffgen's text)
    (rt.format_significant, (0.0595, 3), "0.0595"),
    (rt.format_significant, (0.0595, 2), "0.059"),  # the double is just below 0.0595
    (rt.format_significant, (0.0595, 1), "0.06"),
    (rt.format_significant, (0.00949, 3), "0.00949"),
    (rt.format_significant, (0.00949, 2), "0.0095"),
    (rt.format_significant, (0.2247, 3), "0.225"),
    (rt.format_significant, (0.2247, 4), "0.2247"),
    (rt.format_significant, (0.00649, 3), "0.00649"),
    (rt.format_significant, (0.00649, 1), "0.006"),
    (rt.format_significant, (0.125, 2), "0.12"),  # an exact tie goes to even
    (rt.format_significant, (0.375, 2), "0.38"),
    (rt.format_significant, (2.5, 1), "2"),
    (rt.format_significant, (1234.0, 3), "1.23e+03"),
    (rt.format_significant, (1234.0, 4), "1234"),
    (rt.format_significant, (2100.0, 2), "2.1e+03"),
    (rt.format_significant, (0.0123456, 4), "0.01235"),  # src/report/table_test.cpp
    (rt.format_significant, (1.23456e-5, 4), "1.235e-05"),
    (rt.format_significant, (3.14159, 2), "3.1"),
    (rt.format_significant, (float("nan"), 4), "nan"),
    (rt.format_significant, (-0.03165, 2), "-0.032"),
    (rt.format_pm, (-1.0172, 0.0131), "-1.02 ± 0.013"),  # src/report/spread_test.cpp
    (rt.format_pm, (-1.0172, float("nan")), "-1.02"),
    (rt.format_pm, (-1.0172, None), "-1.02"),
    (rt.format_pm, (float("nan"), 0.1), "-"),
    (rt.format_pm, (None, 0.1), "-"),
    (rt.format_spread, (spread(2.5, 2.0542),), "2.5 ± 2.1"),
    (rt.format_spread, (spread(1236.0, 25.4, 2),), "1.24e+03 ± 25"),
    (rt.format_spread, (spread(2700.0, 977.69), 4), "2700 ± 9.8e+02"),
    (rt.format_spread, (spread(0.0123, 0.0, 1),), "0.0123"),
    (rt.format_spread, (spread(2.0 / 3.0, 0.0, 1), 4), "0.6667"),
    (rt.format_spread, ({"count": 0, "mean": None},), "-"),
    (rt.format_double, (2.0,), "2"),
    (rt.format_double, (0.15,), "0.15"),
    (rt.format_double, (0.0001,), "0.0001"),
    (rt.format_double, (1e-5,), "1e-05"),
    (rt.format_double, (1e15,), "1000000000000000"),
    (rt.format_double, (1e16,), "1e+16"),
    (rt.format_double, (16,), "16"),
    # ratio_pm's plain numbers (oracle_floors.cpp, tested there on "1280 ± ")
    (rt.plain, (1366.93, 3), "1370"),
    (rt.plain, (75.87, 2), "76"),
    (rt.plain, (5.3859, 3), "5.39"),
    (rt.plain, (0.26813, 2), "0.27"),
    (rt.plain, (2.5, 1), "3"),  # std::round: half away from zero
    (rt.ratio_pm, (spread(1280.0, 150.0, 4),), "1280 ± 150"),
]


def check(readme):
    return subprocess.run([sys.executable, SCRIPT, "--check", readme], capture_output=True, text=True)


def hand_edit_cases(root, failures):
    readme = os.path.join(root, "README.md")
    shutil.copy(os.path.join(ROOT, "README.md"), readme)
    if check(readme).returncode != 0:
        failures.append("--check fails on the committed README: " + check(readme).stderr)
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    cell = "| " + rt.format_spread(rt.summary(rt.MODE_SHIFT)["distances"][-1]["best_kl_a"]) + " |"
    if cell not in text:
        failures.append("the mode-shift table has no cell %s" % cell)
        return
    with open(readme, "w", encoding="utf-8") as f:
        f.write(text.replace(cell, "| 0.060 ± 0.012 |", 1))
    r = check(readme)
    if r.returncode != 1 or "mode-shift-table" not in r.stderr or "0.060 ± 0.012" not in r.stderr:
        failures.append("a hand-edited cell: rc %d, %s" % (r.returncode, r.stderr))
    subprocess.run([sys.executable, SCRIPT, "--write", readme], check=True)
    if check(readme).returncode != 0:
        failures.append("--write did not restore the edited cell")
    with open(readme, "w", encoding="utf-8") as f:
        f.write(text + "\n<!-- generated: no-such-block --><!-- end -->\n")
    if "no-such-block" not in check(readme).stderr:
        failures.append("an unknown block name is not refused")


def claim_cases(root, failures):
    """A capacity run where the fixed constant never diverges: the headline's
    "diverges for H >= ..." is refused rather than written."""
    s = rt.summary(rt.CAPACITY)
    calm = copy.deepcopy(s)
    for w in calm["widths"]:
        w["seeds_diverged"] = 0
    os.makedirs(os.path.join(root, rt.CAPACITY))
    with open(os.path.join(root, rt.CAPACITY, "summary.json"), "w") as f:
        json.dump(calm, f)
    results = rt.RESULTS
    rt.RESULTS = root
    try:
        rt.capacity_headline()
        failures.append("a capacity run without divergence still gets a divergence headline")
    except rt.ClaimError:
        pass
    finally:
        rt.RESULTS = results
    if not rt.apart(spread(0.1, 0.01), spread(0.2, 0.01)) or rt.apart(spread(0.1, 0.06), spread(0.2, 0.05)):
        failures.append("apart() on known intervals")


def main():
    failures = []
    for f, args, want in FORMAT_CASES:
        got = f(*args)
        if got != want:
            failures.append("%s%r: %r, want %r" % (f.__name__, args, got, want))
    with tempfile.TemporaryDirectory() as root:
        hand_edit_cases(root, failures)
    with tempfile.TemporaryDirectory() as root:
        claim_cases(root, failures)
    for f in failures:
        print("FAIL:", f)
    print("%d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
