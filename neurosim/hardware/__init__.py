"""Hardware profiles: load, list and serialise ``hw_profiles/*.yaml``."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from neurosim._resolve import resolve, shipped_dir, shipped_names
from neurosim._schema import Quantity, iter_quantities, load_document, to_plain
from neurosim._yaml import dump_yaml
from neurosim.errors import ProfileError
from neurosim.hardware.schema import (
    PROFILE_KINDS,
    AccountingProfile,
    GpuProfile,
    NeuromorphicProfile,
    Profile,
)

__all__ = [
    "Profile",
    "NeuromorphicProfile",
    "GpuProfile",
    "AccountingProfile",
    "load_profile",
    "list_profiles",
    "profiles_dir",
    "profile_to_yaml",
    "profile_hash",
    "quantities",
]


def profiles_dir() -> Path:
    """Directory of shipped profiles (``$NEUROSIM_PROFILES`` overrides it)."""
    return shipped_dir("hw_profiles", "NEUROSIM_PROFILES")


def list_profiles() -> list[str]:
    """Names of the shipped profiles."""
    return shipped_names(profiles_dir())


def load_profile(ref: str | os.PathLike) -> Profile:
    """Load and validate a profile given a shipped name (``loihi2``) or a path."""
    path = resolve(ref, profiles_dir(), "profile")
    return load_document(path, "kind", PROFILE_KINDS, ProfileError)


def profile_to_yaml(profile: Profile) -> str:
    """Serialise a profile back to YAML that loads into an equal object."""
    return dump_yaml(to_plain(profile))


def quantities(profile: Profile) -> dict[str, Quantity]:
    """Every number of ``profile`` by dotted path, memory levels by name
    (``memory.core_sram.read_energy_pj_per_bit``), in file order."""
    out = {}
    for path, q in iter_quantities(profile):
        parts = [profile.memory[k].name if isinstance(k, int) and path[i - 1] == "memory"
                 else str(k) for i, k in enumerate(path)]
        out[".".join(parts)] = q
    return out


def profile_hash(profile: Profile) -> str:
    """SHA-256 of the profile's canonical YAML: identifies the numbers a result used."""
    return hashlib.sha256(profile_to_yaml(profile).encode()).hexdigest()
