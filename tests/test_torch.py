"""The PyTorch adapter against the numpy core: thresholds, gradients, dtypes, state.

Thresholds must equal ``asrl.ASRL``'s bit for bit (the "stats" standard deviation
sums in torch's order, so it may differ in the last bit); gradients are the core's
closed form, so with the same statistics they must be bit-equal too.
"""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given

from asrl import ASRL, core
from asrl.core.rules import THRESHOLD_RULES, ASRLStatistics, as_floats
from asrl.params import ASRLParams, record_fields

from .strategies import asrl_losses, residual_arrays
from .toy_rule import toy_rule

torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'asrl[torch]')")
import asrl.torch  # noqa: E402
from asrl.torch import (  # noqa: E402
    NEWTON_ONLY,
    ASRLLoss,
    asrl_loss,
    asrl_statistics,
    finite_quantiles,
)

RULES = ("quantile", "scale")
EPS32 = 2 * float(np.finfo(np.float32).eps)
WEIGHTS = ("continuous", "stats")
#: Above the default subsample (65536) and long enough for several threads' work.
BIG = 200_003


def data(n, dtype=np.float64, seed=0, shape=None):
    """Targets and heavy-tailed predictions, with a few exact ties."""
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    p = y + rng.standard_t(2, n)
    p[: n // 10] = y[: n // 10]  # exact zeros in the residuals
    shape = (n,) if shape is None else shape
    return y.astype(dtype).reshape(shape), p.astype(dtype).reshape(shape)


def flat(statistics):
    """An ASRLStatistics as a tuple of floats: the thresholds, then any scales."""
    return tuple(float(s) for s in (*statistics.deltas, *(statistics.scales or ())))


def torch_statistics(pred, true, **params):
    """The statistics ``asrl_loss`` computes for these tensors, as floats (checking that
    they are 0-d tensors of the compute dtype)."""
    stats = asrl_statistics(pred, true, **params)
    for value in (*stats.deltas, *(stats.scales or ())):
        assert isinstance(value, torch.Tensor)
        assert value.shape == ()
        assert value.dtype == torch.promote_types(pred.dtype, true.dtype)
    return flat(stats)


@pytest.fixture
def toy(monkeypatch):
    """``thresholds="toy"`` registered for one test, the way a user would add a rule."""
    monkeypatch.setitem(THRESHOLD_RULES, "toy", toy_rule)
    return "toy"


def assert_statistics_equal(got, want, dtype, n=1):
    """Thresholds and quantile scales exact; the standard deviation up to the rounding of
    its two means of ``n`` terms, summed in another order than numpy's (a few eps for
    small ``n``; hypothesis found 2.4 eps at n <= 60)."""
    assert got[:2] == want[:2]
    if len(want) > 2:
        assert got[3:] == want[3:]
        rel = max(2.0, np.log2(max(n, 2)) + 2) * float(np.finfo(dtype).eps)
        assert got[2] == pytest.approx(want[2], rel=rel)


# -- thresholds ---------------------------------------------------------------------------


@pytest.fixture(params=["numpy", "tensor"])
def selection(request, monkeypatch):
    """The rule run on numpy (CPU tensors), or with torch operations as on accelerators
    (:func:`finite_quantiles`; run here on the CPU)."""
    if request.param == "tensor":
        monkeypatch.setattr(asrl.torch, "_on_numpy", lambda u: False)
    return request.param


@pytest.mark.usefixtures("selection")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize(
    ("n", "sample"), [(1, None), (2, None), (10, None), (3001, None), (3001, 500)]
)
def test_statistics_equal_the_numpy_core(dtype, rule, weights, n, sample):
    y, p = data(n, dtype)
    ref = ASRL(thresholds=rule, weights=weights, threshold_sample=sample)
    got = torch_statistics(
        torch.tensor(p), torch.tensor(y), thresholds=rule, weights=weights, threshold_sample=sample
    )
    assert_statistics_equal(got, flat(ref.statistics(y, p)), dtype, n)


@pytest.mark.usefixtures("selection")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("sample", [None, 500])
def test_a_rule_registered_by_the_user_works_unchanged(toy, dtype, weights, sample):
    y, p = data(3001, dtype, seed=8)
    ref = ASRL(thresholds=toy, weights=weights, threshold_sample=sample)
    want = ref.statistics(y, p)
    params = {"thresholds": toy, "weights": weights, "threshold_sample": sample}
    got = torch_statistics(torch.tensor(p), torch.tensor(y), **params)
    assert_statistics_equal(got, flat(want), dtype, 3001)
    if sample is None:  # the toy rule's own quantiles, not the default 0.5 and 0.9
        a = np.abs(p - y)
        assert got[:2] == (np.quantile(a, 0.3), np.quantile(a, 0.8))
    # The loss trains with them: its gradient is psi with those thresholds, bit for bit.
    pred = torch.tensor(p, requires_grad=True)
    asrl_loss(pred, torch.tensor(y), reduction="sum", **params).backward()
    mine = as_floats(asrl_statistics(pred.detach(), torch.tensor(y), **params))
    np.testing.assert_array_equal(pred.grad.numpy(), ref.gradient(y, p, statistics=mine))
    np.testing.assert_allclose(pred.grad.numpy(), ref.gradient(y, p), rtol=2e-6, atol=0)


@given(asrl_losses(weights=("continuous", "stats")), residual_arrays(dtype=np.float32))
def test_statistics_equal_the_numpy_core_on_random_residuals(loss, u):
    # Ties, exact zeros, tiny and large values: the floors of maths.md are exercised.
    params = {k: v for k, v in loss.get_params().items() if k not in NEWTON_ONLY}
    zero = np.zeros_like(u)
    got = torch_statistics(torch.from_numpy(u), torch.from_numpy(zero), **params)
    assert_statistics_equal(got, flat(loss.statistics(zero, u)), np.float32, u.size)


@pytest.mark.usefixtures("selection")
def test_degenerate_residuals_give_the_core_floors():
    for u in ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 5.0], [3e38, -3e38, 0.0], [1e-45, 0.0, 0.0]):
        u = np.array(u, dtype=np.float32)
        for rule in RULES:
            got = asrl_statistics(torch.from_numpy(u), torch.zeros(u.size), thresholds=rule)
            want = ASRL(thresholds=rule).statistics(np.zeros_like(u), u)
            assert flat(got) == want.deltas
            assert 0 < got.deltas[0] <= got.deltas[1]


