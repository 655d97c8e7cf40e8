"""Conversion, traces and real-traffic replay on a tiny random LLaMA built in the test."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from neurosim.api import run  # noqa: E402
from neurosim.cards import load_card  # noqa: E402
from neurosim.convert.artifact import load_artifact  # noqa: E402
from neurosim.convert.checkpoint import load_checkpoint  # noqa: E402
from neurosim.convert.model import LINEAR_SITES, LlamaRunner, Recorder  # noqa: E402
from neurosim.convert.record import record_trace, trace_runner  # noqa: E402
from neurosim.convert.spikellm import convert  # noqa: E402
from neurosim.convert.text import load_text  # noqa: E402
from neurosim.errors import InputError  # noqa: E402
from neurosim.traffic.trace import SpikeTrace  # noqa: E402

REFUSALS_CHECKED = True  # conftest: every refusal one line, nothing written, in time

CARD = """\
schema_version: 1
name: tiny-spikellm
family: llama
title: tiny random LLaMA
summary: built by the tests
architecture: {{layers: 2, d_model: 32, heads: 4, kv_heads: 2, d_ffn: 48, vocab: {vocab},
  max_context: 256, tied_embeddings: false, source: test}}
spiking: {{scheme: spikellm, abits: 4, addbit: 1, salient_fraction: 0.1, weight_bits: 4,
  kv_addbit: 1, calibration: minmax, source: test}}
weights: {{source: path, path: {path}, format: hf}}
traffic: {{default: real, seed: 0}}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A random 2-layer GQA LLaMA saved as a Hugging Face directory, a BPE tokenizer
    trained on the calibration text, and a card pointing at them."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    d = tmp_path_factory.mktemp("tiny")
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    tok.train_from_iterator([load_text("pydoc-calib").body[:100_000]],
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["[UNK]"]))
    PreTrainedTokenizerFast(tokenizer_object=tok).save_pretrained(d)
    cfg = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=48,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=256, tie_word_embeddings=False, rms_norm_eps=1e-5)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():  # larger weights than the default init, so codes vary
        for p in model.parameters():
            p.mul_(20.0 if p.ndim == 2 else 1.0)
    model.save_pretrained(d, safe_serialization=True)
    card = d / "tiny.yaml"
    card.write_text(CARD.format(vocab=cfg.vocab_size, path=d))
    return d, model, card


@pytest.fixture(scope="module")
def artifact(tiny, tmp_path_factory):
    d, _, card = tiny
    return convert(load_card(card), tmp_path_factory.mktemp("art") / "a", calib_samples=2,
                   window=64, calibration="minmax")


def test_fp_forward_equals_transformers(tiny):
    d, model, _ = tiny
    ids = torch.arange(3, 43) % model.config.vocab_size
    ref = model(ids[None]).logits[0]
    runner = LlamaRunner.from_checkpoint(load_checkpoint(d), "fp")
    torch.testing.assert_close(runner.forward(ids), ref, atol=1e-4, rtol=1e-4)
    cache = runner.new_cache()  # chunks through the KV cache equal one pass
    parts = [runner.forward(ids[i:i + 16], cache) for i in range(0, 40, 16)]
    torch.testing.assert_close(torch.cat(parts), ref, atol=1e-4, rtol=1e-4)


def test_artifact_holds_the_quantized_model(tiny, artifact):
    d, _, card = tiny
    ckpt = load_checkpoint(d)
    w4 = LlamaRunner.from_checkpoint(ckpt, "w4a4")
    for L in range(2):
        for site in LINEAR_SITES:
            np.testing.assert_array_equal(artifact.dequantized_weight(L, site),
                                          w4.weights[(L, site)].numpy())
            codes = artifact.weight_codes(L, site)
            assert codes.max() <= 15
    masks = artifact.masks()
    assert {k: int(v.sum()) for k, v in masks.items()} == {
        (L, s): round(0.1 * (48 if s == "down_proj" else 16 if s.endswith("cache") else 32))
        for L in range(2) for s in (*LINEAR_SITES, "k_cache", "v_cache")}
    meta = json.loads((artifact.path / "artifact.json").read_text())
    assert meta["source"]["sha256"] == ckpt.sha256 and meta["calibration"]["samples"] == 2


