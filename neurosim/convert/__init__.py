"""Conversion of real checkpoints to SpikeLLM, recording of spike traces, perplexity.

``checkpoint`` loads a LLaMA-family checkpoint (Hugging Face directory or GGUF) into plain
tensors; ``model`` runs it in full precision, plain W4A4 or SpikeLLM W4A4; ``spikellm``
calibrates the salient channels and writes the artifact; ``record`` turns text into a
:class:`~neurosim.traffic.trace.SpikeTrace`; ``evaluate`` measures perplexity.  These need
the ``convert`` extra (torch); :mod:`neurosim.convert.artifact` and ``text`` do not.
"""
