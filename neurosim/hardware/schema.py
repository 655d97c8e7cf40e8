"""Hardware profile schema (``hw_profiles/*.yaml``), validated once at the boundary.

Three kinds of profile share one file format:

``neuromorphic``
    A many-core spiking chip (Loihi, TrueNorth, SpiNNaker 2 ...) and the system of chips
    it is built into: per-action energies and latencies of a core, the core mesh and its
    hops, chip links, memory levels, dense units for the non-spiking operations, static
    power.
``gpu``
    A roofline baseline for the dense model: peak FLOP/s, memory bandwidth, energy per
    FLOP and per bit moved, idle power.
``accounting``
    The SNN literature's theoretical energy: operation counts times per-operation
    energies (Horowitz 2014, 45 nm), optionally with memory-access energies; no time,
    no network, no static power.

Every number is a :class:`~neurosim._schema.Quantity` carrying ``source`` or
``assumed``.  Units are in the key names: ``_pj`` picojoules, ``_ns`` nanoseconds, ``_mw``
milliwatts, ``_kib`` kibibytes, ``_gb_s`` 1e9 bytes per second, ``_gbit_s`` 1e9 bits per
second, ``_gflop_s`` 1e9 FLOP per second.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from neurosim._schema import Quantity, Strict, _LocatedValueError, check_references, iter_quantities

NeuronModel = Literal["gif", "lif", "if", "ternary"]
DenseOp = Literal["mac", "add", "mul", "special"]
"""Dense operation classes: multiply-accumulate, add, multiply, and special functions
(exp, division, reciprocal square root, sigmoid), each counted per scalar operation."""
DenseKind = Literal["embedding", "norm", "quantize", "dequantize", "rope", "residual",
                    "silu_gate", "softmax", "attention", "linear", "lm_head", "router",
                    "activation", "token_shift", "wkv", "gate", "readout", "recurrence"]
"""What a non-spiking operation of a compiled graph does (its ``kind``): the unit of
placement between programmable neurons and the dense unit."""
Unit = Literal["neuro_cores", "dense_unit"]


class Link(Strict):
    """Chip-to-chip link."""

    energy_pj_per_bit: Quantity[float]
    latency_ns: Quantity[float]
    bandwidth_gbit_s: Quantity[float] = Field(
        description="per link; a stage takes at least the bits leaving each sending chip "
                    "over its links")


class System(Strict):
    """How many chips, and how they talk."""

    chips: int | Literal["auto"] = Field(
        description="number of chips, or 'auto' to use as many as the model needs"
    )
    max_chips: Quantity[int]
    message_bits: Quantity[int]
    link: Link
    barrier_latency_ns: Quantity[dict[int, float]] = Field(
        description="system-wide barrier latency keyed by number of chips, interpolated"
    )


class Chip(Strict):
    """One chip: a 2-D mesh of cores with XY routing."""

    cores: Quantity[int]
    core_mesh: Quantity[list[int]] = Field(description="[columns, rows] of the core mesh")
    hop_energy_pj: Quantity[float]
    hop_latency_ns: Quantity[float]
    barrier_latency_ns: Quantity[dict[int, float]] = Field(
        description="on-chip barrier latency keyed by number of cores, interpolated"
    )
    static_power_mw: Quantity[float]


class Core(Strict):
    """One neuromorphic core: limits and per-action costs."""

    neurons: Quantity[int]
    neuron_state_bits: Quantity[int]
    max_weight_bits: Quantity[int]
    neuron_models: list[NeuronModel]
    graded_payload_bits: Quantity[int] = Field(
        description="payload bits of a graded spike; 0 means binary spikes only"
    )
    max_fan_in: Quantity[int]
    max_fan_out: Quantity[int]
    synapse_lanes: Quantity[int]
    neuron_update: Literal["time_driven", "event_driven"]
    synop_energy_pj: Quantity[float]
    graded_synop_energy_pj: Quantity[float]
    neuron_update_energy_pj: Quantity[float] = Field(
        description="update of a neuron that received input this step"
    )
    inactive_neuron_update_energy_pj: Quantity[float] = Field(
        description="time-driven update of a neuron that received no input this step"
    )
    spike_out_energy_pj: Quantity[float]
    message_in_energy_pj: Quantity[float]
    event_in_latency_ns: Quantity[float]
    synop_latency_ns: Quantity[float]
    neuron_update_latency_ns: Quantity[float]
    inactive_neuron_update_latency_ns: Quantity[float]
    spike_out_latency_ns: Quantity[float]
    busy_time: Literal["sum", "overlap"] = Field(
        default="sum",
        description="a core's busy time per step: the sum of its receive work (messages in, "
                    "synops) and its send work (neuron updates, spikes out), or the larger of "
                    "the two when they run in separate pipelines (overlap)")


class Network(Strict):
    """Spike routing between cores."""

    routing: Literal["unicast", "multicast"]


class MemoryLevel(Strict):
    """One level of the memory hierarchy, nearest first.

    ``scope`` says how many instances exist: one per core, one per chip, or one for the
    whole system.  ``capacity_kib`` is per instance; ``None`` means unbounded.
    """

    name: str
    scope: Literal["core", "chip", "system"]
    capacity_kib: Quantity[float] | None = None
    read_energy_pj_per_bit: Quantity[float]
    write_energy_pj_per_bit: Quantity[float]
    bandwidth_gb_s: Quantity[float]


class DenseOpCosts(Strict):
    """Energy per scalar operation of each dense class."""

    mac_energy_pj: Quantity[float]
    add_energy_pj: Quantity[float]
    mul_energy_pj: Quantity[float]
    special_energy_pj: Quantity[float]


class DenseUnit(Strict):
    """Processors for the non-spiking operations (embedded cores or a host)."""

    location: Literal["chip", "host"]
    units: Quantity[int] = Field(description="per chip if location is chip (times the chips "
                                 "used), else in total")
    throughput_gflop_s: Quantity[float] = Field(description="per unit")
    ops: DenseOpCosts
    transfer_energy_pj_per_bit: Quantity[float]
    transfer_bandwidth_gb_s: Quantity[float] = Field(
        description="between cores and dense units; per chip if location is chip")


class ProgrammableOps(Strict):
    """Non-spiking operations the neuro-cores run as programmable (microcode) neurons.

    A placed op's scalar ops run on the cores the mapping uses, in parallel, each costing
    its class's energy and ``op_latency_ns`` of one core; each reads and writes
    ``state_bits`` of neuron state in the core's memory."""

    kinds: list[DenseKind] = Field(min_length=1)
    ops: DenseOpCosts
    op_latency_ns: Quantity[float]
    state_bits: Quantity[int]


