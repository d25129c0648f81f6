"""Privacy: erasure, suppression, objection and access — GDPR as commands.

* :mod:`.identifiers` — emails, phones and ``INSTANCE:ID`` record ids; the store's salt and
  the salted hashes segsync keeps instead of identifiers;
* :mod:`.suppression` — people never to profile or push again (``segsync forget`` and
  ``[privacy] suppression_file``), checked as staged records are loaded;
* :mod:`.erasure` — finding everything the store holds about a person and deleting it, with
  the work destinations still owe (``erasures``, ``erasure_tasks``);
* :mod:`.tasks` — that work done: removals through each destination's ordinary role, then the
  optional eraser role (HubSpot GDPR delete, Mailchimp permanent delete, …);
* :mod:`.forget` — ``segsync forget`` end to end, and its resumption by ``segsync run``;
* :mod:`.receipt` — what ``forget`` prints (and ``--format json`` returns);
* :mod:`.export` — ``segsync export-person``, the right of access.

The objection to profiling (``do_not_profile``) is applied where profiles are made
(:mod:`segsync.pipeline.resolve`); retention of what segsync recorded is
:mod:`segsync.state.retention`. See ``docs/privacy.md``.
"""

from __future__ import annotations

from .export import export_person
from .forget import ErasureProgress, complete_erasures, erasure_receipts, erasures_owed, forget
from .receipt import ForgetReceipt, RequestReceipt, print_receipt

__all__ = [
    "ErasureProgress",
    "ForgetReceipt",
    "RequestReceipt",
    "complete_erasures",
    "erasure_receipts",
    "erasures_owed",
    "export_person",
    "forget",
    "print_receipt",
]
