"""Turn benchmark JSON from `pytest bench/` into a markdown report.

    python bench/report.py RUN.json [MORE.json ...] > bench/RESULTS.md
    python bench/report.py RUN.json -o bench/RESULTS.md

Several files (say, the kernel and the step benchmarks run apart on a GPU) merge
into one report; the machine header comes from the first. Speed-ups are computed
between benchmarks of the merged files: a fused op with kernels="triton" against the
same op with kernels="torch" (its plain PyTorch reference), a step against the eager
step with kernels="torch" at the same batch and precision.
Standard library only, so it runs where torch is not installed.
"""
import argparse
import json
import sys

# The project's aims for 64 px, n = 128 on an H100 (README / the issue); shown beside
# the measured values when a run is of that model on that GPU.
TARGET_MODEL = "64px n=128 h=64"


# ----------------------------------------------------------------------------------------------
# Speed-ups.

def median(bench) -> float:
    return bench["stats"]["median"]


def add_speedups(benchmarks: list) -> None:
    """Add speedup_vs_torch (kernels) and speedup_vs_eager (steps) to each extra_info."""
    refs = {}
    for b in benchmarks:
        x = b.get("extra_info", {})
        if x.get("kind") == "kernel" and x.get("kernels") == "torch":
            refs[_kernel_key(x)] = median(b)
        elif x.get("kind") == "step" and x.get("backend") == "eager" and x.get("kernels") == "torch":
            refs[_step_key(x)] = median(b)
    for b in benchmarks:
        x = b.get("extra_info", {})
        if x.get("kind") == "kernel":
            ref = refs.get(_kernel_key(x))
            x["speedup_vs_torch"] = ref / median(b) if ref else None
        elif x.get("kind") == "step":
            ref = refs.get(_step_key(x))
            x["speedup_vs_eager"] = ref / median(b) if ref else None


def _kernel_key(x):
    return ("kernel", x.get("op"), x.get("shape"), x.get("batch"), x.get("precision"), x.get("mode"))


def _step_key(x):
    return ("step", x.get("model"), x.get("batch"), x.get("precision"), x.get("channels_last"))


def layout(x) -> str:
    return {True: "NHWC", False: "NCHW"}.get(x.get("channels_last"), "-")


# ----------------------------------------------------------------------------------------------
# Formatting.

def fmt_time(seconds):
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt(value, spec=".3g", suffix=""):
    return "-" if value is None else f"{value:{spec}}{suffix}"


def pct(fraction):
    return "-" if fraction is None else f"{100 * fraction:.1f}%"


def speedup(value):
    return "-" if value is None else f"{value:.2f}x"


def table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def rate(x):
    if x.get("tflops") is not None:
        return f"{x['tflops']:.3g} TFLOP/s"
    if x.get("gbps") is not None:
        return f"{x['gbps']:.3g} GB/s"
    return "-"


def _order(value):
    """Sort key that puts numbers before strings and None last."""
    return (value is None, isinstance(value, str), value if value is not None else 0)


# ----------------------------------------------------------------------------------------------
# Sections.

def kernel_table(benchmarks) -> str:
    kernels = [b for b in benchmarks if b["extra_info"].get("kind") == "kernel"]
    if not kernels:
        return ""
    switch = [k for k in ("torch", "triton") if any(b["extra_info"]["kernels"] == k for b in kernels)]
    fused = "triton" if "triton" in switch else "torch"
    rows = {}
    for b in kernels:
        rows.setdefault(_kernel_key(b["extra_info"]), {})[b["extra_info"]["kernels"]] = b
    header = ["op", "shape", "layout", "batch", "precision", "pass"]
    for name in switch:
        header += [name] if name == "torch" else [name, "speed-up"]
    header += [f"{fused} rate", "% of measured peak", "% of datasheet peak"]
    out = []
    for key in sorted(rows, key=lambda k: tuple(_order(v) for v in k)):
        _, op, shape, batch, precision, mode = key
        first = next(iter(rows[key].values()))["extra_info"]
        cells = [op, shape, layout(first), fmt(batch, "d") if batch is not None else "-", precision,
                 mode.replace("_", "+")]
        for name in switch:
            b = rows[key].get(name)
            cells.append(fmt_time(median(b)) if b else "-")
            if name != "torch":
                cells.append(speedup(b["extra_info"].get("speedup_vs_torch")) if b else "-")
        best = rows[key].get(fused)
        x = best["extra_info"] if best else {}
        cells += [rate(x), pct(x.get("frac_peak_measured")), pct(x.get("frac_peak_spec"))]
        out.append(cells)
    return table(header, out)