class Execution(Strict):
    """Execution options."""

    layer_pipelining: bool = False


class _ProfileBase(Strict):
    schema_version: Literal[1]
    name: str = Field(min_length=1)
    title: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    references: dict[str, str] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_numbers(self):
        check_references(self, self.references)
        for path, q in iter_quantities(self):
            _check_nonnegative(path, q.value)
            if path[-1] in RATES:
                _check_rate(path, q.value)
        self._check_consistency()
        return self

    def _check_consistency(self) -> None:
        """Cross-field checks of a kind (none by default)."""


MAX_VALUE = 1e12
"""The largest number a profile holds in its units (pJ, ns, GB/s, KiB, counts ...): beyond
it, products overflow long before any real chip needs it."""
RATES = frozenset({"bandwidth_gb_s", "bandwidth_gbit_s", "throughput_gflop_s", "peak_tflop_s",
                   "memory_bandwidth_gb_s", "transfer_bandwidth_gb_s", "bandwidth_fraction",
                   "flop_fraction", "memory_capacity_gib"})
"""Fields that divide: zero (or a denormal) would make a time, or a device count, infinite."""
MIN_RATE = 1e-6


def _check_nonnegative(path: tuple, value: object) -> None:
    values = value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float):
            continue
        if not math.isfinite(v) or v < 0:
            raise _LocatedValueError((*path, "value"), v, "must be a finite number >= 0",
                                     "a finite number >= 0")
        if v > MAX_VALUE:
            raise _LocatedValueError((*path, "value"), v, "out of range",
                                     f"a number <= {MAX_VALUE:g} in its units")
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, int) or k < 1:
                raise _LocatedValueError((*path, "value"), k, "table key must be a count >= 1",
                                         "an integer >= 1")
        if not value:
            raise _LocatedValueError((*path, "value"), value, "table is empty",
                                     "at least one {count: value} entry")


