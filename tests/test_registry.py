from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nas import DATASETS, SPACES, STRATEGIES, NasError
from nas.registry import PRUNERS, REGISTRIES, Registry, import_path
from search_spaces.nb201 import NB201Space


def test_builtin_names_resolve_lazily_to_factories() -> None:
    assert "nb201" in SPACES.names()
    assert SPACES.get("nb201") is NB201Space
    assert SPACES.summary("nb201").startswith("NAS-Bench-201")


def test_unknown_name_lists_choices_and_suggests() -> None:
    with pytest.raises(
        NasError,
        match=r"unknown search space 'nb210' \(did you mean 'nb201'\?\); choose one of: .*nb201",
    ):
        SPACES.get("nb210")


def test_module_attribute_paths() -> None:
    assert SPACES.get("search_spaces.nb201:NB201Space") is NB201Space
    assert import_path("search_spaces.nb201.space:OPS")[0] == "none"
    with pytest.raises(
        NasError, match=r"cannot import 'no_such_pkg.mod' .*No module named 'no_such_pkg'"
    ):
        import_path("no_such_pkg.mod:thing")
    with pytest.raises(NasError, match="has no attribute 'Nope'"):
        import_path("search_spaces.nb201:Nope")
    with pytest.raises(NasError, match="is not a 'package.module:attribute' path"):
        import_path("search_spaces.nb201:")


def test_register_decorator() -> None:
    reg = Registry("widget", "nas.test_widgets", {})

    @reg.register("w")
    def make_widget() -> str:
        """Makes a widget."""
        return "widget"

    assert reg.get("w") is make_widget
    assert reg.summary("w") == "Makes a widget."


def test_entry_point_plugins_are_discovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a real installed-distribution layout: a module plus a dist-info with entry_points.txt
    (tmp_path / "my_widgets.py").write_text(
        'def gadget():\n    """A gadget from a plugin."""\n    return 42\n\n\ndef gizmo():\n    return 0\n'
    )
    dist = tmp_path / "my_widgets-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-widgets\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[nas.test_widgets]\ngadget = my_widgets:gadget\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("widget", "nas.test_widgets", {})
    assert reg.names() == ["gadget"]
    assert reg.get("gadget")() == 42
    assert reg.summary("gadget") == "A gadget from a plugin."
    assert (
        reg.get("my_widgets:gadget")() == 42
    )  # an entry point's factory may be named by path as well
    with pytest.raises(NasError, match="^'my_widgets:gizmo' is not a widget plugin"):
        reg.get("my_widgets:gizmo")
    sys.modules.pop("my_widgets", None)


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("os:system", "a function that is not registered"),
        ("builtins:eval", "a function that is not registered"),
        ("subprocess:run", "a function that is not registered"),
        ("optuna:delete_study", "a function that is not registered"),
        ("nas.registry:importlib.import_module", "a function that is not registered"),
        ("tests.plugins:time.sleep", "a function that is not registered"),
        ("tests.plugins:unregistered_toy_space", "a function that is not registered"),
        ("tests.plugins:ToySpace.__init__", "a private name"),
        ("nas.registry:_loaded", "a private name"),
        ("search_spaces.nb201.space:OPS", "a tuple object, not a class or a registered factory"),
        ("subprocess:Popen", "a class of another kind"),
        ("tests.plugins:ToyEvaluator", "a class of another kind"),
        ("nas.space:SearchSpace", "an abstract class"),
        (
            "nas.data.digits:digits",
            "a function that is not registered",
        ),  # registered, but as a data set
    ],
)
def test_a_config_names_only_plugins_of_the_kind(path: str, why: str) -> None:
    with pytest.raises(NasError) as caught:
        SPACES.get(path)
    assert str(caught.value) == (
        f"{path!r} is not a search space plugin (a subclass of nas.space.SearchSpace, or a factory registered "
        f"with @nas.register_space or the nas.search_spaces entry point); it is {why}: register it, or name a "
        "registered search space (nas list shows them)"
    )


# (registry, a class of its own kind, a class of another kind)
KINDS = [
    ("spaces", "tests.plugins:ToySpace", "tests.plugins:ToyEvaluator"),
    ("evaluators", "tests.plugins:ToyEvaluator", "tests.plugins:ToySpace"),
    ("strategies", "optuna.samplers:TPESampler", "optuna.pruners:MedianPruner"),
    ("strategies", "nas.oneshot.darts:Darts", "tests.plugins:ToyEvaluator"),
    ("pruners", "optuna.pruners:MedianPruner", "optuna.samplers:TPESampler"),
    ("datasets", None, "tests.plugins:ToySpace"),
]


@pytest.mark.parametrize(("key", "own", "other"), KINDS)
def test_each_registry_takes_subclasses_of_its_base_and_refuses_other_classes(
    key: str, own: str | None, other: str
) -> None:
    registry = REGISTRIES[key]
    if own is not None:
        assert registry.get(own) is import_path(own)
    with pytest.raises(NasError) as caught:
        registry.get(other)
    why = "a class of another kind" if registry.bases else "a class that is not registered"
    assert str(caught.value).startswith(f"{other!r} is not a {registry.kind} plugin (")
    assert f"); it is {why}: register it" in str(caught.value)


def test_registered_factories_are_named_by_path_only_in_their_own_registry() -> None:
    assert DATASETS.get("nas.data.digits:digits") is import_path(
        "nas.data.digits:digits"
    )  # a built-in
    assert PRUNERS.get("nas.search.pruners:median") is import_path("nas.search.pruners:median")
    with pytest.raises(NasError, match="^'nas.search.pruners:median' is not a strategy plugin"):
        STRATEGIES.get("nas.search.pruners:median")
    with pytest.raises(
        NasError,
        match=r"a factory registered with @nas.register_dataset or the nas.datasets "
        r"entry point\); it is a function that is not registered",
    ):
        DATASETS.get("tests.plugins:unregistered_toy_space")


def test_a_function_is_a_plugin_once_registered_by_decorator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "deco_widgets.py").write_text(
        'def gadget():\n    """A gadget."""\n    return 42\n\n\ndef gizmo():\n    return 0\n'
    )
    (tmp_path / "deco_alias.py").write_text("from deco_widgets import gadget\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("widget", "nas.test_widgets", {}, decorator="@register_widget")
    try:
        with pytest.raises(
            NasError,
            match=r"^'deco_widgets:gadget' is not a widget plugin \(a factory registered "
            r"with @register_widget or the nas.test_widgets entry point\); it is a "
            r"function that is not registered",
        ):
            reg.get("deco_widgets:gadget")
        import deco_widgets

        reg.register("g")(deco_widgets.gadget)
        assert reg.get("deco_widgets:gadget")() == 42
        assert (
            reg.get("deco_alias:gadget") is deco_widgets.gadget
        )  # the same function under another path
        with pytest.raises(NasError, match="is not a widget plugin"):
            reg.get("deco_widgets:gizmo")
    finally:
        sys.modules.pop("deco_widgets", None)
        sys.modules.pop("deco_alias", None)
