#!/usr/bin/env python3
"""The README's measured tables and figures, rendered from committed summaries.

    readme_tables.py --check [README.md]   exit 1 naming the first generated block that differs
    readme_tables.py --write [README.md]   rewrite every generated block in place

A generated block in the README sits between two marker comments:

    <!-- generated: NAME -->
    ...text rendered by this script...
    <!-- end -->

on lines of their own around a table or a paragraph, or both inside one table
cell (`| <!-- generated: NAME -->...<!-- end --> |`), where a comment line
would end the table. Each NAME is rendered by one function of BLOCKS from the
summary.json files under docs/results/<experiment>-<K>-seeds/ (the runs the
README quotes), with diffgen's own number formatting (format_significant,
format_pm, format_double: src/report/ and src/core/io.cpp), so a README
number is exactly what that run's report.md shows.

To add a block (e.g. the early-stopping floors or the sampler-kl figures):

1. run the experiment as the README says and commit only its summary.json as
   docs/results/<experiment>-<K>-seeds/summary.json (`summary(name)` reads it);
2. write one function `def name_of_block(): return text` below, formatting
   every number with the functions here and checking every qualitative word
   of its prose with `claim(condition, what)`, so that a run which no longer
   shows it stops the check instead of leaving a false sentence;
3. add it to BLOCKS under its marker NAME, put the empty markers in the
   README, and run `readme_tables.py --write`.

Standard library only: the check runs as a ctest test (ReadmeTables.*).
"""
import json
import math
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "docs", "results")
MARKER = re.compile(r"<!-- generated: ([\w-]+) -->(.*?)<!-- end -->", re.S)


# --- diffgen's number formatting ---------------------------------------------

def format_significant(x, significant=4):
    """format_significant (src/report/table.cpp): fmt's "{:.Ng}", which is
    printf's %g, correctly rounded from the double's exact value (ties to
    even): 0.0595 -> "0.0595" (3 digits), "0.059" (2 digits)."""
    return "%.*g" % (max(1, significant), x)


def format_pm(value, half_width, digits=3):
    """format_pm(value, half_width) (src/report/spread.cpp): "value ± half-width",
    the value with `digits` significant digits and the half-width with two;
    the value alone when the half-width is missing or not finite; "-" without
    a value."""
    if value is None or not math.isfinite(value):
        return "-"
    if half_width is None or not math.isfinite(half_width):
        return format_significant(value, digits)
    return format_significant(value, digits) + " ± " + format_significant(half_width, 2)


def format_spread(spread, digits=3):
    """format_pm(Spread) for a summary.json spread {count, mean, sd, ci95, min,
    max}: "-" for no value, the mean alone for one seed."""
    if spread["count"] == 0:
        return "-"
    if spread["count"] < 2:
        return format_significant(spread["mean"], digits)
    return format_pm(spread["mean"], spread["ci95"], digits)


def plain(x, digits):
    """plain (src/experiments/oracle_floors.cpp): `digits` significant digits
    without an exponent, "1370" rather than "1.37e+03"; std::round rounds
    half away from zero."""
    if x is None or not math.isfinite(x) or x == 0.0:
        return format_significant(x, digits)
    magnitude = math.floor(math.log10(abs(x)))
    unit = 10.0 ** (magnitude - digits + 1)
    rounded = math.copysign(math.floor(abs(x) / unit + 0.5), x) * unit
    return "%.*f" % (max(0, digits - 1 - magnitude), rounded)


def ratio_pm(spread):
    """ratio_pm (src/experiments/oracle_floors.cpp): a ratio over training sets."""
    if spread["count"] < 2:
        return plain(spread["mean"], 3)
    return plain(spread["mean"], 3) + " ± " + plain(spread["ci95"], 2)


def format_double(x):
    """format_double (src/core/io.cpp): fmt's "{}", the shortest text that reads
    back exactly, which is Python's repr without a trailing ".0"."""
    if isinstance(x, int):
        return str(x)
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


# --- reading summaries --------------------------------------------------------

