"""Run shard tasks on any ``concurrent.futures.Executor``: inline, a process pool, or Dask."""

from __future__ import annotations

import ctypes
import itertools
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from negaudio.core.errors import InputError
from negaudio.core.extras import require
from negaudio.core.limits import is_count

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
def make_executor(
    jobs: int, kind: str = "process", address: str | None = None, scratch: Path | None = None
) -> Iterator[Executor]:
    """An executor for ``jobs`` workers. ``kind``: ``process`` (a pool, see :func:`start_method`; inline when
    jobs == 1) or ``dask`` (a scheduler at ``address``, or :func:`local_cluster` of ``jobs`` workers with its
    files in ``scratch``). Workers are started (and import) at once, while the caller goes on."""
    check_executor(jobs, kind, address)
    if kind == "dask":
        Client = require("dask.distributed", "dask", "--executor dask").Client
        with (
            local_cluster(jobs, scratch) if not address else nullcontext(address) as cluster,
            Client(cluster) as client,
        ):
            yield _warm_up(client.get_executor(pure=False), jobs)
        return
    if jobs == 1:
        yield InlineExecutor()
        return
    with worker_environment():
        pool = ProcessPoolExecutor(
            jobs,
            mp_context=multiprocessing.get_context(start_method()),
            initializer=_worker_init,
            initargs=(os.getpid(),),
        )
        try:
            _warm_up(pool, jobs)
            yield pool
        except BaseException:  # an error, Ctrl-C or SIGTERM: stop the workers now, leave no orphan behind
            _stop(pool)
            raise
        pool.shutdown(wait=True)


def check_executor(jobs: int, kind: str, address: str | None) -> None:
    """Workers, executor kind and scheduler address that :func:`make_executor` can use."""
    check_jobs(jobs)
    if kind not in ("process", "dask"):
        raise InputError(f"--executor must be 'process' or 'dask' (got {kind!r})")
    if address and kind != "dask":
        raise InputError(f"--dask-address {address}: give --executor dask too (the build would use a local pool)")


def check_jobs(jobs: int) -> None:
    """``--jobs`` must be a whole number, at least 1."""
    if not is_count(jobs, 1):
        raise InputError(f"--jobs must be >= 1, got {jobs!r}")


@contextmanager
def worker_environment() -> Iterator[None]:
    """One BLAS thread per worker (the workers are the parallelism) for the workers started inside. On exit each
    variable set for workers is as it was, unless something else changed it since: ours, and those Dask's nanny
    writes into this process's environment and leaves there (``MALLOC_TRIM_THRESHOLD_``, its thread variables,
    ``PYTHONHASHSEED``), where every later subprocess would inherit them."""
    saved = dict(os.environ)
    for var in THREAD_VARS:
        os.environ.setdefault(var, "1")
    try:
        yield
    finally:
        for key, value in _worker_values().items():
            if os.environ.get(key) == value != saved.get(key):
                if key in saved:
                    os.environ[key] = saved[key]
                else:
                    del os.environ[key]


def _worker_values() -> dict[str, str]:
    """The environment variables set for workers, with their values: ours, and Dask's when Dask is loaded (the
    nanny's ``distributed.nanny.pre-spawn-environ`` and hash seed, and its process-title marker)."""
    values = dict.fromkeys(THREAD_VARS, "1")
    if "dask" in sys.modules:
        import dask

        spawn = dask.config.get("distributed.nanny.pre-spawn-environ", default=None) or {}
        values |= {key: str(value) for key, value in spawn.items() if value is not None}
        if values.get("PYTHONHASHSEED") in (None, "0"):  # the nanny's own choice then
            values["PYTHONHASHSEED"] = "6640"
        values["__DASK_PARENT_PID"] = str(os.getpid())
    return values


@contextmanager
def local_cluster(workers: int, scratch: Path | None = None) -> Iterator:
    """A Dask ``LocalCluster`` of ``workers`` single-threaded worker processes, the scheduler's and the workers'
    files in ``scratch`` (Dask's default is the system's temporary folder), and glibc's allocator as it is
    elsewhere. Dask sets ``MALLOC_TRIM_THRESHOLD_`` in its workers, which turns off glibc's adaptive mmap
    threshold: every large numpy buffer is then mapped and zero-filled afresh (a ``--jobs 1`` build ran about
    1.35x slower inside such a worker than outside). The settings apply while the cluster starts (the nanny
    keeps them for restarts)."""
    import dask

    LocalCluster = require("dask.distributed", "dask", "--executor dask").LocalCluster
    folder = None if scratch is None else str(Path(scratch).resolve())
    settings = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    if folder:  # the scheduler's files too (it takes no folder of its own)
        settings["temporary-directory"] = folder
    with worker_environment():
        with dask.config.set(settings):
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, local_directory=folder
            )
        with cluster:
            yield cluster


