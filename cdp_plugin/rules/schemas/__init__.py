"""marshmallow schemas for the files under ``rules/``.

Each file schema rejects unknown keys, checks the references inside its file
(and, when given the purposes that ``purposes.yaml`` declares, across files) and
builds the frozen values of :mod:`cdp_plugin.rules.model`. Errors come back as
marshmallow's nested error dictionaries, keyed by the file's own keys and list
indexes, with messages written for the person editing the file.

Cross-reference checks read the original document rather than the partly
loaded result, so that one bad entry never shifts the index reported for
another and every problem in a file is found in one pass.

One module per file (:mod:`.purposes`, :mod:`.jurisdictions`,
:mod:`.minimization`, :mod:`.segments`); the pieces they share live in
:mod:`.common`. The names below are re-exported so callers import from the
package, not from its modules.
"""

from cdp_plugin.rules.schemas.common import (
    _VERSION,
    NAMED_MESSAGE_TYPES,
    EventMatchSchema,
    _as_dict,
    _Int,
    _Mapping,
    _Name,
    _Problems,
    _RulesSchema,
)
from cdp_plugin.rules.schemas.jurisdictions import JurisdictionsFileSchema, RegimeSchema
from cdp_plugin.rules.schemas.minimization import MinimizationFileSchema, MinimizationRuleSchema
from cdp_plugin.rules.schemas.purposes import (
    NECESSARY,
    ConsentPolicySchema,
    EventPurposesSchema,
    FrequencyCapSchema,
    PurposeSchema,
    PurposesFileSchema,
    QuietHoursSchema,
    SignalsSchema,
)
from cdp_plugin.rules.schemas.segments import (
    DEFAULT_SEGMENT_PURPOSE,
    CartRolesSchema,
    CountSchema,
    FeaturesSchema,
    SeasonSchema,
    SegmentSchema,
    SegmentsFileSchema,
)

# The underscored names are shared with cdp_plugin.rules.retention, which builds
# its schema from the same pieces.
__all__ = [
    "DEFAULT_SEGMENT_PURPOSE",
    "NAMED_MESSAGE_TYPES",
    "NECESSARY",
    "_VERSION",
    "CartRolesSchema",
    "ConsentPolicySchema",
    "CountSchema",
    "EventMatchSchema",
    "EventPurposesSchema",
    "FeaturesSchema",
    "FrequencyCapSchema",
    "JurisdictionsFileSchema",
    "MinimizationFileSchema",
    "MinimizationRuleSchema",
    "PurposeSchema",
    "PurposesFileSchema",
    "QuietHoursSchema",
    "RegimeSchema",
    "SeasonSchema",
    "SegmentSchema",
    "SegmentsFileSchema",
    "SignalsSchema",
    "_Int",
    "_Mapping",
    "_Name",
    "_Problems",
    "_RulesSchema",
    "_as_dict",
]
