"""SpikeGPT's recurrence in numpy, with seeded random weights: real LIF spike traces.

``SpikeGPTRecurrence(card, seed).trace(ids)`` runs token ids one at a time through the RWKV-4
blocks of seed-methods §2.2 in RNN form (model_run.py): token shift, WKV with state
``(a, b, p)`` per channel, squared-ReLU ChannelMix, and SpikeGPT's LIF (tau 2, threshold 1,
hard reset: ``H = V + (X - V)/tau``, spike when ``H >= V_th``, ``V = H (1 - S)``) after each
sub-block, its spikes added to the residual stream.  Membranes, shifts and WKV state carry
across tokens.  It returns the spikes, (tokens, 2·layers·d) uint8 in graph group order
(``L{l}.att.lif``, ``L{l}.ffn.lif``, ...).

Weights follow RWKV-4's initialisation (ridgerchu/SpikeGPT src/model.py): per-channel decay
``-5 + 8 (i/(d-1))^(0.7 + 1.3 l/(L-1))``, bonus ``log 0.3`` plus a zigzag, mixes
``(i/d)^(1 - l/L)``; projections normal with std ``1/sqrt(fan_in)``; embeddings uniform
±1e-4 as in the released code would leave every LIF silent, so they are normal with std 1.
No trained checkpoint is available offline; these traces show what the real recurrence does
to spike statistics (temporal correlation, depth), not a trained model's rates.
"""

from __future__ import annotations

import numpy as np

from neurosim.cards.schema import RwkvCard


def _layernorm(x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    mu = x.mean()
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean() + eps)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class SpikeGPTRecurrence:
    """Seeded random SpikeGPT in RNN form (module docstring); float64."""

    def __init__(self, card: RwkvCard, seed: int = 0) -> None:
        a, s = card.architecture, card.spiking
        self.L, self.d, self.f, self.V = a.layers, a.d_model, a.d_ffn, a.vocab
        self.tau, self.v_th = float(s.tau), float(s.threshold)
        self.hard = s.reset == "hard"
        rng = np.random.default_rng([seed, 7])
        d, f, L = self.d, self.f, self.L
        i = np.arange(d)
        self.emb = rng.standard_normal((self.V, d))
        self.layers = []
        for layer in range(L):
            r0 = layer / max(1, L - 1)
            r1 = 1 - layer / L
            mix = (i / d) ** r1

            def lin(n_out: int, n_in: int) -> np.ndarray:
                return rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)

            self.layers.append({
                "decay": -np.exp(-5 + 8 * (i / max(1, d - 1)) ** (0.7 + 1.3 * r0)),
                "first": np.log(0.3) + ((i + 1) % 3 - 1) * 0.5,
                "mix_k": mix, "mix_v": mix + 0.3 * r0, "mix_r": 0.5 * mix,
                "key": lin(d, d), "value": lin(d, d), "receptance": lin(d, d), "output": lin(d, d),
                "f_mix_k": mix, "f_mix_r": mix,
                "f_key": lin(f, d), "f_value": lin(d, f), "f_receptance": lin(d, d),
            })

    def _lif(self, v: np.ndarray, x: np.ndarray) -> np.ndarray:
        """SpikeGPT's LIF on membrane ``v`` (updated in place); returns 0/1 spikes."""
        h = v + (x - v) / self.tau
        spike = h >= self.v_th
        v[:] = np.where(spike, 0.0, h) if self.hard else h - spike * self.v_th
        return spike

    def trace(self, ids: np.ndarray) -> np.ndarray:
        """Spikes of every LIF group for each token id, (tokens, 2·L·d) uint8."""
        d, L = self.d, self.L
        st = {k: np.zeros((L, d)) for k in ("att_x", "ffn_x", "a", "b", "v_att", "v_ffn")}
        st["p"] = np.full((L, d), -1e38)
        out = np.zeros((len(ids), 2 * L * d), np.uint8)
        for t, tok in enumerate(np.asarray(ids, np.int64) % self.V):
            x = _layernorm(self.emb[tok])  # ln0
            for layer, w in enumerate(self.layers):
                xx = _layernorm(x)
                prev = st["att_x"][layer]
                k = w["key"] @ (xx * w["mix_k"] + prev * (1 - w["mix_k"]))
                v = w["value"] @ (xx * w["mix_v"] + prev * (1 - w["mix_v"]))
                r = w["receptance"] @ (xx * w["mix_r"] + prev * (1 - w["mix_r"]))
                st["att_x"][layer] = xx
                a, b, p = st["a"][layer], st["b"][layer], st["p"][layer]
                ww = w["first"] + k
                q = np.maximum(p, ww)
                e1, e2 = np.exp(p - q), np.exp(ww - q)
                wkv = (e1 * a + e2 * v) / (e1 * b + e2)
                ww = p + w["decay"]
                q = np.maximum(ww, k)
                e1, e2 = np.exp(ww - q), np.exp(k - q)
                st["a"][layer], st["b"][layer], st["p"][layer] = e1 * a + e2 * v, e1 * b + e2, q
                s_att = self._lif(st["v_att"][layer], w["output"] @ (_sigmoid(r) * wkv))
                x = x + s_att
                xx = _layernorm(x)
                prev = st["ffn_x"][layer]
                kf = w["f_key"] @ (xx * w["f_mix_k"] + prev * (1 - w["f_mix_k"]))
                rf = w["f_receptance"] @ (xx * w["f_mix_r"] + prev * (1 - w["f_mix_r"]))
                st["ffn_x"][layer] = xx
                s_ffn = self._lif(st["v_ffn"][layer],
                                  _sigmoid(rf) * (w["f_value"] @ np.maximum(kf, 0) ** 2))
                x = x + s_ffn
                base = 2 * layer * d
                out[t, base:base + d] = s_att
                out[t, base + d:base + 2 * d] = s_ffn
        return out
