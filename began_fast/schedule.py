"""Learning-rate decay on a plateau of M_global, BEGAN's convergence measure."""
import math


class PlateauDecay:
    """Halve lr when M_global has not improved for `patience` steps; never below `floor`.

    Fed the mean M_global of each log interval; the decision is made on the host,
    and the caller writes the new lr into the device tensor the optimisers share.
    """

    def __init__(self, lr: float, patience: int, floor: float, factor: float = 0.5):
        self.lr, self.patience, self.floor, self.factor = lr, patience, floor, factor
        self.best = math.inf
        self.best_step = 0

    def update(self, step: int, m_global: float) -> float:
        """The lr to use from `step` on, given the latest interval's mean M_global."""
        if m_global < self.best:
            self.best, self.best_step = m_global, step
        elif step - self.best_step >= self.patience and self.lr > self.floor:
            self.lr = max(self.lr * self.factor, self.floor)
            self.best_step = step        # give the new lr a full patience window
        return self.lr

    def state_dict(self) -> dict:
        return {"lr": self.lr, "best": self.best, "best_step": self.best_step}

    def load_state_dict(self, state: dict) -> None:
        self.lr, self.best, self.best_step = state["lr"], state["best"], state["best_step"]
