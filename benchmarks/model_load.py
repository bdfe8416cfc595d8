"""Model load time: crossbound's cached safetensors vs loading the GGUF with transformers.

Each measurement runs in a fresh subprocess (so nothing is warm in memory but the OS page
cache) and reports the time to import transformers separately from the load itself.

    python benchmarks/model_load.py [--models smollm2-135m gemma3-270m] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import torch, transformers
from transformers import AutoModelForCausalLM, AutoTokenizer
from crossbound.models import get_spec, load_model
from crossbound.models.loading import _import_machinery, cache_entry
name, how = sys.argv[1], sys.argv[2]
# Both sides import the same transformers modules before the clock starts: the comparison is
# of reading a model, not of Python imports (reported apart, as import_seconds).
_import_machinery(cache_entry(get_spec(name)).path)
t1 = time.perf_counter()
if how == "crossbound-cache":
    loaded = load_model(name)
    model = loaded.model
    t1 += loaded.import_seconds  # whatever load_model still imported is not load time
else:
    gguf = get_spec(name).locate()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                 dtype=torch.float32)
t2 = time.perf_counter()
print(json.dumps({"import_seconds": t1 - t0, "load_seconds": t2 - t1,
                  "parameters": sum(p.numel() for p in model.parameters())}))
"""


def measure(name: str, how: str) -> dict[str, float]:
    env_python = sys.executable
    started = time.perf_counter()
    proc = subprocess.run([env_python, "-c", CHILD, name, how], capture_output=True, text=True,
                          check=True)
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=["smollm2-135m", "gemma3-270m"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/model_load.json"))
    args = parser.parse_args()
    from crossbound.models import prepare_model
    from crossbound.result import machine, versions

    rows = []
    for name in args.models:
        started = time.perf_counter()
        prepare_model(name)  # converts once if needed; not part of the comparison
        prepare_seconds = time.perf_counter() - started
        gguf = measure(name, "transformers-gguf")
        cached = measure(name, "crossbound-cache")
        rows.append({"model": name, "prepare_seconds": prepare_seconds,
                     "transformers_gguf": gguf, "crossbound_cache": cached,
                     "speedup": gguf["load_seconds"] / cached["load_seconds"]})
    report = {"benchmark": "model_load", "versions": versions(), "machine": machine(),
              "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'model':<14} {'GGUF load s':>12} {'cached load s':>14} {'speed-up':>9} "
          f"{'import s':>9}")
    for row in rows:
        print(f"{row['model']:<14} {row['transformers_gguf']['load_seconds']:>12.2f} "
              f"{row['crossbound_cache']['load_seconds']:>14.2f} {row['speedup']:>8.1f}x "
              f"{row['crossbound_cache']['import_seconds']:>9.2f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
