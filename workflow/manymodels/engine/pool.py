"""A pool of warm worker processes that tasks run in, where one bad task harms no other.

A fresh Python process pays seconds to import scikit-learn; a job that starts one per task spends
more time importing than fitting. The workers here are forked from a server process that imported
what the tasks need once (``multiprocessing``'s forkserver with its modules preloaded), so a new
worker is warm at once, and each worker runs one task at a time:

- a task whose process dies (a segmentation fault in a C extension, SIGKILL, the kernel's
  out-of-memory killer) harms no other task, as in a pool whose failure domain is the whole pool
  (loky, ``concurrent.futures``: one dead worker breaks every task in flight); it is run once more
  on a fresh worker, and if that one dies too it ends in :class:`TaskFailure` ``WorkerCrash``,
  naming the signal;
- a task given ``seconds`` is stopped (its worker killed) at most ``TICK`` seconds after that
  limit: :class:`TaskFailure` ``TimeLimit``; one given ``memory_mb`` cannot allocate more than that
  beyond what its worker held when it started (the data segment limit, RLIMIT_DATA): its
  allocation fails, and it ends in :class:`TaskFailure` ``MemoryLimit``;
- a dead or stopped worker is replaced, and the run goes on;
- a worker ended by SIGTERM or SIGINT (a stop request sent to the whole process group: Ctrl-C,
  ``kill``, a batch system) is :class:`StoppedOnRequest`, not a crash;
- workers leave at once when the process that owns the pool dies, however it died.

With ``--force-use-threads`` (profiles/default) every `run:` job is a thread of the Snakemake
process; it submits its task here and waits (:func:`run_task`).
"""

from __future__ import annotations

import atexit
import collections
import importlib
import itertools
import os
import pickle
import signal
import threading
import time
import traceback
import warnings
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass

# Every worker runs one task at a time: BLAS and OpenMP must not start threads of their own
# (thread hand-offs cost more than tiny matrices gain; see shared/DESIGN.md).
SINGLE_THREADED = {
    name: "1"
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                 "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
}
# How often the pool looks at the clock for tasks past their time limit (seconds).
TICK = 0.1
# Runs of a task whose worker died before it is given up as a crash.
ATTEMPTS = 2
# Tries in a row to start a worker (a tick apart) before the task that waits for one fails.
START_ATTEMPTS = 20
# Seconds that closing the pool waits for a worker being started (the forkserver's first start imports
# PRELOAD) before it goes on without it.
CLOSE_WAIT = 10
# What the workers import once, in the server they are forked from (more: :func:`preload`).
PRELOAD = ["numpy", "pandas", "pyarrow.parquet", "joblib", "sklearn.base", "manymodels.task.io"]


class StoppedOnRequest(RuntimeError):
    """The task's worker was stopped by SIGTERM or SIGINT: the run was asked to stop, nothing failed."""


STOPPED = "stopped on request; rerun the same command to resume"
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TaskFailure(RuntimeError):
    """A task ended by what happened to its process rather than by an exception of its own:
    ``error_type`` is 'WorkerCrash', 'TimeLimit' or 'MemoryLimit', the message says what happened."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class Limits:
    """What one task may use: wall-clock ``seconds`` and ``memory_mb`` beyond its worker's own."""

    seconds: float | None = None
    memory_mb: float | None = None

    @classmethod
    def of(cls, settings: dict | None) -> "Limits | None":
        """From a config's ``limits`` mapping (fit_seconds, memory_mb); None when it sets neither."""
        settings = settings or {}
        limits = cls(settings.get("fit_seconds"), settings.get("memory_mb"))
        return limits if limits.seconds or limits.memory_mb else None


# --- The pool, in the process that owns it ---------------------------------------------------------

@dataclass
class _Task:
    id: int
    payload: bytes
    name: str
    limits: Limits | None
    future: Future
    urgent: bool = False
    attempts: int = 0


class _Worker:
    def __init__(self, context, alive):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, alive, SINGLE_THREADED), daemon=True,
                                       name="manymodels-worker")
        self.process.start()
        child.close()
        self.task: _Task | None = None
        self.warmed = False
        self.started = 0.0
        self.killed_for: str | None = None


