"""The error every reader of a crossbound message raises on malformed input.

It lives apart from :mod:`~crossbound.boundary.messages` so that the payload codecs the
message checks rely on (:mod:`~crossbound.boundary.logit_codec`) can raise it too without
importing the messages they serve.
"""

from __future__ import annotations


class MessageError(ValueError):
    """A message is malformed: wrong payload type for its kind, bad bytes, or too large."""
