from pydantic import Field

from shared.settings import SealingSettings


class Settings(SealingSettings):
    service_name: str = "mentoring"
    http_port: int = 8102

    # A proposal the mentor has not answered in this time expires, and the next candidate gets it.
    proposal_expires_after_hours: float = Field(default=72.0, gt=0)
    # How often the store is asked for the timers coming up next (each then fires on time).
    timer_interval_seconds: float = Field(default=5.0, gt=0, le=60)

    # An overdue check-in nudges the member this long after it was due, then their mentor this long.
    check_in_nudge_member_after_hours: float = Field(default=12.0, gt=0)
    check_in_nudge_mentor_after_hours: float = Field(default=36.0, gt=0)
    # This many check-ins missed in a row tell the mentor their mentee is drifting.
    missed_check_ins_for_drift: int = Field(default=3, ge=1, le=30)
    # Check-ins (with their encrypted notes) are deleted this long after they were written.
    check_in_retention_days: int = Field(default=730, ge=30)
    # A craving at or above this (0-10) asks crisis for a case, unless the organization set its own.
    craving_alert_threshold: int = Field(default=8, ge=1, le=10)

    # Recovery capital: the BARC-10 is asked at intake and again this many days after the last one.
    barc_interval_days: int = Field(default=90, ge=7, le=365)
    # An organization sees a BARC-10 figure only over at least this many members.
    barc_min_group: int = Field(default=5, ge=5)