class Pool:
    """``n_workers`` warm processes, each running one task at a time (see the module docstring)."""

    def __init__(self, n_workers: int):
        import multiprocessing

        self.context = multiprocessing.get_context("forkserver")
        self.n_workers = max(1, int(n_workers))
        # The workers read this pipe until its write end, held here only, closes: when this
        # process dies, however it died, they leave.
        self._alive_r, self._alive_w = self.context.Pipe(duplex=False)
        self._workers: list[_Worker] = []
        # Urgent tasks (a score, whose fit is done) go before the others (fits queued long before).
        self._urgent: collections.deque[_Task] = collections.deque()
        self._queue: collections.deque[_Task] = collections.deque()
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._wake_r, self._wake_w = os.pipe()
        import selectors

        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._oom_seen = _oom_kills()
        self._warm: tuple[str, ...] = ()
        self._closed = False
        self._broken: BaseException | None = None
        self._start_failures = 0  # tries in a row that could not start a worker
        self._thread = threading.Thread(target=self._manage, name="manymodels-pool", daemon=True)
        self._thread.start()

    def submit(self, payload: bytes, name: str, limits: Limits | None = None, urgent: bool = False) -> Future:
        future: Future = Future()
        if self._broken is not None:
            future.set_exception(RuntimeError(f"the worker pool stopped working: {self._broken!r}"))
            return future
        with self._lock:
            (self._urgent if urgent else self._queue).append(_Task(next(self._ids), payload, name, limits, future,
                                                                   urgent))
        os.write(self._wake_w, b"x")
        return future

    def warm_when_idle(self, modules: list[str]) -> None:
        """Have each worker import ``modules`` once, when it has nothing else to do (a task that
        needs them later, such as a plot, then starts at once)."""
        with self._lock:
            self._warm = tuple(modules)
        os.write(self._wake_w, b"x")

    def resize(self, n_workers: int) -> None:
        with self._lock:
            self.n_workers = max(1, int(n_workers))
        os.write(self._wake_w, b"x")

    def close(self) -> None:
        """Kill the workers. A worker the manager is starting (it holds the lock meanwhile) is started
        first and then killed: left half-started when this process exits, it would print an EOFError."""
        held = self._lock.acquire(timeout=CLOSE_WAIT)
        try:
            self._closed = True
            self._alive_w.close()
            for worker in list(self._workers):
                if worker.process.is_alive():
                    worker.process.kill()
        finally:
            if held:
                self._lock.release()

    # The manager thread: hands tasks to idle workers, reads results, replaces dead workers, and
    # stops tasks past their time. One selector, kept across loops, watches the wake-up pipe and
    # each worker's connection and exit (re-registering every file on every loop cost more than the
    # tasks' own messages).
    def _manage(self) -> None:
        try:
            self._manage_loop()
        except BaseException as exc:  # a bug here must fail the tasks, not leave their jobs waiting forever
            self._broken = exc
            with self._lock:
                tasks = [*self._urgent, *self._queue, *(w.task for w in self._workers if w.task is not None)]
                self._urgent.clear()
                self._queue.clear()
            for task in tasks:
                if not task.future.done():
                    task.future.set_exception(RuntimeError(f"the worker pool stopped working: {exc!r}"))
            raise

    def _manage_loop(self) -> None:
        while not self._closed:
            try:
                events = self._selector.select(timeout=self._next_deadline())
            except OSError:  # a file closed under us: look again
                events = []
            for key, _ in events:
                if key.data is None:
                    os.read(self._wake_r, 65536)
                    continue
                worker, what = key.data
                if worker not in self._workers:
                    continue
                if what == "result" and worker.task is not None:
                    self._receive(worker)
                elif what == "exit":
                    self._buried(worker)
            self._stop_overdue()
            self._assign()

    def _next_deadline(self) -> float | None:
        limited = [w for w in self._workers if w.task is not None and w.task.limits and w.task.limits.seconds]
        return TICK if limited or self._start_failures else None

    def _assign(self) -> None:
        with self._lock:
            if self._closed:
                return
            idle = [w for w in self._workers if w.task is None and w.killed_for is None]
            while (self._urgent or self._queue) and (idle or len(self._workers) < self.n_workers):
                try:
                    worker = idle.pop() if idle else self._start_worker()
                except (OSError, EOFError) as exc:
                    # The forkserver died as it was asked for a worker (a stop request sent to the whole
                    # process group ends it too): the next try, a tick later, starts a new one.
                    self._start_failures += 1
                    if self._start_failures > START_ATTEMPTS:
                        task = (self._urgent or self._queue).popleft()
                        task.future.set_exception(RuntimeError(f"no worker process could be started: {exc!r}"))
                    break
                self._start_failures = 0
                task = (self._urgent or self._queue).popleft()
                task.attempts += 1
                worker.task, worker.started = task, time.monotonic()
                try:
                    worker.conn.send_bytes(task.payload)
                except OSError:  # the worker died as it was given the task: counted as its death
                    pass
            # More workers than asked for (a smaller pool was asked for): the idle ones leave.
            while len(self._workers) > self.n_workers and idle:
                worker = idle.pop()
                self._forget(worker)
                worker.process.kill()
            # A worker with nothing to do imports what later tasks will need (see warm_when_idle): as many
            # workers as the machine has cores, the most such tasks that can run at once.
            warmed = sum(w.warmed for w in self._workers)
            for worker in idle:
                if self._warm and not worker.warmed and warmed < (os.cpu_count() or 1):
                    warmed += 1
                    worker.warmed = True
                    task = _Task(next(self._ids), _warm_payload(self._warm), "warm_up", None, Future())
                    task.attempts = 1
                    worker.task, worker.started = task, time.monotonic()
                    try:
                        worker.conn.send_bytes(task.payload)
                    except OSError:
                        pass

    def _start_worker(self) -> _Worker:
        import selectors

        # The forkserver, started with the first worker, loads BLAS single-threaded; and a worker does not
        # run the script this process was started from again (multiprocessing re-imports the main module of
        # a process started as a script, such as the `snakemake` command: a second or more per worker).
        with _environ(_server_environ()), _main_module_hidden():
            worker = _Worker(self.context, self._alive_r)
        self._workers.append(worker)
        self._selector.register(worker.conn, selectors.EVENT_READ, (worker, "result"))
        self._selector.register(worker.process.sentinel, selectors.EVENT_READ, (worker, "exit"))
        return worker

    def _forget(self, worker: _Worker) -> None:
        """Stop watching a worker that is gone (or sent away)."""
        if worker in self._workers:
            self._workers.remove(worker)
        for file in (worker.conn, worker.process.sentinel):
            try:
                self._selector.unregister(file)
            except (KeyError, ValueError, OSError):
                pass
        worker.conn.close()

    def _receive(self, worker: _Worker) -> bool:
        """Read one message of a worker; False when there is none to read (it ended)."""
        try:
            status, value = pickle.loads(worker.conn.recv_bytes())
        except (EOFError, OSError):
            return False  # it died: its sentinel says so
        if status == "started":  # a task with a time limit: its clock starts now, not while its worker woke up
            worker.started = time.monotonic()
            return True
        task, worker.task = worker.task, None
        if status == "ok":
            task.future.set_result(value)
        elif status == "memory":
            task.future.set_exception(TaskFailure("MemoryLimit", value))
            worker.killed_for = "memory"  # it leaves: a task that ran out of memory may have left it in a bad state
            worker.process.kill()
        elif status == "stopped":
            task.future.set_exception(StoppedOnRequest(STOPPED))
        else:
            task.future.set_exception(value)
        return True

    def _buried(self, worker: _Worker) -> None:
        """A worker ended: what it was running ends with it (or runs again), and it is replaced."""
        worker.process.join(timeout=1)
        try:  # what it sent before it ended (a result, a memory overrun) is read first
            while worker.task is not None and worker.conn.poll() and self._receive(worker):
                pass
        except (OSError, EOFError):
            pass
        self._forget(worker)
        task, worker.task = worker.task, None
        if task is None or task.future.done():
            return
        code = worker.process.exitcode
        elapsed = time.monotonic() - worker.started
        if worker.killed_for == "time":
            task.future.set_exception(TaskFailure("TimeLimit", (
                f"stopped after {elapsed:.1f} s: over its limit of {task.limits.seconds:g} s (limits.fit_seconds)")))
        elif code is not None and -code in _STOP_SIGNALS:
            task.future.set_exception(StoppedOnRequest(STOPPED))
        elif task.attempts < ATTEMPTS:
            with self._lock:
                (self._urgent if task.urgent else self._queue).appendleft(task)  # once more, on a fresh worker
        else:
            now = _oom_kills()
            oom, self._oom_seen = now > self._oom_seen, now
            task.future.set_exception(TaskFailure("WorkerCrash", _death(code, oom)
                                                  + " (twice: it was run again on a fresh worker)"))

    def _stop_overdue(self) -> None:
        now = time.monotonic()
        for worker in self._workers:
            task = worker.task
            if task and task.limits and task.limits.seconds and worker.killed_for is None \
                    and now - worker.started > task.limits.seconds:
                worker.killed_for = "time"
                worker.process.kill()


