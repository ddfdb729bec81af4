"""Run shard tasks on any ``concurrent.futures.Executor``: inline, a spawn-based process pool, or Dask."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager

from negaudio.core.errors import InputError
from negaudio.core.extras import require

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class InlineExecutor(Executor):
    """Runs each task at submit time in this process (``--jobs 1``): no pickling, no start-up cost."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future, as a pool would
            future.set_exception(exc)
        return future


@contextmanager
def make_executor(jobs: int, kind: str = "process", address: str | None = None) -> Iterator[Executor]:
    """An executor for ``jobs`` workers. ``kind``: ``process`` (spawn pool; inline when jobs == 1) or ``dask``
    (a scheduler at ``address``, or a ``LocalCluster`` of ``jobs`` single-threaded worker processes)."""
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1 (got {jobs})")
    for var in THREAD_VARS:  # one BLAS thread per worker: the workers are the parallelism
        os.environ.setdefault(var, "1")
    if kind == "process":
        if jobs == 1:
            yield InlineExecutor()
            return
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            yield pool
        return
    if kind != "dask":
        raise InputError(f"--executor must be 'process' or 'dask' (got {kind!r})")
    distributed = require("dask.distributed", "dask", "--executor dask")
    Client, LocalCluster = distributed.Client, distributed.LocalCluster
    if address:
        with Client(address) as client:
            yield client.get_executor(pure=False)
        return
    with (
        LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        yield client.get_executor(pure=False)


def run_bounded(
    executor: Executor, fn: Callable, tasks: Iterable[tuple], limit: int, on_done: Callable[[object], None]
) -> None:
    """Submit ``fn(*task)`` for each task with at most ``limit`` in flight, calling ``on_done`` per result.

    The first failure cancels what has not started and is raised once the running tasks have ended, so every
    shard that finished is on disk for ``--resume``.
    """
    pending: set[Future] = set()
    error: BaseException | None = None
    try:
        for task in tasks:
            if len(pending) >= limit and (error := _drain(pending, on_done)):
                break
            pending.add(executor.submit(fn, *task))
        while pending and error is None:
            error = _drain(pending, on_done)
    finally:
        for future in pending:
            future.cancel()
        wait(pending)
    if error:
        raise error


def _drain(pending: set[Future], on_done) -> BaseException | None:
    """Wait for at least one task; report results; return the first failure among them."""
    done, _ = wait(pending, return_when=FIRST_COMPLETED)
    error = None
    for future in done:
        pending.discard(future)
        if future.cancelled():
            continue
        exc = future.exception()
        if exc is not None:
            error = error or exc
        else:
            on_done(future.result())
    return error