def step_tables(benchmarks) -> str:
    steps = [b for b in benchmarks if b["extra_info"].get("kind") == "step"]
    if not steps:
        return ""
    backends = [k for k in ("eager", "compile", "cudagraph", "compile-cudagraph")
                if any(b["extra_info"]["backend"] == k for b in steps)]
    grid = {}
    for b in steps:
        x = b["extra_info"]
        grid.setdefault((x["model"], x["batch"], x["precision"], layout(x), x["kernels"]), {})[x["backend"]] = b
    summary = []
    for key in sorted(grid, key=lambda k: tuple(_order(v) for v in k)):
        cells = list(key)
        for backend in backends:
            b = grid[key].get(backend)
            cells.append("-" if b is None else
                         f"{b['extra_info']['images_per_s']:,.0f} ({speedup(b['extra_info'].get('speedup_vs_eager'))})")
        summary.append(cells)
    detail = []
    for b in sorted(steps, key=lambda b: tuple(_order(v) for v in _step_sort(b["extra_info"]))):
        x = b["extra_info"]
        detail.append([x["model"], x["backend"], x["kernels"], x["batch"], x["precision"], layout(x),
                       f"{x['images_per_s']:,.0f}", speedup(x.get("speedup_vs_eager")),
                       fmt_time(median(b)), fmt(x.get("gflop_per_image"), ".3g"), fmt(x.get("tflops"), ".3g"),
                       pct(x.get("frac_peak_measured")), pct(x.get("frac_peak_spec")),
                       fmt(x.get("setup_s"), ".1f", " s"), fmt(x.get("peak_memory_gib"), ".2f"),
                       fmt(x.get("energy_j_per_step"), ".3g"), fmt(x.get("mean_power_w"), ".0f")])
    return "\n\n".join([
        "Images/s (speed-up over eager with kernels=torch at the same batch, precision and layout):",
        table(["model", "batch", "precision", "layout", "kernels", *backends], summary),
        "Every case:",
        table(["model", "backend", "kernels", "batch", "precision", "layout", "img/s", "vs eager", "step", "GFLOP/img",
               "TFLOP/s", "% of measured peak", "% of datasheet peak", "compile/capture",
               "peak mem GiB", "J/step", "W"], detail)])


def _step_sort(x):
    return (x["model"], x["batch"], x["precision"], layout(x), x["kernels"],
            ("eager", "compile", "cudagraph", "compile-cudagraph").index(x["backend"]))


