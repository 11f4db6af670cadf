"""Typed, versioned payload models of every message type, one module per theme group.

The registry (:mod:`schemas.registry`) is built from :data:`ALL_SPECS`; shared value types
(places, persons, firearms, quantities) live in :mod:`schemas.messages.base`.
"""

from __future__ import annotations

from schemas.messages.border import BORDER_ALERT_V1, BorderAlertV1
from schemas.messages.cbrn import CBRN_INTERDICTION_V1, CbrnInterdictionV1
from schemas.messages.disasters import DISASTER_ALERT_V1, DisasterAlertV1
from schemas.messages.firearms import (
    FIREARM_TRACE_REQUEST_V1,
    FIREARM_TRACE_RESULT_V1,
    FirearmTraceRequestV1,
    FirearmTraceResultV1,
)
from schemas.messages.gangs import GANG_MOVEMENT_V1, GangMovementV1
from schemas.messages.requests import (
    INFORMATION_REQUEST_V1,
    INFORMATION_RESPONSE_V1,
    InformationRequestV1,
    InformationResponseV1,
)
from schemas.messages.retraction import RETRACTION_V1, RetractionV1
from schemas.messages.seizures import SEIZURE_V1, SeizureV1
from schemas.messages.spec import MessageSpec
from schemas.messages.trafficking import TRAFFICKING_CASE_V1, TraffickingCaseV1

__all__ = [
    "ALL_SPECS",
    "BorderAlertV1",
    "CbrnInterdictionV1",
    "DisasterAlertV1",
    "FirearmTraceRequestV1",
    "FirearmTraceResultV1",
    "GangMovementV1",
    "InformationRequestV1",
    "InformationResponseV1",
    "MessageSpec",
    "RetractionV1",
    "SeizureV1",
    "TraffickingCaseV1",
]

ALL_SPECS: tuple[MessageSpec, ...] = (
    GANG_MOVEMENT_V1,
    FIREARM_TRACE_REQUEST_V1,
    FIREARM_TRACE_RESULT_V1,
    SEIZURE_V1,
    BORDER_ALERT_V1,
    TRAFFICKING_CASE_V1,
    DISASTER_ALERT_V1,
    CBRN_INTERDICTION_V1,
    INFORMATION_REQUEST_V1,
    INFORMATION_RESPONSE_V1,
    RETRACTION_V1,
)
"""Every message type at every version the hub accepts."""