def _check_rate(path: tuple, value: object) -> None:
    values = value.values() if isinstance(value, dict) else [value]
    for v in values:
        if isinstance(v, int | float) and v < MIN_RATE:
            raise _LocatedValueError((*path, "value"), v, "a rate must be > 0 (times divide by it)",
                                     f"a number >= {MIN_RATE:g}")


def _positive(path: tuple, q: Quantity) -> None:
    if not q.value or q.value <= 0:
        raise _LocatedValueError((*path, "value"), q.value, "must be > 0", "a number > 0")


class NeuromorphicProfile(_ProfileBase):
    """A neuromorphic system: chips of cores, memories, dense units."""

    kind: Literal["neuromorphic"]
    system: System
    chip: Chip
    core: Core
    network: Network
    memory: list[MemoryLevel] = Field(min_length=1)
    dense_unit: DenseUnit
    programmable_ops: ProgrammableOps | None = None
    dense_placement: dict[DenseKind, Unit] = Field(
        default_factory=dict,
        description="where each kind of non-spiking op runs (default: the dense unit)")
    execution: Execution = Execution()

    def _check_consistency(self) -> None:
        can = set(self.programmable_ops.kinds) if self.programmable_ops is not None else set()
        for kind, unit in self.dense_placement.items():
            if unit == "neuro_cores" and kind not in can:
                raise _LocatedValueError(
                    ("dense_placement", kind), unit,
                    f"the neuro-cores cannot run {kind} ops",
                    f"dense_unit, or one of the programmable_ops.kinds "
                    f"({', '.join(sorted(can)) or 'none: no programmable_ops section'}) "
                    "on neuro_cores")
        cols_rows = self.chip.core_mesh.value
        if len(cols_rows) != 2 or cols_rows[0] * cols_rows[1] < self.chip.cores.value:
            raise _LocatedValueError(
                ("chip", "core_mesh", "value"), cols_rows,
                "mesh has fewer positions than chip.cores",
                f"[columns, rows] with columns*rows >= {self.chip.cores.value}",
            )
        for path in (("chip", "cores"), ("core", "neurons"), ("core", "synapse_lanes"),
                     ("core", "max_fan_in"), ("core", "max_fan_out"), ("core", "max_weight_bits"),
                     ("core", "neuron_state_bits"),
                     ("system", "max_chips"), ("system", "message_bits"),
                     ("dense_unit", "units"), ("dense_unit", "throughput_gflop_s")):
            obj = self
            for part in path:
                obj = getattr(obj, part)
            _positive(path, obj)
        if self.system.chips != "auto":
            if self.system.chips < 1 or self.system.chips > self.system.max_chips.value:
                raise _LocatedValueError(
                    ("system", "chips"), self.system.chips, "chip count out of range",
                    f"'auto' or an integer 1..{self.system.max_chips.value}",
                )
        if not self.core.neuron_models:
            raise _LocatedValueError(("core", "neuron_models"), [], "no neuron model listed",
                                     "a non-empty list of gif, lif, if, ternary")
        first = self.memory[0]
        if first.scope != "core" or first.capacity_kib is None:
            raise _LocatedValueError(("memory", 0, "scope"), first.scope,
                                     "the first memory level must be the core's own memory "
                                     "with a capacity", "scope: core and capacity_kib")
        names = [m.name for m in self.memory]
        if len(set(names)) != len(names):
            raise _LocatedValueError(("memory",), names, "memory level names repeat",
                                     "unique names")

    def placed_on_cores(self) -> list[str]:
        """The kinds of non-spiking op this profile runs on its neuro-cores."""
        return sorted(k for k, u in self.dense_placement.items() if u == "neuro_cores")

    def core_memory_kib(self) -> float:
        """Capacity of one core's own memory, KiB."""
        return float(self.memory[0].capacity_kib.value)  # type: ignore[union-attr]


