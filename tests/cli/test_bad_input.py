"""Bad input, one case per row: a one-line error naming the problem, exit status 2, no traceback,
and nothing written (no new run folder; an existing run folder left byte for byte as it was)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from nas.cli.main import main

ARCH_NOT_IN_SPACE = "|nor_conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def _write_inputs(root: Path, tiny_config: dict) -> None:
    """The bad files each case refers to, next to a good config ('good.yaml')."""
    (root / "good.yaml").write_text(yaml.safe_dump(tiny_config))
    changed = {
        "wrong_type.yaml": {"trials": "two"},
        "out_of_range.yaml": {"trials": -1},
        "unknown_key.yaml": {"trails": 3},
        "unknown_space.yaml": {"space": {"name": "nb202"}},
        "unknown_strategy.yaml": {"strategy": {"name": "randm"}},
        "unknown_evaluator.yaml": {"evaluator": {"name": "parital"}},
        "unknown_dataset.yaml": {"dataset": {"name": "digitz"}},
        "unknown_option.yaml": {"evaluator": {"name": "partial", "epoch": 2}},
        "missing_data.yaml": {"dataset": {"name": "cifar10", "root": "no-such-folder"}},
        "corrupt_data.yaml": {"dataset": {"name": "cifar10", "root": "corrupt-cifar"}},
        "bad_constraint.yaml": {"constraints": {"params": "<= lots"}},
    }
    for name, change in changed.items():
        (root / name).write_text(yaml.safe_dump({**tiny_config, **change}))
    (root / "malformed.yaml").write_text("name: tiny\ntrials: [2\n")
    (root / "a_list.yaml").write_text("- name\n- trials\n")
    good = (root / "good.yaml").read_text()
    (root / "latin1.yaml").write_bytes(good.encode() + "# café\n".encode("latin-1"))
    (root / "duplicate.yaml").write_text(good + "trials: 9\n")  # good.yaml gives trials already
    (root / "duplicate_nested.yaml").write_text(
        good + "pruner:\n  name: median\n  startup_trials: 1\n  startup_trials: 2\n"
    )
    (root / "number_key.yaml").write_text(
        good.replace("evaluator:\n", "evaluator:\n  3: epochs\n", 1)
    )
    (root / "deep.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    (root / "a_file").write_text("not a folder\n")
    (root / "arch.bin").write_bytes(b"\xff\xfe|nor_conv_3x3~0|")
    folder = root / "corrupt-cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"]:
        (folder / name).write_bytes(b"\x80\x04not a pickle")
    foreign = root / "foreign"
    foreign.mkdir()
    (foreign / "config.yaml").write_text("hello: world\n")
    (foreign / "run.json").write_text("{}\n")


CASES = [
    (["search", "missing.yaml"], "config file 'missing.yaml' does not exist"),
    (["search", "latin1.yaml"], "config file 'latin1.yaml' is not UTF-8 text (byte 0xe9 on line "),
    (
        ["search", "duplicate.yaml"],
        "config file 'duplicate.yaml' gives key 'trials' twice on lines ",
    ),
    (["search", "duplicate_nested.yaml"], "gives key 'startup_trials' twice on lines "),
    (["search", "number_key.yaml"], "config file 'number_key.yaml': key evaluator.3 is not a name"),
    (["search", "deep.yaml"], "config file 'deep.yaml' is nested too deeply to be a config"),
    (
        ["search", "good.yaml", "output=a_file"],
        "cannot create the run folder under 'a_file/tiny' (Not a directory)",
    ),
    (
        ["search", "good.yaml", "output=a_file/sub"],
        "cannot create the run folder under 'a_file/sub/tiny'",
    ),
    (
        ["train", "arch.bin", "--config", "good.yaml"],
        "architecture file 'arch.bin' is not UTF-8 text",
    ),
    (["search", "malformed.yaml"], "config file 'malformed.yaml' is not valid YAML at line 3"),
    (["search", "a_list.yaml"], "must hold a mapping of keys, not a list"),
    (["search", "unknown_key.yaml"], "unknown config key 'trails' (did you mean 'trials'?)"),
    (["search", "wrong_type.yaml"], "config key 'trials': input should be a valid integer"),
    (
        ["search", "out_of_range.yaml"],
        "config key 'trials': input should be greater than 0 (got -1)",
    ),
    (
        ["search", "unknown_space.yaml"],
        "unknown search space 'nb202' (did you mean 'nb201'?); choose one of: darts, mbconv, nb201",
    ),
    (
        ["search", "unknown_strategy.yaml"],
        "unknown strategy 'randm' (did you mean 'random'?); choose one of:",
    ),
    (
        ["search", "unknown_evaluator.yaml"],
        "unknown evaluator 'parital' (did you mean 'partial'?); choose one of:",
    ),
    (
        ["search", "unknown_dataset.yaml"],
        "unknown dataset 'digitz' (did you mean 'digits'?); choose one of: cifar10, cifar100, digit_scenes, digits",
    ),
    (
        ["search", "unknown_option.yaml"],
        "unknown config key 'evaluator.epoch' (did you mean 'epochs'?)",
    ),
    (
        ["search", "missing_data.yaml"],
        "cifar10 folder 'no-such-folder' does not exist; set dataset.root",
    ),
    (["search", "corrupt_data.yaml"], "data_batch_1' is corrupt or not a CIFAR python pickle"),
    (
        ["search", "bad_constraint.yaml"],
        "constraint params: '<= lots' must read '<= NUMBER' or '>= NUMBER'",
    ),
    (
        ["search", "good.yaml", "training.lr=fast"],
        "config key 'training.lr': input should be a valid number",
    ),
    (["search", "good.yaml", "trials"], "override 'trials' must look like key.subkey=value"),
    (["search", "good.yaml", "space.name=nb202"], "unknown search space 'nb202'"),
    (["search", "--resume", "nowhere"], "run folder 'nowhere' does not exist"),
    (["search", "--resume", "foreign"], "'foreign' is not a usable nas run folder"),
    (["show", "foreign"], "'foreign' is not a nas run folder (its config.yaml has no 'name')"),
    (["plot", "foreign"], "'foreign' is not a nas run folder"),
    (["export", "foreign", "--best"], "'foreign' is not a usable nas run folder"),
    (["train", ARCH_NOT_IN_SPACE, "--config", "good.yaml"], "'nor_conv_9x9' is not one of"),
    (
        ["train", '{"edge_0": "conv"}', "--config", "good.yaml"],
        "unknown decision 'edge_0' for space 'nb201'",
    ),
]


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(a)[:40] for a, _ in CASES])
def test_bad_input_is_one_line_with_status_2_and_writes_nothing(
    tmp_path: Path, tiny_config: dict, args: list[str], message: str, capsys, monkeypatch
) -> None:
    tiny_config = {**tiny_config, "output": "results"}
    _write_inputs(tmp_path, tiny_config)
    monkeypatch.chdir(tmp_path)
    before = _snapshot(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert message in err
    assert _snapshot(tmp_path) == before, "bad input wrote files"


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "run.lock"
    }


def _corrupt_journal(run: Path) -> None:
    lines = (run / "study.journal").read_text().splitlines(keepends=True)
    (run / "study.journal").write_text(
        "".join([*lines[:3], '{"op_code": 5, "trial_id": \n', *lines[3:]])
    )


def _foreign_config(run: Path) -> None:
    (run / "config.yaml").write_text("not: [a config\n")


def _trials_only(run: Path) -> None:
    (run / "study.journal").unlink()


def _emptied_journal(run: Path) -> None:
    (run / "study.journal").write_bytes(b"")


def _journal_line_not_an_operation(run: Path) -> None:
    lines = (run / "study.journal").read_text().splitlines(keepends=True)
    (run / "study.journal").write_text("".join([*lines[:3], '{"trial_id": 0}\n', *lines[3:]]))


def _journal_unknown_operation(run: Path) -> None:
    with (run / "study.journal").open("a") as fh:
        fh.write('{"op_code": 99, "worker_id": "x"}\n')


def _meta_not_an_object(run: Path) -> None:
    (run / "run.json").write_text("[]\n")


def _journal_a_folder(run: Path) -> None:
    (run / "study.journal").unlink()
    (run / "study.journal").mkdir()


def _lock_a_folder(run: Path) -> None:
    (run / "run.lock").unlink(missing_ok=True)
    (run / "run.lock").mkdir()


def _module_a_folder(run: Path) -> None:
    (run / "pkg" / "best.py").mkdir(parents=True)


RUN_CASES = [
    (["search", "--resume", "{run}", "seed=3"], None, "cannot change 'seed' of an existing run"),
    (
        ["search", "--resume", "{run}", "trials=zero"],
        None,
        "config key 'trials': input should be a valid integer",
    ),
    (["search", "--resume", "{run}", "trials=9"], _corrupt_journal, "study journal"),
    (["show", "{run}"], _corrupt_journal, "is corrupt (line 4 is not a journal operation)"),
    (["search", "--resume", "{run}"], _foreign_config, "is not valid YAML"),
    (["export", "{run}", "--trial", "99"], None, "the run has no trial 99 (trials: 0..4)"),
    (
        ["export", "{run}", "--best", "--name", "not a name"],
        None,
        "'not a name' cannot be a module name",
    ),
    (["train", "{run}", "--trial", "99"], None, "the run has no trial 99 (trials: 0..4)"),
    (
        ["plot", "{run}", "--x", "no_such_metric"],
        None,
        "no completed trial has both 'no_such_metric' and",
    ),
    (
        ["search", "--resume", "{run}"],
        _emptied_journal,
        "is empty but trials.csv lists 5 finished trial(s); restore study.journal from a backup",
    ),
    (
        ["search", "--resume", "{run}", "trials=9"],
        _trials_only,
        "is missing but trials.csv lists 5 finished",
    ),
    (["show", "{run}"], _emptied_journal, "is empty but trials.csv lists 5 finished trial(s)"),
    (["search", "--resume", "{run}"], _journal_a_folder, "study.journal' is not a file"),
    (
        ["search", "--resume", "{run}"],
        _journal_line_not_an_operation,
        "(line 4 is not a journal operation)",
    ),
    (["show", "{run}"], _journal_line_not_an_operation, "(line 4 is not a journal operation)"),
    (
        ["search", "--resume", "{run}", "trials=9"],
        _journal_unknown_operation,
        "is corrupt (an operation Optuna cannot apply",
    ),
    (["show", "{run}"], _journal_unknown_operation, "is corrupt (an operation Optuna cannot apply"),
    (["search", "--resume", "{run}"], _meta_not_an_object, "run.json' is not a JSON object"),
    (["search", "--resume", "{run}"], _lock_a_folder, "cannot open the run's lock file"),
    (
        ["export", "{run}", "--best", "--out", "{run}/trials.csv"],
        None,
        "trials.csv': it is a file, not a folder; pass --out a folder",
    ),
    (
        ["export", "{run}", "--pareto", "--out", "{run}/trials.csv/pkg"],
        None,
        "which is a file, not a folder",
    ),
    (
        ["export", "{run}", "--best", "--out", "{run}/pkg"],
        _module_a_folder,
        "best.py': it is a folder",
    ),
    (
        ["train", "{run}", "--out", "{run}/trials.csv", "epochs=1"],
        None,
        "trials.csv': it is a file, not a folder",
    ),
    (["show", "{run}"], _trials_only, "is missing but trials.csv lists 5 finished"),
    (
        ["plot", "{run}", "--out", "{run}/trials.csv"],
        None,
        "cannot use '{run}/trials.csv': File exists; check the path",
    ),
    (
        ["scale", "{run}", "--output", "{run}/trials.csv", "--published", "--phi", "0"],
        None,
        "cannot use '{run}/trials.csv': File exists; check the path",
    ),
]


@pytest.mark.parametrize(
    ("args", "damage", "message"), RUN_CASES, ids=[" ".join(a)[:40] for a, _, _ in RUN_CASES]
)
def test_bad_input_against_a_run_leaves_the_run_as_it_was(
    searched_run: Path, tmp_path: Path, args: list[str], damage, message: str, capsys, monkeypatch
) -> None:
    run = tmp_path / "run"
    shutil.copytree(searched_run, run)
    if damage is not None:
        damage(run)
    monkeypatch.chdir(tmp_path)
    before = _snapshot(run)
    assert main([a.format(run=run) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert message.format(run=run) in err
    assert _snapshot(run) == before, "a refused command changed the run folder"


def test_a_torn_last_journal_line_is_set_aside_and_the_run_resumes(
    searched_run: Path, tmp_path: Path, capsys, one_thread
) -> None:
    """A machine crash can cut the journal's last operation short; resuming keeps every whole one."""
    run = tmp_path / "run"
    shutil.copytree(searched_run, run)
    journal = run / "study.journal"
    text = journal.read_bytes()
    journal.write_bytes(text + b'{"op_code":4,"worker_id":"x","study_id":0,"datetime_st')
    assert main(["search", "--resume", str(run), "trials=6", "--quiet"]) == 0
    assert (
        run / "study.journal.torn"
    ).read_bytes() == b'{"op_code":4,"worker_id":"x","study_id":0,"datetime_st\n'
    assert journal.read_bytes().startswith(text)
    rows = [json.loads(line) for line in journal.read_text().splitlines()]
    assert rows  # every line parses again
    capsys.readouterr()
    assert main(["show", str(run), "--format", "csv"]) == 0
    shown = capsys.readouterr().out.strip().splitlines()
    assert len(shown) == 1 + 6


def test_yaml_merge_keys_and_a_name_repeated_in_other_mappings_still_load(tmp_path: Path) -> None:
    """The duplicate-key check is per mapping: '<<' defaults may be overridden, and sections may
    share option names."""
    from nas.config import read_yaml

    (tmp_path / "c.yaml").write_text(
        "base: &b {epochs: 1, data_fraction: 0.3}\n"
        "evaluator:\n  <<: *b\n  name: partial\n  epochs: 2\n"
        "strategy: {name: evolution, population_size: 2}\n"
        "pruner: {name: median, startup_trials: 1}\n"
    )
    data = read_yaml(tmp_path / "c.yaml")
    assert data["evaluator"] == {"epochs": 2, "data_fraction": 0.3, "name": "partial"}
    assert data["strategy"]["name"] == "evolution" and data["pruner"]["name"] == "median"
