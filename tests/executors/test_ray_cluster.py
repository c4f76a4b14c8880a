"""A real Ray cluster on this machine (head + two worker nodes of one CPU each): `nas search` joins it
with executor.address=auto, a worker node lost mid-search costs nothing (its trial runs again on
the other node: the whole budget completes, nothing lost or counted twice), and a driver killed with
SIGKILL is finished by `nas search --resume RUN executor=ray executor.address=auto`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from nas.arch import Choice, arch_id
from nas.evaluators import Budget, EvalContext
from nas.space import SearchSpace
from tests.plugins import ToyEvaluator

ROOT = Path(__file__).resolve().parents[2]
INTERRUPTED = "interrupted; re-run on resume"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Head (no CPUs: trials run on the worker nodes) and two worker nodes; the nodes' workers
    import this repository's test plugins. Node deaths are noticed within about 3 s."""
    from ray.cluster_utils import Cluster

    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), before) if p)
    system = {
        "health_check_initial_delay_ms": 0,
        "health_check_period_ms": 500,
        "health_check_failure_threshold": 4,
    }
    head = {"num_cpus": 0, "include_dashboard": False, "_system_config": system}
    ray_cluster = Cluster(initialize_head=True, connect=False, head_node_args=head)
    try:
        for _ in range(2):
            ray_cluster.add_node(num_cpus=1)
        ray_cluster.wait_for_nodes()
        yield ray_cluster
    finally:
        ray_cluster.shutdown()
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


class NodeLogged(ToyEvaluator):
    """:class:`tests.plugins.ToyEvaluator` that appends 'node_id pid arch_id' to ``started`` as it starts."""

    def __init__(
        self, context: EvalContext, *, started: str, hold_while: str = "", sleep: float = 0.0
    ) -> None:
        super().__init__(context, hold_while=hold_while, sleep=sleep)
        self.started = Path(started)

    def evaluate(
        self,
        arch: Mapping[str, Choice],
        space: SearchSpace,
        budget: Budget | None = None,
        report: Any = None,
    ) -> dict[str, Any]:
        """Announce (with the Ray node this runs on), then evaluate as the toy evaluator does."""
        import ray

        with self.started.open("a") as out:
            out.write(f"{ray.get_runtime_context().get_node_id()} {os.getpid()} {arch_id(arch)}\n")
        return super().evaluate(arch, space, budget, report)


def started(tmp_path: Path) -> list[tuple[str, int, str]]:
    """(node id, pid, arch_id) of every evaluation started so far."""
    path = tmp_path / "started"
    lines = path.read_text().split("\n") if path.exists() else []
    return [
        (node, int(pid), aid) for node, pid, aid in (line.split() for line in lines if line.strip())
    ]


