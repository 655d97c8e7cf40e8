"""neurosim: what would this spiking LLM cost on that chip, per token?

``neurosim.run(model, profile)`` replays a model's spike traffic on a hardware profile and
returns a :class:`~neurosim.result.Result`; ``neurosim.reprice(result, profile)`` prices
its saved counters on another profile that maps the graph identically;
``neurosim.sweep(spec)`` runs a co-design sweep (a row per point) and
``neurosim.sensitivity(model, profile)`` ranks the profile's assumed numbers by their effect.
"""

from neurosim._version import __version__  # noqa: F401


def __getattr__(name: str):
    if name in ("run", "reprice"):
        from neurosim import api

        return getattr(api, name)
    if name == "sweep":
        from neurosim.sweeps import sweep

        return sweep
    if name == "sensitivity":
        from neurosim.sweeps.sensitivity import sensitivity

        return sensitivity
    raise AttributeError(name)
