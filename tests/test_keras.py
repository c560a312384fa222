"""The Keras 3 loss against the numpy core, Keras's semantics, and a real model.

The backend is fixed when Keras is imported: this process uses ``KERAS_BACKEND``
(TensorFlow unless set), and ``test_other_backends`` reruns this file in a
subprocess for JAX and PyTorch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from asrl import ASRL
from asrl.core.rules import THRESHOLD_RULES, ASRLStatistics

from .toy_rule import toy_rule

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras", reason="keras is not installed (pip install 'asrl[keras]')")
BACKEND = os.environ["KERAS_BACKEND"]
pytest.importorskip(
    {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[BACKEND],
    reason=f"Keras's backend {BACKEND} is not installed (CI installs tensorflow-cpu)",
)

from asrl.keras import ASRLLoss, asrl_loss, asrl_statistics  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EPS32 = float(np.finfo(np.float32).eps)


def data(shape, seed=0):
    """Float32 labels and predictions with t(2) residuals, a tenth of them zero."""
    rng = np.random.default_rng(seed)
    y = rng.normal(size=shape).astype(np.float32)
    p = (y + rng.standard_t(2, shape)).astype(np.float32)
    p.reshape(-1)[: p.size // 10] = y.reshape(-1)[: p.size // 10]
    return y, p


def flat(statistics):
    return tuple(float(s) for s in (*statistics.deltas, *(statistics.scales or ())))


def gradient(function, x):
    """The value and gradient of the scalar ``function(x)`` in this backend."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        variable = tf.Variable(x)
        with tf.GradientTape() as tape:
            value = function(variable)
        return np.asarray(value), np.asarray(tape.gradient(value, variable))
    if BACKEND == "jax":
        import jax

        value, grad = jax.value_and_grad(function)(x)
        return np.asarray(value), np.asarray(grad)
    import torch

    variable = torch.tensor(x, requires_grad=True)
    value = function(variable)
    value.backward()
    return value.detach().numpy(), variable.grad.numpy()


@pytest.mark.parametrize("thresholds", ["quantile", "scale"])
@pytest.mark.parametrize("weights", ["continuous", "stats"])
@pytest.mark.parametrize(("shape", "sample"), [((1,), None), ((257, 3), None), ((700, 2), 300)])
def test_loss_gradient_and_statistics_equal_the_numpy_core(thresholds, weights, shape, sample):
    y, p = data(shape, seed=len(shape))
    params = {"thresholds": thresholds, "weights": weights, "threshold_sample": sample}
    ref = ASRL(**params)
    want = flat(ref.statistics(y, p))
    got = flat(asrl_statistics(y, p, **params))
    if thresholds == "scale" and BACKEND == "jax":  # no x64: c * sigma rounded in float32
        assert got[:2] == pytest.approx(want[:2], rel=EPS32)
    else:
        assert got[:2] == want[:2]
    if weights == "stats":
        assert got[3:] == want[3:]
        assert got[2] == pytest.approx(want[2], rel=4 * EPS32)  # the mean's summation order
    loss_fn = ASRLLoss(reduction="sum", **params)
    value, grad = gradient(lambda q: loss_fn(y, q), p)
    per_sample = ref.loss(y, p).reshape(shape).mean(axis=-1)
    assert value == pytest.approx(per_sample.sum(), rel=16 * EPS32)
    # d/dp of sum over samples of mean over the last axis: psi / (last axis length).
    want_grad = ref.gradient(y, p).reshape(shape) / shape[-1]
    np.testing.assert_allclose(grad, want_grad, rtol=4 * EPS32, atol=0)


