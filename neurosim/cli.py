"""Command line: a thin layer over the Python API.

Every command returns plain data; rendering is separate.  A :class:`NeurosimError` prints
one line ``neurosim: error: ...`` and exits 2; any other exception is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from neurosim._files import set_aside
from neurosim._schema import iter_quantities
from neurosim._version import __version__
from neurosim.backends.conformance import BUILDERS as CONFORMANCE_CASES
from neurosim.cards import card_summary, list_cards, load_card
from neurosim.errors import InputError, NeurosimError
from neurosim.hardware import list_profiles, load_profile, profile_hash, profile_to_yaml
from neurosim.report.units import si

PROG = "neurosim"


# --- commands: plain data in, plain data out ------------------------------------------


def profiles_list() -> list[dict[str, str]]:
    rows = []
    for name in list_profiles():
        p = load_profile(name)
        rows.append({"name": name, "kind": p.kind, "title": p.title})
    return rows


def profile_provenance(profile) -> dict[str, Any]:
    """Counts of sourced, calibrated and assumed numbers, and the assumed ones by key
    path."""
    sourced, calibrated, assumed = 0, 0, {}
    for path, q in iter_quantities(profile):
        if q.source:
            sourced += 1
        elif q.calibrated is not None:
            calibrated += 1
        else:
            assumed[".".join(str(p) for p in path)] = q.assumed
    return {"sourced": sourced, "calibrated": calibrated, "assumed": len(assumed),
            "assumed_keys": assumed}


def profiles_validate(files: Sequence[str]) -> list[dict[str, Any]]:
    out = []
    for f in files:
        p = load_profile(f)
        prov = profile_provenance(p)
        out.append({"file": f, "name": p.name, "kind": p.kind,
                    "sourced": prov["sourced"], "calibrated": prov["calibrated"],
                    "assumed": prov["assumed"]})
    return out


def models_list() -> list[dict[str, Any]]:
    rows = []
    for name in list_cards():
        c = load_card(name)
        rows.append({"name": name, "family": c.family, "scheme": c.spiking.scheme,
                     "parameters": c.parameters, "title": c.title})
    return rows


# --- rendering ------------------------------------------------------------------------


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _table(rows: list[dict[str, Any]], columns: Sequence[str], title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False)
    for c in columns:
        table.add_column(c, no_wrap=c != "title")
    for r in rows:
        table.add_row(*(_fmt(r[c]) for c in columns))
    return table


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int) and not isinstance(v, bool) and v >= 10**6:
        return f"{v / 1e9:.3f}e9" if v >= 10**9 else f"{v / 1e6:.1f}e6"
    return str(v)


def _records(frame) -> list[dict]:
    """A frame's rows for JSON: a missing value (NaN) is null, not a non-finite number."""
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def _print_json(data: Any) -> None:
    from neurosim._files import strict_json

    sys.stdout.write(strict_json(data, "output", indent=2) + "\n")


def _cmd_profiles(args: argparse.Namespace) -> int:
    con = _console()
    if args.action == "list":
        rows = profiles_list()
        if args.json:
            _print_json(rows)
        else:
            con.print(_table(rows, ["name", "kind", "title"], "hardware profiles"))
    elif args.action == "show":
        p = load_profile(args.name)
        if args.json:
            data = p.model_dump(mode="json", exclude_none=True)
            data["provenance"] = {"sha256": profile_hash(p), **profile_provenance(p)}
            _print_json(data)
        else:
            con.print(f"[bold]{p.title}[/bold]  ({p.kind}, sha256 {profile_hash(p)[:12]})")
            con.print(p.summary)
            table = Table("key", "value", "provenance")
            for path, q in iter_quantities(p):
                table.add_row(".".join(str(x) for x in path), _fmt(q.value), q.provenance)
            con.print(table)
            con.print("references:")
            for k, v in p.references.items():
                con.print(f"  [bold]{k}[/bold]: {v}")
    elif args.action == "validate":
        rows = profiles_validate(args.files)
        if args.json:
            _print_json(rows)
        else:
            for r in rows:
                con.print(f"ok: {r['file']}: {r['kind']} profile '{r['name']}', "
                          f"{r['sourced']} sourced, {r['calibrated']} calibrated and "
                          f"{r['assumed']} assumed numbers")
    elif args.action == "yaml":
        sys.stdout.write(profile_to_yaml(load_profile(args.name)))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    con = _console()
    if args.action == "list":
        rows = models_list()
        if args.json:
            _print_json(rows)
        else:
            con.print(_table(rows, ["name", "family", "scheme", "parameters", "title"],
                             "model cards"))
    elif args.action == "show":
        summary = card_summary(load_card(args.name))
        if args.json:
            _print_json(summary)
        else:
            con.print(f"[bold]{summary['title']}[/bold]  ({summary['family']}, "
                      f"{summary['parameters']:,} parameters)")
            for section in ("dimensions", "spiking", "weights", "traffic"):
                items = ", ".join(f"{k} {v}" for k, v in summary[section].items())
                con.print(f"  {section}: {items}")
    return 0


STAGES = {"convert": "converting {model} (calibration windows)",
          "calibrate": "OmniQuant calibration of {model} (layers)",
          "trace": "recording a spike trace of {model}", "prefix": "filling the KV cache",
          "replay": "replaying {model} on {profile}",
          "simulate": "simulating the neurons of {model} on the chosen backend",
          "compare": "comparing {model} on {profile}",
          "validate": "running the measured checks",
          "router": "building the LTE experts and routers of {model} (layers, then evaluation)"}


class _Bars:
    """One rich progress bar per stage, on stderr, only on a terminal and not with --json."""

    def __init__(self, quiet: bool, **names: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        err = Console(stderr=True)
        self.names, self.tasks = names, {}
        self.bar = Progress("[progress.description]{task.description}", BarColumn(),
                            MofNCompleteColumn(), TimeRemainingColumn(), console=err,
                            transient=True, disable=quiet or not err.is_terminal)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            text = STAGES.get(stage, stage).format(**self.names)
            self.tasks[stage] = self.bar.add_task(text, total=total)
        self.bar.update(self.tasks[stage], completed=done)

    def __enter__(self) -> _Bars:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)


def backends_list() -> list[dict[str, Any]]:
    from dataclasses import asdict

    from neurosim.backends import BACKENDS

    return [{"name": b.name, "available": b.unavailable() is None,
             "unavailable": b.unavailable(), "summary": b.summary,
             "capabilities": asdict(b.capabilities)} for b in BACKENDS.values()]


