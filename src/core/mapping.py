"""A connector's field mapping checked against the fields the platform defines.

Platforms leave a field they do not define out of their answers, without an error (HubSpot's
contact properties, Mailchimp's merge tags): a typo in ``properties = {first_name =
"fristname"}`` would quietly empty the attribute for everyone. A connector that can list the
platform's fields calls :func:`unknown_fields` in ``check()`` (not ok) and before a pull (a
:class:`~segsync.errors.FatalError`), so the mistake is named instead of loaded.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

__all__ = ["unknown_fields"]


def unknown_fields(
    mapping: Mapping[str, str], defined: Mapping[str, str], *, key: str, what: str
) -> list[str]:
    """One line per entry of ``mapping`` (attribute → the platform's field name) whose field
    is not in ``defined`` (field name → its label, as the platform's screens show it), with
    the one it may mean: the field whose label it spells (``first_name`` → ``firstname``,
    labelled "First Name"; ``FIRSTNAME`` → ``FNAME``, "First Name"), else a close name.
    ``key`` names the mapping in the settings (``properties``), ``what`` the field
    (``contact property``)."""
    problems = []
    for attribute, name in mapping.items():
        if name in defined:
            continue
        spelled = [n for n, label in defined.items() if _letters(label) == _letters(name)]
        close = spelled or difflib.get_close_matches(name, list(defined), n=1, cutoff=0.75)
        hint = ""
        if close:
            label = f', labelled "{defined[close[0]]}"' if defined[close[0]] else ""
            hint = f" (did you mean {close[0]!r}{label}?)"
        problems.append(f"{key}.{attribute} = {name!r}: there is no {what} {name!r}{hint}")
    return problems


def _letters(text: str) -> str:
    """A name or label without case, spaces or punctuation: ``First Name`` → ``firstname``."""
    return re.sub(r"[^a-z0-9]", "", text.lower())