def experiment(tmp_path: Path, trials: int, **evaluator: Any) -> Path:
    """An experiment file on the toy space (16 architectures), random proposals, on the Ray cluster."""
    config = {
        "name": "cluster",
        "trials": trials,
        "space": {"name": "tests.plugins:ToySpace", "widths": 4, "depths": 2},
        "strategy": {"name": "random"},
        "evaluator": {
            "name": "tests.executors.test_ray_cluster:NodeLogged",
            "started": str(tmp_path / "started"),
            **evaluator,
        },
        "executor": {"name": "ray", "cpus_per_trial": 1, "max_retries": 2},
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def driver(tmp_path: Path, cluster: Any, *args: str) -> subprocess.Popen:
    """`nas ARGS executor.address=auto --quiet`, finding the cluster as `ray start` tells users to
    (RAY_ADDRESS); its output in tmp_path/driver.log."""
    env = {**os.environ, "RAY_ADDRESS": cluster.address}
    return subprocess.Popen(
        [sys.executable, "-m", "nas", *args, "executor.address=auto", "--quiet"],
        cwd=tmp_path,
        env=env,
        stdout=(tmp_path / "driver.log").open("a"),
        stderr=subprocess.STDOUT,
    )


def finish(proc: subprocess.Popen, tmp_path: Path, timeout: float = 240) -> int:
    """The driver's exit status; kill it and fail the test (with its output) after ``timeout`` s."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(
            f"the driver did not finish in {timeout:g} s:\n{(tmp_path / 'driver.log').read_text()[-3000:]}"
        )


def wait_for(
    what: str, ready: Any, proc: subprocess.Popen, tmp_path: Path, timeout: float = 120
) -> None:
    """Return once ``ready()``; fail (with the driver's output) if the driver exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(
                f"waited in vain for {what}:\n{(tmp_path / 'driver.log').read_text()[-3000:]}"
            )
        time.sleep(0.05)


def trials(run: Path) -> pd.DataFrame:
    """The run's trial table (empty before its first row)."""
    try:
        return pd.read_csv(run / "trials.csv")
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame(
            {"trial": [], "state": [], "arch_id": [], "duplicate_of": [], "error": []}
        )


def counted(frame: pd.DataFrame) -> pd.DataFrame:
    """The trials the budget counts: evaluations, neither duplicates nor interrupted."""
    return frame[frame["duplicate_of"].isna() & (frame["error"].astype(str) != INTERRUPTED)]


def test_a_lost_worker_node_costs_no_trial(cluster: Any, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.touch()  # the first evaluations wait until a node is gone
    exp = experiment(tmp_path, trials=6, hold_while=str(gate))
    proc = driver(tmp_path, cluster, "search", str(exp), "executor.max_concurrent=2")
    workers = {node.node_id: node for node in cluster.worker_nodes}
    wait_for(
        "a trial on each worker node",
        lambda: {n for n, _, _ in started(tmp_path)} == set(workers),
        proc,
        tmp_path,
    )
    node_id, pid, lost = started(tmp_path)[0]
    os.kill(pid, signal.SIGKILL)  # the machine is gone: the trial's worker process with it,
    cluster.remove_node(workers[node_id], allow_graceful=False)  # and the node's Ray processes
    gate.unlink()
    assert finish(proc, tmp_path) == 0, (tmp_path / "driver.log").read_text()[-3000:]
    cluster.add_node(num_cpus=1)  # for the next test
    run = next((tmp_path / "results" / "cluster").iterdir())
    frame = trials(run)
    done = counted(frame)
    assert len(done) == 6 and done["arch_id"].is_unique, "the budget, each architecture once"
    assert set(frame["state"]) == {"complete"}, "no trial lost or failed"
    attempts = [aid for _, _, aid in started(tmp_path)]
    assert attempts.count(lost) == 2, "the lost node's trial ran again on the other node"
    assert sorted(set(attempts)) == sorted(done["arch_id"]) and len(attempts) == 7, (
        "nothing else ran twice"
    )


def test_a_killed_driver_resumes_on_the_cluster(cluster: Any, tmp_path: Path) -> None:
    exp = experiment(tmp_path, trials=8, sleep=0.3)
    proc = driver(tmp_path, cluster, "search", str(exp), "executor.max_concurrent=2")
    runs = tmp_path / "results" / "cluster"

    def two_done() -> bool:
        return (
            runs.is_dir()
            and any(runs.iterdir())
            and (trials(next(runs.iterdir()))["state"] == "complete").sum() >= 2
        )

    wait_for("two finished trials", two_done, proc, tmp_path)
    proc.kill()  # SIGKILL: no clean-up at all
    proc.wait()
    run = next(runs.iterdir())
    before = set(trials(run).loc[lambda f: f["state"] == "complete", "trial"])
    resumed = driver(tmp_path, cluster, "search", "--resume", str(run))
    assert finish(resumed, tmp_path) == 0, (tmp_path / "driver.log").read_text()[-3000:]
    frame = trials(run)
    done = counted(frame)
    assert before <= set(frame.loc[frame["state"] == "complete", "trial"]), "no finished trial lost"
    assert len(done) == 8 and done["arch_id"].is_unique and set(done["state"]) == {"complete"}
    for _, dead in frame[
        frame["error"] == INTERRUPTED
    ].iterrows():  # cut short by the kill: run again
        assert dead["arch_id"] in set(done["arch_id"])
