"""The suite's options, the machine in the benchmark JSON, and speed-ups computed at the end.

Benchmarks never set TRITON_INTERPRET (tests/conftest.py does, on machines without
CUDA): on the CPU the registered Triton ops run their torch reference, and the
suite times the torch paths only.
"""
import os

import pytest
import torch

from bench import report
from bench.cases import Suite
from bench import machine
from bench.steps import free_memory


def pytest_addoption(parser):
    group = parser.getgroup("began-fast benchmarks")
    group.addoption("--bench-full", action="store_true",
                    help="GPU: every step case under torch.compile too (default: bf16 at batch "
                         "16 and 256 only) and fp32 kernel cases")
    group.addoption("--bench-quick", action="store_true",
                    help="CPU: skip the torch.compile step case (about a minute of compilation)")
    group.addoption("--bench-time", type=float, metavar="SECONDS",
                    help="timed seconds per benchmark, about (default: 1.0 on CUDA, 0.2 on the CPU); "
                         "the suite times with benchmark.pedantic, so --benchmark-max-time does not "
                         "apply, --benchmark-min-rounds does")
    group.addoption("--bench-device", choices=("cpu", "cuda"),
                    help="which suite to run (default: cuda when present, else cpu)")
    group.addoption("--bench-threads", type=int, metavar="N",
                    help="torch.set_num_threads(N) for the run (default: torch's choice); 1 steadies "
                         "CPU timings on a machine other processes keep busy")


def pytest_configure(config):
    if config.getoption("bench_threads"):
        torch.set_num_threads(config.getoption("bench_threads"))
    config.bench_suite = Suite.create(
        full=config.getoption("bench_full"), quick=config.getoption("bench_quick"),
        time_s=config.getoption("bench_time"), device=config.getoption("bench_device"),
        min_rounds=int(config.getoption("benchmark_min_rounds", 5) or 5))


@pytest.fixture(scope="session")
def bench_suite(request) -> Suite:
    return request.config.bench_suite


@pytest.fixture(autouse=True)
def _release_memory(bench_suite):
    yield
    free_memory(bench_suite.device)


def pytest_report_header(config):
    suite = config.bench_suite
    info = machine.machine_info(suite.device)
    where = info["gpu"]["name"] if info["gpu"] else info["cpu_model"]
    return [f"began-fast bench: {suite.device} ({where}), torch {info['torch']}, triton {info['triton']}; "
            f"{'GPU' if suite.cuda else 'CPU'} sizes, step model {suite.step_model.name}, "
            f"{suite.time_s:g} s per benchmark{', full' if suite.full else ''}{', quick' if suite.quick else ''}"]


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info.update(machine.machine_info(config.bench_suite.device))


def pytest_benchmark_update_json(config, benchmarks, output_json):
    suite = config.bench_suite
    output_json["bench_run"] = dict(
        machine.run_state(suite.device), suite=dict(
            device=str(suite.device), full=suite.full, quick=suite.quick, time_s=suite.time_s,
            min_rounds=suite.min_rounds, step_model=suite.step_model.name,
            inductor_caches=os.environ.get("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "0") != "1",
            command="pytest " + " ".join(config.invocation_params.args)))
    report.add_speedups(output_json["benchmarks"])


def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled or not session.benchmarks:
        return
    rows = [b.as_dict(include_data=False) for b in session.benchmarks if not b.has_error]
    report.add_speedups(rows)
    terminalreporter.write_sep("-", "began-fast: speed-ups measured in this run")
    terminalreporter.write_line(report.summary(rows))
