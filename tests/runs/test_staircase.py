"""rankcore.staircase: step detection and alignment on synthetic and real runs."""

import math

import numpy as np
import pytest

import rankcore
from rankcore.runs import SnapshotWriter
from rankcore.runs.staircase import staircase


def _synthetic(rise_at=(2000, 5000, 7000), lag=0, spikes=True, blips=True, seed=0,
               extra_drop_at=None):
    """Rank +2 at each rise; the loss falls one decade over 100 steps, `lag` later."""
    rng = np.random.default_rng(seed)
    steps = np.arange(0, 10000, 50)
    rank = 3 + 2 * sum((steps >= r) for r in rise_at)
    logl = -0.5 - 1e-5 * steps  # slow drift on plateaus
    for r in rise_at:
        logl = logl - np.clip((steps - (r + lag)) / 100.0, 0, 1)
    if extra_drop_at is not None:
        logl = logl - np.clip((steps - extra_drop_at) / 100.0, 0, 1)
    logl = logl + 0.01 * rng.standard_normal(steps.size)
    loss = 10.0 ** logl
    if spikes:  # Adam-like upward spikes, up to 30x
        idx = rng.choice(steps.size, 12, replace=False)
        loss[idx] *= 10 ** rng.uniform(0.5, 1.5, idx.size)
    if blips:  # an eigenvalue hovering at eps: one-sample flickers of the rank
        for i in rng.choice(np.flatnonzero(np.diff(rank) == 0), 6, replace=False):
            rank[i] += 1
    return steps, loss, rank


def test_known_steps_aligned():
    steps, loss, rank = _synthetic()
    s = staircase((steps, loss, rank), 1e-3)
    rises = s.rank_rises
    assert [r.start for r in rises] == [1950, 4950, 6950]
    assert [r.end for r in rises] == [2000, 5000, 7000]
    assert [(r.before, r.after) for r in rises] == [(3, 5), (5, 7), (7, 9)]
    assert len(s.rank_steps) == 3  # the blips were filtered, not reported as steps
    assert len(s.loss_steps) == 3
    for ls, r in zip(s.loss_steps, rise_at := (2000, 5000, 7000)):
        assert r - 100 <= ls.start <= r + 50 and r + 50 <= ls.end <= r + 150
        assert 0.7 < math.log10(ls.before / ls.after) < 1.3
    assert [p.lag for p in s.pairs] == [ls.start - r.start for ls, r in zip(s.loss_steps, rises)]
    assert all(abs(p.lag) <= 100 for p in s.pairs)
    st = s.stats
    assert st["n_pairs"] == 3 and st["matched_loss_fraction"] == 1.0
    # the rank jumps within one 50-step interval and the loss falls over the
    # two after it: the same-interval correlation is small, the lagged one high
    assert st["correlation"] < 0.3
    assert st["lagged_correlation"] > 0.6 and st["correlation_lag"] in (50, 100)
    # the rises cover ~1.5% of the time; the decrease inside them is most of
    # the total (3 decades of 3.1, minus what falls just outside with no tolerance)
    assert st["time_fraction_in_rises"] < 0.02
    assert 3.0 < st["loss_decades"] < 3.3
    wide = staircase((steps, loss, rank), 1e-3, tolerance=150)
    assert wide.stats["loss_fraction_in_rises"] > 0.85
    assert wide.stats["loss_fraction_in_rises"] >= st["loss_fraction_in_rises"]


def test_lagged_and_unmatched_steps():
    steps, loss, rank = _synthetic(lag=400, extra_drop_at=9000, spikes=False, blips=False)
    s = staircase((steps, loss, rank), 1e-3, max_lag=600)
    assert len(s.loss_steps) == 4 and s.stats["n_pairs"] == 3
    assert all(350 <= p.lag <= 450 for p in s.pairs)
    assert 3 not in {p.loss_step for p in s.pairs}  # the late drop with a flat rank
    assert s.stats["matched_loss_fraction"] == pytest.approx(0.75, abs=0.05)
    # without tolerance the lagged drops fall outside the rises
    assert s.stats["loss_fraction_in_rises"] < 0.1
    tight = staircase((steps, loss, rank), 1e-3, max_lag=100)
    assert tight.stats["n_pairs"] == 0 and math.isnan(tight.stats["median_lag"])


def test_spikes_do_not_create_steps():
    steps = np.arange(0, 5000, 25)
    loss = np.full(steps.size, 0.1) * (1 - 1e-5 * steps)
    loss[[30, 31, 90, 150]] *= 100.0  # spikes up and back
    rank = np.full(steps.size, 7)
    s = staircase((steps, loss, rank), 1e-6)
    assert s.loss_steps == () and s.rank_steps == () and s.pairs == ()
    assert math.isnan(s.stats["correlation"])  # the rank never changes
    np.testing.assert_allclose(s.running_min, np.minimum.accumulate(loss))


def test_run_and_arrays_agree(tmp_path):
    steps, loss, rank = _synthetic(seed=3)
    n = 12
    q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 8)
    # spectra whose eps-rank at 1e-3 is `rank`: rank eigenvalues 1, the rest 1e-6
    spectra = np.where(np.arange(n)[None, :] < rank[:, None], 1.0, 1e-6)
    path = tmp_path / "syn.h5"
    with SnapshotWriter(path, q, {"h": n}, store_gram=False) as w:
        for t in range(steps.size):
            w.append(int(steps[t]), loss=float(loss[t]), spectra={"h": spectra[t]})
        # a last snapshot without loss is dropped
        w.append(int(steps[-1]) + 50, spectra={"h": spectra[-1]})
    with rankcore.open_run(path) as run:
        a = staircase(run, 1e-3, layer="h")
    b = staircase((steps, loss, spectra), 1e-3)
    c = staircase((steps, loss, rank), 1e-3)
    assert a.rank_steps == b.rank_steps == c.rank_steps
    assert a.loss_steps == b.loss_steps == c.loss_steps and a.pairs == c.pairs
    assert a.stats["n_dropped"] == 1 and b.stats["n_dropped"] == 0  # the loss-less snapshot
    assert {**a.stats, "n_dropped": 0} == b.stats
    assert a.layer == "h" and f"{len(a.rank_rises)} rank rises" in repr(a)
    rows = a.table()
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)
    assert {r[0] for r in rows} == {"rank", "loss"}


