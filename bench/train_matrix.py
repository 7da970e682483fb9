"""Train every backend x kernels combination of one precision from the command line, with a
resume halfway, and check each run against eager with the torch kernels.

    python bench/train_matrix.py --precision bf16 --out DIR            # GPU sizes
    python bench/train_matrix.py --precision bf16 --out DIR --cpu      # CPU sizes (dry run)
    python bench/train_matrix.py --report DIR/matrix-*.jsonl           # markdown table

Each run trains `--steps` steps in two launches (the second with --resume), as a user
would. A run passes when both launches exit 0, its stats are finite, every log interval
is there once, and its last interval's L(x) and M_global are within --tolerance
(relative) of the reference run's: eager with the torch kernels, same precision, same
seed. GAN training amplifies rounding, so "close" is a band, not equality. One JSON
line per run goes to DIR/matrix-PRECISION.jsonl. Standard library only.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

BACKENDS = ("eager", "compile", "cudagraph", "compile-cudagraph")   # the reference first
KERNELS = ("torch", "triton")
# 64 px with n = 32: the paper's architecture at a width that keeps 24 runs short.
GPU_RUN = dict(size=64, filters=32, latent=64, batch=64, steps=300, log_every=50)
CPU_RUN = dict(size=32, filters=4, latent=8, batch=4, steps=10, log_every=5, builtin_count=64)
STATS = ("loss_real", "loss_fake", "k", "m_global")


def train(args, run_dir_parent, resume=None, steps=None):
    cmd = [sys.executable, "-m", "began_fast.train", "--out", run_dir_parent]
    if resume:
        cmd += ["--resume", resume, "--steps", str(steps)]
    else:
        cmd += [f"--{k.replace('_', '-')}={v}" for k, v in args.items()]
    return subprocess.run(cmd, capture_output=True, text=True)


def one_run(precision, backend, kernels, sizes, device, out_dir) -> dict:
    """Train steps/2, resume to steps; the run's facts as a dict."""
    name = f"{precision}-{backend}-{kernels}"
    parent = os.path.join(out_dir, "runs", name)
    options = dict(sizes, steps=sizes["steps"] // 2, precision=precision, backend=backend,
                   kernels=kernels, device=device, sample_every=10 ** 6, ckpt_every=10 ** 6)
    start = time.perf_counter()
    first = train(options, parent)
    result = dict(precision=precision, backend=backend, kernels=kernels, device=device)
    if first.returncode == 0:
        second = train(None, parent, resume="auto", steps=sizes["steps"])
    else:
        second = first
    result["seconds"] = time.perf_counter() - start
    if second.returncode != 0:
        tail = (second.stderr or second.stdout).strip().splitlines()[-3:]
        return dict(result, ok=False, why=f"exit {second.returncode}: {' | '.join(tail)}")
    (run,) = os.listdir(parent)
    with open(os.path.join(parent, run, "stats.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    steps = [r["step"] for r in rows]
    expected = list(range(sizes["log_every"], sizes["steps"] + 1, sizes["log_every"]))
    last = rows[-1]
    speeds = [r["images_per_s"] for r in rows if r.get("images_per_s")]
    result.update({k: last[k] for k in STATS}, images_per_s=sorted(speeds)[len(speeds) // 2] if speeds else None)
    if steps != expected:
        return dict(result, ok=False, why=f"logged steps {steps}, expected {expected}")
    if not all(math.isfinite(r[k]) for r in rows for k in STATS):
        return dict(result, ok=False, why="non-finite stats")
    return dict(result, ok=True, why="")


def against_reference(result, reference, tolerance) -> dict:
    if not (result["ok"] and reference.get("ok")):
        return result
    for key in ("loss_real", "m_global"):
        gap = abs(result[key] - reference[key]) / abs(reference[key])
        if gap > tolerance:
            return dict(result, ok=False, why=f"{key} {result[key]:.4f} vs eager-torch {reference[key]:.4f}")
    return result


def run_matrix(precision, cpu, out_dir, tolerance, compile_on_cpu) -> list:
    device = "cpu" if cpu else "cuda"
    sizes = CPU_RUN if cpu else GPU_RUN
    os.makedirs(out_dir, exist_ok=True)
    results, reference = [], None
    for backend in BACKENDS:
        for kernels in KERNELS:
            if cpu and "cudagraph" in backend:
                results.append(dict(precision=precision, backend=backend, kernels=kernels, device=device,
                                    ok=None, why="needs CUDA"))
                continue
            if cpu and backend == "compile" and (precision, kernels) not in compile_on_cpu:
                results.append(dict(precision=precision, backend=backend, kernels=kernels, device=device,
                                    ok=None, why="dry run: compiled for " + ", ".join(f"{p}-{k}" for p, k in sorted(compile_on_cpu)) + " only"))
                continue
            result = one_run(precision, backend, kernels, sizes, device, out_dir)
            if reference is None:
                reference = result            # eager, torch kernels: the first run
            result = against_reference(result, reference, tolerance)
            print(f"{precision:5} {backend:18} {kernels:7} {'ok' if result['ok'] else 'FAIL'} "
                  f"{result['seconds']:.0f} s {result.get('why', '')}", flush=True)
            results.append(result)
    with open(os.path.join(out_dir, f"matrix-{precision}.jsonl"), "w") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")
    return results


def report(paths) -> str:
    rows = []
    for path in paths:
        with open(path) as f:
            rows += [json.loads(line) for line in f]
    lines = ["| precision | backend | kernels | result | img/s (median interval) | L(x) | M_global | k_t | time |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        verdict = "skipped: " + r["why"] if r["ok"] is None else "pass" if r["ok"] else "FAIL: " + r["why"]
        fmt = lambda key, spec: "-" if r.get(key) is None else format(r[key], spec)
        lines.append(f"| {r['precision']} | {r['backend']} | {r['kernels']} | {verdict} | {fmt('images_per_s', ',.0f')} "
                     f"| {fmt('loss_real', '.4f')} | {fmt('m_global', '.4f')} | {fmt('k', '.4f')} "
                     f"| {fmt('seconds', '.0f')} s |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--precision", choices=("fp32", "tf32", "bf16"))
    p.add_argument("--out", help="folder for the runs and matrix-PRECISION.jsonl")
    p.add_argument("--cpu", action="store_true", help="CPU sizes; CUDA-graph backends skipped")
    p.add_argument("--tolerance", type=float, default=0.3, help="relative band around eager-torch (default 0.3)")
    p.add_argument("--report", nargs="+", metavar="JSONL", help="print a markdown table of these results")
    args = p.parse_args(argv)
    if args.report:
        print(report(args.report))
        return 0
    if not (args.precision and args.out):
        p.error("give --precision and --out (or --report FILES)")
    # On the CPU one compiled run keeps the dry run short (CI runs it): the one with the most
    # in it, autocast around the custom ops; the test suite compiles the others' steps.
    compile_on_cpu = {("bf16", "triton")}
    results = run_matrix(args.precision, args.cpu, args.out, args.tolerance, compile_on_cpu)
    return 0 if all(r["ok"] is not False for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