class Serving(Strict):
    """A GPU as one software stack serves decode steps, beside its roofline.

    Tables are keyed by batch size and interpolated.  A step of ``B`` tokens takes
    max(FLOPs / (peak x flop_fraction), bytes / (bandwidth x bandwidth_fraction)) +
    step_overhead_ms, and draws ``power_w`` per device meanwhile.
    """

    stack: str = Field(min_length=1, description="software, precision and setting served")
    bandwidth_fraction: Quantity[dict[int, float]] = Field(
        description="achieved fraction of memory_bandwidth_gb_s, by batch size")
    flop_fraction: Quantity[dict[int, float]] = Field(
        description="achieved fraction of peak_tflop_s, by batch size")
    step_overhead_ms: Quantity[float] = Field(
        description="time of a decode step beyond its roofline (kernel launches, framework, "
                    "sampling), by step")
    power_w: Quantity[dict[int, float]] = Field(
        description="board power of one device while serving, by batch size")


class Gpu(Strict):
    """One GPU, and how many of them."""

    devices: int | Literal["auto"]
    memory_capacity_gib: Quantity[float]
    memory_bandwidth_gb_s: Quantity[float]
    peak_tflop_s: Quantity[float]
    weight_bits: Quantity[int]
    kv_cache_bits: Quantity[int]
    flop_energy_pj: Quantity[float]
    memory_energy_pj_per_bit: Quantity[float]
    idle_power_w: Quantity[float]
    tdp_w: Quantity[float] = Field(description="power cap: a token takes at least its "
                                   "dynamic energy / (TDP - idle power)")
    serving: Serving | None = None


class GpuProfile(_ProfileBase):
    """A GPU: a roofline, and with a ``serving`` section the figures as served."""

    kind: Literal["gpu"]
    gpu: Gpu

    def _check_consistency(self) -> None:
        for name in ("memory_capacity_gib", "memory_bandwidth_gb_s", "peak_tflop_s",
                     "weight_bits", "kv_cache_bits"):
            _positive(("gpu", name), getattr(self.gpu, name))
        idle, tdp = float(self.gpu.idle_power_w), float(self.gpu.tdp_w)
        if tdp <= idle:
            raise _LocatedValueError(("gpu", "tdp_w", "value"), self.gpu.tdp_w.value,
                                     "TDP must exceed the idle power",
                                     f"a power > idle_power_w ({self.gpu.idle_power_w.value} W)")
        if self.gpu.devices != "auto" and self.gpu.devices < 1:
            raise _LocatedValueError(("gpu", "devices"), self.gpu.devices,
                                     "device count out of range", "'auto' or an integer >= 1")
        sv = self.gpu.serving
        if sv is None:
            return
        for name in ("bandwidth_fraction", "flop_fraction"):
            for batch, f in getattr(sv, name).value.items():
                if not 0 < f <= 1:
                    raise _LocatedValueError(("gpu", "serving", name, "value", batch), f,
                                             "a fraction of the peak must be in (0, 1]",
                                             "a number > 0 and <= 1")
        for batch, w in sv.power_w.value.items():
            if not idle <= w <= tdp:
                raise _LocatedValueError(("gpu", "serving", "power_w", "value", batch), w,
                                         "board power while serving must lie between the "
                                         "idle power and the TDP",
                                         f"a power from {idle:g} to {tdp:g} W")


class AccountingOps(Strict):
    """Per-operation energies of the theoretical accounting."""

    ac_energy_pj: Quantity[float]
    mac_energy_pj: Quantity[float]
    add_energy_pj: Quantity[float]
    mul_energy_pj: Quantity[float]
    special_energy_pj: Quantity[float]


class AccountingProfile(_ProfileBase):
    """The SNN literature's op-count energy (no time, NoC or static power)."""

    kind: Literal["accounting"]
    ops: AccountingOps
    memory: list[MemoryLevel] = Field(default_factory=list)


Profile = NeuromorphicProfile | GpuProfile | AccountingProfile
PROFILE_KINDS: dict[str, type[_ProfileBase]] = {
    "neuromorphic": NeuromorphicProfile,
    "gpu": GpuProfile,
    "accounting": AccountingProfile,
}
