"""Classic networks written as model files, against plain Brian2 scripts of the same networks (issue 12, part 4).

Each test runs a model file of ``models/`` through neuromem and the same
network written directly in Brian2 from the published parameters (typed here,
not read from the model file), and compares population statistics after a
100 ms transient: mean excitatory and inhibitory rates within 10 %, mean CV of
the interspike intervals within 0.05, and no synchronous start-up volley: the
fraction of cells that spike in the first 3 ms is at most 5 % or three times
what the steady rate gives in 3 ms (started at rest, half the CUBA network
fires in the first 3 ms).  The plain script uses the connectivity and the
initial state of the neuromem run (both drawn from the seed), so the comparison
tests the dynamics, not one random realisation against another (rates of two
realisations of the CUBA network differ by up to ~10 % on their own); the
connectivity is checked against its probability separately.

Measured (seed 0; neuromem and the plain script agree to the last digit for
CUBA and COBA): CUBA E 5.72 Hz, CV 0.50, 2.5 % of E cells spike in the first
3 ms (I 5.62 Hz, 0.49, 2.1 %); COBA E 19.4 Hz, CV 1.53, 11.1 % in 3 ms, which
is 1.9 x what 19.4 Hz gives (I 19.7 Hz, 1.53, 9.3 %); Vogels et al. 2011, last
second of the example's 10 s, E 8.26 / 8.56 Hz (neuromem / plain), CV 0.760 /
0.763, I 8.57 / 8.71 Hz, CV 0.716 / 0.740.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import neuromem

ROOT = Path(__file__).resolve().parent.parent
T0 = 0.1          # transient left out of the statistics (s)
RHO0 = 3.0        # Vogels et al. 2011: target rate of the excitatory cells (Hz)


def _stats(i, t, n, duration):
    """Mean rate (Hz) after T0, mean CV of ISIs (cells with >= 3 spikes), fraction of cells spiking in 3 ms."""
    i, t = np.asarray(i), np.asarray(t)
    late = t >= T0
    rate = late.sum() / (n * (duration - T0))
    order = np.lexsort((t, i))
    i_s, t_s = i[order][late[order]], t[order][late[order]]
    cuts = np.flatnonzero(np.diff(i_s)) + 1
    cvs = [np.std(np.diff(tk)) / np.mean(np.diff(tk)) for tk in np.split(t_s, cuts) if tk.size >= 3]
    early = np.unique(i[t < 3e-3]).size / n
    return float(rate), float(np.mean(cvs)), float(early)


def _neuromem(model_file, seed=0):
    from neuromem.backends.brian2.simulator import Brian2Options, simulate

    model = neuromem.load_model(ROOT / "models" / model_file)
    run = simulate(model, seed, Brian2Options(progress=False))
    ph = run.phases[0]
    return model, run, ph


def _compare(model, ph, plain, duration):
    for pop in ("e", "i"):
        n = model.populations[pop].size
        ours = _stats(ph.spikes[pop].i, ph.spikes[pop].t, n, duration)
        theirs = _stats(*plain[pop], n, duration)
        print(pop, "neuromem", ours, "brian2", theirs)
        assert ours[0] > 1.0 and theirs[0] > 1.0
        assert abs(ours[0] - theirs[0]) <= 0.1 * theirs[0], (pop, ours, theirs)
        assert abs(ours[1] - theirs[1]) <= 0.05, (pop, ours, theirs)
        volley = max(0.05, 3 * 3e-3 * theirs[0])      # 3 x the fraction the steady rate gives in 3 ms
        assert ours[2] <= volley and theirs[2] <= volley, (pop, ours, theirs)


def _indices(run, model):
    """Synapses of the neuromem run as one 4000-cell group (E first, then I), per presynaptic kind."""
    off = {"e": 0, "i": model.populations["e"].size}
    out = {"excitatory": ([], []), "inhibitory": ([], [])}
    for name, pr in model.projections.items():
        if pr.source not in model.populations:      # inputs (the COBA kick) are given separately
            continue
        i, j = run.synapses[name]
        n_src, n_tgt = model.populations[pr.source].size, model.populations[pr.target].size
        assert abs(i.size / (n_src * n_tgt) - pr.connector.p) < 0.1 * pr.connector.p
        out[pr.sign][0].append(i + off[pr.source])
        out[pr.sign][1].append(j + off[pr.target])
    return {k: (np.concatenate(a), np.concatenate(b)) for k, (a, b) in out.items()}


def _split(mon, n_e):
    """Spike trains of a plain script's one group, split into E (first ``n_e`` cells) and I."""
    import brian2 as b2

    i, t = np.asarray(mon.i), np.asarray(mon.t / b2.second)
    e = i < n_e
    return {"e": (i[e], t[e]), "i": (i[~e] - n_e, t[~e])}


