"""The network: which organizations exist and which region each belongs to.

One JSON file every service loads (path in RN_NETWORK_FILE), re-read when it changes, so a
network admin adds an organization by editing data, not code.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.subjects import ORG_TOKEN


class Region(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=ORG_TOKEN)
    name: str


class Organization(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=ORG_TOKEN)
    name: str
    region: str
    time_zone: str = "UTC"
    kind: str = "peer_support"


class Network(BaseModel):
    model_config = ConfigDict(extra="forbid")
    regions: list[Region]
    organizations: list[Organization]

    @model_validator(mode="after")
    def _regions_exist(self) -> "Network":
        known = {r.id for r in self.regions}
        for org in self.organizations:
            if org.region not in known:
                raise ValueError(f"organization {org.id} names unknown region {org.region}")
        return self

    def organization(self, org_id: str) -> Organization | None:
        return next((o for o in self.organizations if o.id == org_id), None)


@dataclass
class NetworkFile:
    """Reloads the file when its modification time changes; a broken edit keeps the last good copy."""

    path: Path
    _mtime: float = -1.0
    _network: Network | None = field(default=None, repr=False)

    def get(self) -> Network:
        mtime = self.path.stat().st_mtime
        if self._network is None or mtime != self._mtime:
            try:
                self._network = Network.model_validate(json.loads(self.path.read_text()))
                self._mtime = mtime
            except (ValueError, OSError):
                if self._network is None:
                    raise
        return self._network