def _cmd_backends(args: argparse.Namespace) -> int:
    rows = backends_list()
    if args.json:
        _print_json(rows)
        return 0
    t = Table("backend", "here", "neuron models", "max neurons", "max synapses", "weights")
    for r in rows:
        c = r["capabilities"]
        lim = lambda v: "any" if v is None else f"{v:,}"  # noqa: E731
        w = "any" if c["weight_range"] is None else "{}..{} (mixed signs)".format(*c["weight_range"])
        t.add_row(r["name"], "yes" if r["available"] else "no", ", ".join(c["neuron_models"]),
                  lim(c["max_neurons"]), lim(c["max_synapses"]), w)
    con = _console()
    con.print(t)
    for r in rows:
        con.print(f"{r['name']}: {r['summary']}; attention blocks "
                  f"{r['capabilities']['attention_blocks']}")
    for r in rows:
        if r["unavailable"]:
            con.print(f"{r['name']}: {r['unavailable']}")
    return 0


def _cmd_conform(args: argparse.Namespace) -> int:
    from neurosim.backends.conformance import run_suite

    rows = run_suite(args.backend, seed=args.seed, names=args.case, timeout_s=args.timeout)
    bad = [r for r in rows if r["differences"]]
    if args.json:
        _print_json(rows)
        return 1 if bad else 0
    t = Table("case", "neurons", "synapses", "steps", "spikes", "synops", "numba s",
              f"{args.backend} s", "ratio", "verdict")
    for r in rows:
        t.add_row(r["case"], f"{r['neurons']:,}", f"{r['synapses']:,}", str(r["steps"]),
                  f"{r['spikes']:,}", f"{r['synops']:,}", f"{r['numba_s']:.3f}",
                  f"{r[args.backend + '_s']:.3f}", f"{r['ratio']:g}x",
                  "identical" if not r["differences"] else f"{len(r['differences'])} differences")
    con = _console()
    con.print(t)
    for r in bad:
        for line in r["differences"]:
            con.print(f"{r['case']}: {line}")
    return 1 if bad else 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from neurosim.api import compare

    prof = load_profile(args.profile)
    cards = [load_card(m) for m in args.models]
    with _Bars(args.json, model=", ".join(c.name for c in cards), profile=prof.name) as bars:
        df = compare(cards, prof, tokens=args.tokens, seed=args.seed, context=args.context,
                     progress=bars, yes=args.yes)
    rows = _records(df)
    if args.json:
        _print_json({"profile": prof.name, "tokens": args.tokens, "models": rows})
        return 0
    t = Table("model", "family", "energy/token", "tokens/s", "synops", "dense-eq MACs",
              "synops / dense", "dense-unit MACs", "outside synapses", "paper accounting",
              "paper / this")
    pct = lambda v: "n/a" if v is None else f"{100 * v:.1f} %"  # noqa: E731
    for r in rows:
        t.add_row(r["model"], f"{r['family']}/{r['scheme']}", si(r["energy_j"], "J"),
                  "n/a" if r["tokens_per_s"] is None else f"{r['tokens_per_s']:.3g}",
                  f"{r['synops']:.3g}", f"{r['dense_equivalent_macs']:.3g}",
                  f"{r['synops_per_dense_mac']:.3f}", f"{r['dense_macs'] or 0:.3g}",
                  pct(r["outside_synapses"]),
                  "n/a" if r["paper_j"] is None else si(r["paper_j"], "J"), pct(r["paper_share"]))
    con = _console()
    con.print(f"[bold]{prof.name}[/bold]: {args.tokens} tokens per model, means per token")
    con.print(t)
    con.print("paper accounting: the same traffic priced as the papers do on generic-45nm "
              "(synops x E_AC + non-spiking ops; SpikeGPT: projections at E_AC x firing rate); "
              "paper / this: the share of this estimate it covers")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from neurosim.validation import validate

    with _Bars(args.json) as bars:
        df = validate(tokens=args.tokens, progress=bars)
    rows = _records(df)
    if args.json:
        _print_json({"tokens": args.tokens, "checks": rows})
        return 0 if (df["ok"] | df["gap"].notna()).all() else 1
    t = Table("check", "measured", "neurosim", "ratio", "allowed", "sample", "")
    for r in rows:
        t.add_row(r["check"], f"{r['measured']:.4g} {r['unit']}",
                  f"{r['neurosim']:.4g} {r['unit']}", f"{r['ratio']:.3f}",
                  f"{r['low']:.2f}-{r['high']:.2f}", r["sample"].split(".")[-1],
                  "ok" if r["ok"] else "OUT (known)" if r["gap"] else "OUT")
    con = _console()
    con.print(t)
    for src in dict.fromkeys(r["source"] for r in rows):
        setup = next(r["setup"] for r in rows if r["source"] == src)
        con.print(f"  {src}: {setup}")
    for r in rows:
        if r["gap"] and not r["ok"]:
            con.print(f"  known gap, {r['check']}: {r['gap']}")
    return 0 if (df["ok"] | df["gap"].notna()).all() else 1


def _cmd_run(args: argparse.Namespace) -> int:
    from neurosim.api import run

    out_dir = (_check_out(args.out, "result.json", "neurosim result", args.force)
               if args.out else None)
    page = _check_page(args.report) if args.report else None
    if args.model.endswith(".nir"):
        result = _run_network(args)
    else:
        for flag in ("steps", "rate", "input", "dt", "weight_bits", "synaptic_delay"):
            if getattr(args, flag) not in (None, False):
                raise InputError("run", f"--{flag.replace('_', '-')}", "applies to a .nir "
                                 "network only", got=args.model, expected="--model <file>.nir")
        card, profile = load_card(args.model), load_profile(args.profile)
        with _Bars(args.json, model=card.name, profile=profile.name) as bars:
            result = run(card, profile, tokens=args.tokens, seed=args.seed,
                         position=args.position, context=args.context, backend=args.backend,
                         traffic=args.traffic, threads=args.threads, batch=args.batch,
                         progress=bars, yes=args.yes)
    code = _emit(result, out_dir, args.json)
    if page is not None:
        from neurosim.report.html import run_page, write

        write(run_page(result), page)
        if not args.json:
            _console().print(f"report written to {page}")
    return code


def _run_network(args: argparse.Namespace):
    """The Result of ``run`` on a spiking network from a NIR file: simulated, then priced."""
    from neurosim.api import DEFAULT_DT_S, DEFAULT_WEIGHT_BITS, run_network
    from neurosim.snn.nir_io import read_nir

    net, profile = read_nir(args.model), load_profile(args.profile)
    with _Bars(args.json, model=net.name, profile=profile.name) as bars:
        result = run_network(net, profile, steps=args.steps, rate=args.rate, inputs=args.input,
                             seed=args.seed, dt_s=args.dt if args.dt is not None else DEFAULT_DT_S,
                             weight_bits=args.weight_bits or DEFAULT_WEIGHT_BITS,
                             synaptic_delay=args.synaptic_delay,
                             threads=args.threads, progress=bars)
    return result


def _check_page(path: str):
    """Refuse an HTML output path that cannot be written, before any work."""
    from pathlib import Path

    out = Path(path)
    if out.is_dir():
        raise InputError(path, None, "--report is a directory", expected="an HTML file path")
    if not os.access(_nearest_existing(out.parent), os.W_OK) or (
            out.exists() and not os.access(out, os.W_OK)):
        raise InputError(path, None, "not writable", expected="a writable HTML file path")
    return out


