"""The benchmark report, checked as a reader would: self-contained, verdict first, no broken
reference, every figure captioned, and (in headless Chromium) no page wider than the window."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("matplotlib")
pytest.importorskip("scipy")

from asrl.bench.config import DEFAULT_LOSSES  # noqa: E402
from asrl.bench.report import (  # noqa: E402
    _colours,
    learner_verdict,
    loss_colour,
    mean_r2_table,
    regret_table,
    render_report,
    write_report,
)
from asrl.bench.run import CURVE_COLUMNS, RESULT_COLUMNS  # noqa: E402

DATASETS = {"ames": 0.91, "boston": 0.84, "concrete": 0.92, "diabetes": 0.38, "diamonds": 0.97}
#: How much of the clean R^2 each loss loses per unit of contamination, and its clean cost.
BEHAVIOUR = {
    "mse": (4.0, 0.0),
    "mae": (0.8, 0.01),
    "pseudo-huber": (2.0, 0.005),
    "huber-adaptive": (2.5, 0.002),
    "pseudo-huber-auto": (1.0, 0.01),
    "asrl": (0.1, 0.025),
    "asrl-quantile": (0.2, 0.02),
    "asrl-paper": (3.0, 0.2),
    "asrl-scale": (0.2, 0.02),
    "asrl-stats": (3.0, 0.2),
}
PNG = b"\x89PNG\r\n\x1a\n"
#: The other columns that identify a fit, where results.csv has them.
IDENTITY = {
    "scenario": "random",
    "target": "y",
    "dropped": "",
    "data_hash": "0123456789abcdef",
    "loss_params": "{}",
    "extra": "{}",
}


def synthetic_results(
    *,
    learners: tuple[str, ...] = ("xgboost",),
    datasets: dict[str, float] = DATASETS,
    levels: tuple[float, ...] = (0.0, 0.1, 0.2),
    losses: tuple[str, ...] = DEFAULT_LOSSES,
    seeds: int = 1,
    folds: int = 4,
    rounds: int = 200,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Result and curve rows shaped as results.csv and curves.csv, with plausible R^2."""
    rng = np.random.default_rng(seed)
    rows, curves = [], []
    checkpoints = sorted({int(r) for r in np.linspace(1, rounds, 20).round()})
    for learner in learners:
        # a second learner on which ASRL does worse: claims hold per learner
        handicap = 0.0 if learner == learners[0] else 0.15
        for dataset, clean in datasets.items():
            for s in range(seeds):
                for fold in range(folds):
                    for level in levels:
                        for loss in losses:
                            slope, cost = BEHAVIOUR.get(loss, (1.0, 0.01))
                            if loss.startswith("asrl"):
                                slope, cost = slope + 10 * handicap, cost + handicap / 5
                            r2 = clean - cost - slope * level**1.3 + rng.normal(0, 0.02)
                            base = {
                                "learner": learner,
                                "dataset": dataset,
                                "kind": "symmetric",
                                "contamination": level,
                                "loss": loss,
                                "seed": s,
                                "fold": fold,
                                "folds": folds,
                                "n_rounds": rounds,
                                "max_depth": 4,
                                "learning_rate": 0.1,
                                "max_rows": 3000,
                                **{k: v for k, v in IDENTITY.items() if k in RESULT_COLUMNS},
                            }
                            mse = max(1 - r2, 0.01) * 100.0
                            rows.append(
                                {
                                    **base,
                                    "mse": mse,
                                    "mae": np.sqrt(mse) * 0.8,
                                    "r2": r2,
                                    "medae": np.sqrt(mse) * 0.6,
                                    "fit_seconds": abs(rng.normal(0.2, 0.05)),
                                    "rounds": int(rng.integers(10, rounds)),
                                    "n_train": 300,
                                    "n_test": 100,
                                }
                            )
                            peak = r2 + slope * level * 0.3
                            for k in checkpoints:
                                rise = 1 - np.exp(-k / 15)
                                fall = (peak - r2) * k / rounds
                                value = peak * rise - fall
                                curves.append(
                                    {
                                        **base,
                                        "round": k,
                                        "test_mse": (1 - value) * 100,
                                        "test_r2": value,
                                    }
                                )
    results = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    curves = pd.DataFrame(curves, columns=list(CURVE_COLUMNS))
    return results, curves