def _plain(eqs, ns, method, init, syn, on_pre, duration):
    """Spikes of a plain Brian2 script: one group of 4000 cells (E first), threshold ``Vt``, reset ``Vr``,
    5 ms refractory, initial state ``init`` ({variable: Quantity array}), synapses ``syn`` with code ``on_pre``
    per presynaptic kind; ``dt`` 0.1 ms."""
    import brian2 as b2
    from neuromem.backends.brian2.simulator import Brian2Options, configure

    configure(Brian2Options(progress=False))
    b2.start_scope()
    b2.defaultclock.dt = 0.1 * b2.ms
    P = b2.NeuronGroup(4000, eqs, threshold="v > Vt", reset="v = Vr", refractory=5 * b2.ms, method=method,
                       namespace=ns)
    for var, values in init.items():
        setattr(P, var, values)
    conns = []
    for kind, code in on_pre.items():
        c = b2.Synapses(P, P, on_pre=code, namespace=ns)
        c.connect(i=syn[kind][0], j=syn[kind][1])
        conns.append(c)
    mon = b2.SpikeMonitor(P)
    b2.Network(P, *conns, mon).run(duration * b2.second, namespace=ns)
    return _split(mon, 3200)


@pytest.mark.slow
def test_brette2007_cuba_matches_a_plain_brian2_script():
    """Brian2's examples/CUBA.py (Brette et al. 2007, benchmark 2), one group of 4000 cells."""
    import brian2 as b2

    model, run, ph = _neuromem("brette2007_cuba.toml")
    v0 = np.concatenate([ph.initial_state["e_v"], ph.initial_state["i_v"]])
    ns = dict(taum=20 * b2.ms, taue=5 * b2.ms, taui=10 * b2.ms, Vt=-50 * b2.mV, Vr=-60 * b2.mV, El=-49 * b2.mV,
              we=(60 * 0.27 / 10) * b2.mV, wi=(-20 * 4.5 / 10) * b2.mV)
    eqs = """dv/dt = (ge + gi - (v - El)) / taum : volt (unless refractory)
             dge/dt = -ge / taue : volt
             dgi/dt = -gi / taui : volt"""
    plain = _plain(eqs, ns, "exact", {"v": v0 * b2.volt}, _indices(run, model),
                   {"excitatory": "ge += we", "inhibitory": "gi += wi"}, ph.duration)
    _compare(model, ph, plain, ph.duration)


@pytest.mark.slow
def test_brette2007_coba_matches_a_plain_brian2_script():
    """Brette et al. 2007, benchmark 1 (COBA; Brette's Brian script COBA.py), one group of 4000 cells, from
    random v ~ N(-65 mV, 5 mV), g_e ~ N(40 nS, 15 nS) and g_i ~ N(200 nS, 120 nS)."""
    import brian2 as b2

    model, run, ph = _neuromem("brette2007_coba.toml")
    init = {var: np.concatenate([ph.initial_state[f"e_{var}"], ph.initial_state[f"i_{var}"]])
            for var in ("v", "g_exc", "g_inh")}
    v = init["v"][:3200]
    assert abs(v.mean() + 0.065) < 0.5e-3 and abs(v.std() - 0.005) < 0.5e-3    # the published distribution
    ns = dict(C=200 * b2.pF, gl=10 * b2.nS, El=-60 * b2.mV, Vt=-50 * b2.mV, Vr=-60 * b2.mV, Ee=0 * b2.mV,
              Ei=-80 * b2.mV, taue=5 * b2.ms, taui=10 * b2.ms, we=6 * b2.nS, wi=67 * b2.nS)
    eqs = """dv/dt = (gl * (El - v) + ge * (Ee - v) + gi * (Ei - v)) / C : volt (unless refractory)
             dge/dt = -ge / taue : siemens
             dgi/dt = -gi / taui : siemens"""
    plain = _plain(eqs, ns, "exponential_euler",
                   {"v": init["v"] * b2.volt, "ge": init["g_exc"] * b2.siemens, "gi": init["g_inh"] * b2.siemens},
                   _indices(run, model), {"excitatory": "ge += we", "inhibitory": "gi += wi"}, ph.duration)
    _compare(model, ph, plain, ph.duration)


