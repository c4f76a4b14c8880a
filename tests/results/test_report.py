"""The run report: one page with plotly.js once, the runs' configs, the plots of ``nas plot``,
the best architectures drawn, Grad-CAM views that agree with the networks, and alpha histories."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch
from plotly.offline import get_plotlyjs

import nas
from nas.data import Split
from nas.results.plots import alpha_figures, pareto_figures, progress_figures
from nas.results.reading import load_trials
from nas.results.report import write_report
from nas.results.runs import PlotOptions, load_run
from nas.results.weights import load_weights, weights_path
from tests.results.test_plots import figures_in

CAPTION = re.compile(r"<figcaption>(&#10003;|&#10007;) (\d+) \((\d+)%\)</figcaption>")


def best_trials(run: Path, k: int) -> list[tuple[int, str]]:
    frame, _ = load_trials(run)
    done = frame[(frame["state"] == "complete") & frame["duplicate_of"].isna()]
    return [(int(t), str(a)) for t, a in zip(done["trial"][:k], done["arch"][:k], strict=True)]


def test_one_self_contained_page_with_plotly_once(report_page: Path, searched_run: Path) -> None:
    page = report_page.read_text(encoding="utf-8")
    bundle = get_plotlyjs()
    assert page.count(bundle) == 1 and page.count("plotly.js v") == bundle.count("plotly.js v")
    assert not re.search(r"<script[^>]+src=", page) and "https://" not in page.replace(bundle, "")
    assert len(page) < len(bundle) + 1_000_000  # everything but plotly.js is small
    # the figures of nas plot, drawn by the page's one plotly.js
    run = load_run(searched_run)
    options = PlotOptions(color="strategy")
    expected = [
        f.layout.title.text
        for f in pareto_figures([run], options) + progress_figures([run], options)
    ]
    assert [f["layout"]["title"]["text"] for f in figures_in(report_page)] == expected
    # the configs: the space and the evaluator with their options, the best value
    assert "nb201 (channels=4, cells_per_stage=1)" in page and "save_weights=True" in page
    assert "best val_accuracy" in page


def test_best_architectures_are_drawn_with_their_metrics(
    report_page: Path, searched_run: Path
) -> None:
    page = report_page.read_text(encoding="utf-8")
    cards = page.split('<div class="card">')[1:]
    best = best_trials(searched_run, 3)
    assert len(cards) == 3
    space = nas.create_space("nb201", channels=4, cells_per_stage=1)
    for rank, (card, (trial, arch)) in enumerate(zip(cards, best, strict=True), start=1):
        assert card.startswith(f"<h3>#{rank} &middot; trial {trial}</h3>")
        assert "val_accuracy <b>" in card and "params <b>" in card
        svg = card[card.index("<svg") : card.index("</svg>")]
        for op in space.parse(arch).values():
            assert f">{op}</text>" in svg  # every edge's operation is written on the drawing


def test_gradcam_grid_shows_each_network_and_its_own_predictions(
    report_page: Path, searched_run: Path
) -> None:
    page = report_page.read_text(encoding="utf-8")
    grid = page[page.index("Grad-CAM") :]
    assert grid.count('<figure class="tile') == 4 * (1 + 3)  # the images, then each network's maps
    assert grid.count("from <code>lastact</code>") == 3
    captions = CAPTION.findall(grid)
    assert len(captions) == 4 * 3
    # the same predictions computed here: the first validation image of classes 0..3, normalised
    data = nas.DATASETS.get("digits")()
    index = torch.tensor([int((data.val.y == c).nonzero()[0]) for c in range(4)])
    images = Split(data.val.x[index], data.val.y[index])
    x = (images.x - torch.tensor(data.mean).view(1, -1, 1, 1)) / torch.tensor(data.std).view(
        1, -1, 1, 1
    )
    space = nas.create_space("nb201", channels=4, cells_per_stage=1)
    for row, (_, arch_text) in enumerate(best_trials(searched_run, 3)):
        arch = space.parse(arch_text)
        saved = load_weights(weights_path(searched_run, arch))
        model = space.build(arch, num_classes=10, input_shape=saved.input_shape)
        model.load_state_dict(saved.state_dict)
        with torch.no_grad():
            probs = model.eval()(x).softmax(dim=1)
        for i in range(4):
            mark, predicted, percent = captions[row * 4 + i]
            assert int(predicted) == int(probs[i].argmax())
            assert int(percent) == round(100 * float(probs[i].max()))
            assert (mark == "&#10003;") == (int(predicted) == int(images.y[i]))


def test_runs_compared_and_nas_train_output_used_when_the_search_kept_no_weights(
    searched_run: Path, tmp_path: Path
) -> None:
    from nas.cli.main import main

    copy = tmp_path / "tiny" / "copy"
    shutil.copytree(searched_run, copy)
    shutil.rmtree(copy / "weights")
    out = write_report([copy], tmp_path / "none.html", top=2, images=2)
    assert "No trained weights for these architectures" in out.read_text()
    (trial, _), _ = best_trials(copy, 2)
    assert main(["train", str(copy), "--trial", str(trial), "--quiet", "epochs=1"]) == 0
    page = write_report([copy, searched_run], tmp_path / "both.html", top=2, images=2).read_text()
    assert "<th>tiny/copy</th>" in page  # one summary column per run
    _, first, second = page.split("<h2>Best architectures: ")
    assert first.startswith("tiny/copy</h2>") and second.startswith(f"{searched_run.parent.name}/")
    assert f"#1 trial {trial}<br><small>trained/trial_{trial}.py</small>" in first
    assert first.count("no trained weights") == 1  # the second architecture was not trained


def test_oneshot_run_shows_alpha_history_and_a_space_without_diagram_as_a_table(
    oneshot_run: Path, tmp_path: Path
) -> None:
    page_path = write_report([oneshot_run], tmp_path / "oneshot.html")
    page = page_path.read_text()
    assert "One-shot search: alpha history" in page
    run = load_run(oneshot_run)
    alphas = [f.layout.title.text for f in alpha_figures([run], PlotOptions())]
    assert (
        alphas
        and [f["layout"]["title"]["text"] for f in figures_in(page_path)][-len(alphas) :] == alphas
    )
    assert '<table class="nas-decisions"><caption>decisions</caption><tr><th>e0</th>' in page


def test_bad_arguments(searched_run: Path, tmp_path: Path) -> None:
    with pytest.raises(nas.NasError, match="--top and --images must be at least 1"):
        write_report([searched_run], tmp_path / "r.html", top=0)
    with pytest.raises(nas.NasError, match="is a folder; name the page"):
        write_report([searched_run], tmp_path)
    with pytest.raises(nas.NasError, match="at least one run folder"):
        write_report([], tmp_path / "r.html")
    assert list(tmp_path.iterdir()) == []
