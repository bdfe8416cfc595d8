"""Messages, the hash-chained transcript and the in-process boundary."""

from __future__ import annotations

import json

import pytest
import torch

from crossbound.boundary import Boundary, Kind, Message, MessageError, Transcript
from crossbound.boundary.messages import decode, encode
from crossbound.boundary.transcript import verify_transcript

TENSOR_PAYLOADS = {
    Kind.TOKEN_IDS: {"ids": torch.randint(0, 50_000, (2, 7))},
    Kind.TOPK_LOGPROBS: {"values": torch.randn(3, 4), "indices": torch.randint(0, 100, (3, 4))},
    Kind.LOGITS: {"logits": torch.randn(2, 3, 11)},
    Kind.HIDDEN_STATES: {"hidden": torch.randn(1, 5, 8, dtype=torch.bfloat16)},
    Kind.TENSORS: {"layers.0.weight": torch.randn(4, 4), "layers.0.bias": torch.zeros(4)},
}
JSON_PAYLOADS = {
    Kind.TEXT: ["héllo", "", "línea\nnueva"],
    Kind.RECORDS: [{"text": "t", "label": 1}, {"text": "u", "nested": {"a": [1, 2]}}],
    Kind.METRICS: {"acc": 0.5, "name": "x"},
}


@pytest.mark.parametrize("kind", list(Kind))
def test_every_message_kind_round_trips_exactly(kind):
    payload = TENSOR_PAYLOADS.get(kind, JSON_PAYLOADS.get(kind))
    msg = Message(kind, "data-party-0", "model-party", payload, {"op": "x", "n": [1, 2]})
    wire = encode(msg)
    back = decode(wire)
    assert (back.kind, back.sender, back.receiver, back.meta) == (
        msg.kind, msg.sender, msg.receiver, msg.meta)
    if kind in TENSOR_PAYLOADS:
        assert set(back.payload) == set(payload)
        for name, tensor in payload.items():
            assert torch.equal(back.payload[name], tensor)
            assert back.payload[name].dtype == tensor.dtype
    else:
        assert back.payload == payload
    assert encode(back) == wire  # byte counts are exact and stable


@pytest.mark.parametrize("kind,payload", [
    (Kind.TEXT, "not a list"),
    (Kind.TOPK_LOGPROBS, {"values": torch.zeros(2)}),
    (Kind.RECORDS, ["x"]),
    (Kind.TENSORS, {"w": [1, 2]}),
])
def test_bad_payloads_are_refused(kind, payload):
    with pytest.raises(MessageError):
        Message(kind, "a", "b", payload)


def test_decode_rejects_garbage_and_oversize():
    with pytest.raises(MessageError, match="magic"):
        decode(b"\x80\x04pickle")
    wire = encode(Message(Kind.TEXT, "a", "b", ["x" * 100]))
    with pytest.raises(MessageError, match="limit"):
        decode(wire, max_bytes=50)
    with pytest.raises(MessageError):
        decode(wire[:12])


class Echo:
    name = "model-party"

    def handle(self, request):
        return Message(Kind.TEXT, self.name, request.sender, [t.upper() for t in request.payload])


def test_boundary_records_every_crossing(tmp_path):
    with Transcript(tmp_path / "t.jsonl") as transcript:
        boundary = Boundary(transcript)
        boundary.attach(Echo())
        reply = boundary.request(Message(Kind.TEXT, "data-party-0", "model-party", ["hi"]))
        assert reply.payload == ["HI"]
        summary = transcript.summary()
    assert summary["entries"] == 2
    assert summary["bytes"] == boundary.summary()["bytes"]
    report = verify_transcript(tmp_path / "t.jsonl")
    assert report.ok and report.entries == 2
    assert set(report.bytes_by_direction) == {"data-party-0->model-party",
                                              "model-party->data-party-0"}


def _write(path, n=5):
    with Transcript(path) as transcript:
        for i in range(n):
            transcript.append("a", "b", "text", f"message {i}".encode())