@pytest.mark.slow
def test_vogels2011_matches_a_plain_brian2_script():
    """Brian2's examples/frompapers/Vogels_et_al_2011.py (one group of 10000 cells, iSTDP on I -> E after 1 s,
    eta = 0.01 nS, 10 s in all), on the model's connectivity and initial potentials: statistics of the last
    second of learning agree, and iSTDP lowers the excitatory rate towards rho0 = 3 Hz.

    At this published learning rate the network is far from converged after the example's 10 s (seed 0,
    neuromem, E per second of learning: 72.7, 18.7, 14.1, 11.9, 11.0, 10.6, 9.5, 9.4, 9.0, 8.3 Hz: the excess
    over rho0 in the last second is 0.075 of the first's, asserted < 0.15, and 2-s means fall strictly, as
    asserted); the plain Brian2 script run for 120 s
    (seed 0, its own connectivity) gives a mean E rate of 17.3, 6.8, 5.2, 4.6 and 4.3 Hz over seconds 1-10,
    11-30, 31-60, 61-90 and 91-120 of learning.  Where it converges to (~3.85 Hz, the rule's fixed point on
    this network, not rho0) is checked at a higher learning rate by
    :func:`test_vogels2011_istdp_brings_the_excitatory_rate_to_its_target`.

    No start-up check here: the published protocol starts with no inhibition onto E (I -> E weights 0,
    iSTDP off for 1 s) and a 200 pA drive that holds every cell above threshold, so the first second
    is a population burst by design (measured: E at ~170 Hz in that second, every E cell spiking in the
    first 3 ms)."""
    import brian2 as b2
    from neuromem.backends.brian2.simulator import Brian2Options, configure, simulate

    model = neuromem.load_model(ROOT / "models" / "vogels2011.toml")
    run = simulate(model, 0, Brian2Options(progress=False))
    settle, learn = run.phases
    syn = _indices(run, model)
    ie = run.synapses["ie"]
    v0 = np.concatenate([settle.initial_state["e_v"], settle.initial_state["i_v"]])
    NE = 8000

    configure(Brian2Options(progress=False))
    b2.start_scope()
    b2.defaultclock.dt = 0.1 * b2.ms
    tau_stdp = 20 * b2.ms
    ns = dict(gl=10 * b2.nS, el=-60 * b2.mV, er=-80 * b2.mV, vt=-50 * b2.mV, memc=200 * b2.pF,
              bgcurrent=200 * b2.pA, tau_ampa=5 * b2.ms, tau_gaba=10 * b2.ms, tau_stdp=tau_stdp,
              alpha=3 * b2.Hz * tau_stdp * 2, gmax=100, eta=0.0)
    eqs = """dv/dt = (-gl * (v - el) - (g_ampa * v + g_gaba * (v - er)) + bgcurrent) / memc : volt (unless refractory)
             dg_ampa/dt = -g_ampa / tau_ampa : siemens
             dg_gaba/dt = -g_gaba / tau_gaba : siemens"""
    P = b2.NeuronGroup(NE + 2000, eqs, threshold="v > vt", reset="v = el", refractory=5 * b2.ms,
                       method="euler", namespace=ns)
    P.v = v0 * b2.volt
    Pe, Pi = P[:NE], P[NE:]
    con_e = b2.Synapses(P, P, on_pre="g_ampa += 0.3 * nS", namespace=ns)
    con_e.connect(i=syn["excitatory"][0], j=syn["excitatory"][1])
    ii = run.synapses["ii"]
    con_ii = b2.Synapses(Pi, Pi, on_pre="g_gaba += 3 * nS", namespace=ns)
    con_ii.connect(i=ii[0], j=ii[1])
    con_ie = b2.Synapses(Pi, Pe, model="""w : 1
                                          dApre/dt = -Apre / tau_stdp : 1 (event-driven)
                                          dApost/dt = -Apost / tau_stdp : 1 (event-driven)""",
                         on_pre="Apre += 1.\nw = clip(w + (Apost - alpha) * eta, 0, gmax)\ng_gaba += w * nS",
                         on_post="Apost += 1.\nw = clip(w + Apre * eta, 0, gmax)", namespace=ns)
    con_ie.connect(i=ie[0], j=ie[1])
    con_ie.w = 1e-10
    mon = b2.SpikeMonitor(P)
    net = b2.Network(P, con_e, con_ii, con_ie, mon)
    net.run(settle.duration * b2.second, namespace=ns)
    ns["eta"] = 1e-2
    net.run(learn.duration * b2.second, namespace=ns)
    plain = _split(mon, NE)
    last = learn.duration - 1.0
    for pop in ("e", "i"):
        n = model.populations[pop].size
        i, t = plain[pop]
        # the last second of learning, shifted so that _stats (which skips its first T0) sees all of it
        shift = settle.duration + last - T0
        theirs = _stats(i[t >= shift], t[t >= shift] - shift, n, 1.0 + T0)
        s = learn.spikes[pop]
        ours = _stats(s.i[s.t >= last - T0], s.t[s.t >= last - T0] - (last - T0), n, 1.0 + T0)
        print(pop, "neuromem", ours, "brian2", theirs)
        assert abs(ours[0] - theirs[0]) <= 0.1 * theirs[0], (pop, ours, theirs)
        assert abs(ours[1] - theirs[1]) <= 0.05, (pop, ours, theirs)
    # iSTDP: inhibition onto E grows and the excitatory rate falls towards rho0 = 3 Hz, not below it
    rates = _rates(learn.spikes["e"], NE, learn.duration, 1.0)
    print("E rate per s of learning (Hz):", np.round(rates, 2))
    excess = rates - RHO0
    assert excess[-1] < 0.15 * excess[0] and rates.min() > RHO0
    assert np.all(np.diff(_rates(learn.spikes["e"], NE, learn.duration, 2.0)) < 0)
    assert learn.weights["ie"].mean() > 1e-9


