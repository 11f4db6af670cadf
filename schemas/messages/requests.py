"""Every theme: requests for information and their responses."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from schemas.common import MessageId, StrictModel, WireDatetime
from schemas.messages.base import Location, Person, ShortText, Text
from schemas.messages.spec import ALL_THEMES, MessageSpec

__all__ = [
    "INFORMATION_REQUEST_V1",
    "INFORMATION_RESPONSE_V1",
    "InformationRequestV1",
    "InformationResponseV1",
]


class InformationRequestV1(StrictModel):
    """Information request: questions to one or more parties about persons, places or cases."""

    subject: ShortText
    questions: list[Text] = Field(min_length=1, max_length=50)
    priority: Literal["routine", "priority", "immediate"] = "routine"
    respond_by: WireDatetime | None = None
    legal_basis: ShortText | None = None
    related_messages: list[MessageId] = Field(default_factory=list, max_length=50)
    persons: list[Person] = Field(default_factory=list, max_length=100)
    location: Location | None = None


class InformationResponseV1(StrictModel):
    """Information response: the answer to a request (a reply, carries in_reply_to)."""

    status: Literal["answered", "partial", "no_information", "declined"]
    answers: list[Text] = Field(default_factory=list, max_length=50)
    declined_reason: Text | None = None
    related_messages: list[MessageId] = Field(default_factory=list, max_length=50)
    persons: list[Person] = Field(default_factory=list, max_length=100)
    location: Location | None = None

    @model_validator(mode="after")
    def _consistent(self) -> InformationResponseV1:
        if self.status in ("answered", "partial") and not self.answers:
            raise ValueError(f"a response with status {self.status!r} has answers")
        if self.status == "declined" and self.declined_reason is None:
            raise ValueError("a declined response gives its declined_reason")
        return self


INFORMATION_REQUEST_V1 = MessageSpec(
    type="information_request",
    version=1,
    model=InformationRequestV1,
    themes=ALL_THEMES,
    example={
        "subject": "Criminal record and travel history",
        "questions": [
            "Does the person below have a criminal record in your country?",
            "Has the person entered or left your country since 2025-01-01?",
        ],
        "priority": "priority",
        "respond_by": "2026-12-05T00:00:00Z",
        "legal_basis": "Central American Convention on Mutual Legal Assistance, art. 3",
        "persons": [
            {
                "name": "Luis Fernando Castillo",
                "role": "suspect",
                "date_of_birth": "1988-01-09",
                "nationality": "NI",
                "identifiers": [
                    {"kind": "passport", "number": "C01234567", "issuing_country": "NI"}
                ],
            }
        ],
    },
)

INFORMATION_RESPONSE_V1 = MessageSpec(
    type="information_response",
    version=1,
    model=InformationResponseV1,
    themes=ALL_THEMES,
    reply=True,
    example={
        "status": "answered",
        "answers": [
            "No criminal record found.",
            "Entered through Peñas Blancas on 2026-03-14; no recorded exit.",
        ],
        "persons": [{"name": "Luis Fernando Castillo", "role": "suspect", "nationality": "NI"}],
    },
)