def _nearest_existing(path):
    """``path`` or its nearest existing parent (the current directory at worst)."""
    from pathlib import Path

    return next((p for p in (path, *path.parents) if p.exists()), Path("."))


def _cmd_report(args: argparse.Namespace) -> int:
    from neurosim.report.html import render, write

    out = _check_page(args.out)
    write(render(args.source), out)
    if args.json:
        _print_json({"source": args.source, "out": str(out)})
    else:
        _console().print(f"report written to {out}")
    return 0


def _emit(result, out_dir, as_json: bool) -> int:
    """Save ``result`` into ``out_dir`` (if any), then print it as JSON or tables."""
    if out_dir is not None:
        with set_aside(out_dir, "result.json"):  # a directory --force may replace
            result.save(out_dir)
    summary = result.summary()
    if as_json:
        _print_json(summary)
    else:
        _render_run(summary, result)
        if out_dir is not None:
            _console().print(f"results written to {out_dir}/ (result.json, *.parquet, counters.npz)")
    return 0


def _cmd_reprice(args: argparse.Namespace) -> int:
    from neurosim.api import reprice
    from neurosim.result import Result

    out_dir = (_check_out(args.out, "result.json", "neurosim result", args.force)
               if args.out else None)
    profile = load_profile(args.profile)
    return _emit(reprice(Result.load(args.source), profile), out_dir, args.json)


def _artifact(args: argparse.Namespace, card, bars):
    from neurosim.convert.artifact import load_artifact

    if args.artifact:
        return load_artifact(args.artifact)
    from neurosim.convert.cache import artifact_for

    return artifact_for(card, bars)


def _cmd_convert(args: argparse.Namespace) -> int:
    from neurosim.convert.cache import need_torch

    need_torch("convert")
    from neurosim.convert.spikellm import convert
    from neurosim.convert.text import load_text

    card = load_card(args.model)
    out = _check_out(args.out, "artifact.json", "neurosim artifact", args.force)
    load_text(args.calib_text)  # a missing or unreadable text, before loading the model
    if args.save_parameters is not None:
        from pathlib import Path

        save = Path(args.save_parameters)
        if save.exists() and not (save / "parameters.json").is_file():
            raise InputError(args.save_parameters, None, "exists and is not an OmniQuant "
                             "parameter set; not overwriting", expected="a new directory")
    with _Bars(args.json, model=card.name) as bars, set_aside(out, "artifact.json"):
        art = convert(card, out, checkpoint=args.checkpoint, calib_text=args.calib_text,
                      calib_samples=args.calib_samples, window=args.window,
                      calibration=args.calibration, epochs=args.epochs,
                      parameters=args.parameters, retrain=args.retrain,
                      save_parameters=args.save_parameters, progress=bars)
    masks = art.masks()
    data = {"artifact": str(art.path), "sha256": art.sha256, "model": card.name,
            "source": art.meta["source"], "calibration": art.meta["calibration"],
            "spiking": art.meta["spiking"], "timing_s": art.meta["timing_s"],
            "salient_channels": int(sum(int(m.sum()) for m in masks.values())),
            "channels": int(sum(m.size for m in masks.values()))}
    if args.json:
        _print_json(data)
    else:
        con = _console()
        con.print(f"[bold]{card.name}[/bold] converted to {data['artifact']} in "
                  f"{data['timing_s']['convert']:.1f} s (loading {data['timing_s']['load']:.1f} s)")
        con.print(f"  calibration: {data['calibration']['samples']} x "
                  f"{data['calibration']['window_tokens']} tokens of {data['calibration']['text']}"
                  f", {data['calibration']['method']}"
                  + (f" ({data['calibration']['epochs']} epochs, parameters "
                     f"{data['calibration']['parameters']})"
                     if data['calibration']['method'] == "omniquant" else ""))
        con.print(f"  salient channels: {data['salient_channels']:,} of {data['channels']:,}")
        con.print(f"  sha256 {data['sha256']}")
    return 0