def summary(name):
    """docs/results/NAME/summary.json; NAME is <experiment>-<K>-seeds and must
    agree with the summary's own experiment and seed count."""
    with open(os.path.join(RESULTS, name, "summary.json"), encoding="utf-8") as f:
        s = json.load(f)
    expected = "%s-%d-seeds" % (s["experiment"], s["seeds"])
    if name != expected:
        raise ValueError("docs/results/%s holds a run of %s" % (name, expected))
    return s


class ClaimError(Exception):
    pass


def claim(condition, what):
    """A qualitative statement of a block's prose that the summary must bear out."""
    if not condition:
        raise ClaimError("the README says %s, but the summary does not show it: reword the block" % what)


def apart(a, b):
    """Two spreads whose 95% intervals do not overlap."""
    return a["mean"] + a["ci95"] < b["mean"] - b["ci95"] or b["mean"] + b["ci95"] < a["mean"] - a["ci95"]


def cell(text):
    """A Markdown table cell: a literal | is escaped."""
    return text.replace("|", "\\|")


def table(header, rows):
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def block(text):
    """A block on lines of its own between its markers."""
    return "\n" + text + "\n"


def source(name):
    """The sentence that ends a generated paragraph: where its numbers are."""
    return "Numbers from [docs/results/%s/summary.json](docs/results/%s/summary.json)." % (name, name)


def seeds_text(s):
    return "%d seed%s" % (s["seeds"], "s" if s["seeds"] > 1 else "")


# --- mode-shift -----------------------------------------------------------------

MODE_SHIFT = "mode-shift-5-seeds"


def growth_text(g):
    """mode-shift's exponent as its report words it (mode_shift_growth.cpp):
    the mean ± 95% interval over seeds with 2 digits, and each seed's value."""
    per_seed = ", ".join("-" if x is None else format_significant(x, 2) for x in g["per_seed"])
    return format_spread(g, 2), per_seed


def mode_shift_ends(s):
    ds = s["distances"]
    return ds[0], ds[-1], "d = " + format_double(ds[0]["distance"]), "d = " + format_double(ds[-1]["distance"])


def weight_error_grows(s):
    near, far, _, _ = mode_shift_ends(s)
    claim(apart(near["mean_weight_error"], far["mean_weight_error"]) and
          far["mean_weight_error"]["mean"] > near["mean_weight_error"]["mean"],
          "that the mode weights are further from ½ for the farthest modes than for the nearest, the intervals apart")


def mode_shift_headline():
    """mode-shift-headline: the experiments table's cell."""
    s = summary(MODE_SHIFT)
    near, far, d_near, d_far = mode_shift_ends(s)
    weight_error_grows(s)
    exponent, _ = growth_text(s["growth_exponent_best_kl_a"])
    return cell("%s: the mode-weight error mean |w − ½| grows from %s (%s) to %s (%s); final KL (a) from %s to %s; "
                "best KL over training ∝ d^(%s): %s" % (
                    seeds_text(s), format_spread(near["mean_weight_error"]), d_near,
                    format_spread(far["mean_weight_error"]), d_far, format_spread(near["final_kl_a"]),
                    format_spread(far["final_kl_a"]), exponent, s["growth_exponent_best_kl_a"]["reading"]))


def mode_shift_table():
    """mode-shift-table: one row per distance."""
    s = summary(MODE_SHIFT)
    rows = [[format_double(d["distance"]), format_spread(d["best_kl_a"]), format_spread(d["final_kl_a"]),
             format_spread(d["mean_weight_error"]), format_spread(d["weight_right_final"])] for d in s["distances"]]
    return block(table(["d", "best KL (a) over training", "final KL (a)", "mean |w − ½| along training",
                        "final weight w"], rows))


