"""OmniQuant's pieces (Shao et al., ICLR 2024; released code OpenGVLab/OmniQuant@95fae1b):
learnable weight clipping (LWC) and the learnable equivalent transformation (LET), for a
LLaMA checkpoint's tensors (``model.layers.<L>...``, (out, in) weights).

LET moves a channel scale ``s`` between an activation and the weights that read it, which
leaves the full-precision model unchanged and makes the activation easier to quantize:

* ``qkv``: the input RMSNorm's weight divided by ``s`` (d,), the columns of q, k and v
  multiplied by it;
* ``fc1``: the same between the post-attention RMSNorm and gate/up;
* ``out``: the rows of v divided by ``s`` (d_kv,), the columns of o multiplied by the scale
  of the KV head each query head reads (grouped-query attention: o's input channel
  ``(h, j)`` takes ``s[(h // group), j]``);
* ``qkt``: the rows of q divided and those of k multiplied by ``s`` (d_kv,), the query head
  ``h`` taking its KV head's scale; ``s`` is tied across each rotary pair (``j`` and
  ``j + head_dim/2``) so that RoPE commutes with it.

The released code has no LET for ``down_proj`` and trains no shifts for LLaMA's RMSNorm.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from neurosim._files import read_manifest, verify_files, write_dir
from neurosim._resolve import shipped_dir
from neurosim.convert.checkpoint import linear_name, tensor_names
from neurosim.errors import InputError, NeurosimError, NotFoundError

LWC_INIT = 4.0
"""Initial value of LWC's clipping logits: ``sigmoid(4) = 0.982`` of the min-max range."""
LET_ALPHA = 0.75
"""Migration strength of LET's initial scales, ``act_max^α / w_max^(1-α)`` (the released
W4A4 scripts for Llama-2 and SpikeLLM's ``arun.sh``)."""
LR_LWC, LR_LET = 1e-2, 1e-3
"""AdamW learning rates of the clipping logits and the LET scales (released defaults,
``let_lr`` as SpikeLLM's scripts set it)."""


def lwc_fake_quant(w: torch.Tensor, up: torch.Tensor, low: torch.Tensor, bits: int
                   ) -> torch.Tensor:
    """Weights (out, in) fake-quantized per output row to ``bits`` with learnable clipping:
    ``max' = sigmoid(up)·max``, ``min' = sigmoid(low)·min``, asymmetric, rounding by the
    straight-through estimator (gradients reach ``up``/``low`` through the scale)."""
    levels = 2**bits - 1
    hi = torch.sigmoid(up) * w.amax(dim=1)
    lo = torch.sigmoid(low) * w.amin(dim=1)
    scale = ((hi - lo) / levels).clamp(1e-5, 1e4)[:, None]
    zero = torch.round(-lo[:, None] / scale).detach()
    x = w / scale
    q = (x.round() - x).detach() + x  # straight-through rounding
    return (torch.clamp(q + zero, 0, levels) - zero) * scale


def apply_let(t: dict[str, torch.Tensor], layer: int, heads: int, kv_heads: int,
              s_qkv: torch.Tensor | None = None, s_fc1: torch.Tensor | None = None,
              s_out: torch.Tensor | None = None, s_qkt: torch.Tensor | None = None
              ) -> dict[str, torch.Tensor]:
    """A copy of ``t`` with the given LET scales folded into layer ``layer``'s norms and
    weights (see the module docstring); ``s_qkt`` (d_kv,) must be equal across each rotary
    pair of a head."""
    out = dict(t)
    pre = f"model.layers.{layer}"
    q, k, v, o = (linear_name(layer, s) for s in ("q_proj", "k_proj", "v_proj", "o_proj"))
    group = heads // kv_heads
    if s_qkv is not None:
        out[f"{pre}.input_layernorm.weight"] = t[f"{pre}.input_layernorm.weight"] / s_qkv
        for name in (q, k, v):
            out[name] = t[name] * s_qkv[None, :]
    if s_fc1 is not None:
        out[f"{pre}.post_attention_layernorm.weight"] = (
            t[f"{pre}.post_attention_layernorm.weight"] / s_fc1)
        for site in ("gate_proj", "up_proj"):
            name = linear_name(layer, site)
            out[name] = t[name] * s_fc1[None, :]
    if s_out is not None:
        out[v] = out[v] / s_out[:, None]
        out[o] = out[o] * _per_query_head(s_out, kv_heads, group)[None, :]
    if s_qkt is not None:
        out[q] = out[q] / _per_query_head(s_qkt, kv_heads, group)[:, None]
        out[k] = out[k] * s_qkt[:, None]
    return out