class _Page(HTMLParser):
    """Every tag with its attributes, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.stack: list[str] = []
        self.table_parents: list[str] = []
        self.figures: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        if tag == "table":
            self.table_parents.append(self.stack[-1] if self.stack else "")
        if tag == "figure":
            self.figures.append({"id": attributes.get("id", ""), "caption": ""})
        if tag not in ("img", "meta", "br", "hr", "link", "input"):
            self.stack.append(tag + "." + attributes.get("class", ""))

    def handle_endtag(self, tag: str) -> None:
        while self.stack and not self.stack.pop().startswith(tag + "."):
            pass

    def handle_data(self, data: str) -> None:
        if self.figures and any(s.startswith("figcaption.") for s in self.stack):
            self.figures[-1]["caption"] += data


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The report of a default-size run (5 datasets x 3 levels x 8 losses x 4 folds)."""
    out = tmp_path_factory.mktemp("report")
    results, curves = synthetic_results()
    results.to_csv(out / "results.csv", index=False)
    curves.to_csv(out / "curves.csv", index=False)
    start = time.perf_counter()
    numbers = write_report(out, "asrl bench", datasets=[{"dataset": "ames", "rows": 2930}])
    seconds = time.perf_counter() - start
    return {"out": out, "numbers": numbers, "seconds": seconds}


def _parse(path: Path) -> tuple[str, _Page]:
    text = path.read_text()
    page = _Page()
    page.feed(text)
    return text, page


def test_report_is_fast(report):
    assert report["seconds"] < 10, f"the report took {report['seconds']:.1f} s"


def test_every_image_is_embedded_and_decodes_as_png(report):
    _text, page = _parse(report["out"] / "report.html")
    images = [a for tag, a in page.tags if tag == "img"]
    # per learner: regret, critical difference, robustness, convergence; and the shapes
    assert len(images) == 5
    for image in images:
        assert image["src"].startswith("data:image/png;base64,"), image["src"][:60]
        data = base64.b64decode(image["src"].split(",", 1)[1], validate=True)
        assert data.startswith(PNG)
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert 200 < width < 2000
        assert 100 < height < 3000
        assert image["alt"]


def test_no_broken_reference(report):
    _, page = _parse(report["out"] / "report.html")
    ids = [a["id"] for _, a in page.tags if "id" in a]
    assert len(ids) == len(set(ids)), "duplicate ids"
    links = [a["href"] for tag, a in page.tags if tag == "a"]
    assert links, "the report has a table of contents"
    for href in links:
        assert href.startswith("#"), f"a link leaves the report: {href}"
        assert href[1:] in ids, f"broken anchor {href}"
    for tag, attributes in page.tags:
        assert tag not in ("link", "script", "iframe", "object"), tag
        for name in ("src", "srcset", "data"):
            if name in attributes:
                assert attributes[name].startswith("data:"), (tag, attributes[name][:60])


def test_verdict_and_figures_come_before_the_first_table(report):
    text, _page = _parse(report["out"] / "report.html")
    verdict = text.index("id='verdict'")
    first_table = text.index("<table")
    assert verdict < text.index("id='regret-xgboost'") < first_table
    assert text.index("id='cd-xgboost'") < first_table
    headline = re.search(r"<p class='headline'>(.*?)</p>", text)
    assert headline is not None
    assert "XGBoost" in headline.group(1)
    assert "contaminated blocks" in headline.group(1)


def test_every_figure_has_a_caption_and_every_table_scrolls_in_its_box(report):
    text, page = _parse(report["out"] / "report.html")
    assert len(page.figures) == 5
    for figure in page.figures:
        assert figure["id"]
        assert len(figure["caption"].split()) > 15, figure  # says how to read it
    assert page.table_parents
    assert all(parent == "div.scroll" for parent in page.table_parents)
    assert re.search(r"\.scroll\{overflow-x:auto", text)


def test_markdown_has_the_verdict_first_and_its_images_exist(report):
    out = report["out"]
    text = (out / "report.md").read_text()
    assert text.index("Yes with XGBoost") < text.index("\n|")
    assert "Mean test R^2" in text
    assert "Friedman" in text
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) == 5
    for name in images:
        assert (out / name).read_bytes().startswith(PNG), name
    for i, line in enumerate(lines := text.splitlines()):
        if line.startswith("!["):
            assert lines[i + 2].startswith("*"), "a caption under every figure"


def test_numbers_returned_for_the_command_line(report):
    numbers = report["numbers"]
    table = numbers["table"]
    assert list(table.index.names) == ["dataset", "contamination"]
    assert list(table.columns) == list(DEFAULT_LOSSES)
    assert numbers["verdict"]["contaminated_blocks"] == 10
    assert numbers["verdict"]["contaminated_wins"] >= 8
    assert set(numbers["ranking"].mean_ranks.index[:2]) == {"asrl", "asrl-quantile"}
    assert numbers["headline"] == [numbers["verdicts"]["xgboost"].headline.replace("R^2", "R²")]


