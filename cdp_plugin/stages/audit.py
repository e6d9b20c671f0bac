"""Built-in audit stage: every record goes to the pipeline's tamper-evident log.

Blocking this plugin without registering another ``cdp_write_audit``
implementation makes the audit log unavailable, so nothing is forwarded.
"""

from __future__ import annotations

from cdp_plugin.audit.records import AuditRecord
from cdp_plugin.markers import hookimpl
from cdp_plugin.runtime import Runtime
from cdp_plugin.types import AuditEntry


@hookimpl(trylast=True)
def cdp_write_audit(record: AuditRecord, runtime: Runtime) -> AuditEntry:
    """Append ``record.as_dict()`` to the RFC 9162 Merkle log; raises ``AuditError``
    if it cannot be written."""
    return runtime.audit_log.append(record.as_dict())