def targets(benchmarks, machine) -> str:
    gpu = (machine.get("gpu") or {}).get("name") or ""
    steps = [b["extra_info"] for b in benchmarks if b["extra_info"].get("kind") == "step"
             and b["extra_info"].get("model") == TARGET_MODEL]
    kernels = [b["extra_info"] for b in benchmarks if b["extra_info"].get("kind") == "kernel"
               and b["extra_info"].get("kernels") == "triton"]
    applies = "H100" in gpu and (steps or kernels)

    def best_step():
        cases = [x for x in steps if x["precision"] == "bf16" and x["batch"] == 256]
        if not cases:
            return "not run"
        x = max(cases, key=lambda x: x["images_per_s"])
        return f"{x['images_per_s']:,.0f} img/s ({x['backend']}, kernels={x['kernels']})"

    def graph_speedup():
        cases = [x for x in steps if x["backend"] == "cudagraph" and x["batch"] == 16
                 and x["kernels"] == "torch" and x.get("speedup_vs_eager")]
        return ", ".join(f"{x['precision']} {x['speedup_vs_eager']:.2f}x" for x in cases) or "not run"

    def l1_bandwidth():
        cases = [x for x in kernels if x["op"] == "l1_per_sample" and x["mode"] == "fwd_bwd"
                 and x.get("frac_peak_spec") is not None]
        return ", ".join(f"batch {x['batch']} {x['precision']}: {pct(x['frac_peak_spec'])} of datasheet, "
                         f"{pct(x['frac_peak_measured'])} of measured" for x in cases) or "not run"

    def conv_forward():
        cases = [x for x in kernels if x["op"] == "conv2d_elu" and x["mode"] == "fwd"
                 and x.get("speedup_vs_torch")]
        if not cases:
            return "not run"
        ups = sorted(x["speedup_vs_torch"] for x in cases)
        return (f"{sum(u >= 1 for u in ups)} of {len(ups)} cases at or above 1.00x "
                f"(from {ups[0]:.2f}x to {ups[-1]:.2f}x)")

    rows = [["whole step, bf16, batch 256", ">= 4,000 img/s"],
            ["CUDA-graph step at batch 16 over eager", ">= 3x"],
            ["l1_per_sample fwd+bwd (triton)", ">= 80% of HBM bandwidth"],
            ["conv2d_elu fwd (triton) over cuDNN conv + separate ELU", ">= 1x"]]
    if applies:
        for row, value in zip(rows, (best_step(), graph_speedup(), l1_bandwidth(), conv_forward())):
            row.append(value)
        return table(["target (64 px, n = 128, H100)", "aim", "measured"], rows)
    where = gpu or machine.get("cpu_model") or "this machine"
    return (f"The targets are for 64 px, n = 128 on an H100; this run is on {where}, "
            "so none is measured here.\n\n" + table(["target (64 px, n = 128, H100)", "aim"], rows))


def header(doc, files) -> str:
    m = doc.get("machine_info", {})
    gpu = m.get("gpu")
    date = (doc.get("datetime") or "")[:10]
    lines = [f"# began-fast benchmark results", ""]
    if gpu:
        lines.append(f"- **GPU**: {gpu.get('name')}, {fmt(gpu.get('memory_gib'), '.0f')} GiB, "
                     f"{gpu.get('sm_count')} SMs, compute {gpu.get('capability')}, driver {gpu.get('driver') or '-'} "
                     f"(CUDA {gpu.get('driver_cuda') or '-'}), max clocks SM {fmt(gpu.get('max_sm_clock_mhz'), 'd')} MHz / "
                     f"memory {fmt(gpu.get('max_mem_clock_mhz'), 'd')} MHz, power limit {fmt(gpu.get('power_limit_w'), '.0f')} W")
    lines.append(f"- **CPU**: {m.get('cpu_model', m.get('processor', '-'))}, {m.get('cpu_affinity') or m.get('cpu_count')} "
                 f"cores usable, torch threads {m.get('torch_threads', '-')}")
    lines.append(f"- **Date**: {date}")
    commit = doc.get("commit_info", {})
    lines.append(f"- **Versions**: torch {m.get('torch', '-')}, triton {m.get('triton', '-')}, CUDA runtime "
                 f"{m.get('cuda_runtime') or '-'}, cuDNN {m.get('cudnn') or '-'}, Python {m.get('python_version', '-')}, "
                 f"pytest-benchmark {doc.get('version', '-')}")
    if commit.get("id"):
        lines.append(f"- **Commit**: {commit['id'][:12]}{' (uncommitted changes)' if commit.get('dirty') else ''}")
    run = doc.get("bench_run", {})
    peaks = run.get("measured_peaks", {})
    if peaks:
        text = ", ".join(f"{k.replace('matmul_tflops_', 'matmul ')} {v:.3g} TFLOP/s" if k.startswith("matmul")
                         else f"copy {v:.3g} GB/s" for k, v in sorted(peaks.items()))
        lines.append(f"- **Peaks measured in this run**: {text}")
    suite = run.get("suite")
    if suite:
        lines.append(f"- **Suite**: device {suite['device']}, step model {suite['step_model']}, "
                     f"about {suite['time_s']:g} s timed per benchmark, at least {suite['min_rounds']} rounds"
                     f"{', full' if suite.get('full') else ''}{', quick' if suite.get('quick') else ''}"
                     + ("" if "inductor_caches" not in suite else
                        f"; compile times with TorchInductor's caches {'on' if suite['inductor_caches'] else 'off (cold)'}"))
    if suite and suite.get("command"):
        lines.append(f"- **Command**: `{suite['command']}`")
    state = run.get("gpu")
    if state:
        lines.append(f"- **GPU at the end of the run**: SM {fmt(state.get('sm_clock_mhz'), 'd')} MHz, memory "
                     f"{fmt(state.get('mem_clock_mhz'), 'd')} MHz, {fmt(state.get('power_draw_w'), '.0f')} W, "
                     f"{fmt(state.get('temperature_c'), 'd')} C")
    lines.append(f"- **From**: {', '.join(files)}")
    return "\n".join(lines)


