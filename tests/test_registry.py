from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nas import SPACES, NasError
from nas.registry import Registry, import_path
from search_spaces.nb201 import NB201Space


def test_builtin_names_resolve_lazily_to_factories() -> None:
    assert "nb201" in SPACES.names()
    assert SPACES.get("nb201") is NB201Space
    assert SPACES.summary("nb201").startswith("NAS-Bench-201")


def test_unknown_name_lists_choices_and_suggests() -> None:
    with pytest.raises(NasError, match=r"unknown search space 'nb210' \(did you mean 'nb201'\?\); choose one of: .*nb201"):
        SPACES.get("nb210")


def test_module_attribute_paths() -> None:
    assert SPACES.get("search_spaces.nb201:NB201Space") is NB201Space
    assert import_path("search_spaces.nb201.space:OPS")[0] == "none"
    with pytest.raises(NasError, match=r"cannot import 'no_such_pkg.mod' .*No module named 'no_such_pkg'"):
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


def test_entry_point_plugins_are_discovered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a real installed-distribution layout: a module plus a dist-info with entry_points.txt
    (tmp_path / "my_widgets.py").write_text('def gadget():\n    """A gadget from a plugin."""\n    return 42\n')
    dist = tmp_path / "my_widgets-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-widgets\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[nas.test_widgets]\ngadget = my_widgets:gadget\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("widget", "nas.test_widgets", {})
    assert reg.names() == ["gadget"]
    assert reg.get("gadget")() == 42
    assert reg.summary("gadget") == "A gadget from a plugin."
    sys.modules.pop("my_widgets", None)


@pytest.mark.parametrize("path", ["os:system", "builtins:eval", "subprocess:run", "nas.registry:importlib.import_module",
                                  "tests.plugins:time.sleep", "tests.plugins:ToySpace.__init__", "nas.registry:_checked_factory"])
def test_a_config_cannot_name_the_standard_library_builtins_or_private_names(path: str) -> None:
    with pytest.raises(NasError, match="is not a plugin factory"):
        SPACES.get(path)
