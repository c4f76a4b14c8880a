"""The run folder: results/<experiment>/<run-id>/ with config, storage, trial table and metadata."""

from __future__ import annotations

import fcntl
import json
import os
import platform
import time
import warnings
from collections.abc import Generator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any

import optuna
import yaml
from optuna.storages.journal import JournalFileBackend

from nas.config import ExperimentConfig, resolve_config
from nas.errors import NasError
from nas.io import write_atomic

CONFIG_FILE = "config.yaml"
META_FILE = "run.json"
JOURNAL_FILE = "study.journal"
TRIALS_FILE = "trials.csv"
PARETO_FILE = "pareto.csv"
LOCK_FILE = "run.lock"
STUDY_NAME = "nas"
#: A trial in a database whose heartbeat is older than this many intervals belonged to a dead worker.
GRACE_FACTOR = 3


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages that decide a run's results."""
    out = {"python": platform.python_version()}
    for pkg in ("nas", "torch", "optuna", "numpy", "pandas", "scikit-learn"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


@dataclass
class RunFolder:
    """One search's folder; everything needed to resume, show and re-plot it lives here."""

    path: Path

    @classmethod
    def create(cls, config: ExperimentConfig, device: str, study: str | None = None) -> RunFolder:
        """Make a new, uniquely named run folder and write the resolved config and metadata.

        ``study``: the name of the study in the config's database that this run joins (several
        workers search one study, each with its own run folder); default: a new study of its own.
        """
        parent = Path(config.output) / config.name
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NasError(
                f"cannot create the run folder under {str(parent)!r} ({exc.strerror}); set output "
                "to a folder you can write (default: results)"
            ) from None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for attempt in range(1000):
            path = parent / (stamp if attempt == 0 else f"{stamp}-{attempt}")
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        else:
            raise NasError(f"cannot create a new run folder under {str(parent)!r}")
        run = cls(path)
        write_atomic(run.config_path, yaml.safe_dump(config.to_yaml_dict(), sort_keys=False))
        # a database may hold many runs' studies: each gets its own name there
        if study is None:
            study = f"{config.name}/{path.name}" if config.storage else STUDY_NAME
        meta = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seed": config.seed,
            "device": device,
            "study_name": study,
            "versions": package_versions(),
        }
        write_atomic(path / META_FILE, json.dumps(meta, indent=2) + "\n")
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunFolder:
        """An existing run folder, checked to be one."""
        run = cls(Path(path))
        if not run.path.is_dir():
            raise NasError(
                f"run folder {str(path)!r} does not exist; pass results/<experiment>/<run-id>"
            )
        if not run.config_path.is_file() or not (run.path / META_FILE).is_file():
            raise NasError(
                f"{str(path)!r} is not a nas run folder (no {CONFIG_FILE} / {META_FILE}); "
                "pass results/<experiment>/<run-id>"
            )
        return run

    @property
    def config_path(self) -> Path:
        """The resolved config of the run."""
        return self.path / CONFIG_FILE

    @property
    def trials_csv(self) -> Path:
        """The trial table, one row per finished trial."""
        return self.path / TRIALS_FILE

    @property
    def pareto_csv(self) -> Path:
        """The Pareto front of the run's trials (written when a search ends)."""
        return self.path / PARETO_FILE

    def load_config(self) -> ExperimentConfig:
        """The run's config, validated again."""
        from nas.config import read_yaml

        try:
            return resolve_config(_upgraded(read_yaml(self.config_path)))
        except NasError as exc:
            raise NasError(
                f"{str(self.path)!r} is not a usable nas run folder: its {CONFIG_FILE} does not "
                f"validate ({exc}); pass results/<experiment>/<run-id>"
            ) from None

    def save_config(self, config: ExperimentConfig) -> None:
        """Replace the saved config (used when a resume extends the budget)."""
        write_atomic(self.config_path, yaml.safe_dump(config.to_yaml_dict(), sort_keys=False))

    def meta(self) -> dict[str, Any]:
        """The run's metadata (versions, seed, device, creation time)."""
        try:
            meta = json.loads((self.path / META_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise NasError(
                f"run metadata {str(self.path / META_FILE)!r} is unreadable ({exc})"
            ) from None
        if not isinstance(meta, dict):
            raise NasError(
                f"run metadata {str(self.path / META_FILE)!r} is not a JSON object; is "
                f"{str(self.path)!r} a nas run folder?"
            )
        return meta

    @property
    def study_name(self) -> str:
        """The run's study in its storage ('nas' in the run's own journal file)."""
        return str(self.meta().get("study_name", STUDY_NAME))

    def update_meta(self, **values: Any) -> None:
        """Add or replace keys of the run's metadata."""
        write_atomic(self.path / META_FILE, json.dumps({**self.meta(), **values}, indent=2) + "\n")

    def storage(
        self, url: str | None, heartbeat_interval: int | None = None
    ) -> optuna.storages.BaseStorage:
        """The run's Optuna storage: a journal file in the folder, or the configured database URL
        (recording the heartbeats of running trials every ``heartbeat_interval`` seconds, if given).

        A journal that is missing or empty while ``trials.csv`` lists finished trials is refused:
        opening it would start the search over and rewrite the trial table without them.
        """
        if url:
            with warnings.catch_warnings():  # heartbeats are 'experimental' in Optuna
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                if heartbeat_interval is None:
                    return optuna.storages.RDBStorage(url)
                return optuna.storages.RDBStorage(
                    url,
                    heartbeat_interval=heartbeat_interval,
                    grace_period=GRACE_FACTOR * heartbeat_interval,
                )
        self.check_journal_kept()
        try:  # replays the journal
            return optuna.storages.JournalStorage(_JournalFile(str(self.journal)))
        except ValueError:
            raise  # a line that is not an operation: the caller names it (corrupt_journal_error)
        except Exception as exc:  # noqa: BLE001 - an operation Optuna cannot apply, whatever it raises
            raise self.corrupt_journal_error(
                ValueError(f"an operation Optuna cannot apply: {type(exc).__name__}: {exc}")
            ) from None

    def check_journal_kept(self) -> None:
        """Raise a NasError when the journal has lost the finished trials ``trials.csv`` lists."""
        if self.journal.exists() and not self.journal.is_file():
            raise NasError(
                f"the study journal {str(self.journal)!r} is not a file; move it away and restore "
                "the run's study.journal from a backup"
            )
        if self.journal.is_file() and self.journal.stat().st_size > 0:
            return
        finished = self.finished_in_trials_csv()
        if finished:
            state = "empty" if self.journal.is_file() else "missing"
            raise NasError(
                f"the study journal {str(self.journal)!r} is {state} but {TRIALS_FILE} lists "
                f"{finished} finished trial(s); restore study.journal from a backup (resuming "
                "would start the search over), or start a new run from the same config: "
                f"nas search {str(self.config_path)}"
            )

    def finished_in_trials_csv(self) -> int:
        """How many trial rows ``trials.csv`` holds (0 when there is no such file)."""
        try:
            lines = self.trials_csv.read_bytes().splitlines()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise NasError(f"cannot read {str(self.trials_csv)!r} ({exc.strerror})") from None
        return sum(1 for line in lines[1:] if line.strip())

    @property
    def journal(self) -> Path:
        """The run's Optuna journal (its study storage unless the config names a database)."""
        return self.path / JOURNAL_FILE

    def repair_journal(self) -> int:
        """Set aside a last operation that a crash of the machine cut short (it has no line end,
        so Optuna never applied it); the next append would otherwise glue onto it and corrupt
        the file. The bytes go to ``study.journal.torn``; returns how many there were."""
        if not self.journal.is_file():
            return 0
        with open(self.journal, "rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            start, tail = size, b""
            while start > 0 and b"\n" not in tail:
                start = max(0, start - 4096)
                fh.seek(start)
                tail = fh.read(size - start)
            torn = tail[tail.rfind(b"\n") + 1 :]
            if torn:
                with open(self.path / (JOURNAL_FILE + ".torn"), "ab") as out:
                    out.write(torn + b"\n")
                fh.truncate(size - len(torn))
        return len(torn)

    def corrupt_journal_error(self, exc: Exception) -> NasError:
        """The one-line error for a journal that cannot be read, naming its first bad line."""
        bad = None
        with open(self.journal, "rb") as fh:
            for number, line in enumerate(fh, start=1):
                try:
                    operation = json.loads(line)
                except ValueError:
                    operation = None
                if not _is_operation(operation):
                    bad = number
                    break
        where = f"line {bad} is not a journal operation" if bad else str(exc)
        return NasError(
            f"the study journal {str(self.journal)!r} is corrupt ({where}); restore it from a "
            "backup, or start a new run (the finished trials are also in trials.csv)"
        )

    def lock(self) -> IO[str]:
        """Hold the run's lock for as long as the returned file is open (released if the process dies)."""
        try:
            fh = open(self.path / LOCK_FILE, "a+")
        except OSError as exc:
            raise NasError(
                f"cannot open the run's lock file {str(self.path / LOCK_FILE)!r} ({exc.strerror}); "
                "move it away and try again"
            ) from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise NasError(
                f"run {str(self.path)!r} is being searched by another process; wait for it to "
                "finish or stop it first"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        return fh


#: The executor options nas 0.1 wrote out for every run, whichever the executor.
_V01_EXECUTOR_KEYS = (
    "address",
    "cpus_per_trial",
    "gpus_per_trial",
    "max_concurrent",
    "max_retries",
    "train_workers",
)


def _upgraded(raw: dict[str, Any]) -> dict[str, Any]:
    """A run folder's config as this version reads it. Run folders of nas 0.1 list the Ray options
    under a ``local`` executor too, which takes none (they held their defaults there)."""
    executor = raw.get("executor")
    if isinstance(executor, dict) and executor.get("name") == "local":
        raw = {
            **raw,
            "executor": {k: v for k, v in executor.items() if k not in _V01_EXECUTOR_KEYS},
        }
    return raw


class _JournalFile(JournalFileBackend):
    """Optuna's journal file, appending without an fsync per operation.

    Appends stay serialised by the journal's file lock (so several processes may share the
    file), and a process that dies loses nothing the kernel has accepted; only a crash of the
    machine itself can drop the last operations. The fsync Optuna does after each of a trial's
    dozen writes costs more than the rest of a lookup trial, and stalls when the disk is busy.
    """

    def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
        """Optuna's reader, refusing a line that is JSON but not an operation (ValueError, as for
        a line that is not JSON), so that a damaged journal is reported, not half-applied."""
        for log in super().read_logs(log_number_from):
            if not _is_operation(log):
                raise ValueError("a journal line is not an operation")
            yield log

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """Append operations to the file under the journal's lock."""
        text = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs)
        self._lock.acquire()
        try:
            with open(self._file_path, "ab") as fh:
                fh.write(text.encode("utf-8"))
        finally:
            self._lock.release()


def _is_operation(log: Any) -> bool:
    """Whether a parsed journal line looks like an Optuna journal operation."""
    return isinstance(log, dict) and type(log.get("op_code")) is int
