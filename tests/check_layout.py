#!/usr/bin/env python3
"""Checks the code's shape that DESIGN.md and the README promise.

    check_layout.py SOURCE_DIR

- every file in src/experiments/ (tests and templates aside) is under 400 lines;
- every function in src/ is under 80 lines, unless the comment just above it
  says why it is longer (it contains "longer than 80 lines");
- every source file in src/ that computes something (a .cpp other than a
  test or main.cpp) has its test beside it: foo.cpp and foo_test.cpp, or a
  test of the concept it belongs to named in the file's first comment
  ("Tested by bar_test.cpp"; the command line's end-to-end tests are named
  from the repository root: "Tested by tests/cli_test.cpp").

Functions are found by a brace count over the text: a line that opens a
block and whose text before the brace looks like a function head (a name
followed by parameters, not a control statement, a class or a lambda
assigned to a variable). Prints every finding and exits 1 when there is one.
"""
import os
import re
import sys

MAX_EXPERIMENT_LINES = 400
MAX_FUNCTION_LINES = 80
EXEMPT = "longer than 80 lines"
CONTROL = re.compile(r"^\s*(if|for|while|switch|catch|do|else|return|try)\b")
HEAD = re.compile(r"[\w:~>\]]\s*\((?:[^()]|\([^()]*\))*\)\s*(const)?\s*(noexcept)?\s*(override)?\s*(final)?\s*(->[^{]*)?\s*(:[^{]*)?\{\s*$")
NOT_A_FUNCTION = re.compile(r"^\s*(namespace|struct|class|enum|union)\b|=\s*\[|\]\s*\(|\bstatic_assert\b")


def strip_strings(line):
    line = re.sub(r'R"(\w*)\((.*?)\)\1"', '""', line)
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])'", "''", line)
    return re.sub(r"//.*", "", line)


def functions(lines):
    """(first line index, line count, head text) of each function definition."""
    out = []
    depth = 0
    i = 0
    n = len(lines)
    while i < n:
        text = strip_strings(lines[i])
        # A head may span lines: join with the previous lines of the same statement.
        head = text
        j = i
        while j > 0 and not re.search(r"[;{}]\s*$", strip_strings(lines[j - 1])) and lines[j - 1].strip() \
                and not lines[j - 1].lstrip().startswith(("#", "//")) and i - j < 6:
            j -= 1
            head = strip_strings(lines[j]) + " " + head
        if HEAD.search(head) and not CONTROL.match(head) and not NOT_A_FUNCTION.search(head):
            # Count to the matching brace.
            level = 0
            k = i
            while k < n:
                t = strip_strings(lines[k])
                level += t.count("{") - t.count("}")
                if level <= 0:
                    break
                k += 1
            out.append((j, k - j + 1, head.strip()))
            i = k + 1
            continue
        depth += text.count("{") - text.count("}")
        i += 1
    return out


def exempt(lines, start):
    k = start - 1
    while k >= 0 and lines[k].lstrip().startswith("//"):
        if EXEMPT in lines[k]:
            return True
        k -= 1
    return False


def main(argv):
    root = argv[1] if len(argv) > 1 else "."
    findings = []
    src = os.path.join(root, "src")
    for folder, _, files in os.walk(src):
        for name in sorted(files):
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            if not name.endswith((".cpp", ".hpp")):
                continue
            with open(path, encoding="utf-8") as f:
                lines = f.read().split("\n")
            test = name.endswith("_test.cpp")
            if rel.startswith(os.path.join("src", "experiments")) and not test and len(lines) - 1 >= MAX_EXPERIMENT_LINES:
                findings.append(f"{rel}: {len(lines) - 1} lines (experiments keep files under {MAX_EXPERIMENT_LINES})")
            if not test:
                for start, count, head in functions(lines):
                    if count >= MAX_FUNCTION_LINES and not exempt(lines, start):
                        findings.append(f"{rel}:{start + 1}: a function of {count} lines: {head[:90]}")
            if name.endswith(".cpp") and not test and name != "main.cpp":
                beside = os.path.join(folder, name[:-4] + "_test.cpp")
                first = "\n".join(lines[:12])
                named = re.search(r"Tested by (\S+_test\.cpp)", first)
                # A test of the concept beside it, or an end-to-end test in tests/.
                named_path = named and os.path.join(root if named.group(1).startswith("tests/") else folder,
                                                    named.group(1))
                if not os.path.exists(beside) and not (named_path and os.path.exists(named_path)):
                    findings.append(f"{rel}: no test beside it ({name[:-4]}_test.cpp, or 'Tested by X_test.cpp' in "
                                    f"its first comment)")
    for line in findings:
        print(line)
    print(f"{len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