def test_real_recorded_run(tmp_path):
    torch = pytest.importorskip("torch")
    import bridge

    torch.manual_seed(0)
    model = bridge.MLP(1, 1, width=30, depth=3).double()
    x = torch.linspace(-1, 1, 200, dtype=torch.float64)[:, None]
    y = sum(torch.sin(k * np.pi * x) for k in (1, 2, 4, 8)) / 2
    q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 96)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    path = tmp_path / "real.h5"
    with bridge.SnapshotRecorder(path, model, q, every=10) as rec:
        for step in range(801):
            loss = ((model(x) - y) ** 2).mean()
            rec.record(step, loss=loss)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with rankcore.open_run(path) as run:
        r = run.eps_rank(1e-3)
        s = staircase(run, 1e-3)
        logm = np.minimum.accumulate(np.log10(run.loss))
    # what was trained: the loss fell and the rank changed
    assert logm[-1] < logm[0] - 0.3 and r.max() > r.min()
    # self-consistency of the result on a real run
    assert s.stats["n_loss_steps"] >= 1 and s.stats["n_rank_rises"] >= 1
    for st in s.loss_steps:
        assert st.before > st.after and math.log10(st.before / st.after) >= 0.1
    for st in s.rank_steps:
        i, j = np.searchsorted(s.steps, [st.start, st.end])
        assert (s.rank[i], s.rank[j]) == (st.before, st.after)
    drops = sum(math.log10(st.before / st.after) for st in s.loss_steps)
    assert drops <= s.stats["loss_decades"] + 1e-12
    assert s.stats["loss_decades"] == pytest.approx(logm[0] - logm[-1])
    assert 0 <= s.stats["loss_fraction_in_rises"] <= 1
    assert 0 <= s.stats["time_fraction_in_rises"] <= 1
    assert -1 <= s.stats["correlation"] <= 1
    for p in s.pairs:
        assert s.rank_steps[p.rank_step].after > s.rank_steps[p.rank_step].before
        assert p.lag == s.loss_steps[p.loss_step].start - s.rank_steps[p.rank_step].start


@pytest.mark.parametrize("kwargs, err, msg", [
    (dict(eps=[1e-3, 1e-4]), TypeError, "eps must be one positive number"),
    (dict(eps=-1.0), ValueError, "eps must be a finite number > 0"),
    (dict(smooth=2), ValueError, "smooth must be odd"),
    (dict(min_drop=-0.1), ValueError, "min_drop must be a finite number >= 0"),
    (dict(relative=1), TypeError, "relative must be"),
])
def test_bad_arguments(kwargs, err, msg):
    steps, loss, rank = _synthetic()
    args = dict(eps=1e-3)
    args.update(kwargs)
    eps = args.pop("eps")
    with pytest.raises(err, match=msg):
        staircase((steps, loss, rank), eps, **args)


def test_numpy_scalar_eps_and_multi_layer_run(tmp_path):
    steps, loss, rank = _synthetic()
    ref = staircase((steps, loss, rank), 1e-3).stats
    assert staircase((steps, loss, rank), np.float64(1e-3)).stats == ref
    assert staircase((steps, loss, rank), np.int64(1)).eps == 1.0
    q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 8)
    path = tmp_path / "two.h5"
    with SnapshotWriter(path, q, {"a": 2, "b": 2}, store_gram=False) as w:
        for t in range(5):
            w.append(10 * t, loss=10.0 ** -t, spectra={"a": [1, 10.0 ** -t], "b": [1, 0.5]})
    with rankcore.open_run(path) as run:
        with pytest.raises(ValueError, match=r"layer.*\['a', 'b'\]"):
            staircase(run, 1e-3)
        assert staircase(run, 1e-3, layer="a").rank_steps[0].before == 2


def test_bad_inputs():
    s = np.arange(5)
    with pytest.raises(ValueError, match="at least 3 snapshots"):
        staircase((s, np.array([1.0, np.nan, 0.0, -1, 1]), s), 1e-3)
    with pytest.raises(ValueError, match=r"steps must be strictly increasing, but steps\[2\]"):
        staircase((np.array([0, 5, 5, 9, 12]), np.ones(5), s), 1e-3)
    with pytest.raises(ValueError, match="one entry per snapshot"):
        staircase((s, np.ones(4), s), 1e-3)
    with pytest.raises(TypeError, match="run must be a rankcore.Run or a tuple"):
        staircase([1, 2], 1e-3)
    with pytest.raises(TypeError, match="run\\[2\\] must be spectra"):
        staircase((s, np.ones(5), np.ones(5)), 1e-3)


def test_dropped_samples_are_counted():
    steps, loss, rank = _synthetic(spikes=False, blips=False)
    loss = loss.copy()
    loss[[10, 11, 50]] = [np.nan, np.inf, 0.0]
    s = staircase((steps, loss, rank), 1e-3)
    assert s.stats["n_dropped"] == 3 and s.steps.size == steps.size - 3
    clean = _synthetic(spikes=False, blips=False)
    assert staircase(clean, 1e-3).stats["n_dropped"] == 0
