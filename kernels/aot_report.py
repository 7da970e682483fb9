"""Compile every Triton kernel ahead of time for sm_90 (H100/H200) and sm_80 (A100), no GPU needed.

    python -m began_fast.kernels.aot_report            # markdown table on stdout
    python -m began_fast.kernels.aot_report --json     # one JSON object per line (used by the tests)

For each kernel and each configuration a launcher may pick (for the conv forward, every
autotune config its shape pruning keeps for each class of the model's layers; the block
sizes the other launchers choose), it reports registers
per thread (n_regs), spill memory per thread in 4-byte words (n_spills, as Triton
counts it), shared memory, and which tensor-core instructions the PTX holds (wgmma on sm_90, mma.sync on sm_80). The arguments are specialised as Triton
does at a real launch on the model's channels_last tensors: pointers 16-byte aligned,
unit strides constant, and sizes and strides that are multiples of 16 marked so
(CONV_LAYERS: the wide layers, the 3-channel first and last convs, and, apart, the
NCHW layout the trainer never feeds the kernel).
Must run without TRITON_INTERPRET (the interpreter never compiles).
"""
import argparse
import json
import os
import re
import subprocess
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from began_fast.kernels import common, conv_elu, conv_elu_backward, equilibrium, l1

TARGETS = {"sm_90": GPUTarget("cuda", 90, 32), "sm_80": GPUTarget("cuda", 80, 32)}
# Largest shared memory one block may opt into, bytes (CUDA programming guide, per arch).
SMEM_LIMIT = {"sm_90": 227 * 1024, "sm_80": 163 * 1024}


@dataclass
class Variant:
    kernel: triton.runtime.JITFunction
    label: str                   # the configuration, in words
    types: Dict[str, str]        # Triton types of the pointer and float arguments (other ints: i32)
    constexprs: Dict[str, object]
    num_warps: int = 4
    num_stages: int = 3
    divisible: FrozenSet[str] = frozenset()  # int arguments that are multiples of 16
    model_layout: bool = True    # False: a layout the model never feeds the kernel (NCHW conv)
    options: Dict[str, object] = field(init=False)

    def __post_init__(self):
        self.options = {"num_warps": self.num_warps, "num_stages": self.num_stages}


_CONV_DTYPES = {"16bit": ("bf16", "ieee"), "tf32": ("fp32", "tf32"), "ieee32": ("fp32", "ieee"),
                "fp64": ("fp64", "ieee")}
_X_CL, _W_CL, _Y_CL = ({"sxb", "sxh", "sxw", "Cin"}, {"swo", "swh", "sww"}, {"syb", "syh", "syw", "Cout"})


@dataclass(frozen=True)
class ConvLayer:
    """A class of the model's conv layers, as a launch specialises them (64 px maps): the
    channel counts the configs are pruned for, unit strides (constexpr), and the int
    arguments that are multiples of 16."""
    label: str
    cin: int
    cout: int
    unit_strides: tuple
    divisible: FrozenSet[str]
    model_layout: bool = True


CONV_LAYERS = (
    # Every conv with 64 or more channels in and out, channels_last (input channels contiguous).
    ConvLayer("", 128, 128, ("sxc", "swi", "syc"), frozenset(_X_CL | _W_CL | _Y_CL | {"B"})),
    # D's first conv: 3-channel rows are not 16-byte aligned.
    ConvLayer(" Cin=3", 3, 128, ("sxc", "swi", "syc"), frozenset(_Y_CL | {"B"})),
    # The decoders' last conv: 3 output channels.
    ConvLayer(" Cout=3", 128, 3, ("sxc", "swi", "syc"), frozenset(_X_CL | _W_CL | {"syb", "syh", "B"})),
    # The same wide layer fed NCHW (a user's model; the launcher still passes the weight
    # channels_last): compiled so it cannot break, not the layout the trainer uses.
    ConvLayer(" NCHW", 128, 128, ("sxw", "swi", "syw"),
              frozenset({"sxb", "sxc", "sxh", "Cin"} | _W_CL | {"syb", "syc", "syh", "Cout", "B"}), False),
)


