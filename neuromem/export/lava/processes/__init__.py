"""The Lava processes and process models neuromem adds to lava-nc's own.

Importing this module imports lava (through
:func:`neuromem._compat.lava311.import_lava`), so the network builders import
it only when they build a network.  Lava's compiler looks for the process
models of a process in the module that defines the process, so each process
and its models are defined here together, at module level.  The module is a
package of its own because that compiler also executes, as stand-alone
scripts, every other module in the folder of the process's module (and warns
for each one that does not run that way); in a folder of its own there is
none.

Frozen networks
    :class:`SpikeRecorder` writes each step's spikes into a memory-mapped
    file (lava's own sinks return their data one value at a time through a
    pipe, which dominates the run time of larger networks).
    :class:`PyLifRefractoryModelFixed`: a fixed-point model for lava's
    ``LIFRefractory`` (lava has a float one only): Loihi 2's bit-accurate LIF
    arithmetic plus Brian2's v freeze, for ``refractory="emulate"``.
Learning networks (floating point)
    :class:`SpikeDelay` delays spikes by whole steps before a learning or a
    static projection (Brian2 delays the whole ``on_pre`` pathway, learning
    included); :class:`GatedLearningDense` is a ``LearningDense`` whose output
    can be switched off (a blocked projection that still learns);
    :class:`BoundedLearningDense` clips its weights to the rule's bounds and
    counts the same-step pre/post pairs where Brian2's clipping order would
    give another weight; :data:`SWITCHABLE_LIF_MODELS` are lava's float LIF
    models with ``vth`` as an array, so that a phase switch can silence a
    population (``Var.set`` cannot change a Python float).
Short-term depression (floating point, frozen and learning networks)
    :class:`DepressingSpikes` turns each arriving spike into a graded one
    worth the synapse's available resources (Tsodyks & Markram), in front of
    a ``Dense`` that reads graded spikes.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np

from neuromem._compat.lava311 import import_lava

import_lava()

from lava.magma.core.decorator import implements, requires, tag  # noqa: E402
from lava.magma.core.learning.learning_rule_applier import LearningRuleApplierFloat  # noqa: E402
from lava.magma.core.learning.product_series import ProductSeries  # noqa: E402
from lava.magma.core.learning.symbolic_equation import SymbolicEquation  # noqa: E402
from lava.magma.core.model.py.model import PyLoihiProcessModel  # noqa: E402
from lava.magma.core.model.py.ports import PyInPort, PyOutPort  # noqa: E402
from lava.magma.core.model.py.type import LavaPyType  # noqa: E402
from lava.magma.core.process.ports.ports import InPort, OutPort  # noqa: E402
from lava.magma.core.process.process import AbstractProcess  # noqa: E402
from lava.magma.core.process.variable import Var  # noqa: E402
from lava.magma.core.resources import CPU  # noqa: E402
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol  # noqa: E402
from lava.proc.dense.models import PyLearningDenseModelFloat  # noqa: E402
from lava.proc.dense.process import LearningDense  # noqa: E402
from lava.proc.lif.models import PyLifModelBitAcc, PyLifModelFloat, PyLifRefractoryModelFloat  # noqa: E402
from lava.proc.lif.process import LIF, LIFRefractory  # noqa: E402

__all__ = [
    "SpikeRecorder", "PySpikeRecorderModel", "PyLifRefractoryModelFixed", "PySwitchableLifModelFloat",
    "PySwitchableLifRefractoryModelFloat", "SWITCHABLE_LIF_MODELS", "SpikeDelay", "PySpikeDelayModel",
    "GatedLearningDense", "PyGatedLearningDenseModelFloat", "BoundedLearningDense",
    "PyBoundedLearningDenseModelFloat", "DepressingSpikes", "PyDepressingSpikesModelFloat",
]


# ---------------------------------------------------------------- spike recording


class SpikeRecorder(AbstractProcess):
    """Records the spikes it receives on ``a_in`` into a boolean ``(n, n_steps)`` file.

    Step ``k`` (1-based) goes into column ``k - 1``.  :meth:`read` returns the
    array after the run, :meth:`cleanup` deletes the temporary folder.

    Parameters
    ----------
    shape : (int,)
    n_steps : int
    name : str, optional
    """

    def __init__(self, *, shape, n_steps, name=None):
        folder = tempfile.mkdtemp(prefix="neuromem-lava-")
        path = os.path.join(folder, "spikes.bool")
        np.lib.format.open_memmap(path, mode="w+", dtype=bool, shape=(shape[0], n_steps)).flush()
        super().__init__(shape=shape, n_steps=n_steps, path=path, name=name)
        self.a_in = InPort(shape=shape)
        self._folder, self._path = folder, path

    def read(self) -> np.ndarray:
        """The recorded spikes, ``(n, n_steps)`` bool."""
        return np.array(np.load(self._path, mmap_mode="r"))

    def cleanup(self):
        """Delete the recording's temporary folder."""
        shutil.rmtree(self._folder, ignore_errors=True)


