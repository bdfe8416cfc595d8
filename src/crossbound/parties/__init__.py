"""The parties. The model party answers requests with its LM; it never sees a data party's
objects, only the messages that crossed the boundary.

- :mod:`~crossbound.parties.model_party`: :class:`ModelParty` (what it holds, request checks,
  replies and their accounting) and the registries an operation family plugs into
  (:func:`model_op`, :func:`served_model`, :func:`party_state`);
- :mod:`~crossbound.parties.basic_ops`: ``score_choices``, ``generate``, ``topk_logprobs``,
  ``lm_step``;
- :mod:`~crossbound.parties.offsite`: offsite-tuning's side (``offsite_bundle``,
  ``offsite_adapter``, the plug-in model);
- :mod:`~crossbound.parties.split`: split learning and inference's side (``split_bundle``,
  ``split_forward`` / ``split_backward`` / ``split_step`` / ``split_score``: the LM's top blocks
  with a LoRA per data party);
- :mod:`~crossbound.parties.upward`: upward transfer's per-party LoRA copy of the LM
  (``lm_finetune``, ``lm_distill``);
- :mod:`~crossbound.parties.lm_sessions`: KV-cached LM sessions (``lm_step``);
- :mod:`~crossbound.parties.openai_compatible`: any OpenAI-compatible server as a model party
  (exact label scoring and top-k where the server returns prompt log-probs:
  :mod:`~crossbound.parties.openai_probe`, :mod:`~crossbound.parties.openai_scoring`;
  HTTP and answer checks: :mod:`~crossbound.parties.openai_wire`).
"""

# Imported for their registrations, in this order (the order OPERATIONS lists them in): a
# family registers its operations as its module is imported, so importing crossbound.parties
# (or any module in it) is what makes every operation served and enumerable in OPERATIONS.
from crossbound.boundary.replies import scores_from
from crossbound.parties import basic_ops, offsite, split, upward  # noqa: F401
from crossbound.parties.model_party import (
    DEFAULT_NEW_TOKENS,
    MAX_NEW_TOKENS,
    MAX_PROMPTS_PER_REQUEST,
    MAX_SCORED_TOKENS,
    MAX_TOPK,
    OPERATIONS,
    PARTY_STATE,
    SERVED_MODELS,
    ModelParty,
    OwnerReply,
    TopkAsk,
    checked_ids,
    int_meta,
    model_op,
    owner_family,
    party_state,
    served_model,
)

__all__ = [
    "DEFAULT_NEW_TOKENS",
    "MAX_NEW_TOKENS",
    "MAX_PROMPTS_PER_REQUEST",
    "MAX_SCORED_TOKENS",
    "MAX_TOPK",
    "OPERATIONS",
    "PARTY_STATE",
    "SERVED_MODELS",
    "ModelParty",
    "OwnerReply",
    "TopkAsk",
    "checked_ids",
    "int_meta",
    "model_op",
    "owner_family",
    "party_state",
    "scores_from",
    "served_model",
]