def _cmd_trace(args: argparse.Namespace) -> int:
    from neurosim.convert.cache import need_torch

    need_torch("trace")
    from neurosim.convert.record import record_trace
    from neurosim.traffic.stats import trace_statistics

    card = load_card(args.model)
    out = _check_out(args.out, "trace.json", "spike trace", args.force)
    with _Bars(args.json, model=card.name) as bars:
        art = _artifact(args, card, bars)
        with set_aside(out, "trace.json"):
            trace = record_trace(art, card, args.text, args.tokens, out,
                                 progress=lambda i, n: bars("trace", i, n))
    stats = trace_statistics(trace)
    data = {"trace": str(trace.path), "tokens": trace.tokens, "width": trace.width,
            "seconds": trace.meta.get("timing_s"), "text": trace.meta["text"],
            "by_site": _records(stats)}
    if args.json:
        _print_json(data)
    else:
        con = _console()
        con.print(f"[bold]{card.name}[/bold]: {trace.tokens} tokens recorded to {trace.path} "
                  f"in {data['seconds']:.1f} s ({trace.width:,} channels per token)")
        con.print(_table(data["by_site"], list(stats.columns), "firing statistics by site"))
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    from pathlib import Path

    from neurosim.traffic.fitted import fit_to_yaml, fit_trace
    from neurosim.traffic.trace import SpikeTrace

    out = Path(args.out)
    if out.is_dir():
        raise InputError(args.out, None, "--out is a directory", expected="a YAML file path")
    parent = _nearest_existing(out.parent)
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise InputError(args.out, None, "--out cannot be written here",
                         expected="a YAML file path in a writable directory")
    trace = SpikeTrace.open(args.trace)
    fit = fit_trace(trace, args.name or out.stem)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(fit_to_yaml(fit))
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _console().print(f"fit of {trace.tokens} tokens x {len(fit.sites)} sites x {fit.layers} layers "
                     f"written to {out}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from neurosim.convert.cache import need_torch

    need_torch("eval")
    from neurosim.convert.evaluate import evaluate

    card = load_card(args.model)
    with _Bars(args.json, model=card.name) as bars:
        art = _artifact(args, card, bars)
        res = evaluate(card, art, args.text, args.tokens, args.window,
                       progress=lambda i, n: bars("eval", i, n))
    if args.json:
        _print_json(res)
    else:
        con = _console()
        con.print(f"[bold]{card.name}[/bold]: perplexity on {res['predicted']:,} predicted tokens "
                  f"of {res['text']} (windows of {res['window']})")
        t = Table("model", "perplexity")
        for mode, label in (("fp", "full precision"),
                            ("w4a4", "W4A4 min-max (no salient steps)"),
                            ("omniquant_w4a4", "W4A4 OmniQuant (no salient steps)"),
                            ("spikellm_minmax", "SpikeLLM W4A4, min-max"),
                            ("spikellm_omniquant", "SpikeLLM W4A4, OmniQuant"),
                            ("w4a16", "W4 only, min-max (activations FP)"),
                            ("omniquant_w4a16", "W4 only, OmniQuant (activations FP)"),
                            ("w16a4", "A4 only (weights FP)")):
            if f"ppl_{mode}" in res:
                t.add_row(label, f"{res[f'ppl_{mode}']:,.2f}")
        con.print(t)
    return 0


def _fractions(text: str) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not vals or not all(0 < v <= 1 for v in vals):
        raise argparse.ArgumentTypeError(f"fractions in (0, 1] expected, got {text!r}")
    return vals


def _cmd_lte_router(args: argparse.Namespace) -> int:
    from neurosim.convert.cache import router_for

    card = load_card(args.model)
    if card.spiking.scheme != "lte":
        raise InputError(card.name, "spiking.scheme", "not an LTE card", got=card.spiking.scheme,
                         expected="lte (e.g. lte-smollm2-135m)")
    with _Bars(args.json, model=card.name) as bars:
        router = router_for(card, bars)
    meta = {k: v for k, v in router.meta.items() if k != "files"}
    meta["path"] = str(router.path)
    if args.oracle:
        from neurosim.convert.checkpoint import checkpoint_path, load_checkpoint
        from neurosim.convert.lte import oracle_perplexity

        ckpt = load_checkpoint(checkpoint_path(card))
        ev = meta["evaluation"]
        meta["oracle"] = [{"keep": k, "grouping": g, "ppl": oracle_perplexity(
            ckpt, meta["expert_size"], k, g, ev["tokens"], ev["window"])}
            for k in args.oracle for g in ("kmeans", "random")]
    if args.json:
        _print_json(meta)
        return 0
    ev, tr = meta["evaluation"], meta["training"]
    con = _console()
    con.print(f"[bold]{card.name}[/bold]: {meta['experts']} experts of {meta['expert_size']} per "
              f"layer, tau {meta['tau']}, eta {tr['eta']}, lambda {tr['separability']} "
              f"({router.path})")
    con.print(f"  on {ev['tokens']} tokens of {ev['text']}: {100 * ev['active']:.1f} % of experts "
              f"active (sparsity {100 * (1 - ev['active']):.1f} %); perplexity "
              f"{ev['ppl_full']:.2f} full, {ev['ppl_routed']:.2f} routed")
    t = Table("layer", "active", "soft error", "hard error", title="per layer (calibration error: "
              "relative FFN output error per token)")
    for i, (a, f) in enumerate(zip(ev["active_per_layer"], tr["per_layer"])):
        t.add_row(str(i), f"{100 * a:.1f} %", f"{f['soft_error']:.3f}", f"{f['hard_error']:.3f}")
    con.print(t)
    if meta.get("oracle"):
        t = Table("experts kept per token", "grouping", "perplexity",
                  title="oracle: the largest expert outputs kept, model frozen")
        for o in meta["oracle"]:
            t.add_row(f"{100 * o['keep']:.0f} %", o["grouping"], f"{o['ppl']:.2f}")
        con.print(t)
    return 0


def _check_out(path: str, manifest: str | None = None, what: str = "", force: bool = False):
    """Refuse an output directory that cannot be written, or (``manifest``) an existing one
    that is not a ``what`` unless ``force`` may replace it, before any work."""
    from pathlib import Path

    from neurosim._files import replaceable

    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(path, None, "--out exists and is not a directory",
                         expected="a directory path for the results")
    near = _nearest_existing(out)
    if not near.is_dir():
        raise InputError(path, None, f"--out lies under {near}, which is a file",
                         expected="a directory path for the results")
    if not os.access(near, os.W_OK):
        raise InputError(path, None, "--out is not writable", expected="a writable directory")
    if manifest and out.is_dir() and not (out / manifest).is_file():
        if not force:
            raise InputError(path, None, f"exists and is not a {what}; not overwriting",
                             expected=f"a new directory, a {what}, or --force to replace an "
                                      "empty directory or another neurosim output")
        if not replaceable(out):
            raise InputError(path, None, "holds files neurosim did not write; --force replaces "
                             "only an empty directory or another neurosim output",
                             expected="a new directory")
    return out


def _render_network(s: dict, result) -> None:
    """The tables of a simulated network's run: per inference, then per step."""
    con = _console()
    tr, inf, pt = s["provenance"]["traffic"], s["per_inference"], s["per_token"]
    src = tr["input"]
    given = (f"Bernoulli input at rate {src['rate']:g}, seed {src['seed']}"
             if src["kind"] == "bernoulli" else f"input {src.get('file', 'array')}")
    con.print(f"[bold]{s['model']}[/bold] on [bold]{s['profile']}[/bold]: {inf['steps']} steps of "
              f"{si(tr['dt_s'], 's')} ({tr['integrator']}), {given}")
    lat = inf["latency_s"]
    con.print(f"  per inference  energy {si(inf['energy_j'], 'J')}   latency "
              f"{si(lat, 's') if lat is not None else 'n/a'}   spikes {inf['spikes']}   "
              f"synops {inf['synops']}")
    con.print(f"  per step       energy {si(pt['energy_j'], 'J')}   events {pt['events']:.4g}   "
              f"synops {pt['synops']:.4g}   neuron updates {pt['neuron_updates']:.4g}   "
              f"messages {pt['messages']:.4g}   hops {pt['hops']:.4g}")
    if s.get("chips"):
        con.print(f"  chips {s['chips']}   cores {s['cores']}")
    comp = s["energy_by_component_j"]
    if comp:
        total = sum(comp.values()) or 1.0
        t = Table("component", "energy/step", "share")
        for k, v in sorted(comp.items(), key=lambda kv: -kv[1]):
            t.add_row(k, si(v, "J"), f"{100 * v / total:.1f} %")
        con.print(t)
    for n in s["notes"]:
        con.print(f"  note: {n}")


def _render_run(s: dict, result) -> None:
    con = _console()
    pt = s["per_token"]
    tr = s["provenance"]["traffic"]
    if tr["kind"] == "simulated":
        _render_network(s, result)
        return
    origin = (f"trace of {tr['tokens_recorded']} tokens of {tr['text']['name']}" if tr["kind"] == "real"
              else f"seed {tr['seed']}" + (f", fit {tr['fit']}" if tr.get("fit") else ""))
    batch = f", batch {s['batch']}" if s["batch"] > 1 else ""
    con.print(f"[bold]{s['model']}[/bold] on [bold]{s['profile']}[/bold]: {s['tokens']} tokens"
              f"{batch}, {s['traffic']} traffic ({origin}), backend {s['backend']}")
    lat = pt["latency_s"]
    tps = f"{s['tokens_per_s']:.3g}" if s["tokens_per_s"] else "n/a"
    con.print(f"  energy/token  {si(pt['energy_j'], 'J')}   latency/token {si(lat, 's')}   "
              f"tokens/s {tps}")
    if s.get("roofline"):
        r = s["roofline"]
        con.print(f"  roofline      {si(r['energy_j'], 'J')}   latency/token "
                  f"{si(r['latency_s'], 's')}   (as served above)")
    if s.get("chips"):
        m = s["mapping"]
        where = ", ".join(f"{k} {si(v, 'B')}" for k, v in m.get("weight_bytes_by_level", {}).items())
        con.print(f"  chips {s['chips']}   cores {s['cores']}"
                  + (f"   weights: {where}" if where else "")
                  + (f"   KV cache: {m['kv_cache_level']}" if m.get("kv_cache_level") else ""))
    con.print(f"  events {pt['events']:.4g}   synops {pt['synops']:.4g}   dense-equivalent MACs "
              f"{pt['dense_equivalent_macs']:.4g} (ratio {pt['synops'] / pt['dense_equivalent_macs']:.3f})"
              f"   dense-unit MACs {pt['dense_macs'] or 0:.4g}   messages {pt['messages']:.4g}")
    comp = s["energy_by_component_j"]
    if comp:
        total = sum(comp.values()) or 1.0
        t = Table("component", "energy/token", "share")
        for k, v in sorted(comp.items(), key=lambda kv: -kv[1]):
            t.add_row(k, si(v, "J"), f"{100 * v / total:.1f} %")
        con.print(t)
        outside = 1 - comp.get("synapses", 0.0) / total
        con.print(f"  share of energy outside the synapses: {100 * outside:.1f} %")
    if s.get("latency_breakdown_s"):
        con.print("  latency/token: " + ", ".join(f"{k} {si(v, 's')}"
                                                  for k, v in s["latency_breakdown_s"].items()))
    top = result.top_sites()
    t = Table("site (all layers)", "energy/token", "events/token", "synops/token",
              title="top sites by energy")
    for site, r in top.iterrows():
        t.add_row(site, si(r["energy_j"], "J"), f"{r['events']:.4g}", f"{r['synops']:.4g}")
    con.print(t)
    t = Table("baseline", "what", "energy/token", "latency/token", "this / baseline",
              title="baselines")
    for name, b in s["baselines"].items():
        ratio = pt["energy_j"] / b["energy_j"] if b["energy_j"] else float("nan")
        t.add_row(name, b["kind"], si(b["energy_j"], "J"), si(b["latency_s"], "s"),
                  f"{ratio:.3g}x")
    con.print(t)
    for note in s["notes"]:
        con.print(f"  note: {note}")


def _cmd_compile(args: argparse.Namespace) -> int:
    from collections import Counter

    from neurosim.api import compile_graph

    card = load_card(args.model)
    if args.nir:
        from neurosim.api import export_nir

        left = export_nir(card, args.nir)
        if left:
            sys.stderr.write(f"{PROG}: warning: {args.nir}: not in NIR (listed in its metadata): "
                             + "; ".join(left) + "\n")
    graph = compile_graph(card)
    if args.out:
        from pathlib import Path

        tmp = Path(args.out + ".partial")
        try:
            graph.save(tmp)
            tmp.replace(args.out)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise InputError(args.out, None, f"cannot write graph: {exc.strerror or exc}",
                             expected="a writable file path") from None
    data = {
        "model": graph.model, "family": graph.family, "layers": graph.layers,
        "neuron_groups": len(graph.groups), "synapse_blocks": len(graph.blocks),
        "dense_ops": len(graph.dense_ops), "stages": len(graph.stages),
        "edges": len(graph.edges),
        "dense_equivalent_macs_at_position_0": graph.dense_equivalent_macs(0),
        "synapses": sum(b.nonzero_weights for b in graph.blocks),
        "dense_op_kinds": dict(Counter(op.kind for op in graph.dense_ops)),
    }
    if args.json:
        _print_json(data)
    else:
        con = _console()
        con.print(f"[bold]{graph.model}[/bold] ({graph.family}): {data['layers']} layers, "
                  f"{data['neuron_groups']} neuron groups, {data['synapse_blocks']} synapse blocks, "
                  f"{data['dense_ops']} dense ops in {data['stages']} stages")
        t = Table("block", "source", "c_in", "c_out", "weight bits", "kind")
        for b in graph.blocks[: args.limit]:
            t.add_row(b.name, b.source, str(b.c_in), str(b.c_out), str(b.weight_bits), b.kind)
        con.print(t)
        if len(graph.blocks) > args.limit:
            con.print(f"  ... {len(graph.blocks) - args.limit} more blocks (--limit)")
        if args.out:
            con.print(f"graph written to {args.out}")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from neurosim.api import compile_graph
    from neurosim.mapping import map_graph

    card, prof = load_card(args.model), load_profile(args.profile)
    if prof.kind != "neuromorphic":
        raise InputError(args.profile, "kind", "only neuromorphic profiles have a mapping",
                         got=prof.kind, expected="a neuromorphic profile")
    graph = compile_graph(card)
    m = map_graph(graph, prof, args.context or card.architecture.max_context)
    summary = m.summary()
    blocks = [{"block": n, "tiles": bp.tiles, "rows": bp.n_row, "chunks": bp.n_col,
               "first_core": int(bp.tile_core.min()), "weights": m.level_names[bp.weight_level]}
              for n, bp in m.blocks.items()]
    if args.json:
        _print_json({**summary, "blocks": blocks})
        return 0
    con = _console()
    con.print(f"[bold]{card.name}[/bold] on [bold]{prof.name}[/bold]: {summary['chips']} chips "
              f"(grid {summary['chip_grid'][0]} x {summary['chip_grid'][1]}), "
              f"{summary['cores']} cores ({100 * summary['core_utilisation']:.1f} % of the "
              f"chips' cores), {summary['neurons']:,} neurons")
    for level, nbytes in summary["weight_bytes_by_level"].items():
        con.print(f"  weights in {level}: {nbytes / 2**20:,.1f} MiB")
    con.print(f"  KV cache in {summary['kv_cache_level']}, dense parameters in "
              f"{summary['dense_params_level']}")
    t = Table("block", "tiles", "row slices", "column chunks", "first core", "weights in")
    for b in blocks[: args.limit]:
        t.add_row(b["block"], str(b["tiles"]), str(b["rows"]), str(b["chunks"]),
                  str(b["first_core"]), b["weights"])
    con.print(t)
    return 0


class _SweepBar:
    """A rich bar of a sweep's points: done, failed, rate and time left (stderr, terminal only)."""

    def __init__(self, quiet: bool, what: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        err = Console(stderr=True)
        self.bar = Progress(f"[progress.description]{what}", BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[failed]} failed"),
                            TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                            console=err, transient=True, disable=quiet or not err.is_terminal)
        self.task = None

    def __call__(self, done: int, failed: int, total: int) -> None:
        if self.task is None:
            self.task = self.bar.add_task("", total=total, failed=0, rate="")
        speed = self.bar.tasks[0].speed
        self.bar.update(self.task, completed=done, failed=failed,
                        rate=f"{speed:.3g} points/s" if speed else "")

    def __enter__(self) -> _SweepBar:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)