def _conv_variants() -> List[Variant]:
    out = []
    for family, configs in conv_elu.GPU_CONFIGS.items():
        dt, precision = _CONV_DTYPES[family]
        for layer in CONV_LAYERS:
            for cfg in conv_elu.for_shape(configs, layer.cin, layer.cout):
                kw = cfg.kwargs
                out.append(Variant(
                    conv_elu._conv2d_elu_fwd_kernel,
                    f"{dt} {precision}{layer.label} BM{kw['BLOCK_M']} BN{kw['BLOCK_N']} BK{kw['BLOCK_K']} "
                    f"w{cfg.num_warps} s{cfg.num_stages}",
                    {"x_ptr": f"*{dt}", "w_ptr": f"*{dt}", "b_ptr": f"*{dt}", "y_ptr": f"*{dt}"},
                    dict(kw, **{name: 1 for name in layer.unit_strides}, STRIDE=1, PAD=1, KH=3, KW=3,
                         HAS_BIAS=True, ELU=True, PRECISION=precision),
                    cfg.num_warps, cfg.num_stages, layer.divisible, layer.model_layout))
    return out


def _other_variants() -> List[Variant]:
    out = []
    for dt in ("bf16", "fp32"):
        for channels in (3, 64):  # the model's last decoder convs have 3 channels, all others >= 64
            block_p, block_c = conv_elu_backward.elu_grad_blocks(channels, 2 ** 20)
            out.append(Variant(
                conv_elu_backward._elu_grad_kernel, f"{dt} C={channels}: BP{block_p} BC{block_c}",
                {"gy_ptr": f"*{dt}", "y_ptr": f"*{dt}", "scale_ptr": "*fp32", "g_ptr": f"*{dt}",
                 "gs_ptr": f"*{dt}", "part_ptr": "*fp32"},
                dict(sgc=1, syc=1, ELU=True, HAS_SCALE=True, BIAS_GRAD=True, BLOCK_P=block_p, BLOCK_C=block_c),
                conv_elu_backward.NUM_WARPS,
                divisible=frozenset({"sgb", "sgh", "sgw", "syb", "syh", "syw", "C"}) if channels == 64 else frozenset()))
        out.append(Variant(l1._l1_partial_kernel, f"{dt} BLOCK{l1.BLOCK} CHUNK{l1.CHUNK}",
                           {"r_ptr": f"*{dt}", "t_ptr": f"*{dt}", "part_ptr": "*fp32", "inv_n": "fp32"},
                           dict(BLOCK=l1.BLOCK, CHUNK=l1.CHUNK), l1.NUM_WARPS, divisible=frozenset({"N"})))
        out.append(Variant(l1._l1_backward_kernel, f"{dt} BLOCK{l1.BLOCK} with target grad",
                           {"grad_ptr": "*fp32", "r_ptr": f"*{dt}", "t_ptr": f"*{dt}", "gr_ptr": f"*{dt}",
                            "gt_ptr": f"*{dt}", "inv_n": "fp32"},
                           dict(TARGET_GRAD=True, BLOCK=l1.BLOCK), l1.NUM_WARPS, divisible=frozenset({"N"})))
    for block in (8, common.SUM_PARTIALS_MAX_BLOCK):  # a few l1 chunks; many bias-gradient chunks
        out.append(Variant(common._sum_partials_kernel, f"fp32 -> bf16 BLOCK{block}",
                           {"part_ptr": "*fp32", "out_ptr": "*bf16"}, dict(BLOCK=block)))
    out.append(Variant(equilibrium._equilibrium_kernel, "with stats",
                       {p: "*fp32" for p in ("k_ptr", "real_ptr", "fake_ptr", "m_ptr", "stats_ptr")}
                       | {"gamma": "fp32", "lambda_k": "fp32"},
                       dict(HAS_STATS=True, **equilibrium.STATS_CONSTEXPRS), num_warps=1))
    return out


