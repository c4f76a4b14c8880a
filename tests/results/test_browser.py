"""``nas report`` and ``nas plot`` pages in a real headless Chromium with the network switched
off: the plotly graphs render (their SVG is in the DOM), nothing is logged as an error or
warning, and the screenshot is not blank. A control page that needs the network fails all three."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas.results.plots import write_plots
from nas.results.runs import PlotOptions, load_run
from tests.results.browser import PageResult, blank, find_chromium, load_page
from tests.results.test_plots import figures_in


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        pytest.skip(
            "no Chromium found: install the Debian package (apt-get install -y chromium; .ci/run does)"
        )
    return found


def check_renders(result: PageResult, figures: int) -> None:
    assert result.errors == []
    assert result.plotly_svgs >= 2 * figures  # plotly draws each graph in two stacked <svg>s
    assert not blank(result.screenshot)


def test_report_page_renders_offline(chromium: str, report_page: Path) -> None:
    result = load_page(chromium, report_page)
    check_renders(result, len(figures_in(report_page)))
    assert result.svgs >= result.plotly_svgs + 3  # and the three architectures are drawn


@pytest.mark.parametrize("kind", ["pareto", "progress", "alphas"])
def test_plot_pages_render_offline(
    chromium: str, kind: str, searched_run: Path, oneshot_run: Path, tmp_path: Path
) -> None:
    run = load_run(oneshot_run if kind == "alphas" else searched_run)
    (page,) = write_plots([run], tmp_path, kinds=[kind], options=PlotOptions(), static=False)
    assert page.name == f"{kind}.html"
    check_renders(load_page(chromium, page), len(figures_in(page)))


def test_a_page_that_needs_the_network_fails_the_check(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "online.html"
    page.write_text(
        '<!DOCTYPE html><html><head><script src="https://cdn.plot.ly/plotly-2.35.2.min.js"></script>'
        '</head><body><div id="plot"></div><script>Plotly.newPlot("plot", [{"y": [1, 3, 2]}]);'
        "</script></body></html>"
    )
    result = load_page(chromium, page)
    assert result.plotly_svgs == 0
    assert any("ERR_INTERNET_DISCONNECTED" in e for e in result.errors)
    assert any("Plotly is not defined" in e for e in result.errors)
    assert blank(result.screenshot)
