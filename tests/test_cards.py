"""Every shipped model card loads, round-trips, and counts its parameters right."""

from __future__ import annotations

import pytest
import yaml

from neurosim.cards import card_to_yaml, cards_dir, list_cards, load_card
from neurosim.cards.schema import CARD_FAMILIES, LlamaArchitecture

SHIPPED = sorted(p.name for p in cards_dir().glob("*.yaml"))
REQUIRED = ["spikellm-7b", "spikellm-13b", "spikellm-70b", "smollm2-135m-spikellm",
            "spikegpt-216m", "spikegpt-46m", "spikelm-bert-base", "lte-llama-7b", "llama-7b"]


def test_required_cards_are_shipped():
    assert set(REQUIRED) <= set(list_cards())


@pytest.mark.parametrize("filename", SHIPPED)
def test_card_round_trips(filename):
    card = load_card(cards_dir() / filename)
    again = CARD_FAMILIES[card.family].model_validate(yaml.safe_load(card_to_yaml(card)))
    assert again == card
    assert card.name == filename.removesuffix(".yaml")


# Public parameter counts: LLaMA-2 model cards / Hugging Face configs (7B 6,738,415,616;
# 13B 13,015,864,320; 70B 68,976,648,192); SmolLM2-135M 134,515,008 (tied embeddings);
# BERT-base 109,482,240 (with pooler); SpikeGPT-216M 215.4M (seed-methods §2.4).
@pytest.mark.parametrize(
    "name, public",
    [
        ("spikellm-7b", 6.74e9),
        ("llama-7b", 6.74e9),
        ("lte-llama-7b", 6.74e9),
        ("spikellm-13b", 13.0e9),
        ("spikellm-70b", 68.98e9),
        ("smollm2-135m-spikellm", 134.5e6),
        ("lte-smollm2-135m", 134.5e6),
        ("spikelm-bert-base", 109.5e6),
        ("spikegpt-216m", 215.4e6),
    ],
)
def test_parameters_match_public_counts(name, public):
    assert load_card(name).parameters == pytest.approx(public, rel=0.01)


def test_llama_parameter_closed_form_by_hand():
    # 2 layers, d 8, 2 heads, 1 KV head (head_dim 4, d_kv 4), FFN 16, vocab 10, untied:
    # per layer q 64 + o 64 + k 32 + v 32 + FFN 3*8*16=384 + 2 norms 16 = 592;
    # embeddings 80 + lm_head 80 + final norm 8 -> 80 + 2*592 + 8 + 80 = 1352.
    arch = LlamaArchitecture(layers=2, d_model=8, heads=2, kv_heads=1, d_ffn=16, vocab=10,
                             max_context=16, tied_embeddings=False, source="hand")
    assert arch.parameters() == 1352
    tied = arch.model_copy(update={"tied_embeddings": True})
    assert tied.parameters() == 1352 - 80


def test_spikellm_op_overhead_formula():
    # seed-methods §1.3: (1 - p) + p * 2^a = 0.9 + 0.1 * 2 = 1.1 for p = 0.1, a = 1.
    assert load_card("spikellm-7b").spiking.op_overhead == pytest.approx(1.1)


def test_gqa_shapes_of_70b():
    arch = load_card("spikellm-70b").architecture
    assert (arch.heads, arch.kv_heads, arch.head_dim, arch.d_kv) == (64, 8, 128, 1024)


def test_w4a7_card_converts_with_omniquant():
    """The W4A7 card: OmniQuant calibration for its conversions and 7-bit GIF codes."""
    from neurosim.graph.lower import lower

    card = load_card("smollm2-135m-spikellm-w4a7")
    assert (card.spiking.calibration, card.spiking.calibration_epochs) == ("omniquant", 5)
    assert {grp.code_bits for grp in lower(card).groups} == {7}


@pytest.mark.parametrize("name", [c for c in list_cards()
                                  if getattr(load_card(c).spiking, "calibration_parameters", None)])
def test_shipped_parameter_sets_were_trained_with_their_cards_settings(name):
    """A card's shipped OmniQuant parameters load for its architecture and were trained with
    its bits and epochs on the default calibration (32 x 512 tokens of pydoc-calib) of the
    checkpoint its package ships, so converting applies them instead of training."""
    pytest.importorskip("torch")
    from neurosim._files import file_sha256
    from neurosim.convert import omniquant as oq
    from neurosim.convert.checkpoint import LlamaShape, checkpoint_path
    from neurosim.convert.text import load_text

    card = load_card(name)
    a, s = card.architecture, card.spiking
    shape = LlamaShape(a.layers, a.d_model, a.heads, a.kv_heads, a.d_ffn, a.vocab, 1e-5, 1e4,
                       a.tied_embeddings)
    key, _, _ = oq.load_parameters(oq.parameters_path(s.calibration_parameters), shape)
    assert (key["bits"], key["epochs"]) == ([s.weight_bits, s.abits], s.calibration_epochs)
    assert (key["samples"], key["window"]) == (32, 512)
    assert key["text_sha256"] == load_text("pydoc-calib").sha256
    assert key["source_sha256"] == file_sha256(checkpoint_path(card))
