"""Finding and comparing decimal numbers in model text, exactly.

Numbers compare as numbers (`1,000` = `1000`, `18.00` = `18.` = `$18`), by an exact
canonical string: no float rounding, and no limit on the number of digits.
"""

from __future__ import annotations

import re
import unicodedata

# An optional sign (not when it is a minus between two terms, as in "10-3"), then either
# thousands-grouped digits or plain digits, then an optional fraction. A trailing "." is
# not part of the number ("18." is 18).
_SIGN = r"(?:(?<![\w)\]])-(?:\\?\$)?)?"  # "-5", "-$5", "-\$5"; not the "-" of "10-3"
NUMBER = re.compile(_SIGN + r"(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|(?<!\d)\.\d+)")


# LaTeX spellings of a thousands separator before a group of exactly three digits:
# `12{,}000` (also `12 {, }000`), `12\text{,}000`, `12,\!000`, `12\,000`, `12\!000`,
# `12\;000`, `12\ 000`, `12\thinspace 000`, `12~000`, and the unicode thin spaces (U+2009, U+202F) -> `12,000`. A plain space is not one
# ("3 000" stays two numbers).
_TEX_THOUSANDS = re.compile(r"(?<=\d)(?: ?\{ ?, ?\} ?|\\text\{,\}|,\s?\\!|\\,|\\!|\\;|\\ |\\thinspace ?|~|[\u2009\u202f])"
                            r"(?=\d{3}(?!\d))")


def clean_text(text: str) -> str:
    """LaTeX / thin-space thousands separators to `,`, then NFKC (full-width digits,
    no-break spaces) and unicode minus signs to ASCII."""
    text = _TEX_THOUSANDS.sub(",", text)
    text = unicodedata.normalize("NFKC", text)
    return text.replace("\u2212", "-").replace("\u2013", "-").replace("\u2014", "-")


def canonical(number: str) -> str | None:
    """'-1,000.50' -> '-1000.5'; '18.00' -> '18'; '-0' -> '0'. None if not a number."""
    s = clean_text(number).strip().replace(",", "").replace("\\", "").replace("$", "")
    neg = s.startswith("-")
    if neg or s.startswith("+"):
        s = s[1:]
    if not re.fullmatch(r"\d+(?:\.\d*)?|\.\d+", s):
        return None
    whole, _, frac = s.partition(".")
    whole = whole.lstrip("0") or "0"
    frac = frac.rstrip("0")
    out = whole + ("." + frac if frac else "")
    return ("-" + out) if neg and out != "0" else out


def numbers_in(text: str) -> list[str]:
    """Every number in `text`, in order, in canonical form."""
    out = []
    for m in NUMBER.finditer(clean_text(text)):
        c = canonical(m.group(0))
        if c is not None:
            out.append(c)
    return out


def last_number(text: str) -> str | None:
    found = numbers_in(text)
    return found[-1] if found else None
