"""Self-contained HTML reports of a run or a sweep: one file, CSS inline, every figure an
inline SVG, no network request, so it opens offline and can be mailed.

:func:`report` reads a run directory (``neurosim run --out``), a sweep directory
(``neurosim sweep --out``) or a sensitivity directory (``neurosim sensitivity --out``) and
writes the page atomically; :func:`run_page` and :func:`sweep_page` render from frames, as
notebooks do.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from neurosim import estimate
from neurosim._schema import validate
from neurosim._version import __version__
from neurosim.errors import InputError, ProfileError
from neurosim.hardware import quantities
from neurosim.hardware.schema import PROFILE_KINDS
from neurosim.report import figures as fg
from neurosim.report.units import si
from neurosim.result import Result
from neurosim.sweeps.store import read as read_sweep

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f;
       max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem;
     border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.sub { color: #555; margin-top: 0; }
.keys { display: grid; grid-template-columns: repeat(auto-fit, minmax(10rem, 1fr)); gap: .6rem; }
.key { background: #f4f6f8; border-radius: 6px; padding: .5rem .7rem; }
.key b { display: block; font-size: 1.25rem; } .key span { color: #555; font-size: .85rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; font-size: .85rem; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #eee;
         vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.assumed td { background: #fff6e5; } .tag { font-size: .75rem; background: #edae49;
     color: #222; border-radius: 3px; padding: 0 .3rem; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; }
figcaption { font-size: .8rem; color: #444; }
code { font-size: .85em; } .note { color: #555; font-size: .85rem; }
"""


def _e(text: Any) -> str:
    return html.escape(str(text))


def _table(rows: list[dict[str, Any]], columns: list[str], numeric: set[str] = frozenset(),
           row_class=None) -> str:
    head = "".join(f'<th class="num">{_e(c)}</th>' if c in numeric else f"<th>{_e(c)}</th>"
                   for c in columns)
    body = []
    for r in rows:
        cls = row_class(r) if row_class else None
        cells = "".join(f'<td class="num">{_e(r.get(c, ""))}</td>' if c in numeric
                        else f"<td>{_e(r.get(c, ''))}</td>" for c in columns)
        body.append(f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Page:
    """Sections of one page; figures inlined as SVG with salted ids."""

    def __init__(self, title: str, subtitle: str) -> None:
        self.title, self.subtitle, self.parts, self.n = title, subtitle, [], 0

    def h2(self, text: str) -> None:
        self.parts.append(f"<h2>{_e(text)}</h2>")

    def p(self, text: str, cls: str | None = None) -> None:
        self.parts.append(f'<p class="{cls}">{_e(text)}</p>' if cls else f"<p>{_e(text)}</p>")

    def raw(self, markup: str) -> None:
        self.parts.append(markup)

    def figure(self, fig, caption: str) -> None:
        self.n += 1
        svg = fg.svg_text(fig, f"fig{self.n}")
        self.parts.append(f'<figure id="figure-{self.n}">{svg}<figcaption>{_e(caption)}'
                          "</figcaption></figure>")

    def html(self) -> str:
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{_e(self.title)}</title><style>{CSS}</style></head><body>"
                f"<h1>{_e(self.title)}</h1><p class=\"sub\">{_e(self.subtitle)}</p>"
                + "".join(self.parts)
                + f'<p class="note">neurosim {_e(__version__)}</p></body></html>\n')


def _keys(items: list[tuple[str, str, str]]) -> str:
    """Key numbers as text: (element id, value, label)."""
    return '<div class="keys">' + "".join(
        f'<div class="key" id="{_e(i)}"><b>{_e(v)}</b><span>{_e(label)}</span></div>'
        for i, v, label in items) + "</div>"


# --- a run -------------------------------------------------------------------------------


def profile_numbers(result: Result) -> pd.DataFrame | None:
    """Every number of the profile that priced ``result`` (``number`` by dotted path,
    ``value``, ``assumed``, ``source or assumption``), or None when the result keeps no copy
    of its profile."""
    if result.profile_yaml is None:
        return None
    return pd.DataFrame([{"number": path, "value": q.value, "assumed": bool(q.assumed),
                          "source or assumption": q.provenance}
                         for path, q in quantities(_profile(result)).items()])