def test_a_claim_holds_per_learner(tmp_path):
    results, curves = synthetic_results(
        learners=("xgboost", "lightgbm"), datasets=dict(list(DATASETS.items())[:3])
    )
    numbers = render_report(results, tmp_path, command="asrl bench", curves=curves)
    verdicts = numbers["verdicts"]
    assert verdicts["xgboost"].headline.startswith("Yes with XGBoost")
    assert verdicts["lightgbm"].headline.startswith("Not clearly, with LightGBM")
    assert numbers["verdict"] == {}  # no one bar for two learners
    text, page = _parse(tmp_path / "report.html")
    assert text.count("class='verdict'") == 2
    assert len([a for tag, a in page.tags if tag == "img"]) == 9
    assert {"regret-lightgbm", "cd-lightgbm", "robustness-lightgbm"} <= {
        f["id"] for f in page.figures
    }


def test_regret_and_verdict_on_a_known_table():
    rows = []
    for dataset, level, values in (
        ("a", 0.0, {"mse": 0.90, "mae": 0.85, "asrl": 0.88}),
        ("a", 0.2, {"mse": 0.40, "mae": 0.70, "asrl": 0.80}),
        ("b", 0.0, {"mse": 0.60, "mae": 0.62, "asrl": 0.61}),
        ("b", 0.2, {"mse": 0.10, "mae": 0.50, "asrl": 0.45}),
    ):
        for fold in range(3):
            for loss, r2 in values.items():
                rows.append(
                    {
                        "learner": "xgboost",
                        "dataset": dataset,
                        "contamination": level,
                        "loss": loss,
                        "seed": 0,
                        "fold": fold,
                        "r2": r2 + 0.001 * fold,
                    }
                )
    results = pd.DataFrame(rows)
    regret = regret_table(mean_r2_table(results))
    assert regret.loc[("a", 0.2)].round(3).to_dict() == {"mse": -0.4, "mae": -0.1, "asrl": 0.0}
    assert (regret.max(axis=1) == 0).all()
    verdict = learner_verdict(results)
    assert verdict.numbers["contaminated_wins"] == 1
    assert verdict.numbers["contaminated_blocks"] == 2
    assert verdict.numbers["clean_mean_gap"] == pytest.approx(-0.015)
    assert verdict.headline.startswith("Not clearly, with XGBoost")
    assert "b at 20 %: -0.050 against mae" in verdict.points[0]


def test_colours_are_fixed_per_loss_and_asrl_is_one_hue_family():
    import colorsys

    from matplotlib.colors import to_rgb

    def hue(colour: str) -> float:
        h, _, s = colorsys.rgb_to_hls(*to_rgb(colour))
        return h * 360 if s > 0.15 else -1.0

    one = _colours(["mse", "asrl", "mae", "asrl-scale"])
    other = _colours(["asrl-scale", "mae", "asrl", "pseudo-huber", "mse"])
    assert all(one[k] == other[k] for k in one)
    asrl = ["asrl", "asrl-scale", "asrl-stats", "asrl-unit", "asrl[q_low=0.7,q_high=0.95]"]
    for name in asrl:
        assert hue(loss_colour(name)) >= 300 or 0 <= hue(loss_colour(name)) <= 35, name
    for name in ("mse", "mae", "huber", "pseudo-huber", "huber-adaptive", "pseudo-huber-auto"):
        assert hue(loss_colour(name)) < 0 or 60 <= hue(loss_colour(name)) <= 290, name
    many = _colours([f"asrl[q_low=0.{i}]" for i in range(1, 8)])
    assert len(set(many.values())) == 7  # no two losses of one report look alike


