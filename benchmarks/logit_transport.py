"""Logit transport: bytes per token against student quality, side by side on one student.

The same student (a layer-dropped SmolLM2) distils from the same teacher (full SmolLM2-135M) on
the same public text for the same steps, with the teacher's next-token distribution delivered
in different forms:

- ``full``: the whole vocabulary (the teacher runs beside the student; what would cross is
  V × 4 bytes per token, computed, not sent — 196,608 B for SmolLM2);
- ``top128-fp32``: FedMKT's form (arXiv:2406.02224), top-128 float32 values; FedMKT sends int64
  ids (128 × 12 = 1,536 B/token, the figure in the table); crossbound's plain form carries the
  same information with int32 ids, and that is what this arm sends over the boundary;
- ``kK-Bbit``: crossbound's compressed top-k (``logit_codec``): B-bit values, bit-packed ids;
- ``kK-Bbit+tail``: the same bytes, and the student also learns the teacher's mass outside
  the top-k as one "everything else" bucket (``kd_loss(tail=True)``).

Every sparse arm goes through an in-process boundary with the model party, so its bytes are
the encoded replies' (headers included) over the tokens scored. Quality is measured on held-out
text the student never trained on: top-1 agreement with the teacher, KL(teacher ‖ student) and
the student's cross-entropy on the real next tokens (nats/token; lower is better).

    python benchmarks/logit_transport.py [--steps 60] [--texts 120] [--arms ...] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from crossbound.boundary.channel import Boundary
from crossbound.downward.logit_kd import LOGITS_DOWN
from crossbound.evaluate.exposure import next_token_agreement
from crossbound.models.loading import load_model
from crossbound.parties import ModelParty
from crossbound.result import machine, versions
from crossbound.tasks.corpora import load_corpus
from crossbound.training.distill import KDSettings, TransferRow, distill_finetune
from crossbound.training.topk_transfer import query_topk, same_tokenizer_rows

SPARSE = ("k32-4bit", "k20-8bit", "k16-8bit", "k8-8bit", "k16-4bit")
ARMS = ("full", "top128-fp32", *SPARSE, *(f"{arm}+tail" for arm in SPARSE))


def parse_arm(arm: str) -> tuple[int, int] | None:
    """(k, value_bits) of a sparse arm; None for ``full``."""
    if arm == "full":
        return None
    if arm == "top128-fp32":
        return 128, 32
    k, bits = arm.removesuffix("+tail").removeprefix("k").removesuffix("bit").split("-")
    return int(k), int(bits)


@torch.no_grad()
def dense_rows(teacher: Any, tokenizer: Any, texts: list[str],
               max_length: int) -> list[TransferRow]:
    """The teacher's whole next-token distribution at every position (float16 to save memory)."""
    rows = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"][:max_length]
        logits = teacher(input_ids=torch.tensor([ids])).logits[0, :-1]  # (T-1, V)
        rows.append(TransferRow(ids=torch.tensor(ids), positions=torch.arange(len(ids) - 1),
                                values=torch.log_softmax(logits.float(), -1).half(),
                                indices=None))
    return rows


@torch.no_grad()
def next_token_nll(model: Any, tokenizer: Any, texts: list[str], max_length: int) -> float:
    total, count = 0.0, 0
    for text in texts:
        ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"][:max_length]])
        logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
        total -= float(logp.gather(-1, ids[0, 1:, None]).sum())
        count += ids.shape[1] - 1
    return total / count