@implements(proc=SpikeRecorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt", "fixed_pt")
class PySpikeRecorderModel(PyLoihiProcessModel):
    """Writes each step's input into the recorder's memory-mapped file."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._rec = np.load(proc_params["path"], mmap_mode="r+")
        self._n_steps = proc_params["n_steps"]

    def run_spk(self):
        s = self.a_in.recv()
        if self.time_step <= self._n_steps:
            self._rec[:, self.time_step - 1] = s != 0
            if self.time_step == self._n_steps:
                self._rec.flush()


# ---------------------------------------------------------------- neuron models


@implements(proc=LIFRefractory, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyLifRefractoryModelFixed(PyLifModelBitAcc):
    """Fixed-point ``LIFRefractory``: Loihi 2's integer LIF; ``v`` keeps its value while refractory.

    As lava's float ``LIFRefractory`` and Brian2, ``u`` keeps integrating
    while ``v`` is frozen at the reset.
    """

    implements_process = None  # it subclasses LIF's model; it implements LIFRefractory
    refractory_period_end: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.refractory_period = proc_params["refractory_period"]

    def subthr_dynamics(self, activation_in):
        v_before = self.v.copy()
        super().subthr_dynamics(activation_in)
        frozen = self.refractory_period_end >= self.time_step
        self.v[frozen] = v_before[frozen]

    def reset_voltage(self, spike_vector):
        self.refractory_period_end[spike_vector] = self.time_step + self.refractory_period
        super().reset_voltage(spike_vector)


@implements(proc=LIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySwitchableLifModelFloat(PyLifModelFloat):
    """Lava's float LIF model with ``vth`` as a one-element array (settable between runs)."""

    implements_process = None
    vth: np.ndarray = LavaPyType(np.ndarray, float)


@implements(proc=LIFRefractory, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySwitchableLifRefractoryModelFloat(PyLifRefractoryModelFloat):
    """Lava's float LIFRefractory model with ``vth`` as a one-element array."""

    implements_process = None
    vth: np.ndarray = LavaPyType(np.ndarray, float)


SWITCHABLE_LIF_MODELS = {LIF: PySwitchableLifModelFloat, LIFRefractory: PySwitchableLifRefractoryModelFloat}
"""``exception_proc_model_map`` of a learning network (``Loihi2SimCfg``)."""


# ---------------------------------------------------------------- learning


class SpikeDelay(AbstractProcess):
    """Re-emits at step ``t`` the spikes it received at step ``t - delay``.

    Parameters
    ----------
    shape : (int,)
    delay : int
        Steps (>= 1).
    init : ndarray of shape (n, delay), optional
        Column ``c`` is emitted at step ``c + 1`` (spikes sent before the run).
    name : str, optional
    """

    def __init__(self, *, shape, delay, init=None, name=None):
        super().__init__(shape=shape, delay=delay, name=name)
        self.s_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        buf = np.zeros((shape[0], delay)) if init is None else np.asarray(init, dtype=float)
        self.buffer = Var(shape=(shape[0], delay), init=buf)


@implements(proc=SpikeDelay, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySpikeDelayModel(PyLoihiProcessModel):
    """A ring buffer of ``delay`` steps."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    buffer: np.ndarray = LavaPyType(np.ndarray, float)

    def run_spk(self):
        c = (self.time_step - 1) % self.buffer.shape[1]
        self.s_out.send(self.buffer[:, c].copy())
        self.buffer[:, c] = self.s_in.recv()


class DepressingSpikes(AbstractProcess):
    r"""Turns the spikes of one presynaptic population into graded spikes worth ``R``, the available resources.

    :class:`~neuromem.spec.ShortTermDepression` per presynaptic neuron: every
    synapse of a projection from one neuron sees the same spikes at the same
    times (one delay per projection), so they share one ``R``.  A spike
    arriving at (Brian2) step ``k`` first lets ``R`` recover since the
    neuron's last arrival ``k_last``,

    .. math:: R \leftarrow 1 - (1 - R)\,e^{-(k - k_{last})\,dt/\tau_{rec}},

    is sent on as ``on R + (1 - on)`` (a ``Dense`` with ``num_message_bits >
    0`` multiplies it by the weight), and then uses ``R \leftarrow R (1 - on\,
    use\,U)``.  ``on`` is 0 in a phase that switches the depression off
    (:attr:`~neuromem.spec.Phase.stp_off`), ``use`` 0 while the projection is
    blocked: Brian2's ``on_pre`` of :func:`neuromem.backends.brian2.builder.build_short_term_depression`.
    No latency: what arrives at a step leaves at that step.

    Parameters
    ----------
    shape : (int,)
    u : float
        Fraction of the resources a spike uses.
    tau_rec : float
        Recovery time constant (s).
    dt : float
        Time step (s).
    r, last : ndarray, optional
        Resources after the last arrival and its step, relative to the phase
        start (Lava step ``s`` is step ``s - 1``); default 1 and no arrival.
    on, use : float
        Initial switches (1 or 0), set per phase with ``Var.set``.
    name : str, optional
    """

    def __init__(self, *, shape, u, tau_rec, dt, r=None, last=None, on=1.0, use=1.0, name=None):
        super().__init__(shape=shape, u=u, tau_rec=tau_rec, dt=dt, name=name)
        self.s_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.r = Var(shape=shape, init=np.ones(shape) if r is None else np.asarray(r, dtype=float))
        self.last = Var(shape=shape, init=np.full(shape, -2.0 ** 40) if last is None
                        else np.asarray(last, dtype=float))
        self.on = Var(shape=(1,), init=float(on))
        self.use = Var(shape=(1,), init=float(use))


@implements(proc=DepressingSpikes, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyDepressingSpikesModelFloat(PyLoihiProcessModel):
    """Recovery, transmission and use at each arrival (the equations of :class:`DepressingSpikes`)."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    r: np.ndarray = LavaPyType(np.ndarray, float)
    last: np.ndarray = LavaPyType(np.ndarray, float)
    on: np.ndarray = LavaPyType(np.ndarray, float)
    use: np.ndarray = LavaPyType(np.ndarray, float)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._u, self._tau, self._dt = proc_params["u"], proc_params["tau_rec"], proc_params["dt"]

    def run_spk(self):
        s = np.asarray(self.s_in.recv(), dtype=float)
        out = np.zeros(s.shape)
        spk = s != 0
        if spk.any():
            k = float(self.time_step - 1)
            on = float(self.on[0])
            r = 1.0 - (1.0 - self.r[spk]) * np.exp(-(k - self.last[spk]) * self._dt / self._tau)
            out[spk] = s[spk] * (on * r + (1.0 - on))
            self.r[spk] = r - on * float(self.use[0]) * self._u * r
            self.last[spk] = k
        self.s_out.send(out)


class GatedLearningDense(LearningDense):
    """A ``LearningDense`` whose accumulated input is replaced by zeros while ``transmit`` is 0.

    Learning and sign-mode saturation are Lava's.  The gate acts when a spike
    is accumulated, not when it is sent, so a spike accumulated while blocked
    delivers 0 even if it is sent after the switch (Brian2 weights a spike with
    the gain at its arrival).

    Host operations (``host_ops``: :class:`~neuromem.export.lava.host.HostNormalisation`,
    :class:`~neuromem.export.lava.host.HostBistable`) run in the management
    phase after the learning of each step they are scheduled for (Lava step
    ``s + 1`` for Brian2 step ``s``), in list order, on the model's own
    weights; their counts go into the rows of ``host_stats``.

    Parameters
    ----------
    transmit : float
        1 (transmit) or 0 (blocked).
    host_ops : sequence, optional
        The operations on this projection's weights.
    **kwargs
        ``LearningDense`` arguments.
    """

    def __init__(self, *, transmit=1.0, host_ops=(), **kwargs):
        host_ops = list(host_ops)
        super().__init__(host_ops=host_ops, **kwargs)
        self.transmit = Var(shape=(1,), init=float(transmit))
        width = max([len(op.STATS) for op in host_ops] + [1])
        rows = np.zeros((max(len(host_ops), 1), width))
        for k, op in enumerate(host_ops):
            rows[k, :len(op.STATS)] = op.row()
        self.host_stats = Var(shape=rows.shape, init=rows)


@implements(proc=GatedLearningDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyGatedLearningDenseModelFloat(PyLearningDenseModelFloat):
    """Lava's float learning model with the output gate."""

    implements_process = None  # set by @implements (the parent implements LearningDense)
    transmit: np.ndarray = LavaPyType(np.ndarray, float)
    host_stats: np.ndarray = LavaPyType(np.ndarray, float)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._host_ops = list(proc_params.get("host_ops", ()))
        self._host_at = {}
        for k, op in enumerate(self._host_ops):          # per Lava step, in list order
            for s in np.asarray(op.steps, dtype=np.int64):
                self._host_at.setdefault(int(s) + 1, []).append(k)

    def run_spk(self):
        super().run_spk()   # sends a_buff, accumulates the arrived spikes, records the traces
        if self.transmit[0] == 0:
            self.a_buff = np.zeros_like(self.a_buff)

    def post_guard(self):
        return self.time_step in self._host_at

    def run_post_mgmt(self):
        for k in self._host_at[self.time_step]:
            op = self._host_ops[k]
            self.weights = op.transform(self.weights, self.host_stats[k, :len(op.STATS)])


class BoundedLearningDense(GatedLearningDense):
    """A :class:`GatedLearningDense` that clips its weights to ``[w_lo, w_hi]``.

    Synapses with a spike in the step are clipped after the step's summed
    update (Loihi-style saturation).  The Vars ``n_clipped``, ``n_coincident``
    and ``n_order_sensitive`` count the clipped synapse-steps, the same-step
    pre/post pairs, and those pairs where Brian2's clip after the presynaptic
    update alone gives another weight; with ``clip_order="per_event"`` the
    model keeps Brian2's value for them.

    Parameters
    ----------
    w_lo, w_hi : float
        Bounds in Lava units.
    dw_pre : str
        The rule's presynaptic products (to recompute Brian2's order).
    clip_order : {"step", "per_event"}
    **kwargs
        :class:`GatedLearningDense` arguments.
    """

    def __init__(self, *, w_lo, w_hi, dw_pre="", clip_order="step", **kwargs):
        super().__init__(dw_pre=dw_pre, clip_order=clip_order, **kwargs)
        self.w_lo = Var(shape=(1,), init=float(w_lo))
        self.w_hi = Var(shape=(1,), init=float(w_hi))
        self.n_clipped = Var(shape=(1,), init=0)
        self.n_coincident = Var(shape=(1,), init=0)
        self.n_order_sensitive = Var(shape=(1,), init=0)


@implements(proc=BoundedLearningDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyBoundedLearningDenseModelFloat(PyGatedLearningDenseModelFloat):
    """Lava's float learning model plus the weight bounds and their counts."""

    implements_process = None  # set by @implements (the parent implements GatedLearningDense)
    w_lo: np.ndarray = LavaPyType(np.ndarray, float)
    w_hi: np.ndarray = LavaPyType(np.ndarray, float)
    n_clipped: np.ndarray = LavaPyType(np.ndarray, np.int64)
    n_coincident: np.ndarray = LavaPyType(np.ndarray, np.int64)
    n_order_sensitive: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        pre = proc_params.get("dw_pre", "")
        self._pre_applier = (LearningRuleApplierFloat(ProductSeries(SymbolicEquation("dw", pre)))
                             if pre else None)
        self._histories = None
        self._per_event = proc_params.get("clip_order", "step") == "per_event"

    def _apply_learning_rules(self, x_traces_history, y_traces_history):
        self._histories = (x_traces_history, y_traces_history)
        super()._apply_learning_rules(x_traces_history, y_traces_history)

    def _saturate_synaptic_variable(self, name, values):
        if name != "weights":
            return super()._saturate_synaptic_variable(name, values)
        x0, y0 = self.x0.astype(bool), self.y0.astype(bool)
        if not (x0.any() or y0.any()):
            return values
        lo, hi = float(self.w_lo[0]), float(self.w_hi[0])
        exists = self.tag_2 != 0
        event = (x0[np.newaxis, :] | y0[:, np.newaxis]) & exists
        unclipped = values
        clipped = np.clip(values, lo, hi)
        changed = event & (clipped != values)
        if changed.any():
            values = np.where(changed, clipped, values)
            self.n_clipped[0] += int(changed.sum())
        both = x0[np.newaxis, :] & y0[:, np.newaxis] & exists
        if both.any():
            self.n_coincident[0] += int(both.sum())
            if self._pre_applier is not None and self._histories is not None:
                args = self._extract_applier_args(*self._histories)
                after_pre = self._pre_applier.apply(self.weights, **args)  # w + presynaptic update
                sens = both & ((after_pre < lo) | (after_pre > hi))
                if sens.any():
                    # Brian2: clip after the presynaptic update, then after the postsynaptic one
                    post = unclipped - after_pre
                    exact = np.clip(np.clip(after_pre, lo, hi) + post, lo, hi)
                    differs = sens & (exact != values)
                    self.n_order_sensitive[0] += int(differs.sum())
                    if self._per_event:
                        values = np.where(differs, exact, values)
        return values