def _warm_payload(modules: tuple[str, ...]) -> bytes:
    return pickle.dumps(("manymodels.engine.pool:warm_up", None, {"modules": list(modules)}, None, False))


def _death(exitcode: int | None, oom: bool) -> str:
    """How a worker died, in words."""
    if exitcode is None or exitcode >= 0:
        return f"its worker process exited with status {exitcode} while running it"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = f"signal {-exitcode}"
    meaning = {"SIGSEGV": "segmentation fault", "SIGKILL": "killed", "SIGABRT": "aborted", "SIGBUS": "bus error",
               "SIGFPE": "floating-point exception", "SIGILL": "illegal instruction"}.get(name)
    text = f"its worker process died from {name}" + (f" ({meaning})" if meaning else "")
    if oom:
        text += "; likely out of memory: the kernel's out-of-memory killer ended a process"
    return text


def _oom_kills() -> int:
    """How many processes the kernel's out-of-memory killer has ended in this cgroup (0 if unknown)."""
    try:
        path = open("/proc/self/cgroup").read().strip().splitlines()[-1].split(":", 2)[2]
        for line in open(f"/sys/fs/cgroup{path}/memory.events"):
            if line.startswith("oom_kill "):
                return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return 0


@contextmanager
def _main_module_hidden():
    """The main module without its file while a worker starts: nothing for the worker to re-run."""
    import sys

    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is not None:
        del main.__file__
    try:
        yield
    finally:
        if path is not None:
            main.__file__ = path