def _rates(spikes, n, duration, block):
    """Mean rate (Hz) of ``n`` cells in consecutive blocks of ``block`` seconds."""
    k = int(round(duration / block))
    return np.histogram(spikes.t, bins=k, range=(0, k * block))[0] / (n * block)


def _trace_after(cells, times, tau):
    """Spikes sorted by (cell, time) and the trace just after each (sum of exp(-(t_k - t_m) / tau) over the
    cell's spikes m <= k; the 40 previous spikes, >= 200 ms = 10 tau back at a 5 ms refractory period)."""
    order = np.lexsort((times, cells))
    c, s = cells[order], times[order]
    a = np.ones(s.size)
    for m in range(1, 41):
        same = c[m:] == c[:-m]
        a[m:] += np.where(same, np.exp(-np.where(same, s[m:] - s[:-m], 0.0) / tau), 0.0)
    return c, s, a


def _trace_before(tr, cells, times, tau, span):
    """Trace of each of ``cells`` just before ``times`` (its spikes strictly earlier)."""
    c, s, a = tr
    k = np.searchsorted(c * span + s, cells * span + times, side="left") - 1
    ok = (k >= 0) & (c[np.maximum(k, 0)] == cells)
    k = np.maximum(k, 0)
    return np.where(ok, a[k] * np.exp(-np.where(ok, times - s[k], 0.0) / tau), 0.0)


def _rule_rate(pre, post, syn, t0, t1, tau, chunk=20000):
    """The postsynaptic rate as the Vogels rule measures it on synapses ``syn`` = (i, j) over [t0, t1), and
    the same pairings over those of independent trains at each cell's rate.

    A presynaptic spike adds the postsynaptic trace y to w (and subtracts alpha), a postsynaptic spike adds
    the presynaptic trace x, so the mean drift is eta x (pre spikes on synapses) x (P - alpha), with P the
    pairings (y at pre spikes + x at post spikes) per presynaptic spike on a synapse.  For independent
    trains P = 2 tau rho_post; the rule settles where P / (2 tau) = alpha / (2 tau) = rho0.  Returns
    (P / (2 tau), P / P_independent)."""
    (pi, pt), (qi, qt) = pre, post
    n_pre, n_post = int(pi.max()) + 1, int(qi.max()) + 1
    rp = np.bincount(pi[(pt >= t0) & (pt < t1)], minlength=n_pre) / (t1 - t0)
    rq = np.bincount(qi[(qt >= t0) & (qt < t1)], minlength=n_post) / (t1 - t0)
    m = (pt >= t0 - 10 * tau) & (pt < t1)
    pi, pt = pi[m], pt[m]
    m = (qt >= t0 - 10 * tau) & (qt < t1)
    qi, qt = qi[m], qt[m]
    span = 2.0 * t1 + 1.0
    si, sj = syn
    total, events = 0.0, 0
    for cells, times, src, tgt, n, tr in ((pi, pt, si, sj, n_pre, _trace_after(qi, qt, tau)),
                                          (qi, qt, sj, si, n_post, _trace_after(pi, pt, tau))):
        order = np.argsort(src, kind="stable")
        partners = tgt[order]
        ptr = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=n))])
        m = (times >= t0) & (times < t1)
        cells, times = cells[m], times[m]
        for a in range(0, cells.size, chunk):
            c, t = cells[a:a + chunk], times[a:a + chunk]
            cnt = ptr[c + 1] - ptr[c]
            rep = np.repeat(np.arange(c.size), cnt)
            idx = np.repeat(ptr[c] - (np.cumsum(cnt) - cnt), cnt) + np.arange(rep.size)
            total += _trace_before(tr, partners[idx], t[rep], tau, span).sum()
            if src is si:
                events += idx.size
    independent = 2 * tau * (t1 - t0) * (rp[si] * rq[sj]).sum()
    return total / events / (2 * tau), total / independent