def final_kl_sentence(s):
    """Where the KL at the end of training is told apart from the nearest modes'."""
    near, far, d_near, d_far = mode_shift_ends(s)
    text = "The KL at the end of training goes from %s at %s to %s at %s" % (
        format_spread(near["final_kl_a"]), d_near, format_spread(far["final_kl_a"]), d_far)
    if apart(near["final_kl_a"], far["final_kl_a"]):
        return text + ", the two intervals apart."
    above = [d for d in s["distances"][1:] if d["final_kl_a"]["mean"] > near["final_kl_a"]["mean"] and
             apart(near["final_kl_a"], d["final_kl_a"])]
    text += "; at %s these two intervals overlap" % seeds_text(s)
    if not above:
        return text + ", and no distance's interval lies above %s's." % d_near
    return text + ", but the interval at d = %s, %s, lies above %s's." % (
        format_double(above[0]["distance"]), format_spread(above[0]["final_kl_a"]), d_near)


def mode_shift_reading():
    """mode-shift-reading: the paragraph under the table."""
    s = summary(MODE_SHIFT)
    near, far, d_near, d_far = mode_shift_ends(s)
    weight_error_grows(s)
    g = s["growth_exponent_best_kl_a"]
    exponent, per_seed = growth_text(g)
    return block(
        "(w is the learned mass on x > 0.) The learned mode weights are further from ½ when the modes are far "
        "apart: mean |w − ½| is %s at %s and %s at %s, the intervals apart. %s The best KL over training, "
        "fitted per seed as a power of d (least squares on log–log axes), has the exponent %s over %s (per "
        "seed: %s): %s. %s" % (
            format_spread(near["mean_weight_error"]), d_near, format_spread(far["mean_weight_error"]), d_far,
            final_kl_sentence(s), exponent, seeds_text(s), per_seed, g["reading"], source(MODE_SHIFT)))


# --- optimizers -----------------------------------------------------------------

OPTIMIZERS = "optimizers-5-seeds"


def schedule(s, slug):
    for x in s["schedules"]:
        if x["schedule"] == slug:
            return x
    raise KeyError("%s has no schedule %s" % (OPTIMIZERS, slug))


def optimizers_headline():
    """optimizers-headline: the experiments table's cell."""
    s = summary(OPTIMIZERS)
    adam, sgd = schedule(s, "adam"), schedule(s, "sgd")
    claim(adam["epoch_of_best_kl_b"]["max"] < s["epochs"], "that every Adam seed's KL (b) minimum comes before the end")
    return cell("%s: %s: KL (b) lowest, %s, at epoch %s, then %s at %d; %s: KL (b) best %s, final %s" % (
        seeds_text(s), adam["label"], format_spread(adam["best_kl_b"]), format_spread(adam["epoch_of_best_kl_b"], 4),
        format_spread(adam["final_kl_b"]), s["epochs"], sgd["label"], format_spread(sgd["best_kl_b"]),
        format_spread(sgd["final_kl_b"])))


def optimizers_table():
    """optimizers-table: one row per schedule."""
    s = summary(OPTIMIZERS)
    rows = [[x["label"], format_spread(x["best_kl_a"]),
             "%s, %s" % (format_spread(x["best_kl_b"]), format_spread(x["epoch_of_best_kl_b"], 4)),
             format_spread(x["final_kl_b"])] for x in s["schedules"]]
    return block(table(["schedule", "best KL (a)", "best KL (b), its epoch", "final KL (b)"], rows))


def optimizers_reading():
    """optimizers-reading: the paragraph under the table."""
    s = summary(OPTIMIZERS)
    adam, sgd = schedule(s, "adam"), schedule(s, "sgd")
    claim(adam["epoch_of_best_kl_b"]["max"] < s["epochs"], "that every Adam seed's KL (b) minimum comes before the end")
    claim(apart(adam["best_kl_a"], sgd["best_kl_a"]) and adam["best_kl_a"]["mean"] > sgd["best_kl_a"]["mean"],
          "that Adam's best KL (a) lies above SGD's")
    claim(adam["epoch_of_best_kl_a"]["min"] >= 0.9 * s["epochs"], "that Adam's KL (a) is lowest only near the end")
    return block(
        "Under %s the generated density (b) shows the early-stopping curve: every seed's KL (b) reaches its "
        "minimum before the last epoch (at epoch %s) and ends at %s at epoch %d. Its score at t0 changes slowly: "
        "KL (a) is lowest only in the last tenth of training (epoch %s) and stays above %s's best, %s against "
        "%s. %s" % (
            adam["label"], format_spread(adam["epoch_of_best_kl_b"], 4), format_spread(adam["final_kl_b"]),
            s["epochs"], format_spread(adam["epoch_of_best_kl_a"], 4), sgd["label"], format_spread(adam["best_kl_a"]),
            format_spread(sgd["best_kl_a"]), source(OPTIMIZERS)))