def assumed_components(result: Result) -> dict[str, list[str]]:
    """``component -> [assumed numbers that price it]`` for the energy components of
    ``result`` priced by at least one number its profile marks assumed."""
    if result.profile_yaml is None:
        return {}
    prof = _profile(result)
    qs = quantities(prof)
    out = {}
    for comp, fields in estimate.price_fields(prof).items():
        hit = [f for f in fields if qs[f].assumed]
        if hit:
            out[comp] = hit
    return out


def _profile(result: Result):
    data = yaml.safe_load(result.profile_yaml)
    return validate(PROFILE_KINDS[data["kind"]], data, result.profile, ProfileError)


def run_page(result: Result) -> str:
    """The page of one run: summary, energy by component, layer and site, latency,
    baselines, energy against position, and every profile number used."""
    s = result.summary()
    pt = s["per_token"]
    prov = result.provenance
    tr = prov.get("traffic", {})
    origin = (f"trace of {tr.get('tokens_recorded')} tokens of {tr.get('text', {}).get('name')}"
              if tr.get("kind") == "real" else
              f"seed {tr.get('seed')}" + (f", fit {tr['fit']}" if tr.get("fit") else ""))
    positions = prov.get("positions", [None, None])
    page = _Page(f"{result.model} on {result.profile}",
                 f"{s['tokens']} tokens at positions {positions[0]}..{positions[1]}; "
                 f"traffic: {result.traffic} ({origin}); backend {result.backend}")
    lat = pt["latency_s"]
    page.raw(_keys([
        ("energy-per-token", si(pt["energy_j"], "J"), "energy per token"),
        ("latency", si(lat, "s"), "latency per token"),
        ("tokens-per-s", f"{s['tokens_per_s']:.3g}" if s["tokens_per_s"] else "n/a",
         "tokens/s (batch 1)"),
        ("chips", str(s.get("chips") or "n/a"), "chips"),
        ("cores", f"{s['cores']:,}" if s.get("cores") else "n/a", "cores"),
        ("synops", f"{pt['synops']:.3g}", "synaptic ops per token"),
    ]))
    numbers = profile_numbers(result)
    on_assumed = assumed_components(result)
    comp = s["energy_by_component_j"]
    total = sum(comp.values()) or 1.0
    levels = [c.split(":", 1)[1] for c in comp if c.startswith("memory:")]
    share_assumed = sum(v for c, v in comp.items() if c in on_assumed) / total

    page.h2("Energy by component")
    page.figure(fg.components_figure(comp, levels),
                f"Energy per token by component, mean over {s['tokens']} tokens. Components "
                f"priced by an assumed number: {', '.join(on_assumed) or 'none'} "
                f"({100 * share_assumed:.1f} % of the energy).")
    page.raw(_table([{"component": c, "energy/token": si(v, "J"), "share": f"{100 * v / total:.1f} %",
                      "priced by assumed numbers": ", ".join(on_assumed.get(c, [])) or "no"}
                     for c, v in sorted(comp.items(), key=lambda kv: -kv[1])],
                    ["component", "energy/token", "share", "priced by assumed numbers"],
                    {"energy/token", "share"}))

    if not result.sites.empty:
        per_token = result.sites.groupby(["layer"], sort=True)["energy_j"].sum() / s["tokens"]
        block_assumed = [f for c in ("synapses", "neurons", "spikes", "noc")
                         for f in on_assumed.get(c, [])]
        assumed_note = (f" Assumed prices among them: {', '.join(block_assumed)}."
                        if block_assumed else " None of their prices is assumed.")
        page.h2("Energy by layer and by site")
        page.figure(fg.bars_figure([f"layer {i}" for i in per_token.index], list(per_token.values),
                                   "energy per token (J)", fg.COLORS[0]),
                    "Energy per token of each layer's spiking blocks (synapses, neurons, spikes, "
                    "NoC: the components counted per block; memory, dense units and static power "
                    "are counted per token, above)." + assumed_note)
        site = result.top_sites(n=1000)
        page.figure(fg.bars_figure(list(site.index), list(site["energy_j"]), "energy per token (J)",
                                   fg.COLORS[2]),
                    "Energy per token of each site, summed over layers (spiking blocks only)."
                    + assumed_note)

    lb = s["latency_breakdown_s"]
    if lb:
        page.h2("Latency")
        page.figure(fg.bars_figure(list(lb), list(lb.values()), "latency per token (s)",
                                   fg.COLORS[1], log=False),
                    "Latency per token by part: spiking stages (their critical core, NoC path and "
                    "barrier, or their off-core memory or link time when larger; spiking:noc and "
                    "spiking:barrier are the NoC and barrier parts of the spiking time), "
                    "dense-unit stages, and partial sums moved to the dense units. Per-action "
                    "latencies marked assumed in the profile set the spiking part.")
        page.raw(_table([{"part": k, "latency/token": si(v, "s"),
                          "share": f"{100 * v / (lat or 1):.1f} %"} for k, v in lb.items()],
                        ["part", "latency/token", "share"], {"latency/token", "share"}))
        by_layer = result.latency_by_layer()
        if by_layer is not None:
            names = ["outside layers" if i < 0 else f"layer {i}" for i in by_layer.index]
            page.figure(fg.bars_figure(names, list(by_layer.values), "latency per token (s)",
                                       fg.COLORS[1]),
                        "Latency per token of each layer's stages, spiking and dense (outside "
                        "layers: embedding, final norm and head).")

    base = s["baselines"]
    if base:
        page.h2("Against the baselines")
        names = [result.profile, *base]
        energies = [pt["energy_j"], *[b["energy_j"] for b in base.values()]]
        page.figure(fg.bars_figure(names, energies, "energy per token (J)", fg.COLORS[3], log=True),
                    "Energy per token of this run and of the same model on each baseline: GPU "
                    "rooflines of the dense FP16 model, and the literature's op-count accounting "
                    "of the same traffic (no memory, network or static power). This run rests "
                    f"on assumed numbers for {100 * share_assumed:.1f} % of its energy; the "
                    "baselines' own profiles list theirs.")
        page.raw(_table([{"baseline": n, "what": b["kind"], "energy/token": si(b["energy_j"], "J"),
                          "latency/token": si(b["latency_s"], "s"),
                          "this / baseline": f"{pt['energy_j'] / b['energy_j']:.3g}x"
                          if b["energy_j"] else "n/a"} for n, b in base.items()],
                        ["baseline", "what", "energy/token", "latency/token", "this / baseline"],
                        {"energy/token", "latency/token", "this / baseline"}))

    t = result.tokens
    if t["position"].nunique() > 1:
        page.h2("Energy against token position")
        page.figure(fg.position_figure(t), "Energy and latency of each replayed token against "
                    "its position: the KV cache it reads grows by one position per token.")

    page.h2("Provenance")
    page.raw(_table([{"item": k, "value": json.dumps(v, default=str) if isinstance(v, dict | list)
                      else v} for k, v in prov.items()], ["item", "value"]))
    if numbers is None:
        page.p("This result carries no copy of its profile (saved before profile.yaml was "
               "written): the profile numbers cannot be listed.", "note")
    else:
        rows = numbers.to_dict(orient="records")
        n_assumed = sum(r["assumed"] for r in rows)
        page.p(f"Every number of profile {result.profile} ({n_assumed} of {len(rows)} assumed, "
               f"marked). {100 * share_assumed:.1f} % of the energy per token is in components "
               "priced by at least one assumed number; static energy is also proportional to "
               "the latency, which assumed per-action latencies can set.")
        page.raw(_table([{**r, "value": r["value"], "number": r["number"]} for r in rows],
                        ["number", "value", "source or assumption"], {"value"},
                        row_class=lambda r: "assumed" if r["assumed"] else None))
    for note in result.notes:
        page.p(f"note: {note}", "note")
    return page.html()


