"""A torchrun worker for tests/test_elastic.py: `python -m began_fast.train`, except that it
kills itself (SIGKILL) where ELASTIC_KILLS says, so that each kill lands at a known moment:

    ELASTIC_KILLS="RESTART:RANK:STEP:WHEN,..."     WHEN: "step" (after the step) or "ckpt"
                                                   (halfway through writing that step's checkpoint)

RESTART is torchrun's TORCHELASTIC_RESTART_COUNT: each kill happens in one attempt only.
"""
import os
import signal

from began_fast import checkpoint, distributed, train
from began_fast.files import atomic_write


def _kills() -> set:
    attempt, rank = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"), os.environ.get("RANK", "0")
    kills = set()
    for kill in filter(None, os.environ.get("ELASTIC_KILLS", "").split(",")):
        at_attempt, at_rank, step, when = kill.split(":")
        if (at_attempt, at_rank) == (attempt, rank):
            kills.add((int(step), when))
    return kills


KILLS = _kills()


def _die():
    os.kill(os.getpid(), signal.SIGKILL)


class KillingRunner(train.StepRunner):
    def __call__(self):
        super().__call__()
        if (int(self.state.step), "step") in KILLS:
            _die()


def killing_save(path: str, payload: dict, _save=checkpoint.save) -> None:
    if (payload["step"], "ckpt") in KILLS:
        with atomic_write(path, durable=True) as f:      # what a kill mid-write leaves: a temporary file
            f.write(b"the first half of a checkpoint")
            f.flush()
            _die()
    _save(path, payload)


train.StepRunner = KillingRunner
checkpoint.save = killing_save

if __name__ == "__main__":
    code = train.main()
    if distributed.env_world() > 1:
        distributed.exit_process(code)
    raise SystemExit(code)