# --- capacity -------------------------------------------------------------------

CAPACITY = "capacity-3-seeds"


def widths(s, scaling):
    """{H: row} of one output constant ("fixed" or "width")."""
    return {w["hidden"]: w for w in s["widths"] if w["output_scaling"] == scaling}


def capacity_kl_cell(w, seeds):
    if w["seeds_diverged"] == seeds:
        return "diverged (%d/%d)" % (w["seeds_diverged"], seeds)
    text = format_spread(w["kl_a_at_last_epoch"])
    return text + (" (%d/%d diverged)" % (w["seeds_diverged"], seeds) if w["seeds_diverged"] else "")


def capacity_epochs_cell(w, seeds):
    text = format_spread(w["epochs_to_threshold"], 4)
    if 0 < w["seeds_reaching_threshold"] < seeds:
        text += " (%d/%d reach it)" % (w["seeds_reaching_threshold"], seeds)
    return text


def capacity_table():
    """capacity-table: one row per width, both output constants side by side."""
    s = summary(CAPACITY)
    fixed, aware, k = widths(s, "fixed"), widths(s, "width"), s["seeds"]
    rows = []
    for h in sorted(set(fixed) | set(aware)):
        f, a = fixed[h], aware[h]
        row = [str(h), capacity_kl_cell(f, k), "" if f["seeds_diverged"] == k else format_spread(f["best_kl_a"])]
        if a["output_scale"] == f["output_scale"]:
            row += ["(the same network)", ""]
        else:
            row += [capacity_kl_cell(a, k), "" if a["seeds_diverged"] == k else format_spread(a["best_kl_a"])]
        rows.append(row + [capacity_epochs_cell(a, k)])
    last, threshold = "KL at epoch %d" % s["epochs"], format_double(s["kl_threshold"])
    return block(table(["H", "fixed c: " + last, "fixed c: best KL", "width-aware c: " + last, "width-aware c: best KL",
                        "width-aware: epochs to KL ≤ " + threshold], rows))


def capacity_divergence(s):
    """The widths where the fixed constant diverged in every seed: all from some H up."""
    fixed = widths(s, "fixed")
    diverged = [h for h in sorted(fixed) if fixed[h]["seeds_diverged"] == s["seeds"]]
    claim(diverged and diverged == [h for h in sorted(fixed) if h >= diverged[0]],
          "that the fixed output constant diverges in every seed at every width from some H up")
    claim(all(fixed[h]["seeds_diverged"] == 0 for h in fixed if h < diverged[0]),
          "that the fixed output constant diverges in no seed below that width")
    claim(all(w["seeds_diverged"] == 0 for w in widths(s, "width").values()),
          "that the width-aware output constant trains at every width")
    return diverged[0], fixed[diverged[0]]["output_scale"]


def capacity_headline():
    """capacity-headline: the experiments table's cell."""
    s = summary(CAPACITY)
    h_min, c = capacity_divergence(s)
    aware = widths(s, "width")
    wide = [aware[h]["best_kl_a"]["mean"] for h in sorted(aware) if h > 16]
    return cell("%s: the authors' fixed c = %s diverges for H ≥ %d (every seed); the width-aware c trains at every "
                "width, best KL (a) means %s–%s for H = %d…%d against %s at H = 16" % (
                    seeds_text(s), format_significant(c, 3), h_min, format_significant(min(wide), 3),
                    format_significant(max(wide), 3), min(h for h in aware if h > 16), max(aware),
                    format_spread(aware[16]["best_kl_a"])))