def test_the_gradient_at_a_threshold_is_psi_there():
    # |u| equals both thresholds of some elements (q_low's median is one of them):
    # autodiff through min/max would double TensorFlow's gradient there.
    u = np.array([[-3.0], [-1.0], [0.0], [1.0], [2.0], [3.0], [9.0]], dtype=np.float32)
    loss_fn = ASRLLoss(q_low=0.5, q_high=0.75, reduction="sum")
    d1, d2 = flat(loss_fn.statistics(np.zeros_like(u), u))
    assert (d1, d2) == (2.0, 3.0)
    _, grad = gradient(lambda q: loss_fn(np.zeros_like(u), q), u)
    want = ASRL(q_low=0.5, q_high=0.75).gradient(np.zeros(7), u.ravel())
    np.testing.assert_array_equal(grad.ravel(), want.astype(np.float32))
    by_hand = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 2.0, 2.0 * (3 / 9)], dtype=np.float32)
    np.testing.assert_array_equal(grad.ravel(), by_hand)  # d1 at |u| = d1 and at |u| = d2


def test_the_loss_is_exactly_the_square_inside_the_quadratic_region():
    y, p = data((1001, 1), seed=3)
    rho = np.asarray(ASRLLoss(reduction=None)(y, p))
    d1, _ = flat(asrl_statistics(y, p))
    u = (p - y).ravel()
    small = np.abs(u) <= d1
    np.testing.assert_array_equal(rho[small], (np.float32(0.5) * u[small]) * u[small])
    assert (rho >= 0).all()


REDUCTIONS = ["sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", None, "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_reduction_and_sample_weight_are_keras_semantics(reduction, weighted):
    y, p = data((64, 3), seed=5)
    w = np.random.default_rng(5).uniform(0, 2, size=64).astype(np.float32) if weighted else None
    got = np.asarray(ASRLLoss(reduction=reduction)(y, p, sample_weight=w))
    per_sample = ASRL().loss(y, p).mean(axis=-1)  # thresholds over all 192 elements
    weighted_values = per_sample * (1.0 if w is None else w)
    want = {
        "sum": weighted_values.sum(),
        "mean_with_sample_weight": weighted_values.sum() / (64 if w is None else w.sum()),
        None: weighted_values,
        "none": weighted_values,
    }.get(reduction, weighted_values.sum() / 64)
    np.testing.assert_allclose(got, want, rtol=8 * EPS32)
    # keras.losses.Huber reduces its per-sample values the same way (same shapes).
    huber = keras.losses.Huber(reduction=reduction)(y, p, sample_weight=w)
    assert got.shape == tuple(huber.shape)
    huber_per_sample = np.asarray(keras.losses.huber(y, p))
    huber_want = huber_per_sample * (1.0 if w is None else w)
    if reduction in ("sum_over_batch_size", "mean"):
        np.testing.assert_allclose(np.asarray(huber), huber_want.sum() / 64, rtol=8 * EPS32)


def test_fixed_statistics_make_it_huber_inside_d2():
    # With delta1 = delta and every |u| <= delta2, ASRL is keras.losses.huber exactly.
    rng = np.random.default_rng(9)
    y = rng.normal(size=(64, 3)).astype(np.float32)
    p = (y + rng.uniform(-1.9, 1.9, size=(64, 3))).astype(np.float32)
    mine = asrl_loss(y, p, statistics=ASRLStatistics((0.5, 2.0)))
    np.testing.assert_allclose(np.asarray(mine), keras.losses.huber(y, p, delta=0.5), rtol=1e-6)


def test_labels_of_one_rank_less_follow_keras():
    y, p = data((50, 1), seed=6)
    a = np.asarray(ASRLLoss(reduction=None)(y.ravel(), p))
    b = np.asarray(ASRLLoss(reduction=None)(y, p))
    assert a.shape == b.shape == (50,)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="same shape"):
        ASRLLoss()(np.zeros((5, 2)), np.zeros((5, 3)))


def test_a_rule_registered_by_the_user_works_unchanged(monkeypatch):
    monkeypatch.setitem(THRESHOLD_RULES, "toy", toy_rule)
    y, p = data((301, 1), seed=7)
    got = flat(asrl_statistics(y, p, thresholds="toy"))
    a = np.abs(p - y).ravel()
    assert got == (np.quantile(a, 0.3), np.quantile(a, 0.8))
    _, grad = gradient(lambda q: ASRLLoss(thresholds="toy", reduction="sum")(y, q), p)
    want = ASRL(thresholds="toy").gradient(y.ravel(), p.ravel())
    np.testing.assert_allclose(grad.ravel(), want, rtol=4 * EPS32, atol=0)


