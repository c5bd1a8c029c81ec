"""spectral_stats (WeightWatcher metrics) against a one-network-at-a-time NumPy transcription of
weightwatcher 0.7.7's analyze() defaults (combined_eigenvalues, WWFit, apply_norm_metrics)."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pandas as pd
import pytest
import torch

from engine.analysis import spectral_stats as ss
from engine.analysis.spectral_stats import METRICS, spectral_stats
from engine.errors import EngineError


# ---------------------------------------------------------------- reference (loop based, NumPy)

def ref_alpha(data: np.ndarray) -> float:
    """WWFit(data).alpha (weightwatcher 0.7.7, WW_powerlaw.py), transcribed; NaN where it raises."""
    data = np.sort(np.asarray(data, dtype=np.float64))
    k = len(data)
    if k < 2:
        return math.nan                 # argmin of an empty Ds raises: WeightWatcher reports alpha = -1
    log_data = np.log(data)
    alphas = np.zeros(k - 1)
    ds = np.ones(k - 1)

    def ks(i, alpha):
        n = k - i
        return np.max(np.abs(1 - (data[i:] / data[i]) ** (1 - alpha) - np.arange(n) / n))

    if k >= 20:                         # fit_power_law_standard
        for i in range(k - 1):
            n = float(k - i)
            alphas[i] = 1 + n / (np.sum(log_data[i:]) - n * log_data[i])
            if alphas[i] > 1:
                ds[i] = ks(i, alphas[i])
    else:                               # fit_powerlaw_smallN (k_min = 8); its J objective is overridden
        found = False
        for i in range(k - 1):
            n = float(k - i)
            if n < 8:
                continue
            s = np.sum(log_data[i:]) - n * log_data[i]
            if s <= 1e-12:
                continue
            alphas[i] = 1 + (n - 1) / s
            if alphas[i] <= 1:
                continue
            ds[i] = ks(i, alphas[i])
            found = True
        if not found:
            s = np.sum(log_data) - k * log_data[0]
            if s > 1e-12:
                alphas[0] = 1 + (k - 1) / s
                ds[0] = ks(0, alphas[0])
    return alphas[np.argmin(ds)]        # WWFit.__init__: first minimum of the KS distances


def ref_layer(w: np.ndarray) -> list[float]:
    w = np.asarray(w, dtype=np.float64)
    big, m = max(w.shape), min(w.shape)
    if m < 8 or m > 15000 or big > 50000 or not np.isfinite(w).all():
        return [math.nan] * 5
    evals = np.sort(np.linalg.svd(w, compute_uv=False) ** 2)
    norm, lam_max = np.sum(evals), np.max(evals)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = ref_alpha(evals[evals > 1e-5])
        lsn = np.log10(lam_max)
        return [alpha, alpha * lsn, lsn, norm / lam_max, np.log10(norm)]


def ref_frame(weights: list[torch.Tensor]) -> pd.DataFrame:
    rows = []
    for b in range(weights[0].shape[0]):
        row = {}
        for l, w in enumerate(weights, start=1):
            for name, v in zip(METRICS, ref_layer(w[b].double().numpy())):
                row[f"ww_l{l}_{name}"] = v
        rows.append(row)
    return pd.DataFrame(rows)


def assert_matches(got: pd.DataFrame, want: pd.DataFrame, rtol=1e-9):
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=rtol, atol=1e-12, equal_nan=True)


# ---------------------------------------------------------------- fixtures

def _low_rank(g, b, fan_in, fan_out, rank):
    a = torch.randn(b, fan_in, rank, generator=g, dtype=torch.float64)
    c = torch.randn(b, rank, fan_out, generator=g, dtype=torch.float64)
    return a @ c / math.sqrt(rank)


def _mixed_stack(g, b, fan_in, fan_out):
    """Gaussian, heavy-tailed (Student t, 2 dof), rank-deficient and scaled networks in one stack."""
    parts = [
        torch.randn(b, fan_in, fan_out, generator=g, dtype=torch.float64) * 0.1,
        torch.distributions.StudentT(2.0).sample((b, fan_in, fan_out)).double() * 0.05,
        _low_rank(g, b, fan_in, fan_out, max(1, min(fan_in, fan_out) * 2 // 3)),   # K >= 20 or small-N
        _low_rank(g, b, fan_in, fan_out, 19),                                     # small-N, K = cutoff - 1
        _low_rank(g, b, fan_in, fan_out, 12),                                     # small-N with candidates
        _low_rank(g, b, fan_in, fan_out, 5),                                      # small-N fallback
        _low_rank(g, b, fan_in, fan_out, 1),                                      # K = 1: alpha = 1
    ]
    return torch.cat(parts)


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_reference_small_stacks(dtype):
    g = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    weights = [_mixed_stack(g, 2, 40, 30).to(dtype),    # M = 30: standard fit or small-N (low rank)
               _mixed_stack(g, 2, 12, 25).to(dtype),    # M = 12, fan_in < fan_out: small-N fit
               _mixed_stack(g, 2, 9, 7).to(dtype),      # M = 7 < min_evals = 8: skipped, all NaN
               _mixed_stack(g, 2, 8, 20).to(dtype)]     # M = 8: analysed
    got = spectral_stats(weights)
    want = ref_frame(weights)
    assert_matches(got, want)
    assert got.filter(like="ww_l3_").isna().all().all()
    assert got.filter(like="ww_l4_").iloc[:-2].notna().all().all()
    # rank-1 networks (last two rows): one fitted eigenvalue, the fit fails; the norms are defined
    assert got["ww_l1_alpha"].iloc[-2:].isna().all() and got["ww_l1_alpha_weighted"].iloc[-2:].isna().all()
    assert got.filter(like="ww_l1_").iloc[:-2].notna().all().all()
    assert got.filter(regex="ww_l1_(log|stable)").notna().all().all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_reference_paper_size(dtype):
    g = torch.Generator().manual_seed(2)
    torch.manual_seed(2)
    weights = [torch.randn(2, 784, 200, generator=g, dtype=dtype) * 0.05,
               torch.distributions.StudentT(3.0).sample((2, 200, 100)).to(dtype) * 0.1,
               torch.randn(2, 100, 10, generator=g, dtype=dtype) * 0.3]
    got = spectral_stats(weights)
    assert_matches(got, ref_frame(weights))
    assert got.notna().all().all()       # 10 eigenvalues >= min_evals = 8: l3 is analysed (small-N fit)


def test_columns_shape_and_row_order():
    g = torch.Generator().manual_seed(3)
    weights = [torch.randn(7, 30, 20, generator=g), torch.randn(7, 20, 10, generator=g)]
    got = spectral_stats(weights)
    assert got.shape == (7, 10)
    assert list(got.columns) == [f"ww_l{l}_{m}" for l in (1, 2) for m in
                                 ("alpha", "alpha_weighted", "log_spectral_norm", "stable_rank", "log_norm")]
    perm = torch.tensor([3, 0, 6, 1, 5, 2, 4])
    permuted = spectral_stats([w[perm] for w in weights])
    pd.testing.assert_frame_equal(permuted, got.iloc[perm.numpy()].reset_index(drop=True))


def test_chunking_does_not_change_results(monkeypatch):
    g = torch.Generator().manual_seed(4)
    torch.manual_seed(4)
    first = _mixed_stack(g, 3, 40, 30)
    weights = [first, torch.randn(first.shape[0], 30, 10, generator=g)]
    full = spectral_stats(weights)
    monkeypatch.setattr(ss, "_GRAM_CHUNK_ELEMENTS", 40 * 30 * 4)
    monkeypatch.setattr(ss, "_FIT_CHUNK_ELEMENTS", 30 * 30 * 5)
    pd.testing.assert_frame_equal(spectral_stats(weights), full)


def test_known_spectrum_and_norms():
    """Diagonal kernels have the eigenvalues we choose: Pareto samples give alpha near the exponent."""
    rng = np.random.default_rng(5)
    true_alpha = 2.5
    x = (1 - rng.random((3, 400))) ** (-1 / (true_alpha - 1))     # density ~ x^-2.5 on [1, inf)
    w = torch.diag_embed(torch.from_numpy(np.sqrt(x)))
    got = spectral_stats([w])
    assert np.all(np.abs(got["ww_l1_alpha"] - true_alpha) < 0.35)
    np.testing.assert_allclose(got["ww_l1_log_norm"], np.log10(x.sum(1)), rtol=1e-12)
    np.testing.assert_allclose(got["ww_l1_log_spectral_norm"], np.log10(x.max(1)), rtol=1e-12)
    np.testing.assert_allclose(got["ww_l1_stable_rank"], x.sum(1) / x.max(1), rtol=1e-12)
    np.testing.assert_allclose(got["ww_l1_alpha_weighted"], got["ww_l1_alpha"] * np.log10(x.max(1)), rtol=1e-12)


def test_tiny_eigenvalues_are_left_out_of_the_fit():
    """Eigenvalues <= 1e-5 do not enter the power-law fit but do count in the norms."""
    rng = np.random.default_rng(6)
    x = np.sort(1 + rng.pareto(1.5, 18))              # 18 fitted eigenvalues: small-N fit
    with_tiny = np.concatenate([[1e-7, 5e-6, 9e-6], x])
    w = torch.diag_embed(torch.from_numpy(np.sqrt(with_tiny))[None])
    got = spectral_stats([w])
    assert got["ww_l1_alpha"].iloc[0] == pytest.approx(ref_alpha(x), rel=1e-12)
    assert ref_alpha(x) != pytest.approx(ref_alpha(with_tiny[1:]), rel=1e-3)   # 20 would be a standard fit
    assert got["ww_l1_log_norm"].iloc[0] == pytest.approx(np.log10(with_tiny.sum()), rel=1e-12)


def test_nan_cases():
    g = torch.Generator().manual_seed(7)
    w = torch.randn(3, 30, 20, generator=g)
    w[1, 4, 5] = float("nan")            # diverged network: all metrics NaN for that layer
    w[2] = 0                             # no eigenvalue > 1e-5: fit fails
    with np.errstate(divide="ignore", invalid="ignore"):
        got = spectral_stats([w])
    assert got.iloc[0].notna().all()
    assert got.iloc[1].isna().all()
    assert np.isnan(got["ww_l1_alpha"].iloc[2]) and np.isnan(got["ww_l1_alpha_weighted"].iloc[2])
    assert got["ww_l1_log_norm"].iloc[2] == -np.inf and got["ww_l1_log_spectral_norm"].iloc[2] == -np.inf


def test_equal_eigenvalues_small_layer_give_alpha_zero():
    """A scaled orthogonal 30x10 kernel: 10 equal eigenvalues, no usable tail, WWFit keeps alphas[0] = 0."""
    w = (2 * torch.eye(30, 10, dtype=torch.float64))[None]
    got = spectral_stats([w])
    assert got["ww_l1_alpha"].iloc[0] == 0.0
    assert got["ww_l1_stable_rank"].iloc[0] == pytest.approx(10.0, rel=1e-12)
    assert got["ww_l1_log_norm"].iloc[0] == pytest.approx(math.log10(40.0), rel=1e-12)


def test_empty_population():
    got = spectral_stats([torch.zeros(0, 30, 20)])
    assert got.shape == (0, 5)


@pytest.mark.parametrize("weights, match", [
    ([], "non-empty list"),
    ([torch.zeros(3, 4)], r"weights\[0\] has shape \(3, 4\)"),
    ([torch.zeros(3, 10, 10), torch.zeros(2, 10, 10)], r"weights\[1\] has 2 networks"),
    ([torch.zeros(3, 10, 10, dtype=torch.int64)], "dtype torch.int64: floating-point weights"),
    ([torch.zeros(3, 10, 10), "layer"], r"weights\[1\] is a str"),
    (torch.zeros(3, 10, 10), "list"),
])
def test_bad_input(weights, match):
    with pytest.raises(EngineError, match=match):
        spectral_stats(weights)


def test_reference_fit_matches_weightwatcher_if_installed():
    """The transcription above against weightwatcher's own WWFit (skipped where it is not installed)."""
    ww_powerlaw = pytest.importorskip("weightwatcher.WW_powerlaw")
    rng = np.random.default_rng(8)
    for k in (2, 5, 8, 9, 12, 19, 20, 21, 60):
        for _ in range(5):
            data = 1 + rng.pareto(rng.uniform(0.5, 3), k) * rng.uniform(0.1, 10)
            with contextlib.redirect_stdout(io.StringIO()):
                want = ww_powerlaw.WWFit(data).alpha
            assert ref_alpha(data) == pytest.approx(want, rel=1e-12)
            got = spectral_stats([torch.diag_embed(torch.from_numpy(np.sqrt(np.pad(data, (0, 8))))[None])])
            assert got["ww_l1_alpha"].iloc[0] == pytest.approx(want, rel=1e-9)