def capacity_reading():
    """capacity-reading: the paragraph under the table."""
    s = summary(CAPACITY)
    aware = widths(s, "width")
    best_h = min(aware, key=lambda h: aware[h]["best_kl_a"]["mean"])
    overlap = not apart(aware[best_h]["best_kl_a"], aware[16]["best_kl_a"])
    # The widths from which every seed reaches the KL threshold: narrower ones
    # have not learned the target, so their KL at the end says nothing of SGD.
    first = min(h for h in aware if aware[h]["seeds_reaching_threshold"] == s["seeds"])
    claim(all(aware[h]["seeds_reaching_threshold"] == s["seeds"] for h in aware if h >= first),
          "that every seed reaches KL (a) <= %s at every width from H = %d up" % (s["kl_threshold"], first))
    trained = [aware[h]["kl_a_at_last_epoch"] for h in sorted(aware) if h >= first]
    lo = max(x["mean"] - x["ci95"] for x in trained)
    hi = min(x["mean"] + x["ci95"] for x in trained)
    claim(lo < hi, "that no width's KL at epoch %d is told apart from another's" % s["epochs"])
    return block(
        "With the width-aware c the mean best KL (a) is lowest at H = %d, %s, against %s at H = 16: the direction "
        "of Fig. 11%s. At every width from H = %d up (where every seed reaches KL (a) ≤ %s) the KL at epoch %d has a mean between %s and %s, and all "
        "these intervals share the values %s–%s: at lr %s SGD's oscillation, not the width, decides where "
        "epoch %d falls. %s" % (
            best_h, format_spread(aware[best_h]["best_kl_a"]), format_spread(aware[16]["best_kl_a"]),
            ", though at %s these two intervals overlap" % seeds_text(s) if overlap else "", first,
            format_double(s["kl_threshold"]), s["epochs"],
            format_significant(min(x["mean"] for x in trained), 3),
            format_significant(max(x["mean"] for x in trained), 3), format_significant(lo, 2),
            format_significant(hi, 2), format_double(s["lr"]), s["epochs"], source(CAPACITY)))


# --- early-stopping -------------------------------------------------------------

EARLY_STOPPING = "early-stopping-5-seeds"


def per_seed_epochs(definition):
    return ", ".join(str(p["epoch_of_min"]) for p in definition["per_seed"])


def early_stopping_headline():
    """early-stopping-headline: the experiments table's cell."""
    s = summary(EARLY_STOPPING)
    b = s["kl_b"]
    epochs = [p["epoch_of_min"] for p in b["per_seed"]]
    return cell("%s: KL (b) minimum %s (seed epochs %d–%d), final %s at epoch %d (below)" % (
        seeds_text(s), format_spread(b["min"]), min(epochs), max(epochs), format_spread(b["final"]), s["epochs"]))


def early_stopping_table():
    """early-stopping-table: the minimum, its epoch and the final value of both definitions, the floors."""
    s = summary(EARLY_STOPPING)
    f = s["floors"]
    claim(not f["population_b_within_error"], "that the perfect learner's KL (b) lies above its error estimate")
    claim(f["population_b_prior"] == "gaussian", "that the run uses the Gaussian prior")
    rows = [["KL (a), score-integrated at t₀ = 0.065", format_spread(s["kl_a"]["min"]), per_seed_epochs(s["kl_a"]),
             format_spread(s["kl_a"]["final"])],
            ["KL (b), PF-ODE density", format_spread(s["kl_b"]["min"]), per_seed_epochs(s["kl_b"]),
             format_spread(s["kl_b"]["final"])],
            ["population oracle (perfect score)", "(a) %s (smoothing), (b) %s (the Gaussian prior's mismatch %s; "
             "smoothing %s)" % (format_significant(f["population_a"]["mean"], 3),
                                format_significant(f["population_b"]["mean"], 4),
                                format_significant(f["prior_mismatch_b"]["mean"], 5),
                                format_significant(f["smoothing_b"]["mean"], 2)), "", ""],
            ["empirical oracle (memorized training set)", "(a) %s, (b) %s" % (
                format_spread(f["empirical_a"]), format_spread(f["empirical_b"])), "", ""]]
    return block(table(["", "minimum along training", "its epoch (per seed)",
                        "final (epoch %d)" % s["epochs"]], rows))