def quality(student: Any, teacher: Any, tokenizer: Any, texts: list[str],
            max_length: int) -> dict[str, float]:
    agreement = next_token_agreement(student, teacher, tokenizer, texts, max_length=max_length)
    return {"top1_agreement": round(float(agreement["top1_agreement"]), 4),
            "kl_teacher_student": round(float(agreement["kl_teacher_student"]), 4),
            "next_token_nll": round(next_token_nll(student, tokenizer, texts, max_length), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", default="smollm2-135m")
    parser.add_argument("--student", default="smollm2-135m:layers=6")
    parser.add_argument("--corpus", default="wiki-sample")
    parser.add_argument("--texts", type=int, default=120, help="training transfer texts")
    parser.add_argument("--eval-texts", type=int, default=30)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/logit_transport.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    texts = load_corpus(args.corpus)
    if len(texts) < args.texts + args.eval_texts:
        raise SystemExit(f"{args.corpus} has {len(texts)} texts; asked for "
                         f"{args.texts} + {args.eval_texts}")
    eval_texts, train_texts = texts[: args.eval_texts], texts[args.eval_texts:][: args.texts]
    teacher = load_model(args.teacher)
    tokenizer = teacher.tokenizer
    vocab = int(teacher.model.config.vocab_size)
    boundary = Boundary(contract=LOGITS_DOWN)
    boundary.attach(ModelParty(teacher, batch_size=4))
    base = load_model(args.student)
    results: dict[str, Any] = {"before": quality(base.model, teacher.model, tokenizer,
                                                 eval_texts, args.max_length)}
    print(f"student before distillation: {results['before']}", flush=True)
    del base
    arms: dict[str, Any] = {}
    for arm in args.arms:
        started = time.perf_counter()
        spec = parse_arm(arm)
        if spec is None:
            rows = dense_rows(teacher.model, tokenizer, train_texts, args.max_length)
            bytes_per_token = vocab * 4.0
            sent = "computed (teacher beside the student)"
        else:
            k, bits = spec
            wire: dict[str, int] = {}
            ids = [tokenizer(t, add_special_tokens=False)["input_ids"][: args.max_length]
                   for t in train_texts]
            rows = same_tokenizer_rows(query_topk(boundary, "data-party-0", ids, k=k,
                                                  value_bits=bits, rows_per_request=8,
                                                  wire=wire))
            bytes_per_token = wire["reply_bytes"] / wire["tokens"]
            sent = "measured on the wire"
            if arm == "top128-fp32":
                sent = (f"FedMKT's int64 ids: 1,536; crossbound plain int32 ids sent: "
                        f"{bytes_per_token:.1f}")
                bytes_per_token = 128 * (4 + 8)
        targets_seconds = time.perf_counter() - started
        student = load_model(args.student)
        torch.manual_seed(0)
        started = time.perf_counter()
        settings = KDSettings(kd_weight=1.0, tail=arm.endswith("+tail"))
        distill_finetune(student.model, tokenizer, [], rows, settings,
                         steps=args.steps, lr=args.lr, transfer_batch_size=args.batch_size,
                         seed=0)
        train_seconds = time.perf_counter() - started
        q = quality(student.model, teacher.model, tokenizer, eval_texts, args.max_length)
        arms[arm] = {"bytes_per_token": round(bytes_per_token, 2), "bytes": sent,
                     "targets_seconds": round(targets_seconds, 2),
                     "train_seconds": round(train_seconds, 2), **q}
        print(f"{arm:12s} {bytes_per_token:>10.1f} B/token  {q}  "
              f"({targets_seconds:.0f} s targets, {train_seconds:.0f} s training)", flush=True)
        del rows, student
    results["arms"] = arms
    full = arms.get("full")
    if full:
        for metrics in arms.values():
            metrics["agreement_vs_full"] = round(
                metrics["top1_agreement"] / full["top1_agreement"] - 1, 4)
            metrics["nll_vs_full"] = round(
                metrics["next_token_nll"] / full["next_token_nll"] - 1, 4)
    report = {"benchmark": "logit_transport", "args": {k: (str(v) if isinstance(v, Path) else v)
                                                       for k, v in vars(args).items()},
              "results": results, "versions": versions(), "machine": machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print()
    print("| arm | bytes/token | top-1 agreement | vs full | KL(teacher‖student) | "
          "next-token NLL | vs full |")
    print("|---|---|---|---|---|---|---|")
    b = results["before"]
    print(f"| student before | — | {b['top1_agreement']:.3f} | — | "
          f"{b['kl_teacher_student']:.3f} | {b['next_token_nll']:.3f} | — |")
    for arm, m in arms.items():
        vs = f"{100 * m['agreement_vs_full']:+.1f} %" if full else "—"
        vs_nll = f"{100 * m['nll_vs_full']:+.1f} %" if full else "—"
        print(f"| {arm} | {m['bytes_per_token']:,.1f} | {m['top1_agreement']:.3f} | {vs} | "
              f"{m['kl_teacher_student']:.3f} | {m['next_token_nll']:.3f} | {vs_nll} |")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
