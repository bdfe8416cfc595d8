"""Label scoring with and without ``logits_to_keep=1`` (only the prompt's last position
through the LM head), side by side in one run, twice each, on 24 clinic-triage prompts:

    python benchmarks/last_logits.py

Prints seconds and the first scores (which must be equal).
"""

import time

import torch

import crossbound.evaluate.utility as u
from crossbound.models.loading import load_model
from crossbound.models.precision import precision_scope
from crossbound.tasks.registry import load_task as get_task

task = get_task("clinic-triage")
prompts = [task.prompt(e) for e in task.test[:24]]
for name in ["smollm2-135m", "qwen2.5-coder-1.5b"]:
    with precision_scope("bf16"):
        m = load_model(name, frozen=True)
        orig = u._last_logits_only
        for label, fn in [("all positions", lambda model: {}), ("last only", orig)] * 2:
            u._last_logits_only = fn
            t = time.perf_counter()
            with torch.no_grad():
                s = u.choice_logprobs(m.model, m.tokenizer, prompts, task.choices, 8)
            print(name, label, round(time.perf_counter() - t, 2), "s", s[0, :3].tolist())
        u._last_logits_only = orig