NOTES = """\
Times are medians over timed rounds; each round is a number of calls closed by a
device synchronisation, after warm-up calls. Kernel inputs rotate through a ring of
pre-allocated sets at least twice the last-level cache. Kernels: "torch" is the op's
plain PyTorch reference (conv2d_elu: F.conv2d then F.elu, with D's per-sample
weight-gradient scale in its backward; l1_per_sample: the torch expression;
equilibrium_update: torch ops), "triton" the fused op; the speed-up is triton's over
torch. Kernel
rates: conv FLOPs are 2*B*Cout*Ho*Wo*Cin*9 forward and three times that for
forward+backward; l1 bytes are one read of recon and target forward, plus a read
of both and a write of both gradients backward. Step FLOPs come from
torch.utils.flop_counter over one eager step with kernels="torch"; img/s counts
real images (the batch) per step. "compile/capture" is the time of the runner's
first setup_calls calls, kept out of the timed rounds. Peak memory is
torch.cuda.max_memory_allocated (not measured on the CPU). Measured peaks are the
best per-call time, over 0.3 s of doubling synchronised batches, of a large matmul in
each precision and of a large copy."""


def render(docs, files) -> str:
    benchmarks = [b for doc in docs for b in doc.get("benchmarks", [])]
    add_speedups(benchmarks)
    parts = [header(docs[0], files), "## Targets", targets(benchmarks, docs[0].get("machine_info", {}))]
    kernels = kernel_table(benchmarks)
    if kernels:
        parts += ["## Kernels against the PyTorch they replace", kernels]
    steps = step_tables(benchmarks)
    if steps:
        parts += ["## The whole training step", steps]
    parts += ["## How these were measured", NOTES]
    return "\n\n".join(parts) + "\n"


def summary(benchmarks) -> str:
    """The kernel and step tables alone, for the end of a pytest run."""
    return "\n\n".join(t for t in (kernel_table(benchmarks), step_tables(benchmarks)) if t)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Markdown report from pytest-benchmark JSON files of bench/.")
    parser.add_argument("json", nargs="+", help="files from --benchmark-json or .benchmarks/ (--benchmark-save)")
    parser.add_argument("-o", "--output", help="write here instead of standard output")
    args = parser.parse_args(argv)
    docs = []
    for path in args.json:
        with open(path) as f:
            docs.append(json.load(f))
    text = render(docs, args.json)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
