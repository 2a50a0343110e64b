"""The event envelope every message travels in (modelled on CloudEvents 1.0).

An event class names its domain, name and version once; its `type` and its subject
are derived from them, so the two can never disagree.
"""

from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from contracts.ids import new_id
from contracts.subjects import ORG_TOKEN, subject_for


class Contract(BaseModel):
    """Base of every payload in contracts: immutable and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Event(Contract):
    """The envelope; subclasses pin `type` with a Literal and give `data` a model."""

    domain: ClassVar[str]
    name: ClassVar[str]
    version: ClassVar[int]

    id: str = Field(default_factory=new_id, min_length=1, max_length=64)
    type: str
    source: str = Field(min_length=1, max_length=64)
    time: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    org: str = Field(pattern=ORG_TOKEN)
    subject: str = Field(min_length=1, max_length=64, description="id of the entity the event is about")
    data: Any

    @field_validator("time")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @classmethod
    def type_name(cls) -> str:
        return f"{cls.domain}.{cls.name}.v{cls.version}"

    @classmethod
    def subject_pattern(cls) -> str:
        """Subject filter matching this event in every organization."""
        return subject_for("*", cls.domain, cls.name, cls.version)

    @classmethod
    def create(cls, *, source: str, org: str, subject: str, data: Any, **extra: Any) -> Self:
        return cls(type=cls.type_name(), source=source, org=org, subject=subject, data=data, **extra)

    def nats_subject(self) -> str:
        return subject_for(self.org, self.domain, self.name, self.version)
