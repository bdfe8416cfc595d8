"""The real models shipped in PyPI packages load offline and work (marked: slower)."""

from __future__ import annotations

import pytest
import torch

from crossbound.models import get_spec, load_model, prepare_model

pytestmark = pytest.mark.real


def _greedy(loaded, prompt: str, n: int = 12) -> str:
    tok = loaded.tokenizer
    enc = tok(prompt, return_tensors="pt")
    out = loaded.model.generate(**enc, max_new_tokens=n, do_sample=False,
                                pad_token_id=tok.pad_token_id)
    return tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def test_smollm2_answers_a_chat_question():
    lm = load_model("smollm2-135m")
    assert lm.parameters == get_spec("smollm2-135m").parameters
    assert lm.model.config.num_hidden_layers == 30 and len(lm.tokenizer) == 49_152
    prompt = lm.tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True, tokenize=False)
    assert "Paris" in _greedy(lm, prompt)


def test_smollm2_cache_is_intact_and_derived_model_shares_its_tokenizer():
    folder = prepare_model("smollm2-135m", verify=True)
    assert folder is not None and (folder / "model.safetensors").is_file()
    lm, sm = load_model("smollm2-135m"), load_model("smollm2-135m:layers=6")
    assert sm.model.config.num_hidden_layers == 6
    assert sm.parameters < lm.parameters / 2
    text = "Patient reports chest pain."
    assert lm.tokenizer(text)["input_ids"] == sm.tokenizer(text)["input_ids"]


def test_gemma3_continues_text():
    lm = load_model("gemma3-270m")
    assert lm.parameters == get_spec("gemma3-270m").parameters
    assert len(lm.tokenizer) == 262_144
    assert "Paris" in _greedy(lm, "The Eiffel Tower is located in the city of")


def test_minilm_embeds_similar_sentences_closer():
    enc = load_model("minilm-l6")
    texts = ["I have chest pain.", "My chest hurts.", "The stock market fell today."]
    batch = enc.tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        hidden = enc.model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1)
    emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    sims = emb @ emb.T
    assert sims[0, 1] > sims[0, 2] + 0.2


def test_serve_answers_the_openai_client_with_smollm2(tmp_path):
    import openai
    from starlette.testclient import TestClient

    from crossbound.boundary.contracts import OPEN_TEXT
    from crossbound.boundary.transcript import Transcript
    from crossbound.service.app import Limits, create_app
    from crossbound.service.keys import KeyStore

    key = "key-of-data-party-0-0123456789"
    with Transcript(tmp_path / "server.jsonl") as transcript:
        app = create_app(load_model("smollm2-135m"), KeyStore.from_keys({"data-party-0": key}),
                         OPEN_TEXT, transcript, Limits())
        client = openai.OpenAI(base_url="http://testserver/v1", api_key=key,
                               http_client=TestClient(app), max_retries=0)
        chat = client.chat.completions.create(
            model="smollm2-135m", max_tokens=8, temperature=0, logprobs=True, top_logprobs=3,
            messages=[{"role": "user", "content": "What is the capital of France?"}])
        assert "Paris" in (chat.choices[0].message.content or "")
        content = chat.choices[0].logprobs.content
        assert content and len(content[0].top_logprobs) == 3
        completion = client.completions.create(model="smollm2-135m", max_tokens=5,
                                               prompt="The Eiffel Tower is in", logprobs=2)
        assert completion.choices[0].logprobs.top_logprobs
        unauthorised = openai.OpenAI(base_url="http://testserver/v1", api_key="wrong-key-xxxx",
                                     http_client=TestClient(app), max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            unauthorised.models.list()


def _qwen_parts_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(p.module) is not None
               for name in ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b")
               for p in (get_spec(name).split.parts if get_spec(name).split else ()))


qwen = pytest.mark.skipif(not _qwen_parts_installed(),
                          reason="the Qwen part packages are not installed (make models-large)")


@qwen
def test_qwen_pair_shares_a_tokenizer_and_the_0_5b_drafts_the_1_5b_losslessly_in_bf16():
    from crossbound.inference.gamma import SpeculativeSettings
    from crossbound.inference.generation import GenerationSettings, encode_prompts
    from crossbound.inference.speculative import speculative_generate
    from crossbound.models.kv import DecodeState
    from crossbound.models.precision import precision_scope

    with precision_scope("bf16"):
        lm = load_model("qwen2.5-coder-1.5b", frozen=True)
        draft = load_model("qwen2.5-coder-0.5b", frozen=True)
        assert lm.dtype == draft.dtype == torch.bfloat16
        assert lm.parameters == get_spec("qwen2.5-coder-1.5b").parameters
        assert draft.parameters == get_spec("qwen2.5-coder-0.5b").parameters
        tok = lm.tokenizer
        assert tok.get_vocab() == draft.tokenizer.get_vocab() and len(tok) == 151_936
        texts = ["Which department treats a broken wrist?", "Write a haiku about rain."]
        prompts = encode_prompts(tok, texts, chat=True)
        expected = []
        for p in prompts:
            out = lm.model.generate(torch.tensor([p]), max_new_tokens=10, do_sample=False,
                                    pad_token_id=tok.pad_token_id)
            expected.append(out[0, len(p):].tolist())
        got = speculative_generate(DecodeState(lm.model, tok.pad_token_id), draft.model, tok,
                                   prompts, GenerationSettings(max_new_tokens=10),
                                   SpeculativeSettings(gamma=3, adaptive=False),
                                   lm_model=lm.model)
    assert got.ids == expected
    assert got.stats.accepted > 0