@pytest.mark.slow
def test_vogels2011_istdp_brings_the_excitatory_rate_to_its_target():
    """iSTDP brings the excitatory rate to the rule's fixed point, which lies ~25 % above rho0 = 3 Hz on this
    network: the model file with a learning rate 10 x the published one (eta = 0.1 nS), 30 s of learning,
    seed 0.

    The rule settles where the pairings it counts, per presynaptic spike, equal alpha = 2 tau rho0, i.e.
    where the postsynaptic rate *as the rule measures it* (pairings / (2 tau)) is rho0.  That equals the E
    rate only for independent pre/post trains.  Each inhibitory spike delays its target's next spike, so a
    connected pair pairs ~20 % less than independent trains: the rule's measured rate reaches 3 Hz (asserted
    within 10 %) while the E rate settles at rho0 / 0.80 = 3.75-3.85 Hz.  Unconnected I/E pairs pair as
    independent trains (ratio 1.006): network-wide correlations play no part.  Measured with a plain Brian2
    script of the published network (cpp_standalone, seed 0, its own connectivity; models/README.md): E
    3.84 Hz at eta = 0.1 nS, 3.84 Hz on at the published eta = 0.01 nS from there, 3.83 Hz with frozen weights
    (so the fixed point does not move with eta and weight noise does not bias it); rule-measured rate 3.03-3.05
    Hz, pairings 0.80 of independent trains.

    Measured here (seed 0, neuromem, eta 0.1 nS), E rate per 5 s of learning: 7.45, 4.58, 4.23, 4.10, 4.00,
    3.90 Hz; seconds 25-30: rule-measured rate 3.048 Hz, pairings / independent trains 0.798 (1 min 52 s of
    CPU here)."""
    from neuromem.backends.brian2.simulator import Brian2Options, simulate

    model = neuromem.load_model(ROOT / "models" / "vogels2011.toml",
                                overrides=["rules.istdp.eta=0.1 nS", "protocol.phases.learn.duration=30 s"])
    run = simulate(model, 0, Brian2Options(progress=False))
    learn = run.phases[1]
    rates = _rates(learn.spikes["e"], 8000, learn.duration, 5.0)
    print("E rate per 5 s of learning (Hz):", np.round(rates, 2))
    s_i, s_e = learn.spikes["i"], learn.spikes["e"]
    t1 = learn.duration
    rule, ratio = _rule_rate((np.asarray(s_i.i), np.asarray(s_i.t)), (np.asarray(s_e.i), np.asarray(s_e.t)),
                             run.synapses["ie"], t1 - 5.0, t1, model.rules["istdp"].tau)
    print(f"seconds {t1 - 5:g}-{t1:g}: E {rates[-1]:.3f} Hz, as the rule measures it {rule:.3f} Hz, "
          f"pairings / independent trains {ratio:.3f}")
    assert rates[0] > 2 * RHO0 and rates[-1] < rates[1] < rates[0]
    assert abs(rule - RHO0) <= 0.1 * RHO0                 # the rule is at its fixed point
    assert 0.72 <= ratio <= 0.88                           # E-I pairings fall ~20 % short of independent trains
    assert abs(rates[-1] - 3.84) <= 0.1 * 3.84             # the plain Brian2 equilibrium (seed 0)
    assert 1.15 * RHO0 <= rates[-1]                        # and so the E rate itself stays above rho0
