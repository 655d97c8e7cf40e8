"""Hostile files given to every reader: one line, exit 2, within a second, nothing written.

Each kind of file (an alias bomb, deep nesting, overlong numbers, a FIFO, /dev/zero, a
directory, a symlink loop, a file past the size limit, bytes that are not UTF-8 ...) goes to
each command that reads one (a profile, a model card, a sweep spec, a NIR network, a text).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from neurosim._read import MAX_TEXT_BYTES

REFUSALS_CHECKED = True  # conftest: every refusal one line, nothing written, in time

BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{k}: &{k} [{', '.join([f'*{chr(ord(k) - 1)}'] * 9)}]\n" for k in "bcdefghi")


def _make(kind: str, tmp: Path) -> Path:
    """A hostile input of ``kind`` under ``tmp``."""
    f = tmp / f"{kind}.yaml"
    if kind == "alias_bomb":
        f.write_text(BOMB)
    elif kind == "deep_nesting":
        f.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    elif kind == "int_5000_digits":
        f.write_text("schema_version: " + "9" * 5000 + "\n")
    elif kind == "int_500_digits":
        f.write_text("schema_version: 1\nname: x\nvalue: " + "9" * 500 + "\n")
    elif kind == "float_60_digits":
        f.write_text("schema_version: 1\nx: 1." + "3" * 60 + "e5\n")
    elif kind == "fifo":
        os.mkfifo(f)
    elif kind == "dev_zero":
        return Path("/dev/zero")
    elif kind == "directory":
        f.mkdir()
    elif kind == "symlink_loop":
        os.symlink(tmp / "loop_b.yaml", f)
        os.symlink(f, tmp / "loop_b.yaml")
    elif kind == "too_large":
        with open(f, "wb") as fh:  # sparse: no disk used
            fh.truncate(MAX_TEXT_BYTES + 1)
    elif kind == "not_utf8":
        f.write_bytes(b"schema_version: 1\nname: \xff\xfe\xfd\n")
    elif kind == "binary":
        f.write_bytes(bytes(range(256)) * 8)
    elif kind == "empty":
        f.write_text("")
    elif kind == "top_level_list":
        f.write_text("- 1\n- 2\n")
    return f


KINDS = ["alias_bomb", "deep_nesting", "int_5000_digits", "int_500_digits", "float_60_digits",
         "fifo", "dev_zero", "directory", "symlink_loop", "too_large", "not_utf8", "binary",
         "empty", "top_level_list"]
READERS = {
    "profile": lambda f, out: ("profiles", "validate", str(f)),
    "card": lambda f, out: ("models", "show", str(f)),
    "run_profile": lambda f, out: ("run", "--model", "spikellm-tiny", "--profile", str(f),
                                   "--out", str(out)),
    "run_card": lambda f, out: ("run", "--model", str(f), "--profile", "loihi2",
                                "--out", str(out)),
    "sweep_spec": lambda f, out: ("sweep", str(f), "--out", str(out)),
}


def test_symlink_loop_is_named(cli, tmp_path):
    f = _make("symlink_loop", tmp_path)
    for argv in (("profiles", "validate", str(f)), ("models", "show", str(f))):
        res = cli(*argv)
        assert res.code == 2 and "Too many levels of symbolic links" in res.err, res.err


def test_empty_model_name(cli):
    res = cli("run", "--model", "", "--profile", "loihi2")
    assert res.code == 2 and "empty model card name" in res.err, res.err


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("kind", KINDS)
def test_hostile_file(cli, tmp_path, kind, reader):
    f = _make(kind, tmp_path)
    out = tmp_path / "out"
    before = sorted(p.name for p in tmp_path.iterdir())
    t0 = time.perf_counter()
    res = cli(*READERS[reader](f, out))
    took = time.perf_counter() - t0
    assert res.code == 2, (res.code, res.err[-500:])
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurosim: error: "), res.err[-500:]
    assert "Traceback" not in res.err and len(lines[0]) < 600
    assert took < 5, took  # seconds: the bomb, the FIFO and /dev/zero are refused at once
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "directory", "symlink_loop", "binary"])
def test_hostile_network_file(cli, tmp_path, kind):
    f = _make(kind, tmp_path)
    nir_path = f.with_suffix(".nir") if f.parent == tmp_path else f
    if nir_path != f:
        os.rename(f, nir_path)
    model = str(nir_path) if str(nir_path).endswith(".nir") else str(nir_path) + ".nir"
    res = cli("run", "--model", model, "--profile", "loihi2", "--rate", "0.1", "--steps", "3")
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1, res.err[-500:]
    assert "Traceback" not in res.err


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "directory", "symlink_loop", "too_large",
                                  "not_utf8", "empty"])
def test_hostile_text(tmp_path, kind):
    from neurosim.convert.text import load_text
    from neurosim.errors import InputError

    f = _make(kind, tmp_path)
    t0 = time.perf_counter()
    with pytest.raises(InputError):
        load_text(f)
    assert time.perf_counter() - t0 < 1


def test_error_message_of_a_huge_value_is_bounded():
    """The message formatter never builds the text of a whole value."""
    from neurosim.errors import InputError

    big = [[list(range(1000))] * 1000] * 1000  # a billion elements, shared: cheap to make
    t0 = time.perf_counter()
    err = InputError("f.yaml", "key", "bad value", got=big)
    assert time.perf_counter() - t0 < 0.1 and len(str(err)) < 200
    assert "integer of" in str(InputError("f", "k", "bad", got=10**5000))


NUMBERS = [  # (profile field, value, fragment of the one-line error)
    ("memory.0.bandwidth_gb_s", 0, "a rate must be > 0"),
    ("dense_unit.throughput_gflop_s", 1e-320, "a rate must be > 0"),
    ("core.synop_energy_pj", 1e308, "out of range"),
    ("chip.static_power_mw", float("inf"), "must be a finite number"),
    ("chip.static_power_mw", float("nan"), "must be a finite number"),
    ("core.synop_energy_pj", True, "a boolean is not a number"),
    ("core.max_fan_out", 0, "must be > 0"),
    ("core.neuron_state_bits", 0, "must be > 0"),
    ("core.max_weight_bits", 0, "must be > 0"),
    ("system.link.bandwidth_gbit_s", 0, "a rate must be > 0"),
]


@pytest.mark.parametrize("field, value, fragment", NUMBERS)
def test_profile_numbers_that_would_not_be_finite(cli, tmp_path, field, value, fragment):
    """Values that would divide by zero, overflow or pass for numbers are refused when the
    profile is read, so no figure is ever NaN or infinite."""
    import yaml

    from neurosim.hardware import profiles_dir

    data = yaml.safe_load((profiles_dir() / "loihi2.yaml").read_text())
    node = data
    *parents, last = field.split(".")
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    node[last]["value"] = value
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(data))
    for argv in (("profiles", "validate", str(f)),
                 ("run", "--model", "spikellm-tiny", "--profile", str(f), "--tokens", "1")):
        res = cli(*argv)
        assert res.code == 2 and fragment in res.err and field.split(".")[-1] in res.err, res.err
        assert len(res.err.strip().splitlines()) == 1


def test_out_paths_that_cannot_be_results(cli, tmp_path):
    """A file where --out needs a directory, and a directory where fit needs a file: named
    at once, before any work."""
    f = tmp_path / "afile"
    f.write_text("x")
    res = cli("run", "--model", "spikellm-tiny", "--profile", "loihi2", "--out", str(f / "sub"))
    assert res.code == 2 and "which is a file" in res.err, res.err
    d = tmp_path / "adir"
    d.mkdir()
    res = cli("fit", "--trace", str(tmp_path / "no-trace"), "--out", str(d))
    assert res.code == 2 and "--out is a directory" in res.err, res.err
    res = cli("run", "--model", "spikellm-tiny", "--profile", "loihi2", "--tokens", "1",
              "--out", str(d))  # an existing directory that is not a result
    assert res.code == 2 and "is not a neurosim result" in res.err, res.err
    assert list(d.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile"]


def _trace(tmp_path: Path) -> Path:
    """A small real-format trace (two groups, 5 tokens in chunks of 2)."""
    import numpy as np

    from neurosim.traffic.trace import TraceWriter

    out = tmp_path / "trace"
    header = {"model": "x", "artifact_sha256": "0" * 64, "forward_dtype": "float64",
              "neurosim_version": "0.1.0",
              "text": {"name": "t", "sha256": "0" * 64},
              "groups": [{"name": "a", "size": 3, "max_steps": 2}, {"name": "b", "size": 2,
                                                                   "max_steps": 1}],
              "spiking": {"abits": 4, "addbit": 1, "kv_addbit": 1}}
    rows = np.arange(25, dtype=np.uint8).reshape(5, 5) % 16
    with TraceWriter(out, header, np.zeros(5, bool), np.arange(5), chunk_tokens=2) as w:
        w.append(rows)
    return out


def _rewrite(manifest: Path, meta: dict) -> None:
    """Write ``meta`` with a fresh checksum of its own, as a tool that edits manifests (or a
    careful forger) would: its claims must still be checked."""
    import json

    from neurosim._files import seal

    manifest.write_text(json.dumps(seal(meta)))


TRACE_EDITS = [  # (edit of trace.json, fragment of the one-line error)
    (lambda m: m.update(tokens=9), "differs from the tokens the chunks hold"),
    (lambda m: m.update(tokens="5"), "not a token count"),
    (lambda m: m.update(tokens=True), "not a token count"),
    (lambda m: m.update(width=-1), "not a channel count"),
    (lambda m: m.pop("chunks"), "not a list of chunks"),
    (lambda m: m["chunks"][1].update(start=3), "chunks do not cover the tokens in order"),
    (lambda m: m["chunks"][0].update(file="../../etc/passwd"), "not a chunk of this directory"),
    (lambda m: m["chunks"].append("x"), "not a chunk of this directory"),
    (lambda m: m.update(groups=[{"name": "a", "size": 4, "max_steps": 1}]),
     "group sizes do not add up"),
    (lambda m: m.update(groups="ab"), "not a table of neuron groups"),
    (lambda m: m["spiking"].update(abits=0), "not activation bits"),
    (lambda m: m.pop("files"), "not the trace's file table"),
    (lambda m: m.update(format="other"), "not a neurosim spike trace"),
]


@pytest.mark.parametrize("edit, fragment", TRACE_EDITS)
def test_edited_trace_manifest(cli, tmp_path, edit, fragment):
    """A trace.json whose claims were edited is refused with the key, before its data is
    used: fit writes nothing."""
    import json

    from neurosim.traffic.trace import SpikeTrace

    path = _trace(tmp_path)
    SpikeTrace.open(path)  # the untouched trace reads
    meta = json.loads((path / "trace.json").read_text())
    edit(meta)
    _rewrite(path / "trace.json", meta)
    out = tmp_path / "fit.yaml"
    res = cli("fit", "--trace", str(path), "--out", str(out))
    assert res.code == 2 and fragment in res.err, res.err
    assert len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err
    assert not out.exists()


def test_trace_data_that_lies(cli, tmp_path):
    """A chunk of the wrong dtype is called that (not "wrong shape"), and a damaged .npy
    header never draws the advice to load pickles."""
    import json

    import numpy as np

    from neurosim._files import file_sha256

    path = _trace(tmp_path)
    meta = json.loads((path / "trace.json").read_text())
    chunk = path / meta["chunks"][0]["file"]
    np.save(chunk, np.zeros((2, 5), np.int16), allow_pickle=False)
    meta["chunks"][0]["sha256"] = file_sha256(chunk)
    _rewrite(path / "trace.json", meta)
    res = cli("fit", "--trace", str(path), "--out", str(tmp_path / "f.yaml"))
    assert res.code == 2 and "wrong dtype" in res.err and "int16" in res.err, res.err
    np.save(chunk, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    meta["chunks"][0]["sha256"] = file_sha256(chunk)
    _rewrite(path / "trace.json", meta)
    res = cli("fit", "--trace", str(path), "--out", str(tmp_path / "f.yaml"))
    assert res.code == 2 and "allow_pickle" not in res.err and "never loaded" in res.err, res.err


def test_input_tensor_of_objects(cli, tmp_path):
    import numpy as np

    f = tmp_path / "x.npy"
    np.save(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    net = Path(__file__).parent / "data" / "feedforward.nir"
    res = cli("run", "--model", str(net), "--profile", "loihi2", "--input", str(f))
    assert res.code == 2 and "never loaded" in res.err and "allow_pickle" not in res.err, res.err


@pytest.mark.parametrize("edit, fragment", [
    (lambda m: m.pop("neurosim_version"), "neurosim_version: missing or not text"),
    (lambda m: m.update(text="t"), "not the recorded text"),
    (lambda m: m["spiking"].update(addbit=9), "not a number of added bits"),
])
def test_edited_trace_provenance(cli, tmp_path, edit, fragment):
    import json

    path = _trace(tmp_path)
    meta = json.loads((path / "trace.json").read_text())
    edit(meta)
    _rewrite(path / "trace.json", meta)
    res = cli("fit", "--trace", str(path), "--out", str(tmp_path / "f.yaml"))
    assert res.code == 2 and fragment in res.err and "Traceback" not in res.err, res.err


@pytest.mark.parametrize("edit", [
    lambda text: text.replace('"tokens": 5', '"tokens": 4'),
    lambda text: text.replace('"manifest_sha256": "', '"manifest_sha256": "0'),
    lambda text: text.replace(', "manifest_sha256"', ', "other"'),
])
def test_hand_edited_manifest_is_refused_by_its_own_checksum(cli, tmp_path, edit):
    """An edit of trace.json or result.json that does not rewrite its checksum (a hand edit,
    a damaged byte, the checksum removed) is refused before any claim is used."""
    import json

    path = _trace(tmp_path)
    text = json.dumps(json.loads((path / "trace.json").read_text()))
    (path / "trace.json").write_text(edit(text))
    res = cli("fit", "--trace", str(path), "--out", str(tmp_path / "f.yaml"))
    assert res.code == 2 and "does not match its checksum" in res.err, res.err
    out = tmp_path / "res"
    assert cli("run", "--model", "spikellm-tiny", "--profile", "loihi2", "--tokens", "1",
               "--out", str(out)).code == 0
    meta = json.loads((out / "result.json").read_text())
    meta["per_token"]["energy_j"] *= 0.5  # a better-looking figure
    (out / "result.json").write_text(json.dumps(meta))
    res = cli("report", str(out), "--out", str(tmp_path / "r.html"))
    assert res.code == 2 and "does not match its checksum" in res.err, res.err


def test_fit_of_groups_outside_the_layers(cli, tmp_path):
    res = cli("fit", "--trace", str(_trace(tmp_path)), "--out", str(tmp_path / "f.yaml"))
    assert res.code == 2 and "outside the decoder layers" in res.err, res.err
    assert not (tmp_path / "f.yaml").exists()


def test_convert_fails_before_loading(cli, tmp_path):
    """convert checks its output directory and its calibration text before it loads the
    model (which takes minutes): each refusal is immediate."""
    pytest.importorskip("torch")
    d = tmp_path / "notart"
    d.mkdir()
    (d / "x").write_text("mine")
    for argv, fragment in (
            (("--out", str(d)), "not a neurosim artifact"),
            (("--out", str(tmp_path / "new"), "--calib-text", str(tmp_path / "none.txt")),
             "no such text file")):
        t0 = time.perf_counter()
        res = cli("convert", "--model", "smollm2-135m-spikellm", *argv)
        assert res.code == 2 and fragment in res.err, res.err
        assert time.perf_counter() - t0 < 5
    assert (d / "x").read_text() == "mine" and not (tmp_path / "new").exists()


def test_force_replaces_only_empty_or_neurosim_directories(cli, tmp_path):
    """--out onto an existing directory that is not a result: refused without --force; with
    it, an empty directory or another neurosim output (a trace) is replaced by the result,
    and a directory of the user's own files is still refused, untouched."""
    import json

    argv = ("run", "--model", "spikellm-tiny", "--profile", "loihi2", "--tokens", "1", "--out")
    empty = tmp_path / "empty"
    empty.mkdir()
    res = cli(*argv, str(empty))
    assert res.code == 2 and "or --force" in res.err and list(empty.iterdir()) == []
    assert cli(*argv, str(empty), "--force").code == 0
    assert (empty / "result.json").is_file()
    trace = _trace(tmp_path)
    assert cli(*argv, str(trace), "--force").code == 0
    assert sorted(p.name for p in trace.iterdir()) == sorted(
        [*json.loads((trace / "result.json").read_text())["files"], "result.json"])
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    res = cli(*argv, str(mine), "--force")
    assert res.code == 2 and "holds files neurosim did not write" in res.err, res.err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing left aside