def variants() -> List[Variant]:
    """Every (kernel, configuration) a launcher may launch on a GPU."""
    return _conv_variants() + _other_variants()


def uncovered_kernels() -> List[str]:
    """Names of @triton.jit functions in the kernel modules that no variant compiles."""
    mods = (common, conv_elu, conv_elu_backward, equilibrium, l1)
    jitted = {v.__name__ for m in mods for v in vars(m).values() if isinstance(v, triton.runtime.JITFunction)}
    return sorted(jitted - {v.kernel.__name__ for v in variants()})


def compile_variant(v: Variant, target: str):
    """Compile for `target`; returns Triton's CompiledKernel (raises on any compile error)."""
    signature, attrs = {}, {}
    for i, p in enumerate(v.kernel.params):
        if p.is_constexpr or p.name in v.constexprs:
            signature[p.name] = "constexpr"
            continue
        signature[p.name] = v.types.get(p.name, "i32")
        if signature[p.name].startswith("*") or p.name in v.divisible:
            attrs[(i,)] = [["tt.divisibility", 16]]
    src = ASTSource(v.kernel, signature, constexprs=v.constexprs, attrs=attrs)
    return triton.compile(src, target=TARGETS[target], options=v.options)


def resource_usage(compiled):
    """(n_regs, n_spills) as Triton defines them when a GPU loads the binary: registers per
    thread, and local (spill) memory per thread in 4-byte words. Read here from the cubin
    with cuobjdump, since CompiledKernel.n_regs / n_spills need a GPU."""
    cuobjdump = os.path.join(os.path.dirname(triton.knobs.nvidia.ptxas.path), "cuobjdump")
    with tempfile.NamedTemporaryFile("wb", suffix=".cubin") as f:
        f.write(compiled.asm["cubin"])
        f.flush()
        usage = subprocess.run([cuobjdump, "--dump-resource-usage", f.name],
                               check=True, capture_output=True, text=True).stdout
    regs, stack = re.search(r"REG:(\d+) STACK:(\d+)", usage).groups()
    return int(regs), int(stack) // 4


def tensor_cores(compiled) -> str:
    ptx = compiled.asm["ptx"]
    return "wgmma" if "wgmma.mma_async" in ptx else "mma" if "mma.sync" in ptx else "-"


def report_row(index: int, target: str) -> dict:
    v = variants()[index]
    compiled = compile_variant(v, target)
    regs, spills = resource_usage(compiled)
    return dict(kernel=v.kernel.__name__, config=v.label, target=target, model_layout=v.model_layout, regs=regs,
                spills=spills, smem=compiled.metadata.shared, smem_limit=SMEM_LIMIT[target],
                tensor_cores=tensor_cores(compiled))


def rows(jobs: int):
    """Every variant on every target, compiled on `jobs` processes, in a stable order."""
    tasks = [(i, t) for i in range(len(variants())) for t in TARGETS]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(report_row, *zip(*tasks)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="compiler processes")
    args = parser.parse_args()
    if common.INTERPRET:
        raise SystemExit("aot_report: unset TRITON_INTERPRET (the interpreter compiles nothing)")
    missing = uncovered_kernels()
    if missing:
        raise SystemExit(f"aot_report: no variant compiles {missing}")
    results = rows(args.jobs)
    if args.json:
        for r in results:
            print(json.dumps(r))
        return
    print("| kernel | config | target | n_regs | n_spills | shared mem (B) | tensor cores |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['kernel']} | {r['config']} | {r['target']} | {r['regs']} | {r['spills']} "
              f"| {r['smem']} | {r['tensor_cores']} |")


if __name__ == "__main__":
    main()
