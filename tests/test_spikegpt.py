"""SpikeGPT's recurrence (seeded random weights): its LIF rule, and replaying its spikes."""

from __future__ import annotations

import numpy as np

import neurosim
from neurosim.cards import load_card
from neurosim.convert.rwkv import SpikeGPTRecurrence
from neurosim.convert.text import load_text


def test_lif_is_spikegpts_rule():
    # H = V + (X - V)/2 with tau 2; spike at H >= 1 and reset to 0.  X = 1.5 each token:
    # H = 0.75, then 0.75 + 0.375 = 1.125 -> spike; V = 0; 0.75; spike; ...
    m = SpikeGPTRecurrence(load_card("spikegpt-46m"))
    v = np.zeros(1)
    got = [int(m._lif(v, np.array([1.5]))[0]) for _ in range(6)]
    assert got == [0, 1, 0, 1, 0, 1]
    v = np.zeros(1)
    assert int(m._lif(v, np.array([2.0]))[0]) == 1  # H = 1.0 exactly: >= fires


def test_recurrence_spikes_are_replayed_one_synapse_each():
    card = load_card("spikegpt-46m")
    ids = np.frombuffer(load_text("pydoc-eval").body.encode()[:12], np.uint8)
    spikes = SpikeGPTRecurrence(card, seed=0).trace(ids)
    res = neurosim.run(card, "loihi2", tokens=12, traffic="recurrence")
    assert res.traffic == "recurrence"
    assert res.tokens["events"].tolist() == spikes.sum(axis=1).tolist()
    assert (res.tokens["synops"] == res.tokens["events"]).all()
    assert res.provenance["traffic"]["tokens_recorded"] == 64  # recorded at least 64, cached


def test_recurrence_trace_is_cached_checksummed_and_recorded_again_when_damaged(
        conversion_cache, capsys):
    from neurosim.convert.cache import recurrence_for

    card = load_card("spikegpt-46m")
    first, meta = recurrence_for(card, 3, 10)
    path = next((conversion_cache / "traces").glob("spikegpt-46m-*-recurrence-seed3-64"))
    again, meta2 = recurrence_for(card, 3, 40)  # shorter than what is cached: read back
    assert meta2["files"] == meta["files"] and meta2["tokens_recorded"] == 64
    assert np.array_equal(first, again)
    assert isinstance(again, np.memmap)
    data = (path / "spikes.npy").read_bytes()
    (path / "spikes.npy").write_bytes(data[:-5])
    capsys.readouterr()
    whole, _ = recurrence_for(card, 3, 10)  # a one-line notice, then recorded again
    notes = capsys.readouterr().err.strip().splitlines()
    assert len(notes) == 1 and "cached recurrence trace is damaged" in notes[0], notes
    assert "SHA-256 mismatch" in notes[0]
    assert np.array_equal(whole, first) and (path / "spikes.npy").read_bytes() == data


def test_recurrence_carries_state_across_tokens():
    """Unlike independent rate traffic, the recurrence's spikes persist: a neuron that fired
    is far more likely to fire on the next token (membranes and WKV state carry over)."""
    card = load_card("spikegpt-46m")
    ids = np.frombuffer(load_text("pydoc-eval").body.encode()[:64], np.uint8)
    s = SpikeGPTRecurrence(card, seed=0).trace(ids).astype(bool)
    base = s.mean()
    again = (s[1:] & s[:-1]).sum() / s[:-1].sum()
    assert base > 0 and again > 5 * base
