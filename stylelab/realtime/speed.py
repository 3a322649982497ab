"""How long one stylisation takes: the median wall time of repeated calls, after a warm-up call
(the first call of a network pays for memory allocation and oneDNN's kernel choice), which is
what lessons 16-17 put beside the optimisation's time."""

from __future__ import annotations

import statistics
import time
from typing import Callable

from ..errors import SettingsError


def median_seconds(fn: Callable[[], object], reps: int = 5, warmup: int = 1) -> float:
    """The median wall time of ``reps`` calls of ``fn`` after ``warmup`` calls, in seconds."""
    if reps < 1 or warmup < 0:
        raise SettingsError(f"reps must be >= 1 and warmup >= 0, got {reps} and {warmup}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
