"""Tiny randomly initialised models and tokenizers built in code, for fast offline tests.

``tiny-large`` and ``tiny-small`` share a byte-level tokenizer (every UTF-8 byte is a token,
so any text round-trips), like a real same-family LM/SM pair. ``tiny-other`` has a different,
BPE tokenizer and a Gemma-3 architecture, for cross-tokenizer code paths. Weights are seeded:
the same name always gives the same model.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]

# ChatML, as SmolLM2 uses, so chat prompts render the same way for tiny and real models.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Text the tiny BPE tokenizer learns its merges from: fixed, so its vocabulary is too.
_BPE_TRAINING_TEXT = [
    "The patient reports chest pain and shortness of breath since yesterday.",
    "Please call me back about my appointment; my phone number is on file.",
    "The model party holds the large model and the data party holds private data.",
    "A small model answers when it can, and the large model helps when it cannot.",
    "Routine check-up requested for a skin rash that has lasted two weeks.",
    "Knowledge flows down from the large model and up from the small models.",
    "the quick brown fox jumps over the lazy dog 0123456789",
]


def _byte_level_pieces() -> list[str]:
    from tokenizers import pre_tokenizers

    return sorted(pre_tokenizers.ByteLevel.alphabet())


@functools.cache
def _tokenizer_json(kind: str) -> str:
    """Serialised ``tokenizers`` JSON for ``kind`` in {"byte", "bpe"} (built once per process)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if kind == "byte":
        # Vocabulary: special tokens, then the 256 byte symbols; no merges, so every byte is
        # its own token.
        vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
        for piece in _byte_level_pieces():
            vocab[piece] = len(vocab)
        tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    elif kind == "bpe":
        tokenizer = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(
            vocab_size=384,
            special_tokens=SPECIAL_TOKENS,
            initial_alphabet=_byte_level_pieces(),
            show_progress=False,
        )
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.train_from_iterator(_BPE_TRAINING_TEXT, trainer=trainer)
    else:
        raise ValueError(f"unknown tiny tokenizer kind {kind!r}")
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    return str(tokenizer.to_str())


def build_tokenizer(kind: str = "byte") -> Any:
    """A Hugging Face fast tokenizer (``kind`` = "byte" or "bpe") with ChatML specials."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_tokenizer_json(kind)),
        bos_token=None,
        eos_token="<|im_end|>",
        unk_token=None,
        pad_token="<pad>",
        additional_special_tokens=["<|endoftext|>", "<|im_start|>"],
    )
    tok.chat_template = CHATML_TEMPLATE
    tok.padding_side = "left"  # decoder-only batching pads on the left
    return tok


# name -> (tokenizer kind, architecture, hidden, layers, heads, kv heads, intermediate, seed)
TINY_MODELS: dict[str, tuple[str, str, int, int, int, int, int, int]] = {
    "tiny-large": ("byte", "llama", 64, 4, 4, 2, 128, 1),
    "tiny-small": ("byte", "llama", 32, 2, 2, 1, 64, 2),
    "tiny-other": ("bpe", "gemma3", 48, 3, 2, 1, 96, 3),
}


def build_tiny(name: str) -> tuple[Any, Any]:
    """Return ``(model, tokenizer)`` for a tiny model name; deterministic for a name."""
    if name not in TINY_MODELS:
        raise ValueError(f"unknown tiny model {name!r}; known: {sorted(TINY_MODELS)}")
    kind, arch, hidden, layers, heads, kv_heads, inter, seed = TINY_MODELS[name]
    tokenizer = build_tokenizer(kind)
    common: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "intermediate_size": inter,
        "max_position_embeddings": 2048,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": None,
        "tie_word_embeddings": True,
    }
    from transformers import (
        Gemma3ForCausalLM,
        Gemma3TextConfig,
        LlamaConfig,
        LlamaForCausalLM,
    )

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if arch == "llama":
            model: Any = LlamaForCausalLM(LlamaConfig(**common))
        else:
            config = Gemma3TextConfig(
                **common, head_dim=hidden // heads, sliding_window=64, query_pre_attn_scalar=24
            )
            model = Gemma3ForCausalLM(config)
    model.eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = None
    return model, tokenizer
