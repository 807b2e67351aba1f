"""Money: integer cents everywhere (never floats), read and written in euros the French
way (« 1 234,50 € », a narrow no-break space between thousands)."""

from __future__ import annotations

import re

# U+202F NARROW NO-BREAK SPACE (thousands), U+00A0 NO-BREAK SPACE (before the sign):
# what fr-FR typography and CLDR use.
THOUSANDS = "\u202f"
BEFORE_SIGN = "\u00a0"
# A euro amount as people type it: « 1234 », « 1 234,5 », « 1234.50 », « 12,50 € ».
_AMOUNT = re.compile(r"^(\d{1,9})(?:[.,](\d{1,2}))?$")
MAX_CENTS = 99_999_999_99


def format_euros(cents: int, *, sign: bool = True) -> str:
    """« 1 234,50 € »; « -12,00 € » for a negative amount."""
    negative = cents < 0
    whole, part = divmod(abs(cents), 100)
    digits = f"{whole:,}".replace(",", THOUSANDS)
    text = f"{'-' if negative else ''}{digits},{part:02d}"
    return f"{text}{BEFORE_SIGN}€" if sign else text


def parse_euros(text: str) -> int | None:
    """Cents of a typed euro amount, or None when it is not one (no sign, at most two
    decimals; spaces, « € » and a comma or point as decimal separator accepted)."""
    cleaned = text.strip().removesuffix("€").strip()
    for space in (" ", THOUSANDS, BEFORE_SIGN):
        cleaned = cleaned.replace(space, "")
    match = _AMOUNT.match(cleaned)
    if match is None:
        return None
    whole, part = match.group(1), (match.group(2) or "").ljust(2, "0")
    cents = int(whole) * 100 + int(part)
    return cents if cents <= MAX_CENTS else None
