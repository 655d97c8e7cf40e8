"""Model cards: load, list and serialise ``models/*.yaml``."""

from __future__ import annotations

import os
from pathlib import Path

from neurosim._resolve import resolve, shipped_dir, shipped_names
from neurosim._schema import load_document, to_plain
from neurosim._yaml import dump_yaml
from neurosim.cards.schema import CARD_FAMILIES, BertCard, LlamaCard, ModelCard, RwkvCard
from neurosim.errors import ModelCardError

__all__ = [
    "ModelCard",
    "LlamaCard",
    "RwkvCard",
    "BertCard",
    "load_card",
    "list_cards",
    "cards_dir",
    "card_to_yaml",
    "card_summary",
    "card_hash",
]


def cards_dir() -> Path:
    """Directory of shipped model cards (``$NEUROSIM_MODELS`` overrides it)."""
    return shipped_dir("models", "NEUROSIM_MODELS")


def list_cards() -> list[str]:
    """Names of the shipped model cards."""
    return shipped_names(cards_dir())


def load_card(ref: str | os.PathLike) -> ModelCard:
    """Load and validate a model card given a shipped name (``spikellm-7b``) or a path."""
    path = resolve(ref, cards_dir(), "model card")
    return load_document(path, "family", CARD_FAMILIES, ModelCardError)


def card_to_yaml(card: ModelCard) -> str:
    """Serialise a card back to YAML that loads into an equal object."""
    return dump_yaml(to_plain(card))


def card_summary(card: ModelCard) -> dict:
    """Plain summary: name, family, dimensions, parameter count and spiking scheme."""
    arch = to_plain(card.architecture)
    arch.pop("source", None)
    spiking = to_plain(card.spiking)
    spiking.pop("source", None)
    return {
        "name": card.name,
        "title": card.title,
        "family": card.family,
        "parameters": card.parameters,
        "dimensions": arch,
        "spiking": spiking,
        "weights": to_plain(card.weights),
        "traffic": to_plain(card.traffic),
    }


def card_hash(card: ModelCard) -> str:
    """SHA-256 of the card's canonical YAML."""
    import hashlib

    return hashlib.sha256(card_to_yaml(card).encode()).hexdigest()