# --- a sweep ----------------------------------------------------------------------------------


def sweep_page(frame: pd.DataFrame, meta: dict[str, Any], source: str,
               sensitivity: pd.DataFrame | None = None) -> str:
    """The page of a sweep (or a sensitivity study): its axes, counts, errors, the Pareto
    front of energy against latency, and the tornado when given the sensitivity table."""
    from neurosim.sweeps import pareto_front

    ok = frame[frame["status"] == "ok"]
    spec = meta.get("spec", {})
    if sensitivity is not None:
        a = sensitivity.attrs
        title = f"Sensitivity of {a.get('model')} on {a.get('profile')}"
    else:
        title = f"Sweep of {', '.join(spec.get('models', []))} on {', '.join(spec.get('profiles', []))}"
    page = _Page(title, f"{source}: {len(frame):,} points, {len(ok):,} ok, "
                        f"{len(frame) - len(ok):,} failed")
    page.raw(_keys([("points", f"{len(frame):,}", "points"), ("ok", f"{len(ok):,}", "ok"),
                    ("failed", f"{len(frame) - len(ok):,}", "failed")]))
    axes = spec.get("axes", {})
    if axes:
        page.h2("Axes")
        page.raw(_table([{"path": p, "values": json.dumps(v)} for p, v in axes.items()],
                        ["path", "values"]))
    if len(frame) > len(ok):
        page.h2("Failed points")
        errors = frame.loc[frame["status"] != "ok", "error"].value_counts()
        page.raw(_table([{"points": n, "error": e} for e, n in errors.items()], ["points", "error"],
                        {"points"}))
    if sensitivity is not None:
        a = sensitivity.attrs
        page.h2("What the answer hangs on")
        page.raw(_keys([("energy-per-token", si(a.get("energy_j"), "J"), "energy per token"),
                        ("latency", si(a.get("latency_s"), "s"), "latency per token")]))
        page.figure(fg.tornado_figure(sensitivity, a.get("factor", 2.0)),
                    f"Change in energy and latency per token when each assumed number is divided "
                    f"and multiplied by {a.get('factor', 2.0):g}, one at a time.")
        pct = lambda v: "n/a" if v != v else f"{100 * v:+.1f} %"  # noqa: E731
        page.raw(_table([{"rank": r["rank"], "assumed number": r["path"], "value": r["value"],
                          "energy / f": pct(r["energy_low"]), "energy x f": pct(r["energy_high"]),
                          "latency / f": pct(r["latency_low"]), "latency x f": pct(r["latency_high"]),
                          "assumed": r["assumed"]} for r in sensitivity.to_dict(orient="records")],
                        ["rank", "assumed number", "value", "energy / f", "energy x f",
                         "latency / f", "latency x f", "assumed"],
                        {"rank", "energy / f", "energy x f", "latency / f", "latency x f"}))
    elif len(ok):
        by = ("profile" if ok["profile"].nunique() > 1 else "model" if ok["model"].nunique() > 1
              else None)
        front = pareto_front(ok, "latency_s", "energy_j", by)
        page.h2("Pareto front: energy against latency per token")
        page.figure(fg.pareto_figure(ok, front, "latency_s", "energy_j", by),
                    f"{len(ok):,} points; joined: the points no other point beats in both latency "
                    "and energy per token. Numbers the profiles mark assumed enter every point.")
        inputs = [c for c in frame.columns if c.startswith(("profile.", "model."))]
        cols = ["model", "profile", "position", *inputs, "latency_s", "energy_j", "chips"]
        page.raw(_table([{c: (f"{r[c]:.4g}" if isinstance(r[c], float) else r[c]) for c in cols}
                         for r in front[cols].to_dict(orient="records")], cols,
                        {*inputs, "latency_s", "energy_j", "chips", "position"}))
    return page.html()


