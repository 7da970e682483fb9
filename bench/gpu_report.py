"""The report of bench/gpu_check.sh: one markdown file from what its phases left in a folder.

    python -m bench.gpu_report DIR [--to bench/RESULTS.md]

Sections: the phases (exit code, seconds), the test suite's counts (tests.xml), the
training matrix (matrix-*.jsonl) and the benchmarks (bench-*.json, through report.py,
which gives the machine, versions and date). Standard library only.
"""
import argparse
import glob
import json
import os
import sys
import xml.etree.ElementTree as ET

from bench import report as bench_report, train_matrix


def phases(folder) -> str:
    path = os.path.join(folder, "phases.txt")
    if not os.path.exists(path):
        return ""
    rows = [line.split() for line in open(path) if line.strip()]
    return bench_report.table(["phase", "exit", "seconds"], rows)


def tests(folder) -> str:
    path = os.path.join(folder, "tests.xml")
    if not os.path.exists(path):
        return ""
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    line = (f"{counts['tests']} tests: {counts['tests'] - counts['failures'] - counts['errors'] - counts['skipped']} "
            f"passed, {counts['failures']} failed, {counts['errors']} errors, {counts['skipped']} skipped "
            f"in {float(suite.get('time', 0)):.0f} s")
    failed = [f"- {case.get('classname')}::{case.get('name')}" for case in suite.iter("testcase")
              if case.find("failure") is not None or case.find("error") is not None]
    return "\n".join([line, *failed])


def render(folder) -> str:
    docs, files = [], []
    for path in sorted(glob.glob(os.path.join(folder, "bench-*.json"))):
        try:
            with open(path) as f:
                docs.append(json.load(f))
            files.append(path)
        except (OSError, ValueError):     # a phase that failed before pytest wrote its JSON
            print(f"warning: {path} is not a benchmark JSON; left out", file=sys.stderr)
    parts = ["# began-fast: GPU check" if docs else "# began-fast: GPU check (no benchmarks run)"]
    if docs:
        parts = [bench_report.header(docs[0], files).replace("benchmark results", "GPU check")]
    for title, body in (("Phases", phases(folder)), ("Test suite", tests(folder)),
                        ("Training: every backend x kernels, resumed halfway", _matrix(folder))):
        if body:
            parts += [f"## {title}", body]
    if docs:
        body = bench_report.render(docs, files)
        parts.append(body[body.index("## Targets"):])
    return "\n\n".join(parts).rstrip() + "\n"


def _matrix(folder) -> str:
    paths = sorted(glob.glob(os.path.join(folder, "matrix-*.jsonl")))
    if not paths:
        return ""
    return (train_matrix.report(paths) + "\n\nEach run: " + _sizes() + "; half the steps, then "
            "--resume auto for the rest. Pass: both launches exit 0, every log interval once, stats "
            "finite, last L(x) and M_global within 30% of eager with the torch kernels (same precision).")


def _sizes() -> str:
    return "GPU " + ", ".join(f"{k} {v}" for k, v in train_matrix.GPU_RUN.items()) + \
        "; CPU dry run " + ", ".join(f"{k} {v}" for k, v in train_matrix.CPU_RUN.items())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", help="the --out folder of bench/gpu_check.sh")
    p.add_argument("--to", help="also write the report here (bench/RESULTS.md on a GPU)")
    args = p.parse_args(argv)
    text = render(args.folder)
    for path in filter(None, (os.path.join(args.folder, "RESULTS.md"), args.to)):
        with open(path, "w") as f:
            f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
