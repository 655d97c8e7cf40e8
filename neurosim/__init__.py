__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "run":
        from neurosim.api import run

        return run
    raise AttributeError(name)