def _interrupted(out) -> int:
    sys.stderr.write(f"{PROG}: interrupted: the points that finished are in {out}/; rerun the "
                     "same command to resume\n")
    return 130


def sweep_summary(frame, out) -> dict[str, Any]:
    """Counts of a sweep's points and its distinct errors (most frequent first)."""
    failed = frame[frame["status"] != "ok"]
    errors = failed["error"].value_counts()
    return {"out": str(out), "points": int(len(frame)), "ok": int(len(frame) - len(failed)),
            "failed": int(len(failed)),
            "errors": [{"error": e, "points": int(n)} for e, n in errors.items()]}


def _cmd_sweep(args: argparse.Namespace) -> int:
    import time

    from neurosim.sweeps import load_spec, sweep

    sw = load_spec(args.spec)
    t0 = time.perf_counter()
    try:
        with _SweepBar(args.json, f"sweep {args.spec}") as bar:
            frame = sweep(sw, out=args.out, scheduler=args.scheduler, workers=args.workers,
                          retry_failed=args.retry_failed, yes=args.yes, progress=bar)
    except KeyboardInterrupt:
        return _interrupted(args.out)
    summary = {**sweep_summary(frame, args.out), "seconds": time.perf_counter() - t0}
    if args.json:
        _print_json(summary)
        return 0
    con = _console()
    con.print(f"[bold]{summary['points']:,} points[/bold]: {summary['ok']:,} ok, "
              f"{summary['failed']:,} failed, {summary['seconds']:.1f} s; results in "
              f"{args.out}/ (pandas.read_parquet)")
    for e in summary["errors"][:5]:
        con.print(f"  failed x{e['points']}: {e['error']}", markup=False, highlight=False)
    return 0


