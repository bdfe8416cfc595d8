"""OT+: ``fed-adapter`` on the offsite-tuning emulator of the model party's LM.

Offsite-tuning (Xiao et al., arXiv:2302.04870) federated, as the collaboration survey's "OT+"
(FATE-LLM's FedOT) does it: the model party splits its LM into an adapter (the first and last
few blocks) and a layer-dropped emulator of the middle (:mod:`crossbound.models.emulator`),
and sends the *emulated model* — adapter + emulator, with embeddings, final norm and head —
once to every data party, as one ``tensors`` message it counts (:data:`EMULATOR_BUNDLE`).
From then on the federation is ``fed-adapter``: each party fine-tunes LoRA on the adapter
blocks only (the emulator stays frozen), the model party aggregates the LoRA weights (FedAvg,
SecAgg+, DP as configured), and after every round it plugs the aggregate into its full LM —
each LoRA pair's ``scale·B·A`` added to the matching LM block's weight — and scores it.

A data party keeps the emulator it received on its own disk (``party_store/PARTY/emulator``,
safetensors + JSON, written atomically), so the deployment runtime, which starts a fresh
ClientApp process per message, loads it again rather than asking for it again; in a process
that serves many parties (a Ray worker) one copy per bundle digest is kept.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from flwr.app import ArrayRecord, ConfigRecord, MessageType, RecordDict
from flwr.app import Message as FlowerMessage
from safetensors.torch import load_file, save_file

from crossbound.boundary.channel import Boundary
from crossbound.boundary.contracts import MODEL_PARTY, ContractViolation
from crossbound.boundary.messages import Kind, Message, MessageError
from crossbound.evaluate.utility import evaluate_model, headline
from crossbound.federation.adapter import AdaptedModel, AdapterSpec, Tensors, adapter_tensors
from crossbound.federation.adapter_config import FedAdapterConfig
from crossbound.federation.contract import (
    EMULATOR_BUNDLE,
    arrays_to_tensors,
    fed_adapter_contract,
    single,
    tensors_to_arrays,
)
from crossbound.models.derived import decoder_layers
from crossbound.models.emulator import (
    BUNDLE_DTYPES,
    OffsiteSplit,
    assemble_model,
    block_prefix,
    build_emulator,
    plan_split,
    unique_state,
)
from crossbound.models.loading import load_model, load_tokenizer
from crossbound.models.precision import resolve_precision, torch_dtype
from crossbound.training.lora import add_lora

EMULATOR_OP = "emulator"  # the query op that carries it
EMULATOR_ACK = ("op", "parameters")  # a data party's answer: what it stored
STORE_FOLDER = "emulator"
WEIGHTS_FILE = "model.safetensors"
META_FILE = "bundle.json"
# PEFT's name of a LoRA factor: base_model.model.<module>.lora_A.default.weight
_LORA_NAME = re.compile(
    r"^base_model\.model\.(?P<module>.+)\.lora_(?P<factor>[AB])\.default\.weight$")

_EMULATED: dict[str, AdaptedModel] = {}  # per process: bundle digest -> the emulator with LoRA


@dataclass(frozen=True)
class Bundle:
    """The emulated model as it crosses: its config, its weights (each tensor once, in the
    wire dtype), the split, and a digest of all of it."""

    config: dict[str, Any]
    tensors: Tensors
    split: OffsiteSplit
    digest: str

    @property
    def parameters(self) -> int:
        return sum(t.numel() for t in self.tensors.values())

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors.values())

    def meta(self) -> dict[str, str]:
        """What travels beside the weights (as Flower config values: strings)."""
        return {"op": EMULATOR_OP, "config": json.dumps(self.config, sort_keys=True),
                "split": json.dumps(self.split.to_meta()), "digest": self.digest}


def digest_of(config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over the config (canonical JSON) and every tensor's name, dtype, shape, bytes."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def make_bundle(lm: Any, config: FedAdapterConfig) -> tuple[Bundle, Any]:
    """The model party's side: split ``lm`` as configured, build the emulated model, and
    return its bundle and the emulated model itself (float32, for the model party's LoRA)."""
    split = plan_split(len(decoder_layers(lm)), config.adapter_bottom, config.adapter_top,
                       config.emulator_layers)
    emulator = build_emulator(lm, split)
    dtype = BUNDLE_DTYPES[config.bundle_dtype]
    tensors = {n: t.detach().to(dtype).contiguous() for n, t in unique_state(emulator).items()}
    model_config = json.loads(emulator.config.to_json_string(use_diff=False))
    # What the data party trains on is the bundle as it arrives: round the model party's
    # copy the same way, so both hold the same emulator.
    emulator.load_state_dict({n: t.to(torch.float32) for n, t in tensors.items()},
                             strict=False)
    return Bundle(model_config, tensors, split, digest_of(model_config, tensors)), emulator


def with_lora(emulator: Any, split: OffsiteSplit, config: FedAdapterConfig) -> AdaptedModel:
    """LoRA on the emulated model's adapter blocks only (seeded, as ``build_adapted``)."""
    torch.manual_seed(config.seed)
    model = add_lora(emulator, rank=config.lora_rank, alpha=config.lora_alpha,
                     layers=split.adapter_positions)
    model.eval()
    return AdaptedModel(model, None, AdapterSpec.of(adapter_tensors(model)))


# ---------------------------------------------------------------- the data party's store


def split_from_meta(meta: Mapping[str, Any]) -> OffsiteSplit:
    """The :class:`OffsiteSplit` of a bundle's ``split`` meta (checked for consistency)."""
    split = OffsiteSplit(total=int(meta["lm_layers"]), bottom=tuple(meta["bottom"]),
                         middle_kept=tuple(meta["middle_kept"]), top=tuple(meta["top"]))
    if split.adapter_positions != list(meta["adapter_positions"]):
        raise ValueError("the bundle's split is inconsistent")
    return split


def receive(folder: Path, meta: Mapping[str, Any], tensors: Tensors) -> int:
    """Check a received bundle (its digest, an architecture built into transformers, exact
    state names and shapes, finite values) and store it in ``folder``; its parameter count."""
    config = json.loads(str(meta["config"]))
    split = split_from_meta(json.loads(str(meta["split"])))
    if digest_of(config, tensors) != meta.get("digest"):
        raise ValueError("the emulator's weights do not match the digest sent with them")
    model = assemble_model(config, tensors)  # raises on anything but a clean built-in model
    if model.config.num_hidden_layers != len(split.kept):
        raise ValueError(f"the emulator has {model.config.num_hidden_layers} blocks, its split "
                         f"says {len(split.kept)}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".emulator-", dir=folder.parent))
    try:
        save_file({n: t.contiguous() for n, t in tensors.items()}, str(staging / WEIGHTS_FILE))
        (staging / META_FILE).write_text(json.dumps(
            {"config": config, "split": split.to_meta(), "digest": meta["digest"]},
            sort_keys=True), encoding="utf-8")
        old = folder.with_name(folder.name + ".old")
        if folder.exists():
            os.replace(folder, old)
        os.replace(staging, folder)  # a reader sees the old bundle or the new, never half
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sum(t.numel() for t in tensors.values())


def stored_model(folder: Path, config: FedAdapterConfig) -> AdaptedModel:
    """The emulator a data party stored, with LoRA on its adapter blocks (cached per digest;
    the caller overwrites the LoRA weights with the global adapter it receives)."""
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        raise RuntimeError(f"no emulator was received yet ({folder} is empty): the model "
                           "party sends it after registration")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    digest = str(meta["digest"])
    if digest not in _EMULATED:
        torch.set_num_threads(config.threads)
        model = assemble_model(meta["config"], load_file(str(folder / WEIGHTS_FILE)))
        _EMULATED.clear()  # one emulator per run: drop an earlier run's
        adapted = with_lora(model, split_from_meta(meta["split"]), config)
        # The LM's tokenizer is public (it ships with the model card); only weights are not.
        assert config.emulator_of is not None
        adapted.tokenizer = load_tokenizer(config.emulator_of)
        _EMULATED[digest] = adapted
    return _EMULATED[digest]


def store_of(config: FedAdapterConfig, party: str) -> Path:
    root = Path(config.party_store) if config.party_store else Path(config.out) / "parties"
    return root / party / STORE_FOLDER


# ---------------------------------------------------------------- plug-in


def lora_deltas(adapter: Mapping[str, torch.Tensor], scale: float) -> dict[str, torch.Tensor]:
    """``scale·B·A`` per LoRA-wrapped linear, keyed by that linear's weight name in the
    emulated model (``model.layers.P.self_attn.q_proj.weight``)."""
    factors: dict[str, dict[str, torch.Tensor]] = {}
    for name, tensor in adapter.items():
        match = _LORA_NAME.match(name)
        if match is None:
            raise ValueError(f"{name}: not a LoRA factor")
        factors.setdefault(match["module"], {})[match["factor"]] = tensor
    deltas: dict[str, torch.Tensor] = {}
    for module, pair in factors.items():
        if set(pair) != {"A", "B"}:
            raise ValueError(f"{module}: LoRA A and B must come together")
        deltas[f"{module}.weight"] = scale * (pair["B"].double() @ pair["A"].double())
    return deltas


def lm_targets(deltas: Mapping[str, torch.Tensor], split: OffsiteSplit, emulator_prefix: str,
               lm_prefix: str) -> dict[str, torch.Tensor]:
    """The deltas renamed from emulated-model block positions to the LM's block indices."""
    head = f"{emulator_prefix}."
    out: dict[str, torch.Tensor] = {}
    for name, delta in deltas.items():
        position, _, rest = name[len(head):].partition(".")
        if not name.startswith(head) or not position.isdigit() \
                or int(position) not in split.adapter_positions:
            raise ValueError(f"{name}: not in an adapter block of the emulated model")
        out[f"{lm_prefix}.{split.lm_index(int(position))}.{rest}"] = delta
    return out


@contextmanager
def plugged(lm: Any, deltas: Mapping[str, torch.Tensor]) -> Iterator[Any]:
    """``lm`` with ``deltas`` (LM names) added to its weights for the duration; the
    original weights are restored from copies afterwards, exactly."""
    params = dict(lm.named_parameters())
    missing = sorted(set(deltas) - set(params))
    if missing:
        raise ValueError(f"the LM has no weights {missing[:3]}")
    saved = {n: params[n].detach().clone() for n in deltas}
    try:
        with torch.no_grad():
            for name, delta in deltas.items():
                if tuple(delta.shape) != tuple(params[name].shape):
                    raise ValueError(f"{name}: delta of shape {tuple(delta.shape)} for a "
                                     f"weight of {tuple(params[name].shape)}")
                params[name].add_(delta.to(params[name].dtype))
        yield lm
    finally:
        with torch.no_grad():
            for name, weight in saved.items():
                params[name].copy_(weight)


@dataclass
class ModelParty:
    """The model party's OT+ side: its LM, the bundle it sends, and the plug-in scoring."""

    config: FedAdapterConfig
    lm: Any  # LoadedModel
    bundle: Bundle
    adapted: AdaptedModel  # the emulated model with LoRA: the adapter's names and spec

    @classmethod
    def prepare(cls, config: FedAdapterConfig) -> ModelParty:
        assert config.emulator_of is not None
        # The LM in the federation's precision; the emulator built from it is fp32.
        dtype = torch_dtype(resolve_precision(config.precision))
        lm = load_model(config.emulator_of, dtype=dtype)
        bundle, emulator = make_bundle(lm.model, config)
        adapted = with_lora(emulator, bundle.split, config)
        adapted.tokenizer = lm.tokenizer
        return cls(config, lm, bundle, adapted)

    def lm_deltas(self, adapter: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        scale = self.config.lora_alpha / self.config.lora_rank
        emulator_prefix = block_prefix(self.adapted.model.get_base_model())
        return lm_targets(lora_deltas(adapter, scale), self.bundle.split, emulator_prefix,
                          block_prefix(self.lm.model))

    def score(self, task: Any, adapter: Mapping[str, torch.Tensor]) -> float:
        """The full LM with ``adapter`` plugged in, scored on the first ``eval_limit`` test
        records (the same records the parties score the emulator on)."""
        examples = task.test if self.config.eval_limit is None \
            else task.test[:self.config.eval_limit]
        with plugged(self.lm.model, self.lm_deltas(adapter)) as model:
            scores = evaluate_model(model, self.lm.tokenizer, task, examples,
                                    self.config.batch_size)
        return float(headline(scores, task))

    def plugged_copy(self, adapter: Mapping[str, torch.Tensor]) -> Any:
        """A copy of the LM with the adapter merged into its blocks (to save)."""
        model = copy.deepcopy(self.lm.model)
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, delta in self.lm_deltas(adapter).items():
                params[name].add_(delta.to(params[name].dtype))
        return model


# ---------------------------------------------------------------- on the wire


def to_wire(tensors: Mapping[str, torch.Tensor]) -> ArrayRecord:
    """Flower arrays are NumPy, which has no bfloat16: such tensors travel as their int16
    bit patterns (the dtype goes in the bundle's meta), everything else as it is."""
    return tensors_to_arrays({n: t.view(torch.int16) if t.dtype == torch.bfloat16 else t
                              for n, t in tensors.items()})


def from_wire(record: ArrayRecord, dtype: str) -> Tensors:
    """The inverse of :func:`to_wire` for a bundle sent in ``dtype``."""
    if dtype not in BUNDLE_DTYPES:
        raise ValueError(f"bundle dtype {dtype!r} is not one of {sorted(BUNDLE_DTYPES)}")
    tensors = arrays_to_tensors(record)
    if dtype == "bfloat16":
        bad = sorted(n for n, t in tensors.items() if t.dtype != torch.int16)
        if bad:
            raise ValueError(f"bfloat16 bundle tensor {bad[0]} did not come as int16 bits")
        return {n: t.view(torch.bfloat16) for n, t in tensors.items()}
    return tensors


def bundle_message(bundle: Bundle, node: int, dtype: str, rnd: int) -> FlowerMessage:
    return FlowerMessage(RecordDict({
        "arrays": to_wire(bundle.tensors),
        "config": ConfigRecord({**bundle.meta(), "dtype": dtype, "server-round": rnd})}),
        node, MessageType.QUERY)


def cross_bundle_down(grid: Any, message: FlowerMessage, party: str) -> int:
    """Cross the emulated model at ``party``'s boundary (checked against the contract,
    counted, recorded) and put the copy that crossed back into the Flower message; the
    round it is counted in."""
    content = message.content
    arrays_key, arrays = single(content.array_records, "ArrayRecord")
    config_key, config = single(content.config_records, "ConfigRecord")
    settings = dict(config)
    if settings.get("op") != EMULATOR_OP:
        raise ValueError(f"the model party's queries are hello and {EMULATOR_OP!r}, not "
                         f"{settings.get('op')!r}")
    rnd = int(settings.get("server-round", 0))  # type: ignore[arg-type]
    dtype = str(settings.get("dtype"))
    crossed = grid.cross(party, rnd, "down", Message(
        Kind.TENSORS, MODEL_PARTY, party, from_wire(arrays, dtype),
        {"artifact": EMULATOR_BUNDLE, "op": EMULATOR_OP, "round": rnd, "config": settings}))
    message.content = RecordDict({arrays_key: to_wire(crossed.payload),
                                  config_key: ConfigRecord(crossed.meta["config"])})
    return rnd


def cross_ack_up(grid: Any, reply: FlowerMessage, sent: Any) -> bool:
    """Cross a data party's answer to the bundle; True when it stored the bundle."""
    meta = {"op": sent.op, "round": sent.round}
    try:
        _, metrics = single(reply.content.config_records, "ConfigRecord")  # as hello's
        if set(metrics) != set(EMULATOR_ACK):
            raise ValueError(f"metrics {sorted(metrics)} are not {sorted(EMULATOR_ACK)}")
        numbers = grid.cross(sent.party, sent.round, "up", Message(
            Kind.METRICS, sent.party, MODEL_PARTY, dict(metrics), meta)).payload
    except (ContractViolation, MessageError, ValueError, TypeError) as exc:
        grid._drop(sent, f"refused at the boundary: {exc}", "refused")
        return False
    if numbers.get("op") != EMULATOR_OP:
        grid._drop(sent, f"answered {numbers.get('op')!r} to the emulator", "invalid")
        return False
    # The party's current node (its earlier ones were forgotten when it re-registered).
    grid.equipped.update(node for node, party in grid.nodes.items() if party == sent.party)
    return True


def client_store(config: FedAdapterConfig, party: str, message: FlowerMessage) -> FlowerMessage:
    """The data party's side of the bundle: check it, store it, say what it stored."""
    _, arrays = single(message.content.array_records, "ArrayRecord")
    _, settings = single(message.content.config_records, "ConfigRecord")
    meta = dict(settings)
    count = receive(store_of(config, party), meta, from_wire(arrays, str(meta.get("dtype"))))
    answer: dict[str, Any] = {"op": EMULATOR_OP, "parameters": count}
    # Checked against the contract here too, before it leaves.
    Boundary(contract=fed_adapter_contract(AdapterSpec({}))).cross(
        Message(Kind.METRICS, party, MODEL_PARTY, answer, {"op": EMULATOR_OP}))
    return FlowerMessage(RecordDict({"config": ConfigRecord(answer)}), reply_to=message)


# ---------------------------------------------------------------- the server's hooks


@dataclass
class OffsitePlusHooks:
    """What OT+ adds to :func:`crossbound.federation.server.drive`: the bundle goes to every
    party on a node that has not stored it yet, and the aggregate is plugged into the LM and
    scored after every round."""

    party: ModelParty
    task: Any

    @property
    def bundle_bytes(self) -> int:
        return self.party.bundle.nbytes

    def admitted(self, grid: Any, rnd: int, timeout: float) -> None:
        nodes = [n for n in grid.get_node_ids() if n not in grid.equipped]
        if nodes:  # a party that fails to store it drops out of the rounds it cannot train
            grid.send_and_receive([bundle_message(self.party.bundle, node,
                                                  self.party.config.bundle_dtype, rnd)
                                   for node in nodes], timeout=timeout)

    def scored(self, rnd: int, adapter: Mapping[str, torch.Tensor]) -> dict[str, Any]:
        started = time.perf_counter()
        utility = self.party.score(self.task, adapter)
        return {"plugin_utility": utility, "seconds": round(time.perf_counter() - started, 3)}


# ---------------------------------------------------------------- the result


PLUGIN_FILE = "plugin-blocks.safetensors"


def finish_offsite(result: Any, party: ModelParty, state: Any, out: Path) -> None:
    """Add OT+'s numbers to ``result`` and save the plugged-in LM's adapter blocks.

    The emulator's utility is what the data parties scored each round (the round's
    ``utility``); the plug-in's is the model party's score of its full LM with the
    aggregate plugged in; round 0 is the untuned LM. The gap between the two after the
    last round is how much worse the emulator the owner gave away is than the model it
    kept — its IP protection.
    """
    rounds = [r.to_dict() for r in state.rounds]
    plugin = [(r.get("lm") or {}).get("plugin_utility") for r in rounds]
    emulator = [r["utility"] for r in rounds]
    model = party.plugged_copy(state.final)
    blocks = {n: t.detach().to(torch.float32).contiguous()
              for n, t in model.state_dict().items()
              if any(n.startswith(f"{block_prefix(model)}.{i}.") for i in
                     (*party.bundle.split.bottom, *party.bundle.split.top))}
    save_file(blocks, str(out / PLUGIN_FILE),
              metadata={"format": "pt", "source": "crossbound fed-adapter OT+ plug-in",
                        "lm": str(party.config.emulator_of)})
    lm_parameters = sum(p.numel() for p in party.lm.model.parameters())
    final_plugin, final_emulator = plugin[-1], emulator[-1]
    result.metrics["offsite"] = {
        "lm": party.config.emulator_of,
        "split": party.bundle.split.to_meta(),
        "bundle": {"parameters": party.bundle.parameters, "bytes": party.bundle.nbytes,
                   "dtype": party.config.bundle_dtype, "digest": party.bundle.digest,
                   "share_of_lm_parameters": round(party.bundle.parameters / lm_parameters, 4)},
        "lm_parameters": lm_parameters,
        "untuned_lm_utility": plugin[0],
        "plugin_utility_per_round": plugin,
        "emulator_utility_per_round": emulator,
        "plugin_utility": final_plugin,
        "emulator_utility": final_emulator,
        # The owner's IP protection: how much worse what it gave away is than what it kept.
        "emulator_gap": (None if final_plugin is None or final_emulator is None
                         else final_plugin - final_emulator),
        "plugin_seconds_per_round": [(r.get("lm") or {}).get("seconds") for r in rounds],
    }
    result.models = {"large": party.config.emulator_of,
                     "data_parties_tune": f"emulator of {party.config.emulator_of}"}
    result.artifacts["plugin_blocks"] = PLUGIN_FILE
    result.notes.append(
        "OT+: the data parties tuned LoRA on the adapter blocks of the LM's offsite-tuning "
        "emulator (sent once per party, counted in round 0's bytes); utility per round is the "
        "emulator's with the global adapter, scored by the parties; offsite.plugin_utility is "
        "the full LM with the aggregate plugged in, scored by the model party on the same "
        "records.")
