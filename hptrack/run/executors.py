"""Where folds run: this process, joblib workers, or a Dask cluster.

Every executor evaluates a task the same way (:func:`~hptrack.run.evaluate.evaluate_task`
on the plan's :class:`~hptrack.run.evaluate.FoldInputs`) and yields
:class:`~hptrack.run.evaluate.FoldResult` objects as they finish; only the coordinator,
in this process, writes them to the store.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from typing import Any

from ..errors import ClusterError, MissingDependencyError
from .evaluate import FoldInputs, FoldResult, FoldTask, evaluate_task, evaluate_tasks
from .plan import StudyPlan
from .prefix import schedule


class SerialExecutor:
    """Runs fold tasks one after the other in this process."""

    workers = 1

    def run(self, plan: StudyPlan, tasks: list[FoldTask]) -> Iterator[FoldResult]:
        """Evaluate ``tasks``, yielding each result as it is ready.

        Parameters
        ----------
        plan : StudyPlan
            Whose fold inputs the tasks read.
        tasks : list of FoldTask
            The folds to evaluate.

        Yields
        ------
        FoldResult
        """
        for chunk in schedule(tasks, plan.inputs):
            for task in chunk:
                yield evaluate_task(plan.inputs, task)

    def close(self) -> None:
        """Release what the executor holds."""


class JoblibExecutor(SerialExecutor):
    """joblib processes (or the active ``joblib.parallel_backend``, e.g. dask)."""

    def __init__(self, n_jobs: int | None) -> None:
        self.n_jobs = n_jobs
        if n_jobs is None:
            from joblib.parallel import get_active_backend

            backend, backend_jobs = get_active_backend()
            self.workers = max(1, backend.effective_n_jobs(backend_jobs))
        else:
            self.workers = _effective_jobs(n_jobs)

    def run(self, plan: StudyPlan, tasks: list[FoldTask]) -> Iterator[FoldResult]:
        """Evaluate ``tasks`` in parallel, yielding results in the order they finish."""
        if len(tasks) <= 1:
            yield from super().run(plan, tasks)
            return
        from joblib import Parallel, delayed

        _workers_see_sys_path(self.n_jobs)
        chunks = schedule(tasks, plan.inputs, self.workers)  # tasks sharing a pipeline prefix together
        parallel = Parallel(n_jobs=self.n_jobs, return_as="generator_unordered")
        for results in parallel(delayed(evaluate_tasks)(plan.inputs, chunk) for chunk in chunks):
            yield from results


_LOKY_PATH: list[tuple[str, ...]] = []  # sys.path when this process last used loky's workers


def _workers_see_sys_path(n_jobs: int | None) -> None:
    """Restart loky's workers when ``sys.path`` changed since they were started.

    loky keeps its worker processes from one call to the next, each with the ``sys.path``
    it started with; a spec folder put on the path since (a user's module beside another
    spec, run in the same process) would not import there.
    """
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend()
    if type(backend).__name__ != "LokyBackend":
        return  # another backend (dask, threads) ships or shares what it needs
    current = tuple(sys.path)
    if _LOKY_PATH != [current]:
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
        _LOKY_PATH[:] = [current]


class DaskExecutor(SerialExecutor):
    """Folds on an existing dask.distributed cluster; results come back as they finish."""

    def __init__(self, cluster: Any) -> None:
        if isinstance(cluster, str):
            self.client, self._own = connect_dask(cluster), True
        else:
            self.client, self._own = cluster, False
        self.workers = max(1, sum(self.client.nthreads().values()))
        self._shared: tuple[FoldInputs, Any] | None = None

    def _share(self, plan: StudyPlan) -> Any:
        """Send the plan's fold inputs (and the user's modules) to every worker once per plan."""
        if self._shared is None or self._shared[0] is not plan.inputs:
            for path in plan.user_modules:
                self.client.upload_file(path)  # workers can import the user's own classes
            (future,) = self.client.scatter([plan.inputs], broadcast=True)
            self._shared = (plan.inputs, future)
        return self._shared[1]

    def run(self, plan: StudyPlan, tasks: list[FoldTask]) -> Iterator[FoldResult]:
        """Submit ``tasks`` to the cluster, yielding results in the order they finish."""
        from distributed import as_completed

        if not tasks:  # every fold of the batch was reused from the store
            return
        inputs = self._share(plan)
        chunks = schedule(tasks, plan.inputs, self.workers)  # tasks sharing a pipeline prefix together
        futures = [self.client.submit(evaluate_tasks, inputs, chunk, pure=False) for chunk in chunks]
        try:
            for future in as_completed(futures, loop=self.client.loop):
                yield from future.result()
        finally:
            self.client.cancel(futures)

    def close(self) -> None:
        """Close the client if this executor connected it."""
        if self._own:
            self.client.close()


def connect_dask(address: str, *, timeout: str = "10s") -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``.

    Parameters
    ----------
    address : str
        The scheduler's address (``tcp://host:8786``).
    timeout : str, default="10s"
        How long to try.

    Returns
    -------
    distributed.Client

    Raises
    ------
    MissingDependencyError
        dask.distributed is not installed.
    ClusterError
        The scheduler cannot be reached.
    """
    try:
        from distributed import Client
    except ImportError as exc:
        raise MissingDependencyError(
            "--dask needs dask.distributed: pip install 'hptrack[dask]' (or 'dask[distributed]')"
        ) from exc
    _refuse_refused(address)
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        message = " ".join(str(exc).split())
        raise ClusterError(f"cannot reach the Dask scheduler at {address!r}: {message}") from exc
    except Exception as exc:  # something answered, not as a scheduler (an HTTP port, a dashboard)
        message = " ".join(str(exc).split())
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address!r}: {type(exc).__name__}: {message}; is it "
            "the scheduler's address (port 8786 by default, not the dashboard's 8787)?"
        ) from exc


