"""``fed-mutual-kt`` as the registry runs it: its model party's side of a run (load the LM,
serve the rounds on a Flower grid, write the result) and its data parties' ClientApp handlers.

Besides what every run writes (:mod:`~crossbound.federation.outputs`), the model party saves
the LM's LoRA copy (``OUT/lm-adapter``, PEFT format) and the result reports the LM's and every
SM's utility per round. Flower is imported only when a run starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crossbound.federation.mutual_config import FedMutualKTConfig
from crossbound.federation.outputs import LM_ADAPTER_FOLDER, check_finished, federation_result
from crossbound.models.loading import LoadedModel, load_model
from crossbound.models.precision import resolve_precision, torch_dtype
from crossbound.naming import data_party as party_name
from crossbound.result import Result
from crossbound.tasks.base import Task
from crossbound.tasks.public_text import public_text
from crossbound.upward.mutual_kt import all_positions_note

if TYPE_CHECKING:
    from flwr.serverapp import Grid

    from crossbound.federation.data_party import DataPartyHandlers

NOTES = [
    "Round 0 is registration and the initial scores. utility.lm_per_round is the LM "
    "(round 0: as it is; then its LoRA copy after distilling the parties' knowledge), "
    "scored by the model party on the first eval_limit test records; sm_per_round is "
    "each party's own SM on the same records, scored by that party.",
    "Only public texts (as the LM's token ids) and top-k log-probs on them cross, and "
    "numbers; no private record or weight. The SMs' log-probs are shaped by their private "
    "training and carry no DP guarantee here (privacy.sm_logprobs_sent).",
    "Transcripts are kept by the model party's end of each boundary; each data party "
    "checks what it sends and receives against the same contract.",
]


@dataclass
class MutualModelParty:
    """The model party of one ``fed-mutual-kt`` run: its LM and, once it serves, what the
    rounds left (:class:`~crossbound.federation.mutual_server.MutualState`)."""

    config: FedMutualKTConfig
    task: Task
    lm: LoadedModel
    state: Any = None  # mutual_server.MutualState

    @classmethod
    def prepare(cls, config: FedMutualKTConfig, task: Task,
                status: Callable[[str], None]) -> MutualModelParty:
        """Load the LM (frozen weights in the federation's precision; the LoRA trained on it
        stays fp32)."""
        # lazy: Flower (mutual_server.py imports it), loaded when a run starts, not with a
        # config
        from crossbound.federation.mutual_server import MutualState

        status(f"model party: loading the LM {config.large}")
        lm = load_model(config.large, dtype=torch_dtype(resolve_precision(config.precision)))
        return cls(config, task, lm, MutualState())

    def describe(self) -> str:
        smalls = sorted({self.config.small_of(party_name(i))
                         for i in range(len(self.task.parties))})
        texts = len(public_text(self.task, self.config.transfer_limit).examples)
        return f"SM {', '.join(smalls)}; {texts} public transfer texts"

    def serve(self, grid: Grid, folder: Path, on_round: Callable[[Any], None] | None) -> None:
        """Register the parties on ``grid`` and run the rounds (transcripts in ``folder``)."""
        from crossbound.federation.mutual_server import serve_mutual  # lazy: Flower, as above

        serve_mutual(self.config, self.task, self.lm, folder, self.state, grid, on_round)

    def finish(self, wall: float, peak_mb: float, out: Path) -> Result:
        """Save the LM's LoRA adapter (PEFT format) and write ``result.json`` with the LM's and
        every SM's utility per round."""
        from crossbound.federation.mutual_server import FEDERATION  # lazy: Flower, as above

        config, task, state = self.config, self.task, self.state
        check_finished(config, state)
        public = public_text(task, config.transfer_limit)
        state.owner.model(FEDERATION).save_pretrained(str(out / LM_ADAPTER_FOLDER))
        result = federation_result(config, task, state, {"lm_adapter_peft": LM_ADAPTER_FOLDER},
                                   wall, peak_mb, out,
                                   aggregation=f"knowledge: {config.combine}", secure=None)
        rounds = result.metrics["federation"]["rounds"]
        facts = [r.get("knowledge") or {} for r in rounds]
        parties = sorted(result.metrics["federation"]["parties"])
        lm = [f.get("lm") for f in facts]
        result.models = {"large": config.large, "small": config.small,
                         **{f"small@{p}": spec for p, spec in sorted(config.party_small.items())}}
        result.metrics["utility"] = {
            "metric": task.metric,
            "initial": lm[0], "final": lm[-1],  # the LM's, as in the other upward strategies
            "lm_before": lm[0], "lm_after": lm[-1], "lm_per_round": lm,
            "sm_per_round": {p: [f.get("sm", {}).get(p) for f in facts] for p in parties},
            "sm_mean_per_round": [f.get("sm_mean") for f in facts],
            "eval_examples": rounds[-1]["eval_examples"],
        }
        efficiency = result.metrics["efficiency"]
        efficiency["transfer_texts"] = len(public.examples)
        efficiency["model_party_seconds"] = [f.get("model_party_seconds") for f in facts]
        result.metrics["federation"]["selected_rows"] = [f.get("chosen") for f in facts]
        result.metrics["privacy"]["sm_logprobs_sent"] = True
        result.notes = list(NOTES)
        public.record(result)
        if note := all_positions_note(config.lm_targets, public.examples):
            result.notes.append(note)
        result.write(out)
        return result


def data_party() -> DataPartyHandlers:
    """The data parties' handlers (:mod:`crossbound.federation.mutual_client`)."""
    from crossbound.federation.mutual_client import DATA_PARTY  # lazy: Flower, as above

    return DATA_PARTY