def start_method() -> str:
    """``fork`` on Linux when this process runs no other Python thread (workers start at once, with the modules
    already imported), else ``spawn`` (a fresh interpreter per worker: safe beside threads that may hold locks).
    Workers are started before the plan is written, so a forked worker holds none of its files."""
    single = threading.active_count() == 1 and threading.current_thread() is threading.main_thread()
    return "fork" if sys.platform.startswith("linux") and single else "spawn"


def _warm_up(executor: Executor, jobs: int) -> Executor:
    """Submit one no-op task per worker, so that the workers start and import now (spawned ones without the
    caller's ``__main__``)."""
    with _spawning_without_main():
        for _ in range(jobs):
            executor.submit(warm_up)
    return executor


@contextmanager
def _spawning_without_main() -> Iterator[None]:
    """Start spawn workers inside this block without re-running the parent's ``__main__`` in them (the CLI with
    typer and rich, or a user's script): the tasks and the initializer live in negaudio modules, so a worker
    needs none of it, and starts faster."""
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__.pop(k) for k in ("__file__", "__spec__") if main is not None and k in main.__dict__}
    if main is not None:
        main.__spec__ = None  # multiprocessing reads it; None (and no __file__) means nothing to re-run
    try:
        yield
    finally:
        if main is not None:
            del main.__spec__
            main.__dict__.update(saved)


def warm_up() -> None:
    """A no-op task: submitted once per worker so that the workers start (and import) before they are needed."""


PR_SET_PDEATHSIG = 1


def _worker_init(parent: int) -> None:
    """Workers leave SIGINT to the main process, which stops them (no traceback per worker on Ctrl-C), and die
    with it (Linux): a killed build leaves no worker writing into the folder while the next run goes on."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked worker inherits the CLI's handler: stop quietly
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the main process died before the line above took effect
            os._exit(1)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Terminate the workers, then let the pool notice and end its manager thread (so nothing is left to fail
    at interpreter exit)."""
    processes = list((pool._processes or {}).values())
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join()
    pool.shutdown(wait=True, cancel_futures=True)


def run_bounded(
    executor: Executor,
    fn: Callable,
    tasks: Iterable[tuple],
    limit: int,
    on_done: Callable[[object], None],
    started: Mapping[Any, Future] | None = None,
    rank: Callable[[tuple], Any] | None = None,
) -> None:
    """Submit ``fn(*task)`` for each task with at most ``limit`` in flight, calling ``on_done`` per result.
    ``started``: futures already in flight, by rank, counted and reported alike; ``rank(task)``: a task's rank
    among them (default: its position in ``tasks``).

    The first failure stops what has not started (:func:`settle`). Once the running tasks have ended, the
    failure of the lowest rank is raised (the same one whichever finished first), so every shard that finished
    is on disk for ``--resume``. An interruption (Ctrl-C, SIGTERM) does not wait: the executor's owner stops the
    workers.
    """
    index: dict[Future, Any] = {future: r for r, future in (started or {}).items()}  # the futures in flight
    failed: list[tuple[Any, BaseException]] = []
    position = itertools.count()
    try:
        for task in tasks:
            if len(index) >= limit and _drain(index, on_done, failed):
                break
            index[executor.submit(fn, *task)] = next(position) if rank is None else rank(task)
        while index and not failed:
            _drain(index, on_done, failed)
    except Exception:
        settle(executor, index)
        raise
    except BaseException:
        settle(executor, index, wait_running=False)
        raise
    settle(executor, index)
    failed += [(i, f.exception()) for f, i in index.items() if not f.cancelled() and f.exception() is not None]
    if failed:
        raise min(failed, key=lambda item: item[0])[1]


def settle(executor: Executor, futures: Iterable[Future], wait_running: bool = True) -> None:
    """Cancel the ``futures`` that have not started and, with ``wait_running``, wait for the others to end.

    Only a process pool's (or the inline executor's) cancel keeps a running task's future running; Dask reports
    a running task cancelled at once while its worker goes on writing. With any other executor nothing is
    cancelled when the running tasks are to be awaited: every future is awaited."""
    futures = list(futures)
    if not wait_running or isinstance(executor, ProcessPoolExecutor | InlineExecutor):
        for future in futures:
            future.cancel()
    if wait_running:
        wait(futures)


def _drain(index: dict[Future, Any], on_done, failed: list) -> bool:
    """Wait for at least one task; report results; note failures with their rank; True if any failed."""
    done, _ = wait(index, return_when=FIRST_COMPLETED)
    for future in done:
        i = index.pop(future)
        if future.cancelled():
            continue
        exc = future.exception()
        if exc is not None:
            failed.append((i, exc))
        else:
            on_done(future.result())
    return bool(failed)