def _lines(path):
    return path.read_text().splitlines()


def test_audit_names_altered_entry(tmp_path):
    path = tmp_path / "t.jsonl"
    _write(path)
    lines = _lines(path)
    entry = json.loads(lines[2])
    entry["bytes"] += 1
    lines[2] = json.dumps(entry, sort_keys=True)
    path.write_text("\n".join(lines) + "\n")
    report = verify_transcript(path)
    assert not report.ok and report.first_bad_seq == 2 and "altered" in report.error


def test_audit_names_deleted_and_inserted_entries(tmp_path):
    path = tmp_path / "t.jsonl"
    _write(path)
    lines = _lines(path)
    path.write_text("\n".join(lines[:1] + lines[2:]) + "\n")
    report = verify_transcript(path)
    assert not report.ok and report.first_bad_seq == 1
    path.write_text("\n".join([*lines[:3], lines[1], *lines[3:]]) + "\n")
    report = verify_transcript(path)
    assert not report.ok and report.first_bad_seq == 3


def test_audit_detects_reordered_entries(tmp_path):
    path = tmp_path / "t.jsonl"
    _write(path)
    lines = _lines(path)
    lines[1], lines[2] = lines[2], lines[1]
    path.write_text("\n".join(lines) + "\n")
    report = verify_transcript(path)
    assert not report.ok and report.first_bad_seq == 1


def test_audit_detects_a_payload_swapped_for_another(tmp_path):
    path = tmp_path / "t.jsonl"
    _write(path)
    lines = _lines(path)
    entry = json.loads(lines[3])
    entry["payload"] = json.loads(lines[2])["payload"]
    lines[3] = json.dumps(entry, sort_keys=True)
    path.write_text("\n".join(lines) + "\n")
    report = verify_transcript(path)
    assert not report.ok and report.first_bad_seq == 3


def test_transcript_continues_after_a_torn_write(tmp_path):
    path = tmp_path / "t.jsonl"
    _write(path, 3)
    with path.open("a") as handle:
        handle.write('{"seq": 3, "tim')  # the process died mid-line
    with Transcript(path) as transcript:
        transcript.append("a", "b", "text", b"after restart")
    report = verify_transcript(path)
    assert report.ok and report.entries == 4


def test_a_kill_during_writes_loses_no_committed_entry(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "t.jsonl"
    writer = (
        "import sys\n"
        "from crossbound.boundary.transcript import Transcript\n"
        "t = Transcript(sys.argv[1])\n"
        "i = 0\n"
        "while True:\n"
        "    t.append('data-party-0', 'model-party', 'text', b'x' * (1000 + i))\n"
        "    print(i, flush=True)\n"  # printed only after the entry is fsync'd
        "    i += 1\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", writer, str(path)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    committed = -1
    deadline = time.monotonic() + 30
    while committed < 30 and time.monotonic() < deadline:
        committed = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert committed >= 30
    # Reopening cuts a torn final line, if the kill left one, and keeps every committed entry.
    with Transcript(path) as transcript:
        assert transcript.summary()["entries"] >= committed + 1
    report = verify_transcript(path)
    assert report.ok and report.entries >= committed + 1


def test_an_oversized_float32_bundle_is_refused_with_the_dtype_hint():
    boundary = Boundary(max_message_bytes=1024)
    weights = {"w": torch.zeros(1024)}
    bundle = Message(Kind.TENSORS, "model-party", "data-party-0", weights,
                     {"artifact": "split-bundle", "dtype": "float32"})
    with pytest.raises(ValueError, match="exceeds the boundary's limit of 1024 bytes; a "
                                         "float32 weights bundle halves in bf16"):
        boundary.cross(bundle)
    plain = Message(Kind.TENSORS, "model-party", "data-party-0", weights, {})
    with pytest.raises(ValueError, match=r"limit of 1024 bytes$"):
        boundary.cross(plain)