def test_trace_streams_chunks_equal_to_one_pass(tiny, artifact, tmp_path):
    _, _, card = tiny
    trace = record_trace(artifact, load_card(card), "pydoc-eval", 40, tmp_path / "t",
                         chunk_tokens=16)
    assert trace.tokens == 40 and [c["stop"] for c in trace.meta["chunks"]] == [16, 32, 40]
    rec = Recorder()
    trace_runner(artifact).forward(torch.from_numpy(trace.token_ids), record=rec)
    codes = rec.take()
    from neurosim.graph.lower import lower

    one_pass = np.concatenate([codes[(g.layer, g.site)] for g in lower(load_card(card)).groups], 1)
    np.testing.assert_array_equal(trace.rows(), one_pass)
    assert trace.rows().max() <= 30 and trace.codes(3).shape == (2, trace.width)


def test_real_replay_counts_nonzero_weights(tiny, artifact, tmp_path, monkeypatch):
    # synops of a linear block = Σ over the token's nonzero graded spikes of the column's
    # nonzero integer weights (the card's graph carries the artifact's real fan-out)
    d, _, card = tiny
    monkeypatch.setenv("NEUROSIM_CACHE", str(tmp_path / "cache"))
    res = run(str(card), "loihi2", tokens=3, traffic="real")
    assert res.traffic == "real" and res.provenance["traffic"]["kind"] == "real"
    art = load_artifact(next((tmp_path / "cache" / "artifacts").iterdir()))
    trace = SpikeTrace.open(next((tmp_path / "cache" / "traces").iterdir()))
    off = 0
    from neurosim.graph.lower import lower

    groups = lower(load_card(card)).groups
    for g in groups:
        if g.site == "q_proj" and g.layer == 1:
            break
        off += g.size
    fan = (art.weight_int(1, "q_proj") != 0).sum(axis=0)
    for t in range(3):
        spikes = trace.codes(t)[:, off:off + 32]
        want = int(((spikes != 0) * fan).sum())
        got = res.sites.query("token == @t and block == 'L1.q_proj'")["synops"].item()
        assert got == want


def test_artifact_and_trace_load_without_torch(tiny, artifact, tmp_path):
    _, _, card = tiny
    record_trace(artifact, load_card(card), "pydoc-eval", 8, tmp_path / "t")
    code = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # any import of torch now fails
        from neurosim.cards import load_card
        from neurosim.convert.artifact import load_artifact
        from neurosim.convert.fanout import with_weights
        from neurosim.graph.lower import lower
        from neurosim.replay.engine import Replayer
        from neurosim.replay.plan import build_plan
        from neurosim.traffic.trace import RealTraffic, SpikeTrace
        g = with_weights(lower(load_card({str(card)!r})), load_artifact({str(artifact.path)!r}))
        src = RealTraffic(SpikeTrace.open({str(tmp_path / "t")!r}), g)
        r = Replayer(build_plan(g, None, 32), False)
        print(sum(int(r.token(src.codes(i), i).synops.sum()) for i in range(8)))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 0


# --- bad input: one line, exit 2, nothing left behind -------------------------------------


def _one_line(res, *words):
    assert res.code == 2, res.err
    line = res.err.strip()
    assert "\n" not in line and "Traceback" not in line
    for w in words:
        assert w in line, line