def _refuse_refused(address: Any) -> None:
    """Fail at once when a TCP scheduler address is malformed or nothing listens there.

    ``distributed.Client`` retries a refused connection until its timeout (and a client
    that failed to start can hang on exit); a refusal is final, so a one-second probe
    answers it. A slow or unresolvable host, another scheme (``inproc://``) or a cluster
    object is left to the client and its timeout.
    """
    if not isinstance(address, str):
        return
    from distributed.comm.addressing import get_address_host_port, parse_address

    try:
        host, port = get_address_host_port(address)
    except (ValueError, TypeError) as exc:
        if parse_address(address)[0] not in ("tcp", "tls"):
            return
        message = " ".join(str(exc).split())
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address!r}: {message}; pass tcp://HOST:PORT"
        ) from exc
    try:
        socket.create_connection((host, port), timeout=1).close()
    except ConnectionRefusedError as exc:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address!r}: connection refused (nothing listens on "
            f"port {port} of {host}); start one there (`dask scheduler --port {port}`) or pass the "
            "address of a running one"
        ) from exc
    except OSError:  # timed out, unresolvable, unreachable: the client's own timeout decides
        return


def make_executor(n_jobs: int | None = 1, dask: Any = None) -> SerialExecutor:
    """Where folds run: this process, joblib workers, or a Dask cluster.

    Parameters
    ----------
    n_jobs : int or None, default=1
        joblib workers; 1 runs in this process, -1 all cores; None follows an active
        ``joblib.parallel_backend``, else 1.
    dask : str or distributed.Client, optional
        A cluster (scheduler address or client); wins over ``n_jobs``.

    Returns
    -------
    SerialExecutor
        Or one of its subclasses, with ``workers`` set.
    """
    if dask is not None:
        return DaskExecutor(dask)
    if n_jobs == 1:
        return SerialExecutor()
    executor = JoblibExecutor(n_jobs)
    return executor if executor.workers > 1 else SerialExecutor()


def _effective_jobs(n_jobs: int | None) -> int:
    """The number of joblib workers ``n_jobs`` means (negative: counted from all cores)."""
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return int(n_jobs)
