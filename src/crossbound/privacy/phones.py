"""Phone numbers in any country's layout, found with Google's libphonenumber (``phonenumbers``).

A hand-written pattern per layout ("+33 6 12 34 56 78", "070-123 45 67", "020 7946 0958",
"+91 98765 43210", "(02) 9876 5432") would never end; ``phonenumbers`` carries every
country's numbering plan. Two passes over each run of digits and separators:

- a number written with its country code (``+44 ...``, ``0044 ...``) is taken when its length
  is possible for that country (``Leniency.POSSIBLE``): the code says whose plan applies, and
  fictional ranges (UK drama numbers 07700 900xxx) are still somebody's phone in a message;
- a national number (``030 12345678``, ``0412 345 678``) is taken when it is a *valid* number
  (``Leniency.VALID``: right length and prefix) in one of :data:`REGIONS`: doses, dates, record
  and order numbers are not.

Overlaps with better-labelled spans (an MRN, a date) are resolved by the sanitiser as for
every recogniser; this module only finds candidates.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from crossbound.privacy.recognizers import PHONE, Entity

INSTALL_HINT = "pip install 'crossbound[privacy]'"
# Where national layouts are tried: the countries whose numbers patients and customers of an
# English-language service most often write (the US/UK/EU/India/Africa/Asia-Pacific mix).
REGIONS = ("US", "CA", "GB", "IE", "AU", "NZ", "IN", "PK", "BD", "LK", "NP", "NG", "GH", "KE",
           "ZA", "DE", "AT", "CH", "FR", "BE", "NL", "LU", "SE", "NO", "DK", "FI", "IS", "ES",
           "PT", "IT", "GR", "PL", "CZ", "HU", "RO", "TR", "IL", "AE", "SA", "EG", "MA", "JP",
           "KR", "CN", "HK", "TW", "SG", "MY", "PH", "ID", "TH", "VN", "BR", "MX", "AR", "CO")
INTERNATIONAL_SCORE = 0.9
NATIONAL_SCORE = 0.8
# A stretch that could hold a phone number: 7+ digits with the separators people use.
_CANDIDATE = re.compile(r"(?:\+|\b00|\()?\d[\d ().\-/]{5,}\d")
_DIGITS = re.compile(r"\d")


def _phonenumbers() -> Any:
    try:
        import phonenumbers
    except ImportError as exc:  # pragma: no cover - the privacy extra installs it
        raise ImportError(f"international phone numbers need phonenumbers: {INSTALL_HINT}"
                          ) from exc
    return phonenumbers


def _matches(text: str, region: str, leniency: Any) -> Iterator[tuple[int, int]]:
    pn = _phonenumbers()
    for match in pn.PhoneNumberMatcher(text, region, leniency=leniency):
        yield match.start, match.end


def find_phones(text: str) -> list[Entity]:
    """Phone numbers in ``text`` (possibly overlapping one another: the caller resolves)."""
    pn = _phonenumbers()
    found: dict[tuple[int, int], float] = {}
    # North American layouts are the plain pattern's: no need to ask every region about them.
    known = {(e.start, e.end) for e in PHONE.find(text)}
    for candidate in _CANDIDATE.finditer(text):
        if len(_DIGITS.findall(candidate.group())) < 7:
            continue
        # Widen by a few characters so the matcher sees what precedes ("+", a letter).
        lo = max(0, candidate.start() - 2)
        window = text[lo:candidate.end()]
        if "+" in window or re.search(r"(?<!\d)00[1-9]", window):
            for start, end in _matches(window, "ZZ", pn.Leniency.POSSIBLE):
                found[lo + start, lo + end] = INTERNATIONAL_SCORE
        if any(s <= candidate.start() and candidate.end() <= e for s, e in (*found, *known)):
            continue  # the whole stretch is one number already
        for region in REGIONS:
            for start, end in _matches(window, region, pn.Leniency.VALID):
                span = (lo + start, lo + end)
                found[span] = max(found.get(span, 0.0), NATIONAL_SCORE)
    return [Entity(s, e, "PHONE", text[s:e], score, "crossbound:phonenumbers")
            for (s, e), score in sorted(found.items())]
