"""Several worker processes on one study in a database (Optuna's distributed pattern).

Each worker (``nas search x.yaml --storage URL --study NAME``, on any machine) runs its own
search loop against the shared study: it asks the study for the next architecture and
evaluates it. What must hold across workers is decided inside a short critical section held
under a database-wide lock (PostgreSQL's advisory lock; a lock file beside a SQLite database):
the trials of dead workers are re-queued, the budget is counted over every worker (finished
evaluations plus those in flight), and an architecture another worker is evaluating right now
is not evaluated again (the proposal waits for that result and is told it as a duplicate).

A worker proves it is alive with Optuna's heartbeat (the database's clock): a thread records a
heartbeat for each of its running trials every ``heartbeat_interval`` seconds, and a trial whose
heartbeat is older than three intervals (``GRACE_FACTOR`` of
:mod:`nas.results.run_folder`) belonged to a dead worker.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.errors import NasError
from nas.search.study import record_heartbeat, requeue_orphans, requeue_stale, trial_id

if TYPE_CHECKING:
    from nas.search.loop import Pending, SearchLoop

#: The lock name under which workers open the database (Optuna creates its tables, then the study).
OPENING = "nas: opening the storage"
#: Seconds between two looks at the study while waiting (a free budget slot, another worker's result).
POLL_SECONDS = 0.2
#: The study's user attributes: the search-defining config, and how many workers have joined.
CONFIG_ATTR, WORKERS_ATTR = "nas.config", "nas.workers"
#: Config keys that may differ between the workers of one study (where and how each one runs).
PER_WORKER_KEYS = (
    "executor",
    "output",
    "storage",
    "max_consecutive_failures",
    "trial_time_limit",
    "heartbeat_interval",
    "tracking",
)


class DatabaseLock:
    """A lock over every process that uses one database: PostgreSQL's session advisory lock (freed
    by the server when the holder's connection drops, so a killed worker never keeps it), or an
    ``flock`` on a file beside a SQLite database."""

    def __init__(self, url: str, name: str) -> None:
        import sqlalchemy

        parsed = sqlalchemy.engine.make_url(url)
        self.key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        self.thread_lock = threading.Lock()
        self.file: IO[str] | None = None
        self.conn: Any = None
        if parsed.get_backend_name() == "postgresql":
            engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
            try:
                self.conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            except sqlalchemy.exc.OperationalError as exc:
                reason = str(exc.orig or exc).strip().splitlines()[0]
                raise NasError(
                    f"cannot reach the database {parsed.render_as_string(hide_password=True)!r}: "
                    f"{reason}; check the URL and that the server is running"
                ) from None
        elif parsed.get_backend_name() == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                self.file = open(Path(database + ".nas-lock"), "a+")  # noqa: SIM115 - held for the run
        else:
            raise NasError(
                f"storage {parsed.render_as_string(hide_password=True)!r}: searches in a database "
                "support postgresql:// and sqlite:/// URLs"
            )

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the body of a ``with``."""
        import sqlalchemy

        with self.thread_lock:
            if self.conn is not None:
                self.conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": self.key})
            elif self.file is not None:
                fcntl.flock(self.file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if self.conn is not None:
                    self.conn.execute(
                        sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key}
                    )
                elif self.file is not None:
                    fcntl.flock(self.file, fcntl.LOCK_UN)

    def __enter__(self) -> DatabaseLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the database connection or lock file."""
        if self.conn is not None:
            self.conn.close()
        if self.file is not None:
            self.file.close()


class SharedStudy:
    """One worker's side of a study that several workers search together (see the module doc)."""

    def __init__(self, study: optuna.Study, url: str, heartbeat_interval: int) -> None:
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        self.study = study
        self.interval = heartbeat_interval
        self.lock = DatabaseLock(url, study.study_name)
        self.active: set[int] = set()
        self.recovered = -float("inf")  # when recover() last looked
        self.worker = 0  # this worker's number (set by join)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat_forever, name="nas-heartbeat", daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop the heartbeat and release the lock's connection."""
        self.stop.set()
        self.thread.join(timeout=5)
        self.lock.close()

    def beat(self, storage_id: int) -> None:
        """Record a heartbeat for a trial of this worker now, and keep doing so until :meth:`rest`."""
        record_heartbeat(self.study, storage_id)
        self.active.add(storage_id)

    def rest(self, storage_id: int) -> None:
        """Stop the heartbeat of a finished trial."""
        self.active.discard(storage_id)

    def _beat_forever(self) -> None:
        while not self.stop.wait(self.interval):
            for active in list(self.active):
                try:
                    record_heartbeat(self.study, active)
                except Exception:  # noqa: BLE001 - a database hiccup: the next beat retries
                    pass

    def recover(self) -> None:
        """Re-queue dead workers' trials (under the lock), at most once a heartbeat interval: a
        trial is stale only after three, so looking more often finds nothing sooner."""
        if time.monotonic() - self.recovered >= self.interval:
            requeue_stale(self.study)
            self.recovered = time.monotonic()

    def join(self, config_data: dict[str, Any], worker: int | None) -> int:
        """Join the study as a worker: record (or check) the search-defining config, and return this
        worker's index (``worker`` when resuming one; worker 0 created the study)."""
        mine = search_defining(config_data)
        with self.lock.held():
            attrs = self.study.user_attrs
            theirs = attrs.get(CONFIG_ATTR)
            if (
                worker is not None
                and theirs is not None
                and theirs.get("trials") != mine.get("trials")
            ):
                theirs = {**theirs, "trials": mine.get("trials")}  # a resume that raised the budget
                self.study.set_user_attr(CONFIG_ATTR, theirs)
            mismatch(self.study.study_name, theirs, mine)
            if theirs is None:
                self.study.set_user_attr(CONFIG_ATTR, mine)
            resumed = worker is not None
            if worker is None:
                worker = int(attrs.get(WORKERS_ATTR, 0))
                self.study.set_user_attr(WORKERS_ATTR, worker + 1)
            self.worker = worker
            requeue_orphans(self.study, worker, resumed)
        return worker

    def ask(self, loop: SearchLoop, extra: dict[str, Any] | None) -> Pending | FrozenTrial | None:
        """The next architecture for this worker (see ``SearchLoop.ask``), or None while the budget
        is taken by other workers' trials in flight (after a short wait: ask again)."""
        asked: Pending | FrozenTrial | None = None
        first: int | None = None
        with self.lock.held():
            self.recover()
            trials = self.study.get_trials(deepcopy=False)
            in_flight = loop.recount(trials)
            mine = {t.number for t in trials if trial_id(t) in self.active}
            config = self.study.user_attrs.get(CONFIG_ATTR, {})
            loop.trials = int(config.get("trials", loop.trials))
            if loop.evaluated + len(in_flight) < loop.budget:
                asked = loop.ask_here(extra)
                if not isinstance(asked, FrozenTrial):
                    asked.trial.set_user_attr("worker", self.worker)  # claimed (see join)
                    first = in_flight.get(asked.aid)
                    if first in mine:  # this worker's own (Ray): its executor awaits it
                        first = None
                    if first is not None:  # another worker evaluates it now: await its result
                        asked.trial.set_user_attr("duplicate_of", first)  # (not in flight itself)
        if asked is None:
            time.sleep(POLL_SECONDS)
            return None
        if first is None or isinstance(asked, FrozenTrial):
            return asked
        return self._await(loop, asked, first)

    def _await(self, loop: SearchLoop, pending: Pending, first: int) -> FrozenTrial:
        """Tell ``pending`` the outcome of trial ``first`` (the same architecture, evaluated by another
        worker) once it is known."""
        while True:
            done = [t for t in self.study.get_trials(deepcopy=False) if t.number == first]
            if done and done[0].state != TrialState.RUNNING:
                break
            with self.lock.held():  # its worker may have died
                self.recover()
            time.sleep(POLL_SECONDS)
        t = done[0]
        if t.state in (TrialState.COMPLETE, TrialState.FAIL) and not t.user_attrs.get(
            "interrupted"
        ):
            loop.remember(t)
            return loop.tell_known(pending)
        # its worker died (the architecture is queued again) or it was stopped early: not counted
        return loop.tell_skipped(
            pending, f"trial {first} of the same architecture ended {t.state.name.lower()}"
        )