def test_one_line_errors():
    with pytest.raises(TypeError, match="hessian is for Newton learners"):
        ASRLLoss(hessian="exact")
    with pytest.raises(TypeError, match="min_hessian is for Newton learners"):
        asrl_loss(np.zeros(3), np.ones(3), min_hessian=0.1)
    with pytest.raises(ValueError, match="q_low must be < q_high"):
        ASRLLoss(q_low=0.9, q_high=0.5)
    with pytest.raises(TypeError, match="unexpected parameter"):
        ASRLLoss(delta=1.0)
    with pytest.raises(ValueError, match="needs scales"):
        asrl_loss(np.zeros(3), np.ones(3), weights="stats", statistics=ASRLStatistics((1, 2)))
    with pytest.raises(ValueError, match="empty"):
        asrl_loss(np.zeros((0, 1)), np.zeros((0, 1)))


def test_non_finite_residuals_follow_huber():
    # Thresholds from the finite residuals; a sample's loss is NaN only if one of its
    # residuals is NaN (as keras.losses.Huber's), and the gradient there is 0.
    y, p = data((300, 2), seed=11)
    y[::7, 1] = np.nan
    p[1, 0], p[2, 0] = np.inf, -np.inf
    u = p - y
    finite = np.isfinite(u)
    got = flat(asrl_statistics(y, p))
    want = ASRL().statistics(y[finite], p[finite])
    # Ranks counted on the device: in float64, or float32 on JAX without x64, where the
    # interpolation weight is off by up to count * 6e-8.
    assert got == pytest.approx(want.deltas, rel=1e-5 if BACKEND == "jax" else EPS32)
    per_sample = np.asarray(ASRLLoss(reduction=None)(y, p))
    huber = np.asarray(keras.losses.Huber(reduction=None)(y, p))
    np.testing.assert_array_equal(np.isnan(per_sample), np.isnan(huber))
    np.testing.assert_array_equal(np.isnan(per_sample), np.isnan(u).any(axis=1))
    clean = np.isfinite(u).all(axis=1)
    rho = ASRL().loss(y[finite], p[finite], statistics=want)
    full = np.full(u.shape, np.nan, dtype=np.float32)
    full[finite] = rho
    np.testing.assert_allclose(per_sample[clean], full[clean].mean(axis=1), rtol=8 * EPS32)
    keep = clean.astype(np.float32)
    loss_fn = ASRLLoss(reduction=None)

    def masked(q):
        values = loss_fn(y, q)
        return keras.ops.sum(keras.ops.where(keep > 0, values, 0.0))

    _, grad = gradient(masked, p)
    assert np.isfinite(grad).all()
    assert (grad[~clean] == 0).all()


# TensorFlow 2.21's variables and numpy 2's copy keyword, inside Keras's model.save.
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning")
def test_a_model_learns_and_the_saved_model_keeps_the_parameters(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 3)).astype(np.float32)
    y = (x @ np.array([2.0, -1.0, 0.5], dtype=np.float32) + 1.0).astype(np.float32)
    y_noisy = y.copy()
    y_noisy[:50] += 30.0  # 10 % gross outliers
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    params = {"q_low": 0.4, "q_high": 0.8, "thresholds": "scale", "c1": 1.0, "c2": 2.5}
    params.update(threshold_sample=1000)
    loss_fn = ASRLLoss(reduction="sum", name="robust", **params)
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss=loss_fn)
    history = model.fit(x, y_noisy, batch_size=64, epochs=15, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.2 * losses[0]
    error = np.abs(np.asarray(model.predict(x, verbose=0)).ravel() - y)
    assert np.median(error) < 0.1  # the clean line, despite the outliers

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path).loss
    assert isinstance(loaded, ASRLLoss)
    assert loaded.get_config() == loss_fn.get_config()
    assert loaded.params == loss_fn.params
    assert (loaded.name, loaded.reduction) == ("robust", "sum")


@pytest.mark.skipif(BACKEND != "tensorflow", reason="the other backends run from TensorFlow's run")
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends(backend):
    pytest.importorskip(backend, reason=f"{backend} is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