def test_odd_runs_still_give_a_report(tmp_path):
    """Only ASRL variants (the ablation), only clean data, several contamination kinds,
    extra key columns, a collapsed loss: a report, never a traceback."""
    grid = ("asrl[q_low=0.5,q_high=0.9]", "asrl[q_low=0.7,q_high=0.95]", "asrl-scale")
    small = {"datasets": {"diabetes": 0.4, "boston": 0.8}, "folds": 3}
    results, _ = synthetic_results(losses=grid, **small)
    numbers = render_report(results, tmp_path / "ablation")
    assert numbers["verdicts"]["xgboost"].headline.startswith("No verdict on ASRL")

    clean, _ = synthetic_results(levels=(0.0,), **small)
    numbers = render_report(clean, tmp_path / "clean")
    assert numbers["verdicts"]["xgboost"].headline.startswith("Only clean data")

    results, _ = synthetic_results(**small)
    scenarios = pd.concat(
        [
            results.assign(scenario="random"),
            results.assign(scenario="leverage", r2=results["r2"] - 0.1),
            results.assign(scenario="shift", r2=results["r2"] - 0.2),
        ]
    )
    numbers = render_report(scenarios, tmp_path / "scenarios", curves=None)
    assert numbers["table"].index.names == ["scenario", "dataset", "contamination"]
    assert list(numbers["table"].index.unique("scenario")) == ["random", "leverage", "shift"]
    points = " ".join(numbers["verdicts"]["xgboost"].points)
    assert "Scenario leverage" in points
    assert "Scenario shift" in points
    assert "| leverage | boston | 10 % |" in (tmp_path / "scenarios" / "report.md").read_text()

    mixed = pd.concat(
        [
            results.assign(kind="symmetric"),
            results.assign(kind="asymmetric", r2=results["r2"] - 0.05),
        ]
    ).assign(data_hash="abc123", target="y", extra_column="ignored")
    mixed.loc[mixed["loss"] == "asrl-scale", "r2"] = -40.0
    numbers = render_report(mixed, tmp_path / "kinds")
    assert "kind" in numbers["table"].index.names
    text = (tmp_path / "kinds" / "report.md").read_text()
    assert "asymmetric" in text


# ------------------------------------------------------------------- headless Chromium

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
PROBE = """<pre id='asrl-probe'></pre><script>
window.addEventListener('load', () => {
  document.querySelectorAll('details').forEach((d) => { d.open = true; });
  const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.right, r.top]; };
  const images = [...document.images].map((i) => ({
    decoded: i.complete && i.naturalWidth > 0, box: box(i), alt: i.alt}));
  const figures = [...document.querySelectorAll('figure')].map((f) => ({
    id: f.id, box: box(f), caption: (f.querySelector('figcaption') || {}).textContent || ''}));
  document.getElementById('asrl-probe').textContent = JSON.stringify({
    scroll: document.documentElement.scrollWidth, inner: window.innerWidth, images, figures,
    verdict: box(document.getElementById('verdict')),
    table: box(document.querySelector('table'))});
});
</script>"""


def _browser() -> str | None:
    named = os.environ.get("ASRL_CHROMIUM")
    if named:
        return named
    return next((path for b in BROWSERS if (path := shutil.which(b))), None)


def _render(browser: str, page: Path, width: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={width},1000",
                "--virtual-time-budget=5000",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    found = re.search(r"<pre id=\"asrl-probe\">(.*?)</pre>", done.stdout, re.S)
    assert found, f"no probe in Chromium's DOM; stderr: {done.stderr[-2000:]}"
    import html

    return json.loads(html.unescape(found.group(1)))


@pytest.mark.parametrize("width", [800, 1400])
def test_report_in_headless_chromium(report, tmp_path, width):
    browser = _browser()
    if browser is None:
        pytest.skip("Chromium is not installed (apt-get install chromium, or set ASRL_CHROMIUM)")
    page = tmp_path / "report.html"
    text = (report["out"] / "report.html").read_text()
    page.write_text(text.replace("</body>", PROBE + "</body>"))
    seen = _render(browser, page, width)
    assert seen["inner"] == width
    assert seen["scroll"] <= width, f"the page is {seen['scroll']} px wide in a {width} px window"
    assert len(seen["images"]) == 5
    for image in seen["images"]:
        left, right, _ = image["box"]
        assert image["decoded"], image["alt"]
        assert 0 <= left < right <= width, image
    assert {f["id"] for f in seen["figures"]} == {
        "regret-xgboost",
        "cd-xgboost",
        "robustness-xgboost",
        "convergence-xgboost",
        "shapes-figure",
    }
    assert all(f["caption"].strip() for f in seen["figures"])
    # the first screen: the verdict, then the heatmap, all before the first table
    assert seen["verdict"][2] < 300
    regret = next(f for f in seen["figures"] if f["id"] == "regret-xgboost")
    assert seen["verdict"][2] < regret["box"][2] < 1000 < seen["table"][2]


def test_the_verdict_names_the_variant_it_is_about_when_the_default_was_not_run():
    results, _ = synthetic_results(losses=("mse", "mae", "asrl-scale"))
    verdict = learner_verdict(results)
    assert "ASRL (asrl-scale)" in verdict.headline
    assert "default" not in verdict.headline
    full, _ = synthetic_results(losses=("mse", "mae", "asrl", "asrl-scale"))
    assert "ASRL's default" in learner_verdict(full).headline
