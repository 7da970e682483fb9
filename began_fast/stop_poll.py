"""When the processes of a torchrun job ask each other whether to stop.

A signal (SIGTERM from a scheduler, Ctrl-C) may reach one rank alone, and every rank must
stop at the same step or the others hang in the next all-reduce, so the ranks agree in a
collective. Asking at every step would add a host synchronisation to every step; asking
only at --log-every boundaries would make the stop wait for however long an interval
lasts. So they ask about every PERIOD_S seconds: the period in steps follows the slowest
rank's measured time per step, which every rank learns from the same all-reduce, so all
of them ask at the same steps.
"""
import time

import torch
import torch.distributed as dist

from began_fast.devices import sync
from began_fast.distributed import Context

PERIOD_S = 1.0          # the stated bound: the ranks ask each other about once a second
MAX_PERIOD_STEPS = 10_000


class StopPoll:
    def __init__(self, ctx: Context, clock=time.perf_counter):
        self.ctx, self.clock = ctx, clock
        self.every = 1                     # steps between asks; 1 until a step has been timed
        self.next_step = None              # set by the first call to due()
        self.last_time = None

    def due(self, step: int) -> bool:
        if self.next_step is None:      # the first ask comes after one timed step
            self.next_step, self.last_time = step + 1, self.clock()
        return step >= self.next_step

    def ask(self, step: int, flag: bool) -> bool:
        """True on every rank when `flag` is true on any rank; called by every rank at the
        same step (when due() says so). Sets the next step to ask at."""
        sync(self.ctx.device)      # the clock must count the device's work, not its queueing
        now = self.clock()
        seconds_per_step = (now - self.last_time) / self.every
        if self.ctx.world == 1:
            wanted, slowest = flag, seconds_per_step
        else:
            t = torch.tensor([float(flag), seconds_per_step], dtype=torch.float64, device=self.ctx.device)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            flag_max, slowest = t.tolist()     # one device-to-host read
            wanted = bool(flag_max)
        # A clock too coarse to see the steps: double the period until it does.
        every = int(PERIOD_S / slowest) if slowest > 0 else 2 * self.every
        self.every = max(1, min(MAX_PERIOD_STEPS, every))
        self.next_step, self.last_time = step + self.every, self.clock()
        return wanted
