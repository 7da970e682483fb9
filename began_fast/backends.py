"""The backends that run a model's step function: eager, compiled, CUDA-graphed."""
import torch

from began_fast.config import BACKENDS
from began_fast.models import objective
from began_fast.step import StepState


class StepRunner:
    """Runs the model's `train_step(state)` once per call, by the chosen backend.

    Every call is exactly one training step. For the CUDA-graph backends the first
    WARMUP calls run the step normally on a side stream (cuDNN and the optimisers
    initialise, the compiler compiles), the next call captures the step and replays it,
    and every later call only replays. The first `setup_calls` calls carry the
    compilation or capture; callers time them apart from steady-state speed.
    """
    WARMUP = 3

    def __init__(self, backend: str, state: StepState):
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
        if "cudagraph" in backend and state.device.type != "cuda":
            raise ValueError(f"--backend {backend} needs a CUDA device; use eager or compile on the CPU")
        self.backend, self.state, self.calls = backend, state, 0
        train_step = objective(state.opts.model).train_step
        # Static shapes: the batch never changes within a run, so no dynamic-shape recompile.
        self.fn = torch.compile(train_step, dynamic=False) if backend.startswith("compile") else train_step
        self.graph = None
        self.setup_calls = {"eager": 0, "compile": 1}.get(backend, self.WARMUP + 1)

    def __call__(self) -> None:
        self.calls += 1
        self.state.data.stage()          # streamed data: this step's real batches into the buffer it reads
        self._step()
        self.state.data.prefetch()       # and on CUDA the next step's gathered while the device works

    def _step(self) -> None:
        if "cudagraph" not in self.backend:
            self.fn(self.state)
        elif self.graph is not None:
            self.graph.replay()
        elif self.calls <= self.WARMUP:
            self._warmup_step()
        else:
            self._capture()
            self.graph.replay()

    def _warmup_step(self):
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self.fn(self.state)
        torch.cuda.current_stream().wait_stream(side)

    def _capture(self):
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.fn(self.state)
