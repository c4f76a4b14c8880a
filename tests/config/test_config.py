from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nas import NasError
from nas.config import apply_overrides, load_config, resolve_config


def write(tmp_path: Path, data: dict, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_load_fills_defaults_of_every_component(tmp_path: Path, tiny_config: dict) -> None:
    del tiny_config["name"]
    config = load_config(write(tmp_path, tiny_config, "my_exp.yaml"))
    assert config.name == "my_exp"
    assert config.strategy.options == {"population_size": 2, "sample_size": 2, "warm_start": None}
    assert config.dataset.options["validation_fraction"] == 0.2
    assert config.training.lr == 0.05
    assert config.objectives == {"val_accuracy": "maximize"}


def test_overrides_any_key(tmp_path: Path, tiny_config: dict) -> None:
    config = load_config(
        write(tmp_path, tiny_config),
        ["strategy.population_size=3", "seed=3", "training.lr=0.1", "space.channels=8"],
    )
    assert config.strategy.options["population_size"] == 3
    assert (config.seed, config.training.lr, config.space.options["channels"]) == (3, 0.1, 8)


def test_override_of_a_whole_section_replaces_it() -> None:
    raw = {"strategy": {"name": "evolution", "population_size": 4}}
    assert apply_overrides(raw, ["strategy=random"])["strategy"] == "random"
    assert apply_overrides(raw, ["strategy.name=random"])["strategy"] == {
        "name": "random",
        "population_size": 4,
    }
    assert apply_overrides({"strategy": "random"}, ["strategy.seed=1"])["strategy"] == {
        "name": "random",
        "seed": 1,
    }


def test_component_given_as_a_plain_name(tiny_config: dict) -> None:
    tiny_config["strategy"] = "random"
    assert resolve_config(tiny_config).strategy.name == "random"


def test_yaml_1_1_exponent_strings_become_floats(tiny_config: dict) -> None:
    tiny_config["training"] = {"weight_decay": "5e-4"}
    assert resolve_config(tiny_config).training.weight_decay == 5e-4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"trails": 3}, r"unknown config key 'trails' \(did you mean 'trials'\?\)"),
        (
            {"strategy": {"name": "evolution", "populaton_size": 3}},
            r"unknown config key 'strategy.populaton_size' \(did you mean 'population_size'\?\)",
        ),
        (
            {"strategy": {"name": "random", "population_size": 3}},
            r"unknown config key 'strategy.population_size'; it takes no options",
        ),
        (
            {"strategy": {"name": "evolution", "population_size": "ten"}},
            r"config key 'strategy.population_size': input should be a valid integer",
        ),
        ({"training": {"lr": -1}}, r"config key 'training.lr': input should be greater than 0"),
        (
            {"training": {"batchsize": 3}},
            r"unknown config key 'training.batchsize' \(did you mean 'batch_size'\?\)",
        ),
        ({"trials": 0}, r"config key 'trials': input should be greater than 0"),
        ({"space": {"name": "nb2O1"}}, r"unknown search space 'nb2O1' \(did you mean 'nb201'\?\)"),
        ({"space": {"channels": 3}}, r"config key 'space' needs a 'name'"),
        (
            {"objectives": {"val_accuracy": "up"}},
            r"config key 'objectives.val_accuracy': input should be 'maximize' or 'minimize'",
        ),
        ({"name": "bad/name"}, r"config key 'name': string should match pattern"),
    ],
)
def test_bad_configs_give_one_line_errors(tiny_config: dict, change: dict, message: str) -> None:
    tiny_config.update(change)
    with pytest.raises(NasError, match=message) as info:
        resolve_config(tiny_config)
    assert "\n" not in str(info.value)


def test_missing_key_is_reported(tiny_config: dict) -> None:
    del tiny_config["trials"]
    with pytest.raises(NasError, match="config key 'trials' is required"):
        resolve_config(tiny_config)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(NasError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("trials: [1, 2\nseed: 3\n")
    with pytest.raises(NasError, match=r"is not valid YAML at line \d+, column \d+"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(NasError, match="must hold a mapping"):
        load_config(scalar)


def test_bad_override_syntax(tmp_path: Path, tiny_config: dict) -> None:
    with pytest.raises(NasError, match="must look like key.subkey=value"):
        load_config(write(tmp_path, tiny_config), ["seed"])
    with pytest.raises(NasError, match="'seed' is a value, not a section"):
        load_config(write(tmp_path, tiny_config), ["seed.x=1"])


def test_resolved_config_round_trips_through_yaml(tiny_config: dict) -> None:
    config = resolve_config(tiny_config)
    again = resolve_config(yaml.safe_load(yaml.safe_dump(config.to_yaml_dict())))
    assert again == config


def test_executor_switch_and_its_options_as_overrides(tmp_path: Path, tiny_config: dict) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(tiny_config))
    assert load_config(path).executor.name == "local"
    config = load_config(
        path,
        [
            "executor=ray",
            "executor.address=auto",
            "executor.gpus_per_trial=0.5",
            "executor.max_concurrent=4",
        ],
    )
    ex = config.executor
    assert (
        ex.name,
        ex.options["address"],
        ex.options["gpus_per_trial"],
        ex.options["max_concurrent"],
        ex.options["cpus_per_trial"],
    ) == ("ray", "auto", 0.5, 4, 1.0)
    assert resolve_config(yaml.safe_load(yaml.safe_dump(config.to_yaml_dict()))) == config
    with pytest.raises(NasError, match="unknown executor 'dask'"):
        load_config(path, ["executor=dask"])
    with pytest.raises(NasError, match="executor.gpus_per_trial"):
        load_config(path, ["executor=ray", "executor.gpus_per_trial=-1"])
    with pytest.raises(NasError, match="unknown config key 'executor.address'"):
        load_config(path, ["executor.address=auto"])  # the local executor takes no options
