"""What the model-based tests (Hypothesis state machines, */test_model_*.py) share."""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine

# Enough examples and steps to reach reopens at every capacity; the queue's
# disk writes make each step slower than Hypothesis expects.
MODEL_SETTINGS = settings(
    max_examples=50,
    stateful_step_count=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class QueueMachine(RuleBasedStateMachine):
    """A state machine driving one queue (self.queue, at self.path) in a fresh
    directory of its own per example, closed and removed at teardown."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.directory = tempfile.mkdtemp(prefix=f"rocksq-model-{kind}-")
        self.path = self.directory + "/queue"
        self.queue: Any = None

    def teardown(self) -> None:
        if self.queue is not None:
            self.queue.close()
        shutil.rmtree(self.directory, ignore_errors=True)
