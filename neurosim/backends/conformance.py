"""The conformance suite: nets every backend must simulate with identical counters.

Each case is a :class:`~neurosim.backends.net.Net` built from a seed (or from a recorded
slice of a real SpikeLLM trace); :func:`~neurosim.backends.net.differences` lists every way
two backends' results differ (spikes per neuron, spike values, synops, accumulated sums).

* :func:`gif_layer` -- SpikeLLM's graded GIF neurons (2 steps of level 15, codes up to 31,
  so saturation is exercised) into a signed 4-bit synapse block;
* :func:`lif_two_layer` -- SpikeGPT's LIF (tau 2: ``dv = 2048``, hard reset) in two layers
  over many steps, binary spikes;
* :func:`ternary_layer` -- SpikeLM's elastic bi-spiking neurons (T = 4 steps per token),
  signed ternary spikes;
* :func:`spikellm_slice` -- a channel slice of a real SmolLM2 SpikeLLM block: recorded codes
  and the converted integer weights (:func:`slice_from_artifact` extracts one);
* :func:`snn_if_recurrent` -- an imported network (IF layers, one recurrent) in Loihi's fixed
  point, the form in which Lava runs NIR networks.

The shipped slice (:data:`DEFAULT_SLICE`, cut as :data:`DEFAULT_SLICE_SPEC` says from the
cached conversion and trace of :data:`DEFAULT_SLICE_CARD`) is rebuilt with::

    python -m neurosim.backends.conformance --out neurosim/data/models/slices/smollm2-L14-down_proj.npz

Its codes come from an FP64 trace (neurosim.convert.record), so any machine rebuilds the
same file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neurosim._resolve import DATA_ROOT
from neurosim.backends.net import Connection, Net, Population

SLICE_FORMAT = "neurosim.SpikeLLMSlice"
DEFAULT_SLICE = DATA_ROOT / "models" / "slices" / "smollm2-L14-down_proj.npz"
DEFAULT_SLICE_CARD = "smollm2-135m-spikellm"
DEFAULT_SLICE_SPEC = {"layer": 14, "site": "down_proj", "salient": 16, "plain": 48, "rows": 48,
                      "tokens": 32}


def _weights(rng: np.random.Generator, rows: int, cols: int, lo: int, hi: int,
             zero_fraction: float) -> np.ndarray:
    w = rng.integers(lo, hi + 1, (rows, cols))
    w[rng.random((rows, cols)) < zero_fraction] = 0
    return w.astype(np.int32)


def _token_codes(q: np.ndarray, period: int, flush: int = 1) -> np.ndarray:
    """(tokens, n) codes -> (tokens·period + flush, n): each code at its token's first step."""
    tokens, n = q.shape
    out = np.zeros((tokens * period + flush, n), np.int32)
    out[: tokens * period: period] = q
    return out


def gif_net(q: np.ndarray, weights: np.ndarray, level: int, period: int, label: str) -> Net:
    """Codes ``q`` (tokens, C_in) -> GIF -> ``weights`` (C_out, C_in) -> accumulator."""
    n_in, n_out = q.shape[1], weights.shape[0]
    pops = [Population("codes", "source", n_in),
            Population("gif", "gif", n_in, {"level": level, "period": period}, drive="codes"),
            Population("out", "accumulator", n_out)]
    return Net(pops, [Connection("gif->out", "gif", "out", weights.astype(np.int32))],
               {"codes": _token_codes(q, period)}, q.shape[0] * period + 1, label)


def gif_layer(seed: int = 0, c_in: int = 64, c_out: int = 48, tokens: int = 16) -> Net:
    """Random codes 0..31 (a quarter of the channels salient) into 4-bit signed weights."""
    rng = np.random.default_rng(seed)
    high = np.where(rng.random(c_in) < 0.25, 31, 15)
    q = rng.integers(0, high + 1, (tokens, c_in))
    return gif_net(q, _weights(rng, c_out, c_in, -8, 7, 0.1), 15, 2, f"gif-layer-{c_in}x{c_out}")


