"""Numbers with SI prefixes, as reports and the terminal print them."""

from __future__ import annotations

_PREFIXES = ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"),
             (1e-12, "p"))


def si(value: float | None, unit: str) -> str:
    """``value`` to 3 significant digits with an SI prefix (``"10.2 J"``, ``"443 ms"``);
    ``"n/a"`` for None or NaN."""
    if value is None or value != value:
        return "n/a"
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"
