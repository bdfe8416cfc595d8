"""Build the model party's "generalist" LM for the cascade benchmark on ``clinic-mix``.

A cascade pays off when the LM is the stronger model overall. SmolLM2-135M is not: zero-shot
it is at chance on the Rotten Tomatoes snippets that ``clinic-mix`` mixes in (this script's
"before" line printed 0.517 on 60 held-out snippets), as weak there as the clinic's 6-layer
SM. A vendor's LM knows general
tasks because the vendor trained it on public data; this script plays that vendor: it
fine-tunes SmolLM2-135M on *public* movie-review snippets — ``movie-sentiment``'s training
split, which ``clinic-mix`` never draws from (its general queries come from the validation
and test splits) — in the mix's prompt format, and saves the result as a model folder that
``--large`` takes. No clinic record is used.

    python benchmarks/generalist_lm.py --out runs/generalist-lm
    crossbound run cascade --task clinic-mix:general=0.7 --large runs/generalist-lm ...

It prints the folder's accuracy on held-out general and clinic queries of ``clinic-mix``
(each answered from its own domain's labels) before and after, and writes them to
``OUT/generalist.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from crossbound.evaluate.utility import predict_labels
from crossbound.models.loading import load_model
from crossbound.tasks.base import Example, Task
from crossbound.tasks.mixed import build_clinic_mix
from crossbound.tasks.real import build_movie_sentiment
from crossbound.training.causal_lm import finetune


def accuracy_by_domain(model: object, tokenizer: object, task: Task,
                       examples: list[Example]) -> dict[str, float]:
    predicted = predict_labels(model, tokenizer, task, examples)
    out = {}
    for domain in ("clinic", "general"):
        rows = [(p, ex) for p, ex in zip(predicted, examples, strict=True)
                if ex.meta["domain"] == domain]
        out[domain] = round(sum(p == ex.target for p, ex in rows) / len(rows), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="smollm2-135m")
    parser.add_argument("--out", type=Path, default=Path("runs/generalist-lm"))
    parser.add_argument("--records", type=int, default=800,
                        help="public movie-review snippets to train on")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--eval", type=int, default=200,
                        help="clinic-mix validation queries to score before and after")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.records < 8 or args.epochs <= 0 or args.lr <= 0 or args.eval < 2:
        parser.error("--records >= 8, --epochs > 0, --lr > 0 and --eval >= 2")
    if (args.out / "config.json").exists():
        parser.error(f"{args.out} already holds a model; remove it or pick another --out")

    mix = build_clinic_mix(general=0.5, seed=args.seed)
    public = list(build_movie_sentiment(n=None, seed=args.seed).train)
    random.Random(args.seed).shuffle(public)
    public = public[: args.records]
    held_out = list(mix.validation[: args.eval])
    pairs = [(mix.prompt(ex), mix.answer(ex)) for ex in public]

    lm = load_model(args.base)
    before = accuracy_by_domain(lm.model, lm.tokenizer, mix, held_out)
    print(f"{args.base} before: {before}", flush=True)
    started = time.perf_counter()
    steps = -(-len(pairs) // 8)

    def progress(step: int, loss: float) -> None:
        if step % 10 == 0:
            print(f"  step {step}/{round(steps * args.epochs)} loss {loss:.3f}", flush=True)

    lm.model.train()
    finetune(lm.model, lm.tokenizer, pairs, epochs=args.epochs, lr=args.lr, batch_size=8,
             seed=args.seed, on_step=progress)
    seconds = time.perf_counter() - started
    lm.model.eval()
    after = accuracy_by_domain(lm.model, lm.tokenizer, mix, held_out)
    print(f"generalist after {seconds:.0f} s: {after}", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    lm.model.save_pretrained(args.out)
    lm.tokenizer.save_pretrained(args.out)
    report = {"base": args.base, "public_records": len(pairs), "epochs": args.epochs,
              "lr": args.lr, "train_seconds": round(seconds, 1),
              "held_out": {"queries": len(held_out), "before": before, "after": after},
              "source": "movie-sentiment training split (public), clinic-mix prompt format"}
    (args.out / "generalist.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
