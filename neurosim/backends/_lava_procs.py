"""Lava processes for a :class:`~neurosim.backends.net.Net` (imported only where lava-nc is).

Stock processes where Lava has the model bit-exactly (``RingBuffer`` sources and sinks,
``Dense``/``Sparse`` synapses, ``LIF`` with ``PyLifModelBitAcc``); custom processes with
fixed-point models for the rest: :class:`GIF` (graded, subtractive reset), :class:`BiSpike`
(SpikeLM's elastic bi-spiking neuron: its carry depends on the last symbol, which Lava's
``TernaryLIF`` cannot express) and :class:`Accumulator` (exact integer sink).  Their models
are vectorised numpy, written independently of the numba kernels they are checked against.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class GIF(AbstractProcess):
    """Graded integrate-and-fire: cleared each ``period`` steps, emits min(v, level)."""

    def __init__(self, *, shape: tuple[int, ...], level: int, period: int) -> None:
        super().__init__(shape=shape, level=level, period=period)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.v = Var(shape=shape, init=0)
        self.level = Var(shape=(1,), init=level)
        self.period = Var(shape=(1,), init=period)


class BiSpike(AbstractProcess):
    """Elastic bi-spiking neuron, symbols in {-1, 0, 1}, cleared each ``period`` steps."""

    def __init__(self, *, shape: tuple[int, ...], alpha: int, period: int) -> None:
        super().__init__(shape=shape, alpha=alpha, period=period)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.m = Var(shape=shape, init=0)
        self.s = Var(shape=shape, init=0)
        self.alpha = Var(shape=(1,), init=alpha)
        self.period = Var(shape=(1,), init=period)


class Accumulator(AbstractProcess):
    """Sums its input exactly; never spikes."""

    def __init__(self, *, shape: tuple[int, ...]) -> None:
        super().__init__(shape=shape)
        self.a_in = InPort(shape=shape)
        self.v = Var(shape=shape, init=0)


def _first_step(model: PyLoihiProcessModel) -> bool:
    return (model.time_step - 1) % int(model.period[0]) == 0


@implements(proc=GIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyGIFModelFixed(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    level: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    period: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=16)

    def run_spk(self) -> None:
        x = self.a_in.recv().astype(np.int64)
        v = x if _first_step(self) else self.v + x
        out = np.where(v > 0, np.minimum(v, self.level[0]), 0)
        self.v[:] = v - out
        self.s_out.send(out)


@implements(proc=BiSpike, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyBiSpikeModelFixed(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=2)
    m: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)
    s: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=2)
    alpha: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    period: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=16)

    def run_spk(self) -> None:
        x = self.a_in.recv().astype(np.int64)
        a = self.alpha[0]
        if _first_step(self):
            m = x
        else:
            m = np.right_shift(self.m * (a - a * self.s), 2) + x
        s = (2 * m > a).astype(np.int64) - (2 * m < -a).astype(np.int64)
        self.m[:] = m
        self.s[:] = s
        self.s_out.send(s)


@implements(proc=Accumulator, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyAccumulatorModelFixed(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64, precision=32)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=64)

    def run_spk(self) -> None:
        self.v[:] = self.v + self.a_in.recv().astype(np.int64)