def test_not_llama_checkpoint(tiny, tmp_path, cli):
    d, _, card = tiny
    other = tmp_path / "gpt"
    shutil.copytree(d, other)
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**cfg, "model_type": "gpt2"}))
    _one_line(cli("convert", "--model", str(card), "--checkpoint", str(other), "--out",
                  str(tmp_path / "o")), "model_type", "not a LLaMA-family")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("edit, words", [
    ({"num_attention_heads": 0}, ("num_attention_heads", "out of range")),
    ({"hidden_size": "wide"}, ("not a number of the right kind",)),
    ({"num_hidden_layers": None}, ("not a number of the right kind",)),
    ({"vocab_size": 10**30}, ("vocab_size", "out of range")),
])
def test_bad_config_values(tiny, tmp_path, cli, edit, words):
    """A config.json with zero heads or values of the wrong kind: one line, not a
    ZeroDivisionError or AttributeError."""
    d, _, card = tiny
    other = tmp_path / "bad"
    shutil.copytree(d, other)
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**cfg, **edit}))
    _one_line(cli("convert", "--model", str(card), "--checkpoint", str(other), "--out",
                  str(tmp_path / "o")), "config.json", *words)
    assert not (tmp_path / "o").exists()


def test_gguf_of_another_architecture(tiny, tmp_path, cli):
    import gguf

    _, _, card = tiny
    path = tmp_path / "m.gguf"
    w = gguf.GGUFWriter(str(path), "gpt2")
    w.add_tensor("x", np.zeros(4, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    _one_line(cli("convert", "--model", str(card), "--checkpoint", str(path), "--out",
                  str(tmp_path / "o")), "general.architecture", "gpt2")


def test_missing_tensor(tiny, tmp_path, cli):
    from safetensors.torch import load_file, save_file

    d, _, card = tiny
    broken = tmp_path / "broken"
    shutil.copytree(d, broken)
    t = load_file(str(broken / "model.safetensors"))
    del t["model.layers.1.mlp.up_proj.weight"]
    save_file(t, str(broken / "model.safetensors"))
    _one_line(cli("convert", "--model", str(card), "--checkpoint", str(broken), "--out",
                  str(tmp_path / "o")), "model.layers.1.mlp.up_proj.weight", "missing tensor")
    assert not (tmp_path / "o").exists()


def test_truncated_artifact(tiny, artifact, tmp_path, cli):
    _, _, card = tiny
    bad = tmp_path / "art"
    shutil.copytree(artifact.path, bad)
    f = bad / "tensors.safetensors"
    f.write_bytes(f.read_bytes()[:-100])
    _one_line(cli("trace", "--model", str(card), "--artifact", str(bad), "--out",
                  str(tmp_path / "t")), "tensors.safetensors", "SHA-256 mismatch")
    assert not (tmp_path / "t").exists()


def test_corrupted_trace(tiny, artifact, tmp_path, cli):
    _, _, card = tiny
    record_trace(artifact, load_card(card), "pydoc-eval", 8, tmp_path / "t")
    f = tmp_path / "t" / "codes-00000.npy"
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(InputError, match="SHA-256 mismatch"):
        SpikeTrace.open(tmp_path / "t")
    _one_line(cli("fit", "--trace", str(tmp_path / "t"), "--out", str(tmp_path / "f.yaml")),
              "codes-00000.npy", "truncated or corrupted")
    assert not (tmp_path / "f.yaml").exists()


def test_text_shorter_than_tokens(tiny, artifact, tmp_path, cli):
    _, _, card = tiny
    short = tmp_path / "short.txt"
    short.write_text("only a few words here")
    _one_line(cli("trace", "--model", str(card), "--artifact", str(artifact.path), "--text",
                  str(short), "--tokens", "500", "--out", str(tmp_path / "t")),
              "short.txt", "shorter than the tokens asked for")
    assert not (tmp_path / "t").exists()
    _one_line(cli("eval", "--model", str(card), "--artifact", str(artifact.path), "--text",
                  str(short), "--tokens", "500"), "shorter than the tokens")


def test_bin_checkpoint_loads_with_weights_only(tiny, tmp_path):
    from safetensors.torch import load_file

    d, _, _ = tiny
    other = tmp_path / "bin"
    shutil.copytree(d, other)
    torch.save(load_file(str(other / "model.safetensors")), other / "pytorch_model.bin")
    (other / "model.safetensors").unlink()
    a, b = load_checkpoint(other), load_checkpoint(d)
    assert a.tensors.keys() == b.tensors.keys()
    assert all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)


def test_compile_shows_the_real_fanout(tiny, artifact, tmp_path, monkeypatch, cli):
    _, _, card = tiny
    monkeypatch.setenv("NEUROSIM_CACHE", str(tmp_path / "cache"))
    res = cli("compile", "--model", str(card), "--json")
    assert res.code == 0, res.err
    dense = 2 * (32 * (32 + 16 + 16 + 32 + 48 + 48) + 48 * 32)
    assert 0 < res.json()["synapses"] < dense  # 4-bit weights equal to their zero point drop out


def test_fit_roundtrip_and_sampling(tiny, artifact, tmp_path):
    # a fit counts every recorded code; sampling from it reproduces the mean events per site
    from neurosim.graph.lower import lower
    from neurosim.traffic.fitted import FittedTraffic, fit_to_yaml, fit_trace, load_fit

    _, _, card = tiny
    trace = record_trace(artifact, load_card(card), "pydoc-eval", 64, tmp_path / "t")
    fit = fit_trace(trace, "tiny")
    (tmp_path / "tiny.yaml").write_text(fit_to_yaml(fit))
    assert load_fit(tmp_path / "tiny.yaml") == fit
    total = sum(sum(map(sum, c.base)) + sum(map(sum, c.salient)) for c in fit.sites.values())
    assert total == trace.tokens * trace.width
    graph = lower(load_card(card))
    src = FittedTraffic(graph, fit, 4, seed=1)
    real = np.mean([(trace.codes(t) != 0).sum() for t in range(64)])
    synth = np.mean([(src.codes(t) != 0).sum() for t in range(200)])
    assert abs(synth / real - 1) < 0.03


def test_damaged_cached_artifact_is_reported_then_converted_again(tiny, tmp_path, monkeypatch,
                                                                  capsys):
    """A cache entry whose files no longer match their SHA-256 is not used: a one-line
    notice says so, and the artifact is converted again (and then verifies)."""
    from neurosim.cards import load_card
    from neurosim.convert.cache import artifact_for

    _, _, card_path = tiny
    monkeypatch.setenv("NEUROSIM_CACHE", str(tmp_path / "cache"))
    card = load_card(card_path)
    art = artifact_for(card)
    f = art.path / "tensors.safetensors"
    raw = bytearray(f.read_bytes())
    raw[-10] ^= 0xFF
    f.write_bytes(bytes(raw))
    capsys.readouterr()
    again = artifact_for(card)
    notes = capsys.readouterr().err.strip().splitlines()
    assert len(notes) == 1 and "cached artifact is damaged" in notes[0]
    assert "SHA-256 mismatch" in notes[0]
    assert load_artifact(again.path).sha256 == art.sha256  # the same conversion, whole again


ARTIFACT_EDITS = [  # (edit of artifact.json, key named in the one-line error)
    (lambda m: m["architecture"].update(layers=3), "shapes"),
    (lambda m: m["architecture"].update(d_model="32"), "architecture.d_model"),
    (lambda m: m["architecture"].update(heads=5), "architecture.heads"),
    (lambda m: m["architecture"].pop("vocab"), "architecture"),
    (lambda m: m["architecture"].update(rms_eps=0), "architecture.rms_eps"),
    (lambda m: m["spiking"].update(abits=99), "spiking.abits"),
    (lambda m: m["spiking"].update(salient_fraction=2), "spiking.salient_fraction"),
    (lambda m: m["spiking"].update(weight_bits=8), "model.layers.0.self_attn.q_proj.weight.codes"),
    (lambda m: m["shapes"].update({"model.layers.0.mlp.down_proj.weight": [32, 4]}),
     "shapes.model.layers.0.mlp.down_proj.weight"),
    (lambda m: m["files"].update({"../x": "0"}), "files"),
    (lambda m: m.update(model=7), "model"),
    (lambda m: m.update(source=None), "source"),
]


@pytest.mark.parametrize("edit, key", ARTIFACT_EDITS)
def test_edited_artifact_manifest(artifact, tmp_path, cli, edit, key):
    """An artifact.json whose claims were changed, even with its own checksum rewritten, is
    refused naming the key, before any tensor is used; a hand edit that leaves the checksum
    is refused by it."""
    from neurosim._files import seal

    art = tmp_path / "a"
    shutil.copytree(artifact.path, art)
    meta = json.loads((art / "artifact.json").read_text())
    edit(meta)
    (art / "artifact.json").write_text(json.dumps(seal(meta)))
    with pytest.raises(InputError) as err:
        load_artifact(art)
    assert f": {key}: " in str(err.value), str(err.value)
    (art / "artifact.json").write_text(json.dumps({**meta, "manifest_sha256": seal(
        json.loads((artifact.path / "artifact.json").read_text()))["manifest_sha256"]}))
    with pytest.raises(InputError, match="does not match its checksum"):
        load_artifact(art)


@pytest.mark.slow
def test_kill_convert_and_trace(tiny, artifact, tmp_path):
    """SIGKILL at random points of ``convert --out`` (OmniQuant, so its per-layer state is
    written too) and ``trace --out``: each output is then absent or whole and verified, no
    hidden directory holds a manifest, and a rerun after the kill completes."""
    import signal
    import time

    _, _, card = tiny
    cmd = [sys.executable, "-m", "neurosim.cli"]
    jobs = {"convert": ([*cmd, "convert", "--model", str(card), "--calib-samples", "2",
                         "--window", "32", "--epochs", "2", "--out"], load_artifact),
            "trace": ([*cmd, "trace", "--model", str(card), "--artifact", str(artifact.path),
                       "--tokens", "40", "--out"], SpikeTrace.open)}
    rng = np.random.default_rng(3)
    for name, (argv, read) in jobs.items():
        t0 = time.perf_counter()
        subprocess.run([*argv, str(tmp_path / f"{name}-warm")], check=True, capture_output=True)
        wall = time.perf_counter() - t0
        whole = 0
        for i in range(6):
            out = tmp_path / f"{name}{i}"
            proc = subprocess.Popen([*argv, str(out)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(float(rng.uniform(0.4, 1.0)) * wall)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if out.exists():
                read(out)  # raises unless every file is there and matches its manifest
                whole += 1
            hidden = [p for p in tmp_path.iterdir() if p.name.startswith(f".{name}{i}.")
                      and any((p / m).is_file() for m in ("artifact.json", "trace.json"))]
            assert not hidden, hidden
            if i == 0:  # the rerun after a kill finishes (and resumes a calibration)
                subprocess.run([*argv, str(out)], check=True, capture_output=True)
                read(out)
        print(f"{name} --out: 6 kills, {whole} whole, {6 - whole} absent")


def test_omniquant_conversion_is_deterministic(tiny, tmp_path):
    """The reduced-setting OmniQuant calibration gives the same artifact twice (SHA-256) and
    records its method."""
    _, _, card = tiny
    c = load_card(card)
    a = convert(c, tmp_path / "a", calib_samples=2, window=32, calibration="omniquant", epochs=2)
    b = convert(c, tmp_path / "b", calib_samples=2, window=32, calibration="omniquant", epochs=2)
    assert a.sha256 == b.sha256
    assert a.meta["calibration"]["method"] == "omniquant" and a.meta["calibration"]["epochs"] == 2


def test_unknown_calibration(tiny, tmp_path, cli):
    _, _, card = tiny
    with pytest.raises(InputError, match="unknown calibration"):
        convert(load_card(card), tmp_path / "x", calib_samples=1, window=16, calibration="gptq")
    res = cli("convert", "--model", str(card), "--out", str(tmp_path / "y"),
              "--calibration", "gptq")
    assert res.code == 2 and "invalid choice: 'gptq'" in res.err
    assert len(res.err.strip().splitlines()) == 1 and not (tmp_path / "y").exists()


def test_calibration_text_too_short_for_the_windows(tiny, tmp_path, cli):
    _, _, card = tiny
    short = tmp_path / "short.txt"
    short.write_text("x = 1\n" * 4)
    res = cli("convert", "--model", str(card), "--out", str(tmp_path / "a"), "--calib-text",
              str(short), "--calib-samples", "4", "--window", "64", "--epochs", "1")
    assert res.code == 2 and "text is shorter than the tokens asked for" in res.err, res.err
    assert len(res.err.strip().splitlines()) == 1 and not (tmp_path / "a").exists()


def test_interrupted_calibration_resumes_at_the_layer_it_reached(tiny, tmp_path, monkeypatch):
    """A calibration killed while training layer 1 of 2 leaves the state after layer 0; the
    rerun starts at layer 1 and writes the same artifact as an uninterrupted run."""
    from neurosim.convert import omniquant

    _, _, card = tiny
    c = load_card(card)
    kw = {"calib_samples": 2, "window": 32, "calibration": "omniquant", "epochs": 2}
    whole = convert(c, tmp_path / "whole", **kw)
    real, trained = omniquant.calibrate_layer, []

    def dies_at_layer_1(t, layer, *args, **kwargs):
        trained.append(layer)
        if layer == 1 and len(trained) == 2:
            raise KeyboardInterrupt
        return real(t, layer, *args, **kwargs)

    monkeypatch.setattr(omniquant, "calibrate_layer", dies_at_layer_1)
    with pytest.raises(KeyboardInterrupt):
        convert(c, tmp_path / "again", **kw)
    assert not (tmp_path / "again").exists()
    assert (tmp_path / ".again.omniquant" / "state.json").is_file()
    again = convert(c, tmp_path / "again", **kw)
    assert trained == [0, 1, 1]  # layer 0 was not trained again
    assert again.sha256 == whole.sha256
    assert not (tmp_path / ".again.omniquant").exists()


def test_learned_parameters_give_the_trained_artifact(tiny, tmp_path, monkeypatch, cli):
    """A parameter set saved by a trained conversion, applied without training (given, or
    named by the card), gives the artifact with the same SHA-256; a set trained with other
    settings is refused when given and ignored (trained) when it is the card's."""
    from neurosim.convert import omniquant

    _, _, card = tiny
    c = load_card(card)
    kw = {"calib_samples": 2, "window": 32, "calibration": "omniquant", "epochs": 1}
    trained = convert(c, tmp_path / "trained", save_parameters=tmp_path / "p", **kw)
    assert trained.meta["calibration"]["parameters"] == "trained"
    key, params, _ = omniquant.load_parameters(tmp_path / "p", trained.shape)
    assert key["epochs"] == 1 and len(params) == 2 * (4 + 2 * 7)

    def no_training(*args, **kwargs):
        raise AssertionError("trained although a matching parameter set was given")

    monkeypatch.setattr(omniquant, "calibrate_layer", no_training)
    given = convert(c, tmp_path / "given", parameters=tmp_path / "p", **kw)
    assert given.sha256 == trained.sha256
    assert given.meta["calibration"]["parameters"] == str(tmp_path / "p")

    shipped = tmp_path / "shipped"
    shutil.copytree(tmp_path / "p", shipped / "tiny-1ep")
    monkeypatch.setenv("NEUROSIM_CALIBRATION", str(shipped))
    named = card.parent / "tiny-named.yaml"
    named.write_text(card.read_text().replace("calibration: minmax", "calibration: omniquant, "
                                              "calibration_parameters: tiny-1ep"))
    assert convert(load_card(named), tmp_path / "named", **kw).sha256 == trained.sha256
    with pytest.raises(AssertionError, match="trained although"):  # other epochs: trains
        convert(load_card(named), tmp_path / "other", **{**kw, "epochs": 2})
    with pytest.raises(AssertionError, match="trained although"):
        convert(load_card(named), tmp_path / "retrain", retrain=True, **kw)

    res = cli("convert", "--model", str(card), "--out", str(tmp_path / "x"), "--calib-samples",
              "2", "--window", "32", "--calibration", "omniquant", "--epochs", "3",
              "--parameters", str(tmp_path / "p"))
    assert res.code == 2 and "key.epochs" in res.err and "other settings" in res.err, res.err
    res = cli("convert", "--model", str(card), "--out", str(tmp_path / "x"), "--calib-samples",
              "2", "--window", "32", "--calibration", "minmax", "--parameters",
              str(tmp_path / "p"))
    assert res.code == 2 and "--calibration omniquant" in res.err, res.err
    res = cli("convert", "--model", str(card), "--out", str(tmp_path / "x"), "--calibration",
              "omniquant", "--parameters", str(tmp_path / "nowhere"))
    assert res.code == 2 and "no such OmniQuant parameter set" in res.err, res.err
    res = cli("convert", "--model", str(card), "--out", str(tmp_path / "x"), "--calibration",
              "omniquant", "--save-parameters", str(tmp_path / "trained"))
    assert res.code == 2 and "not an OmniQuant parameter set" in res.err, res.err


def test_damaged_parameter_sets_are_refused(tiny, tmp_path, cli):
    """A parameter set whose tensors were changed, truncated, or do not fit the model is
    refused in one line before any conversion."""
    from safetensors.torch import load_file, save_file

    from neurosim._files import file_sha256, seal
    from neurosim.convert import omniquant

    _, _, card = tiny
    c = load_card(card)
    kw = {"calib_samples": 2, "window": 32, "calibration": "omniquant", "epochs": 1}
    convert(c, tmp_path / "a", save_parameters=tmp_path / "good", **kw)
    params = load_file(str(tmp_path / "good" / "parameters.safetensors"))

    def variant(name: str, change) -> str:
        d = tmp_path / name
        shutil.copytree(tmp_path / "good", d)
        p = dict(params)
        change(p)
        save_file(p, str(d / "parameters.safetensors"))
        meta = json.loads((d / "parameters.json").read_text())
        meta["files"]["parameters.safetensors"] = file_sha256(d / "parameters.safetensors")
        del meta["manifest_sha256"]
        (d / "parameters.json").write_text(json.dumps(seal(meta)))
        return str(d)

    cases = {
        "negative scale": variant("neg", lambda p: p["let.0.s_qkv"].neg_()),
        "a layer missing": variant("short", lambda p: p.pop("clip.1.down_proj.up")),
        "wrong shape": variant("shape", lambda p: p.update(
            {"let.1.s_fc1": torch.ones(7, dtype=torch.float32)})),
        "not finite": variant("nan", lambda p: p["clip.0.q_proj.low"].fill_(float("nan"))),
    }
    changed = tmp_path / "changed"
    shutil.copytree(tmp_path / "good", changed)
    with open(changed / "parameters.safetensors", "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\0\0\0\1")
    cases["edited after it was written"] = str(changed)
    for what, path in cases.items():
        res = cli("convert", "--model", str(card), "--out", str(tmp_path / "x"),
                  "--calib-samples", "2", "--window", "32", "--calibration", "omniquant",
                  "--epochs", "1", "--parameters", path)
        assert res.code == 2 and path in res.err, (what, res.err)
    assert omniquant.load_parameters(tmp_path / "good", load_artifact(tmp_path / "a").shape)


def test_eval_reports_every_pipeline(tiny, artifact, tmp_path, cli):
    """eval on a min-max artifact gives FP, min-max W4A4, SpikeLLM min-max and the halves;
    on an OmniQuant artifact also OmniQuant W4A4, SpikeLLM OmniQuant and W4-only OmniQuant,
    with the same min-max figures (one checkpoint, the salient channels shared)."""
    from neurosim.convert.evaluate import nll_sum

    _, _, card = tiny
    oq = convert(load_card(card), tmp_path / "oq", calib_samples=2, window=64,
                 calibration="omniquant", epochs=1)  # the fixture's calibration windows
    runs = {}
    for name, art in (("minmax", artifact), ("omniquant", oq)):
        res = cli("eval", "--model", str(card), "--artifact", str(art.path), "--tokens", "96",
                  "--window", "32", "--json")
        assert res.code == 0, res.err
        runs[name] = res.json()
    mm, om = runs["minmax"], runs["omniquant"]
    base = {"ppl_fp", "ppl_w4a4", "ppl_spikellm_minmax", "ppl_w4a16", "ppl_w16a4"}
    assert {k for k in mm if k.startswith("ppl_")} == base | {"ppl_spikellm"}
    assert {k for k in om if k.startswith("ppl_")} == base | {
        "ppl_spikellm", "ppl_omniquant_w4a4", "ppl_spikellm_omniquant", "ppl_omniquant_w4a16"}
    assert mm["ppl_spikellm"] == mm["ppl_spikellm_minmax"] and mm["calibration"] == "minmax"
    assert om["ppl_spikellm"] == om["ppl_spikellm_omniquant"]
    assert all(mm[k] == om[k] for k in base)
    # min-max W4A4 from the checkpoint is the min-max artifact's own integer model
    from neurosim.convert.record import text_ids

    ids, _ = text_ids(artifact, "pydoc-eval", 96)
    total, count = nll_sum(LlamaRunner.from_artifact(artifact, "w4a4"), ids, 32)
    assert np.isclose(np.exp(total / count), mm["ppl_w4a4"], rtol=1e-6)


def test_cached_conversion_follows_the_cards_calibration(tiny, tmp_path, monkeypatch):
    """A run needing real traffic converts with the card's spiking.calibration and
    calibration_epochs; the card without them (the schema's default) is OmniQuant."""
    d, _, card = tiny
    text = card.read_text().replace("calibration: minmax", "calibration: omniquant, "
                                    "calibration_epochs: 1")
    oq_card = d / "tiny-oq.yaml"
    oq_card.write_text(text.replace("name: tiny-spikellm", "name: tiny-spikellm-oq"))
    monkeypatch.setenv("NEUROSIM_CACHE", str(tmp_path / "cache"))
    run(str(oq_card), "loihi2", tokens=1, traffic="real")
    art = load_artifact(next((tmp_path / "cache" / "artifacts").iterdir()))
    assert art.meta["calibration"]["method"] == "omniquant"
    assert art.meta["calibration"]["epochs"] == 1
    bare = load_card(card).model_dump()
    del bare["spiking"]["calibration"]
    from neurosim.cards.schema import SpikeLLMScheme

    assert SpikeLLMScheme(**bare["spiking"]).calibration == "omniquant"


def test_damaged_cached_trace_is_reported_then_recorded_again(tiny, tmp_path, monkeypatch,
                                                              capsys):
    """A cached trace written by an older neurosim (no manifest checksum) or damaged since is
    not used: a one-line notice, then it is recorded again, equal to the first."""
    _, _, card = tiny
    monkeypatch.setenv("NEUROSIM_CACHE", str(tmp_path / "cache"))
    first = run(str(card), "loihi2", tokens=2, traffic="real")
    path = next((tmp_path / "cache" / "traces").iterdir())
    meta = json.loads((path / "trace.json").read_text())
    del meta["manifest_sha256"]
    (path / "trace.json").write_text(json.dumps(meta))
    capsys.readouterr()
    again = run(str(card), "loihi2", tokens=2, traffic="real")
    notes = capsys.readouterr().err.strip().splitlines()
    assert len(notes) == 1 and "cached trace is damaged" in notes[0], notes
    assert SpikeTrace.open(path).meta["manifest_sha256"]
    assert again.tokens["synops"].tolist() == first.tokens["synops"].tolist()