def _cmd_pareto(args: argparse.Namespace) -> int:
    from pathlib import Path

    from neurosim.report.figures import pareto_figure, save_figure
    from neurosim.sweeps import pareto_front
    from neurosim.sweeps.store import read

    frame = read(args.source)
    front = pareto_front(frame, args.x, args.y, args.by)
    ok = frame[frame["status"] == "ok"]
    stem = Path(args.plot) if args.plot else Path(args.source) / "_figures" / f"pareto-{args.x}-{args.y}"
    caption = (f"{len(ok):,} points of {args.source}; front: the points that no other point "
               f"beats in both {args.x} and {args.y} (smaller is better). Numbers the profiles "
               "mark assumed enter every point (neurosim sensitivity ranks them).")
    fig = pareto_figure(ok, front, args.x, args.y, args.by, caption)
    paths = save_figure(fig, stem)
    inputs = [c for c in frame.columns if c.startswith(("profile.", "model."))]
    cols = [*([args.by] if args.by and args.by not in ("model", "profile") else []),
            "model", "profile", "position", *inputs, args.x, args.y]
    cols = list(dict.fromkeys(c for c in cols if c in frame.columns))
    rows = _records(front[cols])
    if args.json:
        _print_json({"x": args.x, "y": args.y, "by": args.by, "points": len(ok),
                     "front": rows, "plots": [str(p) for p in paths]})
        return 0
    t = Table(*cols, title=f"Pareto front: {args.y} against {args.x} ({len(front)} of "
              f"{len(ok):,} points)")
    for r in rows:
        t.add_row(*[Text(_fmt_cell(r[c])) for c in cols])
    con = _console()
    con.print(t)
    con.print("plots: " + ", ".join(str(p) for p in paths))
    return 0


def _fmt_cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _cmd_sensitivity(args: argparse.Namespace) -> int:
    from pathlib import Path

    from neurosim.report.figures import save_figure, tornado_figure
    from neurosim.sweeps.sensitivity import sensitivity

    out = _check_out(args.out) if args.out else None
    card, profile = load_card(args.model), load_profile(args.profile)
    try:
        with _SweepBar(args.json, f"sensitivity of {card.name} on {profile.name}") as bar:
            table = sensitivity(card, profile, factor=args.factor, tokens=args.tokens,
                                position=args.position, seed=args.seed,
                                out=out / "points" if out else None, scheduler=args.scheduler,
                                workers=args.workers, progress=bar)
    except KeyboardInterrupt:
        return _interrupted(out / "points" if out else "(no --out)")
    files = []
    if out is not None:
        table.to_csv(out / "sensitivity.csv", index=False)
        caption = (f"{card.name} on {profile.name}, {args.tokens} tokens from position "
                   f"{args.position}: every number the profile marks assumed (and the card's "
                   f"assumed traffic knobs) divided and multiplied by {args.factor:g}, one at a time.")
        files = [out / "sensitivity.csv",
                 *save_figure(tornado_figure(table, args.factor, args.top, caption),
                              Path(out) / "tornado")]
    a = table.attrs
    if args.json:
        _print_json({**a, "assumptions": _records(table),
                     "files": [str(f) for f in files]})
        return 0
    pct = lambda v: "n/a" if v != v else f"{100 * v:+.1f} %"  # noqa: E731
    t = Table("rank", "assumed number", "value", f"/ {args.factor:g}: energy", "latency",
              f"x {args.factor:g}: energy", "latency", "assumed because",
              title=f"{card.name} on {profile.name}: {si(a['energy_j'], 'J')}/token, "
                    f"{si(a['latency_s'], 's')}/token; what the answer hangs on")
    for r in table.head(args.top).to_dict(orient="records"):
        t.add_row(str(r["rank"]), Text(r["path"]), Text(r["value"]), pct(r["energy_low"]),
                  pct(r["latency_low"]), pct(r["energy_high"]), pct(r["latency_high"]),
                  Text(r["assumed"]))
    con = _console()
    con.print(t)
    for r in table.head(args.top).to_dict(orient="records"):
        if isinstance(r["error"], str):
            con.print(f"  {r['path']}: {r['error']}", markup=False, highlight=False)
    if files:
        con.print("written: " + ", ".join(str(f) for f in files))
    return 0


# --- parser ---------------------------------------------------------------------------


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer (got {text!r})") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be >= {low} (got {value})")
    return value


def _nonnegative_int(text: str) -> int:
    return _int_at_least(text, 0)


def _seed(text: str) -> int:
    from neurosim.traffic import MAX_SEED

    value = _nonnegative_int(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be <= 2^63 - 1 (got {value})")
    return value


def _float_arg(text: str, ok: Callable[[float], bool], what: str) -> float:
    """``text`` as a float satisfying ``ok`` (NaN never does), else a usage error."""
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not ok(v):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text[:40]!r}")
    return v


def _probability(text: str) -> float:
    return _float_arg(text, lambda v: 0 <= v <= 1, "a probability from 0 to 1")