def lif_two_layer(seed: int = 0, n_in: int = 40, n_hidden: int = 32, n_out: int = 16,
                  steps: int = 300, rate: float = 0.2) -> Net:
    """Poisson input -> LIF -> LIF, SpikeGPT's neuron (du 4095, dv 2048), ``steps`` steps."""
    rng = np.random.default_rng(seed)
    lif = {"du": 4095, "dv": 2048, "vth": 40, "bias": 0}
    pops = [Population("input", "source", n_in),
            Population("hidden", "lif", n_hidden, dict(lif)),
            Population("output", "lif", n_out, {**lif, "vth": 30})]
    conns = [Connection("input->hidden", "input", "hidden", _weights(rng, n_hidden, n_in, -6, 12, 0.2)),
             Connection("hidden->output", "hidden", "output",
                        _weights(rng, n_out, n_hidden, -4, 10, 0.2))]
    spikes = (rng.random((steps, n_in)) < rate).astype(np.int32)
    return Net(pops, conns, {"input": spikes}, steps, f"lif-2layer-{n_in}-{n_hidden}-{n_out}")


def ternary_layer(seed: int = 0, c_in: int = 48, c_out: int = 32, tokens: int = 12,
                  period: int = 4, alpha: int = 12) -> Net:
    """Signed inputs each step -> elastic bi-spiking (T steps per token) -> weights -> sums."""
    rng = np.random.default_rng(seed)
    steps = tokens * period + 1
    x = rng.integers(-20, 21, (steps, c_in)).astype(np.int32)
    x[-1] = 0
    pops = [Population("input", "source", c_in),
            Population("bispike", "bispike", c_in, {"alpha": alpha, "period": period}, drive="input"),
            Population("out", "accumulator", c_out)]
    conns = [Connection("bispike->out", "bispike", "out", _weights(rng, c_out, c_in, -16, 16, 0.1))]
    return Net(pops, conns, {"input": x}, steps, f"ternary-layer-{c_in}x{c_out}")


# --- real SpikeLLM slices ------------------------------------------------------------------


def slice_from_artifact(art, trace, layer: int, site: str, salient: int, plain: int, rows: int,
                        tokens: int) -> dict[str, np.ndarray]:
    """A slice of block ``L{layer}.{site}``: ``salient`` + ``plain`` input channels (the first
    of each kind), the first ``rows`` output rows, the codes of the first ``tokens`` traced
    tokens.  Returns the arrays of a slice file (see :func:`save_slice`)."""
    group = f"L{layer}.{site}.in"
    offset = 0
    for g in trace.meta["groups"]:
        if g["name"] == group:
            break
        offset += g["size"]
    else:
        raise KeyError(f"{group} is not in the trace")
    mask = art.masks()[(layer, site)]
    channels = np.sort(np.concatenate([np.flatnonzero(mask)[:salient],
                                       np.flatnonzero(~mask)[:plain]]))
    q = trace.rows(0, tokens)[:, offset + channels]
    w = art.weight_int(layer, site)[:rows][:, channels]
    cfg = art.config
    meta = {"format": SLICE_FORMAT, "version": 1, "model": trace.meta.get("model"),
            "artifact_sha256": art.sha256, "text": trace.meta["text"],
            "trace": {"version": trace.meta["version"],
                      "forward_dtype": trace.meta.get("forward_dtype", "float32")},
            "group": group,
            "tokens": tokens, "rows": rows, "level": 2**cfg.abits - 1,
            "period": 2**cfg.addbit}
    return {"meta": np.array(json.dumps(meta)), "codes": q.astype(np.uint8),
            "weights": w.astype(np.int16), "channels": channels.astype(np.int32),
            "salient": mask[channels]}


