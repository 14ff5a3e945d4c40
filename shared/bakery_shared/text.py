"""Free text from callers: control characters refused, whitespace that Meta refuses normalised.

* Control characters (Unicode category Cc, e.g. NUL, which PostgreSQL cannot store in text) and lone surrogates
  (Cs, which no UTF-8 column can store) are refused: :func:`clean_text` raises ``ValueError``, which a pydantic
  validator turns into a 422 naming the field.
* Newlines, tabs and runs of 5 or more spaces are refused by Meta in template parameters (error 132018,
  permanent). Rather than refuse an order over a pasted line break, every run of whitespace that contains a tab
  or a line break (``\\n``, ``\\r``, U+2028, U+2029, U+0085), or that is 5 or more characters long, becomes one
  space; the text is also stripped. The same rule applies to every free-text field, so what is stored is what
  is sent.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator

_SPACE = r"[^\S\x1c-\x1f]"  # whitespace, but not the separators U+001C-U+001F (control characters: refused)
_COLLAPSE = re.compile(rf"{_SPACE}*[\t\n\r\x0b\x0c\x85\u2028\u2029]{_SPACE}*|{_SPACE}{{5,}}")


def control_characters(value: str) -> list[str]:
    """The control characters and lone surrogates in ``value`` (tab and line breaks included)."""
    if value.isprintable():  # C-speed fast path: every Cc and Cs character is non-printable
        return []
    return [ch for ch in value if unicodedata.category(ch) in ("Cc", "Cs")]


def refuse_control_characters(value: str) -> str:
    """``value`` unchanged, or ``ValueError`` naming the first control character (as ``U+XXXX``)."""
    found = control_characters(value)
    if found:
        raise ValueError(f"must not contain control characters (found U+{ord(found[0]):04X})")
    return value


def clean_text(value: str) -> str:
    """Tabs and line breaks (and the whitespace around them) and runs of 5+ whitespace become one space; the
    result is stripped. Any other control character is a ``ValueError``."""
    collapsed = _COLLAPSE.sub(" ", value).strip()
    return refuse_control_characters(collapsed)


#: A free-text request field: control characters refused (422), whitespace normalised as described above.
CleanText = Annotated[str, AfterValidator(clean_text)]
#: An identifier-like request field: any control character (tab and newline too) refused.
NoControlText = Annotated[str, AfterValidator(refuse_control_characters)]