def early_stopping_memorizer():
    """early-stopping-memorizer: the memorizer-to-perfect-learner ratios."""
    s = summary(EARLY_STOPPING)
    f = s["floors"]
    small, large = f["memorizer_ratio_a_small"], f["memorizer_ratio_a"]
    claim(apart(small, large) and small["mean"] > 100 * large["mean"],
          "that the ratio at the smaller t0 is over a hundred times the one at t0 = 0.065")
    return block("A model that memorized its training set scores %s times the perfect learner's KL (a) of %s at "
                 "t0 = 0.01, against %s times at 0.065 (the mean ratio over %d training sets of n = %d, exact "
                 "densities, `kl.memorizer_sets`; the seeds' own memorizers score %s at 0.01). %s" % (
                     ratio_pm(small), format_significant(f["population_a_small"]["mean"], 2),
                     ratio_pm(large), small["count"], s["n"], format_spread(f["empirical_a_small"]),
                     source(EARLY_STOPPING)))


# --- the README -----------------------------------------------------------------

# Marker name -> the function that renders the text between the markers.
BLOCKS = {
    "early-stopping-headline": early_stopping_headline,
    "early-stopping-table": early_stopping_table,
    "early-stopping-memorizer": early_stopping_memorizer,
    "mode-shift-headline": mode_shift_headline,
    "mode-shift-table": mode_shift_table,
    "mode-shift-reading": mode_shift_reading,
    "optimizers-headline": optimizers_headline,
    "optimizers-table": optimizers_table,
    "optimizers-reading": optimizers_reading,
    "capacity-headline": capacity_headline,
    "capacity-table": capacity_table,
    "capacity-reading": capacity_reading,
}


def render(text):
    """The README with every generated block rendered; the blocks it names
    that BLOCKS lacks, and the BLOCKS it does not name, are errors."""
    names = [m.group(1) for m in MARKER.finditer(text)]
    unknown = [n for n in names if n not in BLOCKS]
    missing = [n for n in BLOCKS if n not in names]
    if unknown or missing:
        raise ValueError("README markers: unknown %s, missing %s" % (unknown, missing))
    return MARKER.sub(lambda m: "<!-- generated: %s -->%s<!-- end -->" % (m.group(1), BLOCKS[m.group(1)]()), text)


def first_difference(old, new):
    """(block name, line in the README, the README's text, the rendered text)
    of the first generated block that differs, or None."""
    rendered = {m.group(1): m.group(2) for m in MARKER.finditer(new)}
    for m in MARKER.finditer(old):
        want = rendered[m.group(1)]
        if m.group(2) != want:
            have_lines, want_lines = m.group(2).split("\n"), want.split("\n")
            k = next((i for i, (a, b) in enumerate(zip(have_lines, want_lines)) if a != b),
                     min(len(have_lines), len(want_lines)))
            line = old.count("\n", 0, m.start(2)) + 1 + k
            have = have_lines[k] if k < len(have_lines) else "(nothing)"
            return m.group(1), line, have, want_lines[k] if k < len(want_lines) else "(nothing)"
    return None


def main(argv):
    if len(argv) not in (2, 3) or argv[1] not in ("--check", "--write"):
        sys.stderr.write(__doc__)
        return 2
    path = argv[2] if len(argv) == 3 else os.path.join(ROOT, "README.md")
    with open(path, encoding="utf-8") as f:
        old = f.read()
    try:
        new = render(old)
    except (ClaimError, ValueError, KeyError, OSError) as e:
        sys.stderr.write("readme_tables.py: %s\n" % e)
        return 1
    if argv[1] == "--write":
        if new != old:
            # Written beside and renamed: a failed write leaves the README whole.
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                f.write(new)
            os.replace(path + ".tmp", path)
        return 0
    diff = first_difference(old, new)
    if diff:
        name, line, have, want = diff
        sys.stderr.write("%s:%d: generated block %s differs from docs/results/ (run scripts/readme_tables.py "
                         "--write):\n  README:    %s\n  generated: %s\n" % (path, line, name, have, want))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