def save_slice(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    np.savez_compressed(path, **arrays)


def default_slice_arrays() -> dict[str, np.ndarray]:
    """The arrays of :data:`DEFAULT_SLICE`, cut from the card's cached conversion and trace
    (``$NEUROSIM_CACHE``; converted and recorded first if missing: needs torch)."""
    from neurosim.cards import load_card
    from neurosim.convert.cache import artifact_for, trace_for

    card = load_card(DEFAULT_SLICE_CARD)
    art = artifact_for(card)
    trace = trace_for(card, art, DEFAULT_SLICE_SPEC["tokens"])
    return slice_from_artifact(art, trace, **DEFAULT_SLICE_SPEC)


def spikellm_slice(path: str | Path = DEFAULT_SLICE) -> Net:
    """The Net of a recorded SpikeLLM slice file."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        q, w = z["codes"], z["weights"]
    label = f"spikellm-slice-{meta['group']}-{q.shape[1]}x{w.shape[0]}"
    return gif_net(q.astype(np.int32), w.astype(np.int32), meta["level"], meta["period"], label)


def snn_if_recurrent(seed: int = 0, steps: int = 100, rate: float = 0.1) -> Net:
    """An imported network in Loihi's fixed point (:func:`~neurosim.backends.snn_net.loihi_net`):
    40 inputs -> 64 IF neurons with 20 % recurrent weights -> 16 IF neurons, weights on the
    1/64 grid (:func:`neurosim.snn.crosscheck.network`), Bernoulli input."""
    from neurosim.backends.snn_net import loihi_net
    from neurosim.snn.crosscheck import DT_S, network

    x = np.random.default_rng(seed).random((steps, 40)) < rate
    return loihi_net(network([40, 64, 16], True, seed=seed), x, DT_S, label="snn-if-recurrent")


BUILDERS = {"gif_layer": gif_layer, "lif_two_layer": lif_two_layer,
            "ternary_layer": ternary_layer, "spikellm_slice": lambda seed: spikellm_slice(),
            "snn_if_recurrent": snn_if_recurrent}


def cases(seed: int = 0, names: list[str] | None = None) -> dict[str, Net]:
    """The conformance cases called ``names`` (default: all), by name."""
    return {name: BUILDERS[name](seed) for name in names or BUILDERS}


def run_suite(backend: str = "lava", reference: str = "numba", seed: int = 0,
              names: list[str] | None = None, timeout_s: float | None = None) -> list[dict]:
    """Run each case on ``reference`` and ``backend``; one row per case with its size,
    counters, both wall times (each backend's own build + run + read back), their ratio and
    every difference (empty when the two conform)."""
    from neurosim.backends import get_backend
    from neurosim.backends.net import differences

    ref_be, be = get_backend(reference), get_backend(backend)
    rows = []
    for name, net in cases(seed, names).items():
        a = ref_be.run_net(net, timeout_s=timeout_s)
        b = be.run_net(net, timeout_s=timeout_s)
        rows.append({
            "case": name, "net": net.label, "neurons": net.neurons, "synapses": net.synapses,
            "steps": net.steps, "spikes": int(sum(np.count_nonzero(s) for s in a.spikes.values())),
            "synops": int(sum(a.synops.values())), f"{reference}_s": round(a.wall_s, 4),
            f"{backend}_s": round(b.wall_s, 4), "ratio": round(b.wall_s / max(a.wall_s, 1e-9), 1),
            "differences": differences(a, b),
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m neurosim.backends.conformance [--out PATH]``: rebuild the shipped slice."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m neurosim.backends.conformance",
                                 description="Rebuild the SpikeLLM conformance slice from the "
                                             "cached SmolLM2 conversion and trace.")
    ap.add_argument("--out", default=str(DEFAULT_SLICE), help="slice file to write (.npz)")
    args = ap.parse_args(argv)
    arrays = default_slice_arrays()
    save_slice(args.out, arrays)
    print(f"{args.out}: {json.loads(str(arrays['meta']))['group']}, "
          f"codes {arrays['codes'].shape}, weights {arrays['weights'].shape}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
