"""The trust boundary: typed messages, the transcript, and the transports that carry them."""

from crossbound.boundary.channel import Boundary
from crossbound.boundary.messages import Kind, Message, MessageError
from crossbound.boundary.signing import SignedHead, TranscriptKey
from crossbound.boundary.transcript import AuditReport, Transcript, verify_transcript

__all__ = [
    "AuditReport",
    "Boundary",
    "Kind",
    "Message",
    "MessageError",
    "SignedHead",
    "Transcript",
    "TranscriptKey",
    "verify_transcript",
]