def _server_environ() -> dict:
    """The environment the forkserver starts in: BLAS single-threaded, and this process's ``sys.path``
    as PYTHONPATH, so the workers import the workflow's own copy of the package (and the config's
    modules), not whichever copy is installed: the forkserver of Python 3.11 ignores the ``sys_path``
    it is handed and preloads from its default path (cpython gh-117378, fixed in later 3.12 and 3.13; this
    PYTHONPATH workaround is the one given there, and harmless where the fix is in)."""
    import sys

    path = [os.path.abspath(entry or os.curdir) for entry in sys.path]
    inherited = os.environ.get("PYTHONPATH")
    return {**SINGLE_THREADED, "PYTHONPATH": os.pathsep.join(dict.fromkeys([*path, *filter(None, [inherited])]))}


@contextmanager
def _environ(values: dict):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_pool: Pool | None = None
_pool_lock = threading.Lock()


def preload(modules: list[str]) -> None:
    """Have the workers import ``modules`` once, before the first worker starts (later: no effect)."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(dict.fromkeys([*PRELOAD, *modules])))


def start_server(modules: list[str]) -> None:
    """Start the server the workers are forked from, which imports ``modules`` (and PRELOAD) now,
    in a process of its own, while this one goes on: the first worker then starts warm sooner."""
    from multiprocessing import forkserver

    preload(modules)
    with _environ(_server_environ()), _main_module_hidden():
        forkserver.ensure_running()


def warm_when_idle(modules: list[str], n_workers: int) -> None:
    """Have the pool's workers import ``modules`` when they have nothing else to do."""
    get_pool(n_workers).warm_when_idle(modules)


