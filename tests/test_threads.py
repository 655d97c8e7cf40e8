"""Any number of threads gives the same run, bit for bit: every frame, every counter array.

Covered: fitted traffic counted as events (spikellm-7b on loihi2, with a KV prefix),
binary-only cores that expand graded codes and keep the graded accounting beside them
(spikellm-tiny on truenorth: codes, unary chunks and a second plan), per-column fan-out
(LTE: codes and sparse tiles), SpikeGPT (rwkv) and an encoder (SpikeLM: the whole sequence as
the prefix).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import neurosim
from neurosim.errors import InputError
from neurosim.threads import max_threads


def assert_same(a, b) -> None:
    for name in ("tokens", "sites", "baselines", "stages"):
        fa, fb = getattr(a, name), getattr(b, name)
        if fa is None:
            assert fb is None
            continue
        pd.testing.assert_frame_equal(fa, fb, check_exact=True)
    assert a.counters.arrays.keys() == b.counters.arrays.keys()
    for key, value in a.counters.arrays.items():
        assert np.array_equal(value, b.counters[key], equal_nan=True), key
    assert a.summary() == b.summary()


@pytest.mark.skipif(max_threads() < 2, reason="numba may use one thread here")
@pytest.mark.parametrize("model, profile, tokens, position", [
    ("spikellm-7b", "loihi2", 11, 5),
    ("spikellm-tiny", "truenorth", 6, 3),
    ("lte-llama-7b", "loihi2", 5, 2),
    ("spikegpt-46m", "loihi2", 4, 1),
    ("spikelm-bert-base", "generic-45nm", 3, 0),
])
def test_one_and_two_threads_give_the_same_run(model, profile, tokens, position):
    one = neurosim.run(model, profile, tokens=tokens, position=position, threads=1)
    two = neurosim.run(model, profile, tokens=tokens, position=position, threads=2)
    assert_same(one, two)


@pytest.mark.parametrize("threads", [0, -1, max_threads() + 1, 1.5, True])
def test_a_thread_count_numba_cannot_run_is_refused(threads):
    with pytest.raises(InputError, match="threads"):
        neurosim.run("spikellm-tiny", "loihi2", tokens=1, threads=threads)