@given(residual_arrays(dtype=np.float32))
def test_finite_quantiles_equal_the_core_on_the_finite_values(u):
    # The selection used on accelerators (CPU tensors use numpy's partitions), with
    # NaN and infinities mixed in: they are skipped, and the ranks follow the count.
    x = np.concatenate([u, [np.nan, np.inf, -np.inf]]).astype(np.float32)
    np.random.default_rng(u.size).shuffle(x)
    levels = (0.0, 0.1, 0.5, 0.9, 1.0)
    got = finite_quantiles(torch.from_numpy(x), levels)
    want = [*core.weighted_quantiles(u, levels), u.max()]  # numpy.quantile's in float32
    assert [float(v) for v in got] == [float(v) for v in want]
    assert finite_quantiles(torch.tensor([np.nan, np.inf]), (0.5,)) == (0.0, 0.0)


@pytest.fixture
def one_thread():
    """One torch thread: a large test's time stays predictable on a shared CI runner."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_thread")
def test_sampled_thresholds_beyond_2_24_elements():
    # torch.quantile refuses more than 2**24 elements; the subsample has no limit, and is
    # the numpy core's, so the thresholds are equal and within its stated bound.
    n = (1 << 24) + 3
    rng = np.random.default_rng(2)
    u = rng.standard_normal(n, dtype=np.float32) / (1 - rng.random(n, dtype=np.float32))
    zero = np.zeros(n, dtype=np.float32)
    x, y = torch.from_numpy(u), torch.from_numpy(zero)
    d1, d2 = asrl_statistics(x, y, thresholds="quantile").deltas
    numpy_core = ASRL(thresholds="quantile", threshold_sample=65536).statistics(zero, u)
    assert (float(d1), float(d2)) == numpy_core.deltas
    eps = np.sqrt(np.log(2 / 1e-6) / (2 * 65536))
    a = x.abs()
    for q, d in ((0.5, d1), (0.9, d2)):
        level = int(torch.count_nonzero(a <= d)) / n  # the exact level of the sampled threshold
        assert abs(level - q) <= eps
    # The loss and its gradient run on all elements.
    x.requires_grad_(True)
    asrl_loss(x, y, reduction="sum", thresholds="quantile").backward()
    tail = u[-5:]
    expected = core.continuous_psi(tail, np.abs(tail), np.float32(d1), np.float32(d2))
    np.testing.assert_array_equal(x.grad[-5:].numpy(), expected)


# -- loss and gradients -------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("n", [7, 1000, BIG])  # the last with subsampled statistics
def test_loss_and_gradient_equal_the_numpy_core(rule, weights, n):
    y, p = data(n, np.float32, seed=n)
    ref = ASRL(thresholds=rule, weights=weights, threshold_sample=65536)  # torch's default
    fixed = ref.statistics(y, p)
    pred = torch.tensor(p, requires_grad=True)
    rho = asrl_loss(
        pred, torch.tensor(y), thresholds=rule, weights=weights, reduction="none", statistics=fixed
    )
    # torch's and numpy's float32 logarithms may differ in the last bit.
    np.testing.assert_allclose(
        rho.detach().numpy(), ref.loss(y, p, statistics=fixed), rtol=EPS32, atol=0
    )
    rho.sum().backward()
    np.testing.assert_array_equal(pred.grad.numpy(), ref.gradient(y, p, statistics=fixed))
    # Computing the statistics itself gives the same (up to the std's last bit).
    pred.grad = None
    asrl_loss(pred, torch.tensor(y), thresholds=rule, weights=weights, reduction="sum").backward()
    np.testing.assert_allclose(pred.grad.numpy(), ref.gradient(y, p), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("n", [1000, BIG])
def test_reductions(reduction, n):
    y, p = data(n, np.float64, seed=3)
    pred, true = torch.tensor(p, requires_grad=True), torch.tensor(y)
    exact = ASRL(threshold_sample=None)
    rho = exact.loss(y, p)
    loss = asrl_loss(pred, true, reduction=reduction, threshold_sample=None)
    expected = rho.mean() if reduction == "mean" else rho.sum()
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    loss.backward()
    scale = 1 / n if reduction == "mean" else 1.0
    np.testing.assert_allclose(pred.grad.numpy(), exact.gradient(y, p) * scale, rtol=1e-15)


def test_any_shape_and_target_gradient():
    y, p = data(60, np.float64, shape=(3, 4, 5))
    pred = torch.tensor(p, requires_grad=True)
    true = torch.tensor(y, requires_grad=True)
    rho = asrl_loss(pred, true, reduction="none")
    assert rho.shape == (3, 4, 5)
    np.testing.assert_allclose(rho.detach().numpy(), ASRL().loss(y, p), rtol=1e-15, atol=0)
    rho.sum().backward()
    np.testing.assert_array_equal(true.grad.numpy(), -pred.grad.numpy())
    scalar = asrl_loss(torch.tensor(2.0), torch.tensor(0.5))  # 0-d tensors
    assert float(scalar) == 1.125


def test_second_derivative_through_the_closed_form_gradient():
    y, p = data(500, np.float64, seed=4)
    d1, d2 = 0.7, 2.5
    pred = torch.tensor(p, requires_grad=True)
    (grad,) = torch.autograd.grad(
        asrl_loss(pred, torch.tensor(y), statistics=ASRLStatistics((d1, d2)), reduction="sum"),
        pred,
        create_graph=True,
    )
    (second,) = torch.autograd.grad(grad.sum(), pred)
    u = p - y
    step = 1e-6
    psi = lambda v: core.continuous_psi(v, np.abs(v), d1, d2)  # noqa: E731
    numeric = (psi(u + step) - psi(u - step)) / (2 * step)
    # Off the kinks: the thresholds, and u = 0, where autograd takes |u|' = 0.
    kinks = np.minimum(np.abs(u), np.minimum(np.abs(np.abs(u) - d1), np.abs(np.abs(u) - d2)))
    away = kinks > 10 * step
    np.testing.assert_allclose(second.numpy()[away], numeric[away], atol=1e-6)
    inner = away & (np.abs(u) <= d2)
    assert set(np.unique(np.round(second.numpy()[inner], 12))) == {0.0, 1.0}


# -- dtypes and devices -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32(dtype):
    y, p = data(1000, np.float32, seed=5)
    pred = torch.tensor(p).to(dtype).requires_grad_(True)
    true = torch.tensor(y).to(dtype)
    loss = asrl_loss(pred, true, reduction="none")
    assert loss.dtype == torch.float32
    up_p, up_y = pred.detach().float().numpy(), true.float().numpy()
    np.testing.assert_allclose(loss.detach().numpy(), ASRL().loss(up_y, up_p), rtol=EPS32, atol=0)
    loss.sum().backward()
    assert pred.grad.dtype == dtype
    expected = torch.from_numpy(ASRL().gradient(up_y, up_p)).to(dtype)
    assert torch.equal(pred.grad, expected)


def test_dtype_promotion():
    y, p = data(100, np.float64)
    pred = torch.tensor(p, dtype=torch.float32, requires_grad=True)
    loss = asrl_loss(pred, torch.tensor(y))  # float32 against float64: float64
    assert loss.dtype == torch.float64
    loss.backward()
    assert pred.grad.dtype == torch.float32
    ints = asrl_loss(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1, 2, 4]))
    assert ints.dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_equals_cpu():
    y, p = data(BIG, np.float32, seed=6)
    for weights in WEIGHTS:
        grads = []
        for device in ("cpu", "cuda"):
            pred = torch.tensor(p, device=device, requires_grad=True)
            asrl_loss(pred, torch.tensor(y, device=device), weights=weights).backward()
            grads.append(pred.grad.cpu())
        torch.testing.assert_close(grads[1], grads[0], rtol=1e-6, atol=1e-9)


# -- the module and its running thresholds ------------------------------------------------


def test_module_equals_function_and_repr():
    y, p = data(200, np.float32)
    pred, true = torch.tensor(p), torch.tensor(y)
    module = ASRLLoss(q_low=0.4, thresholds="scale", reduction="sum")
    assert torch.equal(
        module(pred, true), asrl_loss(pred, true, q_low=0.4, thresholds="scale", reduction="sum")
    )
    assert module.params == ASRLParams(q_low=0.4, thresholds="scale")
    assert "q_low=0.4" in repr(module)
    assert "momentum=None" in repr(module)
    assert "hessian" not in repr(module)
    assert dict(module.state_dict()) == {}  # no running thresholds without momentum


@pytest.mark.parametrize("weights", WEIGHTS)
def test_running_thresholds(weights):
    batches = [data(300, np.float32, seed=s) for s in range(3)]
    tensors = [(torch.tensor(p), torch.tensor(y)) for y, p in batches]
    module = ASRLLoss(momentum=0.25, weights=weights)
    keys = {"running_deltas", "num_batches_tracked"} | (
        {"running_scales"} if weights == "stats" else set()
    )
    assert set(module.state_dict()) == keys

    # Before any update, eval() uses each batch's own statistics.
    module.eval()
    pred, true = tensors[0]
    assert torch.equal(module(pred, true), asrl_loss(pred, true, weights=weights))
    assert int(module.num_batches_tracked) == 0

    # train(): each batch uses its own statistics, then updates the running ones.
    module.train()
    expected = None
    for (y, p), (pred, true) in zip(batches, tensors, strict=True):
        assert torch.equal(module(pred, true), asrl_loss(pred, true, weights=weights))
        batch = np.array(flat(ASRL(weights=weights).statistics(y, p)), dtype=np.float32)
        expected = batch if expected is None else 0.75 * expected + 0.25 * batch
        running = module.running_deltas
        if weights == "stats":
            running = torch.cat([running, module.running_scales])
        np.testing.assert_allclose(running.numpy(), expected, rtol=1e-6)
    assert int(module.num_batches_tracked) == 3

    # eval(): the running statistics, whatever the batch; saved in state_dict.
    module.eval()
    d1, d2 = module.running_deltas.tolist()
    scales = module.running_scales.tolist() if weights == "stats" else None
    pred, true = tensors[0]
    fixed = asrl_loss(pred, true, weights=weights, statistics=ASRLStatistics((d1, d2), scales))
    # The running statistics are buffers; statistics() gives the batch's own.
    assert flat(module.statistics(pred, true)) == flat(asrl_statistics(pred, true, weights=weights))
    assert torch.equal(module(pred, true), fixed)
    assert not torch.equal(fixed, asrl_loss(pred, true, weights=weights))
    fresh = ASRLLoss(momentum=0.25, weights=weights)
    fresh.load_state_dict(module.state_dict())
    fresh.eval()
    assert torch.equal(fresh(pred, true), fixed)
    assert torch.equal(fresh.running_deltas, module.running_deltas)


# -- torch.compile ------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised by torch's own imports
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"thresholds": "scale", "weights": "stats", "threshold_sample": 1000, "reduction": "none"},
    ],
)
def test_torch_compile_matches_eager(params):
    y, p = data(4000, np.float32, seed=7, shape=(2000, 2))
    true = torch.tensor(y)
    module = ASRLLoss(**params)
    graphs = []

    def counting(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    outputs, grads = [], []
    for fn in (module, torch.compile(module), torch.compile(module, backend=counting)):
        for _ in range(2):  # the second call must not recompile
            pred = torch.tensor(p, requires_grad=True)
            out = fn(pred, true)
            out.sum().backward()
        outputs.append(out.detach())
        grads.append(pred.grad)
    for output, grad in zip(outputs[1:], grads[1:], strict=True):
        torch.testing.assert_close(output, outputs[0], rtol=1e-6, atol=0)
        torch.testing.assert_close(grad, grads[0], rtol=1e-6, atol=0)
    # The statistics (the rule is a generator, which dynamo cannot trace) run eagerly
    # as one graph break: one graph before it, one (the loss) after, compiled once.
    assert len(graphs) == 2


# -- errors --------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    x = torch.zeros(4)
    with pytest.raises(ValueError, match=r"same shape .*got \(4,\) and \(4, 1\)"):
        asrl_loss(x, torch.zeros(4, 1))
    with pytest.raises(ValueError, match="empty"):
        asrl_loss(torch.zeros(0), torch.zeros(0))
    with pytest.raises(TypeError, match="must be real"):
        asrl_loss(x.to(torch.complex64), x.to(torch.complex64))
    with pytest.raises(TypeError, match=r"target must be a torch\.Tensor"):
        asrl_loss(x, [0.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="deltas must satisfy"):
        asrl_loss(x, x, statistics=ASRLStatistics((2.0, 1.0)))
    with pytest.raises(TypeError, match="deltas must be a pair"):
        asrl_loss(x, x, statistics=ASRLStatistics(torch.tensor([1.0, 2.0, 3.0])))
    with pytest.raises(TypeError, match="takes statistics of type ASRLStatistics"):
        asrl_loss(x, x, statistics=(1.0, 2.0))
    with pytest.raises(ValueError, match="'stats' needs scales"):
        asrl_loss(x, x, weights="stats", statistics=ASRLStatistics((1.0, 2.0)))


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"q_low": 1.5}, ValueError),
        ({"q_low": 0.9, "q_high": 0.5}, ValueError),
        ({"thresholds": "mad"}, ValueError),
        ({"c1": -1.0}, ValueError),
        ({"weights": "paper"}, ValueError),
        ({"threshold_sample": 5}, ValueError),
    ],
)
def test_parameters_are_validated_as_in_the_numpy_loss(params, error):
    with pytest.raises(error) as numpy_error:
        ASRL(**params)
    with pytest.raises(error, match=str(numpy_error.value).replace("(", r"\(").replace(")", r"\)")):
        ASRLLoss(**params)
    with pytest.raises(error):
        asrl_loss(torch.zeros(3), torch.zeros(3), **params)


def test_module_only_parameters_are_validated():
    with pytest.raises(
        ValueError, match="reduction must be one of 'mean', 'sum', 'none'; got 'avg'"
    ):
        ASRLLoss(reduction="avg")
    with pytest.raises(ValueError, match=r"momentum must be in \(0, 1\]; got 0"):
        ASRLLoss(momentum=0)
    for newton in NEWTON_ONLY:  # curvature options are for Newton learners only
        with pytest.raises(TypeError, match=f"^{newton} is for Newton learners"):
            ASRLLoss(**{newton: ASRLParams().__dict__[newton]})
        with pytest.raises(TypeError, match=f"^{newton} is for Newton learners"):
            asrl_loss(torch.zeros(3), torch.zeros(3), **{newton: 1})
    with pytest.raises(TypeError, match=r"qlow; valid: q_low, q_high, .*threshold_sample\.$"):
        asrl_statistics(torch.zeros(3), torch.zeros(3), qlow=0.3)


def test_signatures_show_the_record_fields_and_defaults():
    fields = {k: v for k, v in record_fields(ASRLParams).items() if k not in NEWTON_ONLY}
    for public, own in (
        (asrl_loss, {"input", "target", "reduction", "statistics", "process_group"}),
        (asrl_statistics, {"input", "target", "process_group"}),
        (ASRLLoss, {"reduction", "momentum", "process_group"}),
    ):
        parameters = inspect.signature(public).parameters
        assert {k: p.default for k, p in parameters.items() if k not in own} == fields
        assert set(parameters) == own | set(fields)
    assert inspect.signature(asrl_loss).parameters["reduction"].default == "mean"


def test_missing_torch_names_the_extra():
    code = "import sys; sys.modules['torch'] = None; import asrl.torch"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        "ImportError: this part of asrl needs PyTorch, which is not installed: "
        'pip install "asrl[torch]"'
    )


# -- non-finite residuals: HuberLoss's semantics ------------------------------------------


def with_gaps(n, dtype=np.float32, seed=11, every=7):
    """Targets with NaN (missing labels) at every ``every``-th element, one +inf and one
    -inf prediction; the mask of the finite residuals."""
    y, p = data(n, dtype, seed=seed)
    y[::every] = np.nan
    p[1], p[2] = np.inf, -np.inf
    return y, p, np.isfinite(p - y)


@pytest.mark.usefixtures("selection")
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize(("n", "sample"), [(3001, None), (3001, 500)])
def test_statistics_come_from_the_finite_residuals(rule, weights, n, sample):
    y, p, finite = with_gaps(n)
    params = {"thresholds": rule, "weights": weights, "threshold_sample": sample}
    got = torch_statistics(torch.tensor(p), torch.tensor(y), **params)
    # The finite residuals (of the fixed subsample, when there is one), fed to the core
    # exactly; max |u| over all finite residuals.
    keep = np.arange(n) if sample is None else core.sample_positions(n, sample)
    keep = keep[finite[keep]]
    ref = ASRL(thresholds=rule, weights=weights, threshold_sample=None)
    want = ref.statistics(y[keep], p[keep])
    if rule == "scale" and sample is not None:  # max |u| of all, not of the sample
        largest = np.abs(p - y)[finite].max()
        assert float(got[1]) <= largest
    else:
        assert_statistics_equal(got, flat(want), np.float32, keep.size)
    assert all(np.isfinite(got))


@pytest.mark.usefixtures("selection")
@pytest.mark.parametrize("weights", WEIGHTS)
def test_nan_only_where_the_residual_is_nan(weights):
    y, p, finite = with_gaps(1000)
    pred = torch.tensor(p, requires_grad=True)
    true = torch.tensor(y)
    rho = asrl_loss(pred, true, weights=weights, reduction="none")
    u = p - y
    np.testing.assert_array_equal(torch.isnan(rho).numpy(), np.isnan(u))
    assert torch.isinf(rho[[1, 2]]).all()  # infinite residuals: infinite loss
    # Elsewhere: the loss of the finite residuals alone (the same statistics).
    ref = ASRL(weights=weights)
    fixed = ref.statistics(y[finite], p[finite])
    np.testing.assert_allclose(
        rho.detach().numpy()[finite], ref.loss(y[finite], p[finite], statistics=fixed), rtol=EPS32
    )
    # The gradient: psi of the finite residuals, 0 at infinite ones (psi decays) and at NaN.
    rho.nansum().backward()
    grad = pred.grad.numpy()
    np.testing.assert_array_equal(
        grad[finite], ref.gradient(y[finite], p[finite], statistics=as_floats(fixed))
    )
    assert (grad[~finite] == 0).all()
    # "mean" and "sum" are NaN, as HuberLoss's are.
    for reduction in ("mean", "sum"):
        assert torch.isnan(asrl_loss(pred, true, weights=weights, reduction=reduction))
        assert torch.isnan(torch.nn.HuberLoss(reduction=reduction)(pred, true))


def test_huber_parity_of_the_nan_pattern():
    y, p, _ = with_gaps(500)
    pred, true = torch.tensor(p), torch.tensor(y)
    mine = asrl_loss(pred, true, reduction="none")
    huber = torch.nn.HuberLoss(reduction="none")(pred, true)
    assert torch.equal(torch.isnan(mine), torch.isnan(huber))
    assert torch.equal(torch.isinf(mine), torch.isinf(huber))


def test_masked_padded_targets_train():
    # Sequences padded to one length, the padding's targets NaN: the loss of the real
    # elements only, and no NaN in any parameter's gradient.
    torch.manual_seed(0)
    x = torch.randn(16, 10, 3)
    lengths = torch.randint(3, 11, (16,))
    mask = torch.arange(10)[None, :] < lengths[:, None]
    clean = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    target = torch.where(mask, clean, torch.nan)
    target[mask.nonzero()[::9].unbind(1)] += 25.0  # some gross outliers
    model = torch.nn.Linear(3, 1)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(100):
        optimiser.zero_grad()
        rho = asrl_loss(model(x).squeeze(-1), target, reduction="none")
        loss = torch.where(mask, rho, 0.0).sum() / mask.sum()
        loss.backward()
        assert all(torch.isfinite(q.grad).all() for q in model.parameters())
        optimiser.step()
    # The same thresholds and loss as on the real elements alone.
    pred = model(x).squeeze(-1)
    alone = asrl_loss(pred[mask], target[mask], reduction="none")
    rho = asrl_loss(pred, target, reduction="none")
    assert torch.equal(rho[mask], alone)
    np.testing.assert_allclose(model.weight.detach().numpy()[0], [1.0, -2.0, 0.5], atol=0.05)


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("weights", WEIGHTS)
def test_fused_kernels_equal_the_eager_formulas(monkeypatch, reduction, weights):
    y, p, _ = with_gaps(BIG, seed=12)
    results = []
    for fused in (True, False):
        monkeypatch.setattr(asrl.torch, "FUSED", fused)
        pred = torch.tensor(p, requires_grad=True)
        loss = asrl_loss(pred, torch.tensor(y), weights=weights, reduction=reduction)
        loss.nansum().backward()
        results.append((loss.detach(), pred.grad))
    (fused_loss, fused_grad), (eager_loss, eager_grad) = results
    torch.testing.assert_close(fused_loss, eager_loss, rtol=EPS32, atol=0, equal_nan=True)
    assert torch.equal(fused_grad, eager_grad)  # psi: exact operations only


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_never_synchronises_with_the_host():
    y, p, _ = with_gaps(BIG, seed=13)
    pred = torch.tensor(p, device="cuda", requires_grad=True)
    true = torch.tensor(y, device="cuda")
    asrl_loss(pred, true, reduction="none").nansum().backward()  # warm up (positions cached)
    for params in ({}, {"thresholds": "scale", "weights": "stats"}):
        torch.cuda.set_sync_debug_mode("error")
        try:
            rho = asrl_loss(pred, true, reduction="none", **params)
            rho.nansum().backward()
        finally:
            torch.cuda.set_sync_debug_mode("default")
        assert torch.equal(torch.isnan(rho).cpu(), torch.from_numpy(np.isnan(p - y)))


# -- the worked example -------------------------------------------------------------------


def test_mlp_example_asrl_beats_mse_under_gross_outliers():
    pytest.importorskip("sklearn", reason="the example's data ship with scikit-learn")
    from asrl.examples.mlp import format_table, run_mlp_example

    # 30% of the training labels are gross outliers; the test labels are clean. Over
    # seeds 0-9 ASRL's test R^2 exceeds MSE's by 0.06 to 0.38 (0.28, 0.28, 0.37 here).
    results = run_mlp_example(losses=("mse", "asrl"), contamination=0.3, seeds=(0, 1, 2))
    for seed in (0, 1, 2):
        mse, asrl = (r for r in results if r.seed == seed)
        assert asrl.r2 > mse.r2 + 0.1
        assert asrl.mae < mse.mae
    assert format_table(results).splitlines()[1].startswith("asrl")
    # Deterministic: the same seed gives the same numbers.
    again = run_mlp_example(losses=("mse", "asrl"), contamination=0.3, seeds=(0,))
    assert [r.mae_per_epoch for r in again] == [r.mae_per_epoch for r in results[:2]]


def test_cli_example_mlp(tmp_path):
    pytest.importorskip("sklearn")
    from click.testing import CliRunner

    from asrl.cli import main

    plot = tmp_path / "p.png"
    result = CliRunner().invoke(
        main, ["example", "mlp", "--seeds", "1", "--epochs", "2", "--plot", str(plot)]
    )
    assert result.exit_code == 0, result.output
    assert "test R^2" in result.output