def _per_query_head(s: torch.Tensor, kv_heads: int, group: int) -> torch.Tensor:
    """(d_kv,) per KV-head channel scales spread over the query heads that share each KV
    head: (heads · head_dim,)."""
    hd = s.shape[0] // kv_heads
    return s.view(kv_heads, 1, hd).expand(kv_heads, group, hd).reshape(-1)


def tie_rotary_pairs(s: torch.Tensor, kv_heads: int) -> torch.Tensor:
    """(d_kv,) scales made equal across each rotary pair (``j``, ``j + head_dim/2``) of
    every head: the first half's values repeated."""
    hd = s.shape[0] // kv_heads
    half = s.view(kv_heads, hd)[:, : hd // 2]
    return torch.cat([half, half], dim=1).reshape(-1)


def _act_fake_quant(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-token asymmetric min-max fake quantization of activations (..., C), rounding by
    the straight-through estimator."""
    levels = 2**bits - 1
    lo, hi = x.amin(-1, keepdim=True), x.amax(-1, keepdim=True)
    scale = ((hi - lo) / levels).clamp(1e-5, 1e4)
    zero = torch.round(-lo / scale).detach()
    v = x / scale
    q = (v.round() - v).detach() + v
    return (torch.clamp(q + zero, 0, levels) - zero) * scale


def _rope(x: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotary embedding of (heads, T, head_dim) at positions 0..T-1."""
    hd, T = x.shape[-1], x.shape[-2]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=x.dtype) / hd))
    freqs = torch.arange(T, dtype=x.dtype)[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    half = torch.cat((-x[..., hd // 2:], x[..., : hd // 2]), dim=-1)
    return x * emb.cos() + half * emb.sin()


SITES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def block_forward(x: torch.Tensor, t: dict[str, torch.Tensor], layer: int, shape,
                  bits: tuple[int, int] | None = None,
                  clip: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
                  act_max: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Decoder layer ``layer`` of ``t`` on hidden states (T, d), causal over the T tokens.

    ``bits`` = (weight bits, activation bits): weights fake-quantized per row with the LWC
    logits ``clip[site]``, every linear's input per token (None: full precision).
    ``act_max``: updated with the per-channel max |input| of q_proj (``qkv``), o_proj
    (``out``) and up_proj (``fc1``), the activations LET's scales start from."""
    sh, pre = shape, f"model.layers.{layer}"
    T, H, KVH, hd = x.shape[0], sh.heads, sh.kv_heads, sh.d_model // sh.heads
    group = H // KVH

    def w(site: str) -> torch.Tensor:
        m = t[linear_name(layer, site)]
        return m if bits is None else lwc_fake_quant(m, *clip[site], bits[0])

    def a(v: torch.Tensor) -> torch.Tensor:
        return v if bits is None else _act_fake_quant(v, bits[1])

    def norm(v: torch.Tensor, name: str) -> torch.Tensor:
        return v * torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + sh.rms_eps) * t[name]

    def seen(key: str, v: torch.Tensor) -> torch.Tensor:
        if act_max is not None:
            m = v.detach().abs().amax(0)
            act_max[key] = torch.maximum(act_max[key], m) if key in act_max else m
        return v

    xn = a(seen("qkv", norm(x, f"{pre}.input_layernorm.weight")))
    q = (xn @ w("q_proj").T).view(T, H, hd).transpose(0, 1)
    k = (xn @ w("k_proj").T).view(T, KVH, hd).transpose(0, 1)
    v = (xn @ w("v_proj").T).view(T, KVH, hd).transpose(0, 1)
    q, k = _rope(q, sh.rope_theta), _rope(k, sh.rope_theta)
    scores = q @ k.repeat_interleave(group, dim=0).transpose(1, 2) / hd**0.5
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    p = scores.masked_fill(~mask, float("-inf")).softmax(-1)
    att = (p @ v.repeat_interleave(group, dim=0)).transpose(0, 1).reshape(T, H * hd)
    h = x + a(seen("out", att)) @ w("o_proj").T
    xn = a(seen("fc1", norm(h, f"{pre}.post_attention_layernorm.weight")))
    f = torch.nn.functional.silu(xn @ w("gate_proj").T) * (xn @ w("up_proj").T)
    return h + a(f) @ w("down_proj").T


def let_init(t: dict[str, torch.Tensor], layer: int, shape, act_max: dict[str, torch.Tensor],
             alpha: float = LET_ALPHA) -> dict[str, torch.Tensor]:
    """LET's initial scales, ``clamp(act^α / w^(1-α), 1e-5)`` per input channel, with ``act``
    the full-precision max |input| (:func:`block_forward`'s ``act_max``) and ``w`` the max
    |weight| over the rows of q_proj (qkv), up_proj (fc1) and o_proj (out); ``qkt`` starts
    at ones.  Under grouped-query attention the out scale of a KV-head channel takes the
    max over the query heads that read it, of both activations and weights."""
    sh = shape
    hd = sh.d_model // sh.heads
    group = sh.heads // sh.kv_heads

    def scale(act: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return (act.clamp(min=1e-5).pow(alpha) / w.clamp(min=1e-5).pow(1 - alpha)).clamp(min=1e-5)

    def per_kv(v: torch.Tensor) -> torch.Tensor:  # (heads·hd,) -> (kv_heads·hd,) by max
        return v.view(sh.kv_heads, group, hd).amax(1).reshape(-1)

    w = {s: t[linear_name(layer, s)].abs().amax(0) for s in ("q_proj", "up_proj", "o_proj")}
    return {"s_qkv": scale(act_max["qkv"], w["q_proj"]),
            "s_fc1": scale(act_max["fc1"], w["up_proj"]),
            "s_out": scale(per_kv(act_max["out"]), per_kv(w["o_proj"])),
            "s_qkt": torch.ones(sh.kv_heads * hd, dtype=w["q_proj"].dtype)}


def calibrate_layer(t: dict[str, torch.Tensor], layer: int, shape, x_q: list[torch.Tensor],
                    target: list[torch.Tensor], bits: tuple[int, int], epochs: int,
                    let: dict[str, torch.Tensor] | None = None, lr_lwc: float = LR_LWC,
                    lr_let: float = LR_LET
                    ) -> tuple[dict[str, torch.Tensor], dict, list[float], dict]:
    """Train layer ``layer``'s LWC logits and LET scales (qkv, fc1, out, q/k; starting at
    ``let``, :func:`let_init`, or ones) so that the quantized layer on ``x_q`` (its quantized
    inputs, (T, d) each) matches ``target`` (the full-precision chain's outputs): MSE, AdamW,
    no weight decay, one sample per step, in the given order (deterministic).  Returns the
    tensors with the scales folded in, the LWC logits per site, the mean loss of each epoch
    and the scales as folded (clamped, ``s_qkt`` tied)."""
    sh = shape
    d_kv = sh.kv_heads * (sh.d_model // sh.heads)
    dt = t[linear_name(layer, "q_proj")].dtype
    if let is None:
        let = {"s_qkv": torch.ones(sh.d_model, dtype=dt), "s_fc1": torch.ones(sh.d_model, dtype=dt),
               "s_out": torch.ones(d_kv, dtype=dt), "s_qkt": torch.ones(d_kv, dtype=dt)}
    raw = {k: v.to(dt).clone().requires_grad_(True) for k, v in let.items()}
    clip = {s: (torch.full((t[linear_name(layer, s)].shape[0],), LWC_INIT, dtype=dt,
                           requires_grad=True),
                torch.full((t[linear_name(layer, s)].shape[0],), LWC_INIT, dtype=dt,
                           requires_grad=True)) for s in SITES}
    opt = torch.optim.AdamW([{"params": list(raw.values()), "lr": lr_let},
                             {"params": [p for pair in clip.values() for p in pair],
                              "lr": lr_lwc}], weight_decay=0.0)

    def scales() -> dict[str, torch.Tensor]:
        s = {k: v.clamp(min=1e-5) for k, v in raw.items()}
        s["s_qkt"] = tie_rotary_pairs(s["s_qkt"], sh.kv_heads)
        return s

    def folded() -> dict[str, torch.Tensor]:
        return apply_let(t, layer, sh.heads, sh.kv_heads, **scales())

    losses = []
    for _ in range(epochs):
        total = 0.0
        for xi, yi in zip(x_q, target):
            loss = torch.nn.functional.mse_loss(block_forward(xi, folded(), layer, sh, bits, clip),
                                                yi)
            if not torch.isfinite(loss):
                raise NeurosimError(f"OmniQuant diverged at layer {layer}: the calibration loss "
                                    "is not finite (fewer --epochs, or --calibration minmax)")
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach())
        losses.append(total / len(x_q))
    with torch.no_grad():
        return ({k: v.detach() for k, v in folded().items()},
                {s: (u.detach(), lo.detach()) for s, (u, lo) in clip.items()}, losses,
                {k: v.detach() for k, v in scales().items()})


def calibrate(tensors: dict[str, torch.Tensor], shape, windows: list, bits: tuple[int, int],
              epochs: int, progress=None, resume: Path | None = None,
              key: dict[str, Any] | None = None
              ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """OmniQuant over every decoder layer, first to last, in float32: each layer's LET
    starts from :func:`let_init` on the full-precision chain's activations, is trained on
    the quantized chain's inputs against the full-precision chain's outputs, then feeds its
    quantized outputs to the next (the released code's block-wise scheme).  ``windows``:
    token-id arrays.  Returns the tensors with every LET folded in and the learned parameters
    (:func:`apply_parameters` folds them into the checkpoint's tensors again).

    ``resume``: a directory where the state after each layer is kept (atomically, with
    checksums); a run that finds the state of an equal ``key`` there continues after its
    last layer and gives the same result as an uninterrupted one.  ``progress(done, total)``
    counts layers."""
    t = {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in tensors.items()}
    emb = t["model.embed_tokens.weight"]
    h_fp = [emb[torch.as_tensor(w)] for w in windows]
    h_q = [h.clone() for h in h_fp]
    params: dict[str, torch.Tensor] = {}
    first = 0
    if resume is not None:
        state = _load_state(resume, key or {}, shape, len(windows))
        if state is not None:
            first, saved = state
            t.update({k: v for k, v in saved.items() if k.startswith("model.")})
            h_fp = list(saved["h_fp"].unbind(0))
            h_q = list(saved["h_q"].unbind(0))
            params = {k: v for k, v in saved.items() if k.startswith(("let.", "clip."))}
            if progress is not None:
                progress(first, shape.layers)
    for L in range(first, shape.layers):
        act: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            target = [block_forward(h, t, L, shape, act_max=act) for h in h_fp]
        t, clip, _, let = calibrate_layer(t, L, shape, h_q, target, bits, epochs,
                                          let=let_init(t, L, shape, act))
        with torch.no_grad():
            h_q = [block_forward(h, t, L, shape, bits, clip) for h in h_q]
        h_fp = target
        params.update({f"let.{L}.{k}": v for k, v in let.items()})
        for s, (up, low) in clip.items():
            params[f"clip.{L}.{s}.up"], params[f"clip.{L}.{s}.low"] = up, low
        if resume is not None and L + 1 < shape.layers:
            _save_state(resume, key or {}, L + 1, t, params, h_fp, h_q)
        if progress is not None:
            progress(L + 1, shape.layers)
    return t, params


LET_NAMES = ("s_qkv", "s_fc1", "s_out", "s_qkt")


def parameter_shapes(shape) -> dict[str, tuple[int]]:
    """Name and shape of every learned parameter: ``let.<L>.<scale>`` (d,) or (d_kv,) and
    ``clip.<L>.<site>.up``/``.low`` (rows of the site,)."""
    weights = tensor_names(shape)
    let = {"s_qkv": shape.d_model, "s_fc1": shape.d_model, "s_out": shape.d_kv,
           "s_qkt": shape.d_kv}
    out: dict[str, tuple[int]] = {}
    for L in range(shape.layers):
        out.update({f"let.{L}.{k}": (n,) for k, n in let.items()})
        for site in SITES:
            rows = (weights[linear_name(L, site)][0],)
            out[f"clip.{L}.{site}.up"] = out[f"clip.{L}.{site}.low"] = rows
    return out


def apply_parameters(tensors: dict[str, torch.Tensor], shape, params: dict[str, torch.Tensor]
                     ) -> tuple[dict[str, torch.Tensor], dict]:
    """The checkpoint's tensors (in float32) with learned LET scales folded in, as
    :func:`calibrate` returns them, and the LWC logits per (layer, site)."""
    t = {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in tensors.items()}
    for L in range(shape.layers):
        t = apply_let(t, L, shape.heads, shape.kv_heads,
                      **{k: params[f"let.{L}.{k}"] for k in LET_NAMES})
    return t, clips_of(params, shape.layers)


def clips_of(params: dict[str, torch.Tensor], layers: int
             ) -> dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]]:
    """The LWC logits (up, low) per (layer, site) of a parameter set."""
    return {(L, s): (params[f"clip.{L}.{s}.up"], params[f"clip.{L}.{s}.low"])
            for L in range(layers) for s in SITES}


def calibration_dir() -> Path:
    """Directory of shipped parameter sets (``$NEUROSIM_CALIBRATION`` overrides it)."""
    return shipped_dir("models/calibration", "NEUROSIM_CALIBRATION")


def parameters_path(ref: str | Path) -> Path:
    """A parameter set's directory: an existing path as given, else a shipped name."""
    path = Path(ref)
    if path.is_dir():
        return path
    shipped = calibration_dir() / str(ref)
    if os.sep not in str(ref) and shipped.is_dir():
        return shipped
    names = sorted(p.name for p in calibration_dir().glob("*") if p.is_dir()) \
        if calibration_dir().is_dir() else []
    raise NotFoundError(str(ref), None, "no such OmniQuant parameter set",
                        expected="a directory written by `neurosim convert --save-parameters`"
                                 f" or one of: {', '.join(names) or '(none shipped)'}")


PARAMS_FORMAT, PARAMS_VERSION = "neurosim.OmniQuantParameters", 1
PARAMS_WHAT = "neurosim OmniQuant parameter set"


def save_parameters(path: Path, key: dict[str, Any], params: dict[str, torch.Tensor]) -> None:
    """Write a parameter set (``parameters.json``, the calibration ``key`` it was trained
    with, and ``parameters.safetensors``) atomically."""
    from safetensors.torch import save_file

    def write(tmp: Path) -> list[str]:
        save_file({k: v.contiguous() for k, v in params.items()},
                  str(tmp / "parameters.safetensors"))
        return ["parameters.safetensors"]

    write_dir(Path(path), "parameters.json",
              {"format": PARAMS_FORMAT, "version": PARAMS_VERSION, "key": key}, write,
              PARAMS_WHAT)


def load_parameters(path: Path, shape) -> tuple[dict[str, Any], dict[str, torch.Tensor], str]:
    """A parameter set's key, its tensors (checked against ``shape``: every name, shape,
    float32, finite, scales > 0) and the SHA-256 of its tensor file."""
    path = Path(path)
    meta = read_manifest(path, "parameters.json", PARAMS_FORMAT, PARAMS_VERSION, PARAMS_WHAT,
                         "neurosim convert --save-parameters")
    files = meta.get("files")
    if not isinstance(files, dict) or set(files) != {"parameters.safetensors"} or \
            not isinstance(meta.get("key"), dict):
        raise InputError(str(path / "parameters.json"), "files", "not a parameter set's manifest",
                         expected="a key and the file parameters.safetensors")
    verify_files(path, list(files.items()), True, "write the parameter set again")
    from safetensors.torch import load_file

    f = path / "parameters.safetensors"
    try:
        params = load_file(str(f))
    except (OSError, ValueError, RuntimeError) as exc:
        raise InputError(str(f), None, f"cannot read: {exc}") from None
    want = parameter_shapes(shape)
    if set(params) != set(want):
        missing = sorted(set(want) - set(params)) or sorted(set(params) - set(want))
        raise InputError(str(f), missing[0], "the parameters do not match the model's layers",
                         expected=f"{len(want)} tensors for {shape.layers} layers")
    for name, v in params.items():
        if tuple(v.shape) != want[name] or v.dtype != torch.float32 or \
                not bool(torch.isfinite(v).all()) or \
                (name.startswith("let.") and not bool((v > 0).all())):
            raise InputError(str(f), name, "not a learned parameter of this model",
                             got=f"{v.dtype} {tuple(v.shape)}",
                             expected=f"float32 {want[name]}, finite (scales > 0)")
    return meta["key"], params, files["parameters.safetensors"]


STATE_FORMAT, STATE_VERSION = "neurosim.OmniQuantState", 2


def _save_state(path: Path, key: dict[str, Any], done: int, t: dict[str, torch.Tensor],
                params: dict[str, torch.Tensor], h_fp: list[torch.Tensor],
                h_q: list[torch.Tensor]) -> None:
    """The calibration after ``done`` layers: their folded tensors and learned parameters
    and both chains' hidden states, written atomically."""
    from safetensors.torch import save_file

    layers = tuple(f"model.layers.{L}." for L in range(done))
    keep = {k: v for k, v in t.items() if k.startswith(layers)} | params
    keep["h_fp"], keep["h_q"] = torch.stack(h_fp), torch.stack(h_q)

    def write(tmp: Path) -> list[str]:
        save_file({k: v.contiguous() for k, v in keep.items()}, str(tmp / "state.safetensors"))
        return ["state.safetensors"]

    write_dir(path, "state.json", {"format": STATE_FORMAT, "version": STATE_VERSION,
                                   "key": key, "layers_done": done}, write,
              "neurosim OmniQuant calibration state")


def _load_state(path: Path, key: dict[str, Any], shape, samples: int
                ) -> tuple[int, dict[str, torch.Tensor]] | None:
    """The saved state of a calibration with ``key`` (None: nothing saved, or another
    calibration's, which is then replaced)."""
    try:
        version = json.loads((path / "state.json").read_text()).get("version")
    except (OSError, ValueError, AttributeError):
        return None
    if version != STATE_VERSION:  # another neurosim's state: calibrated again
        return None
    meta = read_manifest(path, "state.json", STATE_FORMAT, STATE_VERSION,
                         "neurosim OmniQuant calibration state", "neurosim convert")
    if meta.get("key") != key:
        return None
    done = meta.get("layers_done")
    if not isinstance(done, int) or isinstance(done, bool) or not 1 <= done < shape.layers:
        raise InputError(str(path / "state.json"), "layers_done", "not a layer count",
                         got=done, expected=f"1 to {shape.layers - 1}; delete the directory")
    verify_files(path, list(meta["files"].items()), True, "delete the directory")
    from safetensors.torch import load_file

    try:
        saved = load_file(str(path / "state.safetensors"))
    except (OSError, ValueError, RuntimeError) as exc:
        raise InputError(str(path / "state.safetensors"), None, f"cannot read: {exc}",
                         expected="delete the directory") from None
    for name in ("h_fp", "h_q"):
        if name not in saved or saved[name].ndim != 3 or saved[name].shape[0] != samples:
            raise InputError(str(path / "state.safetensors"), name,
                             "not the hidden states of this calibration",
                             expected="delete the directory")
    return done, saved


def quantize_weight_clipped(w: torch.Tensor, up: torch.Tensor, low: torch.Tensor, bits: int
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`lwc_fake_quant`'s integer form: codes (out, in) uint8, scale (out,) float32,
    zero (out,) int16, with ``(codes - zero)·scale`` its fake-quantized weights."""
    levels = 2**bits - 1
    hi = torch.sigmoid(up) * w.amax(dim=1)
    lo = torch.sigmoid(low) * w.amin(dim=1)
    scale = ((hi - lo) / levels).clamp(1e-5, 1e4)
    zero = torch.round(-lo / scale)
    q = torch.clamp(torch.round(w / scale[:, None]) + zero[:, None], 0, levels)
    return q.to(torch.uint8), scale.to(torch.float32), zero.to(torch.int16)