# --- files --------------------------------------------------------------------------------------


def render(source: str | os.PathLike) -> str:
    """The page of ``source``: a run, sweep or sensitivity directory."""
    src = Path(source)
    if (src / "result.json").is_file():
        return run_page(Result.load(src))
    if (src / "_sweep.json").is_file():
        return sweep_page(read_sweep(src), _read_json(src / "_sweep.json"), str(src))
    if (src / "sensitivity.csv").is_file() and (src / "points" / "_sweep.json").is_file():
        table = pd.read_csv(src / "sensitivity.csv")
        meta = _read_json(src / "points" / "_sweep.json")
        base = read_sweep(src / "points")
        b = base[base["point"] == 0]
        table.attrs.update({**meta.get("sensitivity", {}),
                            "energy_j": float(b["energy_j"].iloc[0]) if len(b) else None,
                            "latency_s": float(b["latency_s"].iloc[0]) if len(b) else None})
        return sweep_page(base, meta, str(src), sensitivity=table)
    raise InputError(str(src), None, "neither a run nor a sweep",
                     expected="a directory of neurosim run --out, sweep --out or sensitivity --out")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(str(path), None, f"unreadable: {exc}") from None


def write(page: str, out: str | os.PathLike) -> Path:
    """Write ``page`` to ``out`` atomically (a temporary file beside it, then renamed)."""
    out = Path(out)
    if out.is_dir():
        raise InputError(str(out), None, "is a directory", expected="an HTML file path")
    tmp = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(page)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, out)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise InputError(str(out), None, f"cannot write the report: {exc.strerror or exc}",
                         expected="a writable path") from None
    return out


def report(source: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Render ``source`` (run, sweep or sensitivity directory) into the HTML file ``out``."""
    return write(render(source), out)
