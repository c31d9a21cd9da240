"""Licensing (guide Appendix B): features, trial, licence files, the compliance clock.

- ``feature``: the features and user licences, their status and expiry.
- ``licensefile``: the signed ``cms.lic`` format; ``authority``: its signing keys.
- ``compliance``: the daily compliance clock (pure).
- ``state``: trial + licence + clock on a day (pure); ``report``: the MMP ``license`` text.
- ``node``: applying ``cms.lic`` on a node (``load``), the node's current state.
"""

from __future__ import annotations

from moot.licensing.authority import Authority, AuthorityError
from moot.licensing.compliance import ComplianceState, Entitlement, UsageRecord
from moot.licensing.feature import Feature, FeatureStatus, Status, UserLicence
from moot.licensing.licensefile import LicenseFile, LicenseFileError, Refusal, UserLimit
from moot.licensing.node import ApplyResult, current, load
from moot.licensing.state import LicensingState, evaluate

__all__ = [
    "ApplyResult",
    "Authority",
    "AuthorityError",
    "ComplianceState",
    "Entitlement",
    "Feature",
    "FeatureStatus",
    "LicenseFile",
    "LicenseFileError",
    "LicensingState",
    "Refusal",
    "Status",
    "UsageRecord",
    "UserLicence",
    "UserLimit",
    "current",
    "evaluate",
    "load",
]