def get_pool(n_workers: int) -> Pool:
    """The process's pool, with ``n_workers`` workers (job threads call this at the same time)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = Pool(n_workers)
            atexit.register(_pool.close)
        elif _pool.n_workers != max(1, int(n_workers)):
            _pool.resize(n_workers)
        return _pool


# --- Submitting a task and waiting for it -------------------------------------------------------

def submit(func, /, *, n_workers: int, in_process: bool = False, log: str | None = None,
           limits: Limits | None = None, urgent: bool = False, **kwargs) -> Future:
    """Start ``func(**kwargs)`` in a warm worker; return its future.

    ``func`` is a function or its name as ``"package.module:function"``; a name is imported in the
    worker, so the calling process never imports what the task needs. The ``log`` file, if given,
    gets the text the task returns (if any), its duration and, when it raises, the traceback.
    ``limits`` bound its time and memory (see the module docstring); an ``urgent`` task runs before
    the others that wait (a score, whose fit is done). ``in_process`` runs it in the
    calling process instead: for a job that already has a process of its own (a cluster job),
    where a pool would only add a second import (and no limit applies).
    """
    if in_process:
        _limit_native_threads()
        future: Future = Future()
        try:
            future.set_result(call_logged(func, log, kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future
    name = func if isinstance(func, str) else getattr(func, "__name__", repr(func))
    message = (func, log, kwargs, limits.memory_mb if limits else None, bool(limits and limits.seconds))
    try:
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)  # a task named by its function's name
    except (pickle.PicklingError, TypeError, AttributeError):
        import cloudpickle  # functions defined anywhere (a test, a notebook) travel too

        payload = cloudpickle.dumps(message)
    return get_pool(n_workers).submit(payload, name, limits, urgent)


def run_task(func, /, **options):
    """Run a task as :func:`submit` does and wait for its result (its exception is raised here).

    A KeyboardInterrupt raised in the task (SIGINT in its worker) is a stop request, as a worker
    ended by SIGTERM or SIGINT is: both raise :class:`StoppedOnRequest`.
    """
    try:
        return submit(func, **options).result()
    except KeyboardInterrupt:  # SIGINT in the calling process while it waited
        raise StoppedOnRequest(STOPPED) from None


_native_threads_limited = False
_native_lock = threading.Lock()


def _limit_native_threads() -> None:
    """Cap BLAS and OpenMP at one thread in this process, as in every pool worker.

    A cluster job runs its tasks in its own process, one task per core it was given.
    """
    global _native_threads_limited
    with _native_lock:
        if _native_threads_limited:
            return
        os.environ.update(SINGLE_THREADED)  # for the libraries loaded from now on
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)  # for those already loaded
        _native_threads_limited = True


def resolve(func):
    """The function itself, or the one a ``"package.module:function"`` name stands for."""
    if callable(func):
        return func
    module_name, _, name = func.partition(":")
    return getattr(importlib.import_module(module_name), name)


def call_logged(func, log: str | None, kwargs: dict):
    """Call ``func(**kwargs)`` and write what happened to ``log``."""
    func = resolve(func)
    start = time.perf_counter()
    # Warnings go to the task's log, not to the console the whole run shares.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = func(**kwargs)
        except BaseException:
            _write_log(log, f"{_warnings_text(caught)}{func.__name__} failed after {time.perf_counter() - start:.3f} s\n"
                            f"{traceback.format_exc()}")
            raise
    # A task returns its log text, or a dict whose "log" entry is its log text.
    text = result.get("log") if isinstance(result, dict) else result
    text = text.rstrip("\n") + "\n" if isinstance(text, str) else ""
    _write_log(log, f"{text}{_warnings_text(caught)}{func.__name__} done in {time.perf_counter() - start:.3f} s\n")
    return result


def _warnings_text(caught) -> str:
    return "".join(f"warning: {w.category.__name__}: {w.message}\n" for w in caught)


def _write_log(log: str | None, text: str) -> None:
    if log is not None:
        os.makedirs(os.path.dirname(log) or ".", exist_ok=True)
        with open(log, "w") as fh:
            fh.write(text)


def warm_up(*, modules: list[str]) -> str:
    """Import modules a worker will need, so the first task it runs does not pay for them."""
    for name in modules:
        importlib.import_module(name)
    return f"imported {', '.join(modules)}"


# --- A worker ---------------------------------------------------------------------------------------

def _worker_main(conn, alive, env: dict) -> None:
    """A worker's life: tasks one at a time from ``conn`` until the owner's ``alive`` pipe closes."""
    import resource

    os.environ.update(env)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)  # BLAS loaded by the server before the variables applied
    except Exception:  # threadpoolctl is optional for correctness
        pass
    from ..task import io

    gone = threading.Event()
    io.owner_alive = lambda: not gone.is_set()  # an atomic write gives up rather than land after the owner died

    def watch() -> None:
        try:
            alive.recv_bytes()
        except (EOFError, OSError):
            pass
        gone.set()
        os._exit(1)

    threading.Thread(target=watch, name="manymodels-owner-watch", daemon=True).start()
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    while True:
        try:
            payload = conn.recv_bytes()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        func, log, kwargs, memory_mb, timed = pickle.loads(payload)
        if timed:
            conn.send_bytes(pickle.dumps(("started", None)))
        if memory_mb:
            resource.setrlimit(resource.RLIMIT_DATA, (_data_segment() + int(memory_mb * 2**20), hard))
        try:
            reply = ("ok", call_logged(func, log, kwargs))
        except MemoryError as exc:
            reply = (("memory", f"ran out of its memory limit of {memory_mb:g} MB (limits.memory_mb): "
                                f"{type(exc).__name__}: {exc}") if memory_mb else ("error", exc))
        except KeyboardInterrupt:
            reply = ("stopped", None)
        except Exception as exc:
            reply = ("error", exc)
        finally:
            if memory_mb:
                resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
        try:
            data = pickle.dumps(reply)
        except Exception:  # an exception (or a result) that does not pickle: its text does
            data = pickle.dumps(("error", RuntimeError(f"{type(reply[1]).__name__}: {reply[1]}")))
        conn.send_bytes(data)
        if reply[0] in ("memory", "stopped"):
            return


def _data_segment() -> int:
    """Bytes of this process's data segment (VmData), which RLIMIT_DATA bounds."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0