def check_joinable(url: str, name: str, config_data: dict[str, Any]) -> None:
    """Raise the NasError :meth:`SharedStudy.join` would, before anything is written: study ``name``
    exists in the database and was started with a config that defines another search."""
    with DatabaseLock(url, OPENING) as opening, opening.held():  # Optuna may create its tables
        storage = optuna.storages.RDBStorage(url)
    try:
        theirs = optuna.load_study(study_name=name, storage=storage).user_attrs.get(CONFIG_ATTR)
    except KeyError:  # not created yet: this worker is the first
        return
    finally:
        storage.engine.dispose()
    mismatch(name, theirs, search_defining(config_data))


def mismatch(name: str, theirs: dict[str, Any] | None, mine: dict[str, Any]) -> None:
    """Raise a NasError naming the first key where two workers' configs define different searches."""
    if theirs is None or theirs == mine:
        return
    differ = [k for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
    raise NasError(
        f"study {name!r} was started with another config ({differ[0]!r} differs: "
        f"{theirs.get(differ[0])!r} there, {mine.get(differ[0])!r} here); join it with the same "
        "config file, or name a new study"
    )


def search_defining(config_data: dict[str, Any]) -> dict[str, Any]:
    """The keys of a config that every worker of a study must share."""
    return {k: v for k, v in config_data.items() if k not in PER_WORKER_KEYS}