@pytest.mark.parametrize("edit, fragment", [
    ({"layers: 32": "layers: 1000000"}, "architecture.layers: out of range"),
    ({"d_model: 4096": "d_model: 10000000"}, "architecture.d_model: out of range"),
    ({"layers: 32": "layers: 1000", "d_model: 4096": "d_model: 65536"},
     "architecture: too large a model to estimate here"),
])
def test_card_dimensions_are_bounded(cli, tmp_path, edit, fragment):
    text = (Path(__file__).parents[1] / "models" / "spikellm-7b.yaml").read_text()
    for old, new in edit.items():
        assert old in text
        text = text.replace(old, new)
    card = tmp_path / "big.yaml"
    card.write_text(text)
    res = cli("run", "--model", str(card), "--profile", "loihi2")
    assert res.code == 2 and fragment in res.err and len(res.err.splitlines()) == 1, res.err


def test_large_requests_need_yes(cli, monkeypatch):
    """A context beyond the card's max_context, or an encoder sequence of more positions than
    a run replays without asking, is refused up front naming the option; with --yes a
    context the cores cannot hold is named as the context, not as a core limit."""
    import neurosim.api as api

    res = cli("run", "--model", "spikellm-7b", "--profile", "loihi2", "--context", "100000000")
    assert res.code == 2 and "context: beyond spikellm-7b's max_context" in res.err, res.err
    assert "or --yes" in res.err
    res = cli("compare", "--profile", "loihi2", "spikellm-tiny", "--context", "100000")
    assert res.code == 2 and "max_context" in res.err, res.err
    res = cli("run", "--model", "spikellm-7b", "--profile", "loihi2", "--context", "100000000",
              "--yes")
    assert res.code == 2 and "context: a KV cache of 100,000,000 positions does not fit" \
        in res.err, res.err
    monkeypatch.setattr(api, "MAX_POSITIONS", 300)  # spikelm-bert-base replays 512 + tokens
    res = cli("run", "--model", "spikelm-bert-base", "--profile", "generic-45nm", "--tokens", "1")
    assert res.code == 2 and "513 positions to replay" in res.err and "--yes" in res.err, res.err
