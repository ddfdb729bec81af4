"""run_bounded raises the failure of the lowest rank, whichever task finished first."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from negaudio.rendering.execute import run_bounded


def fail_after(seconds: float, name: str) -> None:
    time.sleep(seconds)
    raise ValueError(name)


def test_the_earliest_tasks_failure_is_raised_not_the_first_to_finish():
    done: list = []
    with ThreadPoolExecutor(2) as pool, pytest.raises(ValueError, match=r"^first$"):
        run_bounded(pool, fail_after, [(0.5, "first"), (0.0, "second")], 2, done.append)


def test_started_futures_and_ranked_tasks_are_ordered_by_rank():
    with ThreadPoolExecutor(3) as pool:
        started = {7: pool.submit(fail_after, 0.0, "rank 7"), 3: pool.submit(fail_after, 0.5, "rank 3")}
        tasks = [(0.0, "rank 5", 5)]
        with pytest.raises(ValueError, match=r"^rank 3$"):
            run_bounded(pool, lambda s, n, _: fail_after(s, n), tasks, 3, print, started, rank=lambda t: t[2])
