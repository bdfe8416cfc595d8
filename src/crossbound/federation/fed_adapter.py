"""``fed-adapter`` as the registry runs it: its model party's side of a run (prepare, serve the
rounds on a Flower grid, write the result) and its data parties' ClientApp handlers.

The model party holds the initial global adapter — fresh, seeded LoRA on the SM, or under OT+
on the emulator of its LM (:mod:`~crossbound.federation.offsite_plus`) — serves the rounds
(:func:`crossbound.federation.server.serve`) and writes, besides what every run writes
(:mod:`~crossbound.federation.outputs`), ``OUT/global-adapter.safetensors`` (the final global
adapter under its wire names) and ``OUT/global-adapter/`` (the same adapter in PEFT's format,
loadable onto the SM). Flower is imported only when a run starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors.torch import save_file

from crossbound.federation.adapter import AdaptedModel, adapter_tensors, build_adapted, load_adapter
from crossbound.federation.adapter_config import FedAdapterConfig
from crossbound.federation.outputs import (
    ADAPTER_FILE,
    PEFT_FOLDER,
    check_finished,
    federation_result,
)
from crossbound.result import Result
from crossbound.tasks.base import Task

if TYPE_CHECKING:
    from flwr.serverapp import Grid

    from crossbound.federation.data_party import DataPartyHandlers

NOTES = [
    "Round 0 is registration and the initial adapter's score; utility is the global "
    "adapter's score on the first eval_limit test records, shared out among the data "
    "parties and weighted by their share.",
    "Transcripts are kept by the model party's end of each boundary; each data party "
    "checks its replies against the same contract before sending them.",
]


@dataclass
class AdapterModelParty:
    """The model party of one ``fed-adapter`` run: the adapter it aggregates, OT+'s hooks
    (None without ``emulator_of``) and, once it serves, what the rounds left
    (:class:`~crossbound.federation.server.ServerState`)."""

    config: FedAdapterConfig
    task: Task
    adapted: AdaptedModel  # LoRA on the SM, or (OT+) on the emulator of the LM
    hooks: Any = None  # offsite_plus.OffsitePlusHooks under OT+
    state: Any = None  # server.ServerState

    @classmethod
    def prepare(cls, config: FedAdapterConfig, task: Task,
                status: Callable[[str], None]) -> AdapterModelParty:
        """Load the model party's adapter (and, for OT+, its LM and the emulator it sends)."""
        # lazy: Flower (server.py imports it), loaded when a run starts, not with a config
        from crossbound.federation.server import ServerState

        if config.emulator_of is None:
            status(f"model party: loading {config.small} with LoRA rank {config.lora_rank}")
            adapted = build_adapted(config.small, config.lora_rank, config.lora_alpha,
                                    config.seed)
            return cls(config, task, adapted, None, ServerState())
        # lazy: Flower, as above
        from crossbound.federation.offsite_plus import ModelParty, OffsitePlusHooks

        status(f"model party: loading {config.emulator_of} and building its emulator")
        party = ModelParty.prepare(config)
        split = party.bundle.split
        status(f"emulator: blocks {list(split.bottom)} + {len(split.middle_kept)} of "
               f"{len(split.middle)} middle + {list(split.top)} of {split.total}; "
               f"{party.bundle.parameters:,} parameters, {party.bundle.nbytes / 1e6:.1f} MB "
               f"in {config.bundle_dtype} to each party")
        return cls(config, task, party.adapted, OffsitePlusHooks(party, task), ServerState())

    def describe(self) -> str:
        return f"adapter of {self.adapted.spec.parameters:,} parameters"

    def serve(self, grid: Grid, folder: Path, on_round: Callable[[Any], None] | None) -> None:
        """Register the parties on ``grid`` and run the rounds (transcripts in ``folder``)."""
        from crossbound.federation.server import serve  # lazy: Flower, when a run starts

        serve(self.config, len(self.task.parties), adapter_tensors(self.adapted.model),
              self.adapted.spec, folder, self.state, grid, on_round, self.hooks)

    def finish(self, wall: float, peak_mb: float, out: Path) -> Result:
        """Check that every round ran, save the global adapter and write ``result.json``."""
        # lazy: Flower (dp.py imports it through the federation's contract), which the run
        # has loaded by now
        from crossbound.federation.dp import dp_summary

        config, state = self.config, self.state
        check_finished(config, state)
        if state.final is None:
            raise RuntimeError("the federation ended without a global adapter")
        artifacts = self._save_adapter(state.final, out)
        result = federation_result(config, self.task, state, artifacts, wall, peak_mb, out,
                                   aggregation=config.aggregation,
                                   secure=secure_summary(config))
        efficiency = result.metrics["efficiency"]
        efficiency["adapter_parameters"] = state.grid.spec.parameters
        efficiency["adapter_bytes"] = state.grid.spec.nbytes
        result.notes = list(NOTES)
        # ε over the rounds, who clipped, what was seen
        dp = dp_summary(config, result.metrics["federation"]["rounds"])
        if dp is not None:
            result.metrics["privacy"].update(dp=dp, measured=["pii_crossed", "dp"])
            result.notes.append(
                f"DP ({config.dp}, unit: a whole data party): ε = {dp['epsilon']:.3g} at δ = "
                f"{config.dp_delta:g} over {config.rounds} round(s); protects against "
                f"{dp['protects_against']}.")
        if config.secure_aggregation:
            result.notes.append(
                "Secure aggregation (SecAgg+): the model party saw each party's update only "
                "masked (uniformly random mod 2**32 on its own) and learnt only the "
                f"{'unweighted (DP)' if config.dp != 'none' else 'weighted'} sum; it could not "
                "check single updates for finiteness or size. The transcripts hold what "
                "crossed: key material, masked updates and key shares, never a plain update.")
        if self.hooks is not None:
            from crossbound.federation.offsite_plus import finish_offsite  # lazy: Flower

            finish_offsite(result, self.hooks.party, state, out)
        result.write(out)
        return result

    def _save_adapter(self, final: dict[str, Any], out: Path) -> dict[str, str]:
        save_file({k: v.contiguous() for k, v in final.items()}, str(out / ADAPTER_FILE),
                  metadata={"format": "pt", "source": "crossbound fed-adapter"})
        load_adapter(self.adapted.model, final, self.adapted.spec)
        self.adapted.model.save_pretrained(str(out / PEFT_FOLDER))
        return {"global_adapter": ADAPTER_FILE, "global_adapter_peft": PEFT_FOLDER}


def secure_summary(config: FedAdapterConfig) -> dict[str, Any] | None:
    """What the model party could and could not see under secure aggregation (None: off)."""
    if not config.secure_aggregation:
        return None
    return {
        "protocol": "SecAgg+ (Bell et al., arXiv:2009.08524), Flower's SecAggPlusWorkflow "
                    "and secaggplus_mod",
        "model_party_sees": "each party's masked, quantised update and the unmasked weighted "
                            "sum of the updates that arrived; never one party's update",
        "shares": config.secagg_shares, "threshold": config.secagg_threshold,
        "clipping_range": config.secagg_clipping_range,
        "quantization_bits": config.secagg_quantization_bits, "modulus": 2 ** 32,
        "not_checked": ["finiteness of single updates", "max_update_norm",
                        "each update's distance from the global adapter"],
    }


def data_party() -> DataPartyHandlers:
    """The data parties' handlers (:mod:`crossbound.federation.client`)."""
    from crossbound.federation.client import DATA_PARTY  # lazy: Flower, when a run starts

    return DATA_PARTY