def _positive_float(text: str) -> float:
    return _float_arg(text, lambda v: 0 < v < float("inf"), "a finite number > 0")


def _positive_int(text: str) -> int:
    return _int_at_least(text, 1)


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line and exit 2."""

    def error(self, message: str):  # type: ignore[override]
        sys.stderr.write(f"{PROG}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="What would this spiking LLM cost on that chip, per token?",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("profiles", help="list, show and validate hardware profiles")
    psub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    x = psub.add_parser("list", help="shipped profiles")
    x.add_argument("--json", action="store_true")
    x = psub.add_parser("show", help="every number of a profile with its source")
    x.add_argument("name", help="shipped name (loihi2) or path to a YAML file")
    x.add_argument("--json", action="store_true")
    x = psub.add_parser("validate", help="check profile files")
    x.add_argument("files", nargs="+", metavar="FILE")
    x.add_argument("--json", action="store_true")
    x = psub.add_parser("yaml", help="print a profile as canonical YAML")
    x.add_argument("name")
    p.set_defaults(func=_cmd_profiles)

    m = sub.add_parser("models", help="list and show model cards")
    msub = m.add_subparsers(dest="action", required=True, metavar="ACTION")
    x = msub.add_parser("list", help="shipped model cards")
    x.add_argument("--json", action="store_true")
    x = msub.add_parser("show", help="dimensions, parameters and spiking scheme of a card")
    x.add_argument("name", help="shipped name (spikellm-7b) or path to a YAML file")
    x.add_argument("--json", action="store_true")
    m.set_defaults(func=_cmd_models)

    r = sub.add_parser("run", help="estimate energy and latency per token of a model on a profile")
    r.add_argument("--model", required=True, help="model card name or path")
    r.add_argument("--profile", required=True, help="hardware profile name or path")
    r.add_argument("--tokens", type=_positive_int, default=16, help="tokens to replay")
    r.add_argument("--seed", type=_seed, default=0, help="traffic seed (0 to 2^63 - 1)")
    r.add_argument("--position", type=_nonnegative_int, default=0,
                   help="position of the first token (KV cache length)")
    r.add_argument("--context", type=_positive_int, default=None,
                   help="KV cache capacity in positions (default: the card's max_context)")
    r.add_argument("--traffic", choices=["synthetic", "real", "recurrence"], default=None,
                   help="traffic source (default: the card's); recurrence: SpikeGPT's RNN "
                        "with seeded random weights")
    r.add_argument("--backend", default="numba",
                   help="simulation backend: numba (default) or lava (`neurosim backends`)")
    r.add_argument("--threads", type=_positive_int, default=None,
                   help="threads of the replay (default: the cores available); any number "
                        "gives the same result")
    r.add_argument("--batch", type=_positive_int, default=1,
                   help="independent sequences decoded together (default 1): a GPU reads "
                        "the weights once per step for all; a pipelined neuromorphic system "
                        "keeps that many tokens in flight")
    r.add_argument("--yes", action="store_true",
                   help="run a context beyond the card's max_context, or more than 100,000 "
                        "replayed positions")
    r.add_argument("--out", help="directory to write JSON + Parquet results")
    r.add_argument("--force", action="store_true",
                   help="replace an existing --out that is empty or another neurosim output")
    r.add_argument("--report", help="also write a self-contained HTML report to this file")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    n = r.add_argument_group("a spiking network (--model <file>.nir): one row per time step")
    n.add_argument("--input", default=None, help="input spikes: a .npy array (steps, inputs)")
    n.add_argument("--rate", type=_probability, default=None,
                   help="Bernoulli input spikes of this probability per neuron and step")
    n.add_argument("--steps", type=_positive_int, default=None, help="time steps (with --rate)")
    n.add_argument("--dt", type=_positive_float, default=None,
                   help="integration step in seconds (default 1e-4)")
    n.add_argument("--weight-bits", type=_positive_int, default=None,
                   help="bits of a weight on chip (default 8, assumed)")
    n.add_argument("--synaptic-delay", action="store_true",
                   help="every projection delivers the previous step's spikes (Loihi's timing)")
    r.set_defaults(func=_cmd_run)

    x = sub.add_parser("report", help="a self-contained HTML page of a run, sweep or "
                       "sensitivity directory")
    x.add_argument("source", help="a directory written by run --out, sweep --out or "
                   "sensitivity --out")
    x.add_argument("--out", required=True, help="HTML file to write")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=_cmd_report)

    x = sub.add_parser("reprice", help="price a saved run's counters on another profile "
                       "(same mapping) without replaying")
    x.add_argument("source", help="a directory written by neurosim run --out")
    x.add_argument("--profile", required=True, help="hardware profile name or path")
    x.add_argument("--out", help="directory to write JSON + Parquet results")
    x.add_argument("--force", action="store_true",
                   help="replace an existing --out that is empty or another neurosim output")
    x.add_argument("--json", action="store_true", help="print one JSON object (as run --json)")
    x.set_defaults(func=_cmd_reprice)

    x = sub.add_parser("compare", help="model families side by side on one profile")
    x.add_argument("--profile", required=True)
    x.add_argument("models", nargs="+", metavar="MODEL")
    x.add_argument("--tokens", type=_positive_int, default=4, help="tokens per model")
    x.add_argument("--seed", type=_seed, default=0)
    x.add_argument("--context", type=_positive_int, default=None,
                   help="KV cache / sequence length (default: each card's max_context)")
    x.add_argument("--yes", action="store_true",
                   help="run a context beyond the card's max_context, or more than 100,000 "
                        "replayed positions")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=_cmd_compare)

    x = sub.add_parser("validate", help="neurosim's figures beside published hardware "
                       "measurements, each with its source and allowed ratio")
    x.add_argument("--tokens", type=_positive_int, default=4, help="tokens per check")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=_cmd_validate)

    b = sub.add_parser("backends", help="simulation backends, whether they run here, and their limits")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_cmd_backends)

    x = sub.add_parser("conform", help="run the conformance suite on a backend against numba")
    x.add_argument("--backend", default="lava", help="backend to check (default lava)")
    x.add_argument("--case", action="append", choices=list(CONFORMANCE_CASES),
                   help="a case to run (repeatable; default: all)")
    x.add_argument("--seed", type=_nonnegative_int, default=0)
    x.add_argument("--timeout", type=_positive_int, default=None,
                   help="seconds before a run counts as hung (default 300)")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=_cmd_conform)

    c = sub.add_parser("compile", help="lower a model card to its event-driven graph")
    c.add_argument("--model", required=True)
    c.add_argument("--out", help="write the graph as JSON to this file")
    c.add_argument("--nir", help="write its spiking part as a NIR file (neuron groups, weight "
                   "blocks; the rest listed in its metadata)")
    c.add_argument("--limit", type=_positive_int, default=12, help="blocks to list")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_cmd_compile)

    x = sub.add_parser("convert", help="convert a card's real checkpoint to SpikeLLM W4A4")
    x.add_argument("--model", required=True, help="model card with real weights")
    x.add_argument("--out", required=True, help="artifact directory to write")
    x.add_argument("--force", action="store_true",
                   help="replace an existing --out that is empty or another neurosim output")
    x.add_argument("--checkpoint", help="GGUF file or Hugging Face directory (default: the card's)")
    x.add_argument("--calib-text", default="pydoc-calib",
                   help="calibration text: pydoc-calib (default) or a UTF-8 file")
    x.add_argument("--calib-samples", type=_positive_int, default=32,
                   help="calibration windows (default 32)")
    x.add_argument("--window", type=_positive_int, default=512, help="tokens per window")
    x.add_argument("--calibration", choices=["omniquant", "minmax"], default=None,
                   help="omniquant: learnable clipping and equivalent transformation trained "
                        "block-wise (an interrupted run resumes); minmax: per-row min-max "
                        "weights (default: the card's spiking.calibration, omniquant unless set)")
    x.add_argument("--epochs", type=_positive_int, default=None,
                   help="OmniQuant epochs per decoder layer (default: the card's "
                        "spiking.calibration_epochs, 20 as released unless set)")
    x.add_argument("--parameters", metavar="DIR",
                   help="apply this OmniQuant parameter set instead of training (default: the "
                        "card's spiking.calibration_parameters when trained with these settings)")
    x.add_argument("--retrain", action="store_true",
                   help="train OmniQuant even when a matching parameter set is shipped")
    x.add_argument("--save-parameters", metavar="DIR",
                   help="also write the learned OmniQuant parameters to DIR (a few MB)")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=_cmd_convert)

    x = sub.add_parser("trace", help="record the spike codes of real text through a converted model")
    x.add_argument("--model", required=True)
    x.add_argument("--text", default="pydoc-eval",
                   help="text: pydoc-eval (default), pydoc-calib or a UTF-8 file")
    x.add_argument("--tokens", type=_positive_int, default=256)
    x.add_argument("--out", required=True, help="trace directory to write")
    x.add_argument("--force", action="store_true",
                   help="replace an existing --out that is empty or another neurosim output")
    x.add_argument("--artifact", help="converted artifact (default: the cache, converting if needed)")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=_cmd_trace)

    x = sub.add_parser("fit", help="fit synthetic traffic (code histograms) to a spike trace")
    x.add_argument("--trace", required=True, help="trace directory")
    x.add_argument("--out", required=True, help="YAML file to write (e.g. models/traffic/NAME.yaml)")
    x.add_argument("--name", help="name of the fit (default: the file's stem)")
    x.set_defaults(func=_cmd_fit)

    x = sub.add_parser("eval", help="perplexity: full precision, W4A4, SpikeLLM W4A4 (and W4, A4 alone)")
    x.add_argument("--model", required=True)
    x.add_argument("--text", default="pydoc-eval",
                   help="text: pydoc-eval (default), pydoc-calib or a UTF-8 file")
    x.add_argument("--tokens", type=_positive_int, default=2048)
    x.add_argument("--window", type=_positive_int, default=512, help="tokens per window")
    x.add_argument("--artifact", help="converted artifact (default: the cache, converting if needed)")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=_cmd_eval)

    x = sub.add_parser("lte-router", help="build (or show) an LTE card's experts and routers on "
                       "its real weights: sparsity and perplexity")
    x.add_argument("--model", required=True, help="an LTE card with weights (lte-smollm2-135m)")
    x.add_argument("--oracle", type=_fractions, default=None, metavar="KEEP[,KEEP...]",
                   help="also the perplexity when each token keeps its largest experts (e.g. "
                        "0.9,0.75,0.5), K-means and random grouping")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=_cmd_lte_router)

    x = sub.add_parser("sweep", help="run a co-design sweep spec on Dask into one Parquet table")
    x.add_argument("spec", help="sweep spec (YAML)")
    x.add_argument("--out", required=True, help="results directory (a rerun resumes)")
    x.add_argument("--scheduler", default=None,
                   help="tcp://HOST:PORT of a running Dask scheduler, or 'inline' (this "
                        "process); default: a new LocalCluster")
    x.add_argument("--workers", type=_positive_int, default=None,
                   help="LocalCluster worker processes (default: one per core)")
    x.add_argument("--retry-failed", action="store_true", help="rerun the points that failed")
    x.add_argument("--yes", action="store_true",
                   help="run a sweep of more than 100,000 points")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=_cmd_sweep)

    x = sub.add_parser("pareto", help="the energy/latency Pareto front of a sweep, table and plot")
    x.add_argument("source", help="a directory written by neurosim sweep --out")
    x.add_argument("--x", default="latency_s", help="column to minimise on x (default latency_s)")
    x.add_argument("--y", default="energy_j", help="column to minimise on y (default energy_j)")
    x.add_argument("--by", default=None, help="one front per value of this column (e.g. model)")
    x.add_argument("--plot", default=None,
                   help="file stem of the plot (.png and .svg; default SOURCE/_figures/pareto-X-Y)")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=_cmd_pareto)

    x = sub.add_parser("sensitivity", help="rank a profile's assumed numbers by their effect "
                       "on energy and latency per token")
    x.add_argument("--model", required=True)
    x.add_argument("--profile", required=True)
    x.add_argument("--factor", type=float, default=2.0,
                   help="each assumption is divided and multiplied by this (default 2)")
    x.add_argument("--tokens", type=_positive_int, default=4)
    x.add_argument("--position", type=_nonnegative_int, default=0)
    x.add_argument("--seed", type=_seed, default=0)
    x.add_argument("--top", type=_positive_int, default=15, help="rows to show and plot")
    x.add_argument("--out", help="directory: points/ (the sweep), sensitivity.csv, tornado.png/svg")
    x.add_argument("--scheduler", default=None,
                   help="tcp://HOST:PORT, 'inline', or default a new LocalCluster")
    x.add_argument("--workers", type=_positive_int, default=None)
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=_cmd_sensitivity)

    i = sub.add_parser("inspect", help="show how a model maps onto a profile's cores and chips")
    i.add_argument("--model", required=True)
    i.add_argument("--profile", required=True)
    i.add_argument("--context", type=_positive_int, default=None)
    i.add_argument("--limit", type=_positive_int, default=12, help="blocks to list")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=_cmd_inspect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 user error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    import numpy as np

    # a figure that overflows is refused where it is priced, in one line; numpy's
    # RuntimeWarnings on the way would only spill multi-line text onto stderr
    with np.errstate(all="ignore"):
        return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    try:
        return args.func(args)
    except NeurosimError as err:
        sys.stderr.write(f"{PROG}: error: {err}\n")
        return 2
    except KeyboardInterrupt:  # Ctrl-C: every writer has removed its temporary files
        sys.stderr.write(f"{PROG}: interrupted; nothing was written\n")
        return 130


def _entry() -> None:  # pragma: no cover - console script
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    _entry()
