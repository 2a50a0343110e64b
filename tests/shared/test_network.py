import json
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.network import Network, NetworkFile

NETWORK = {
    "regions": [{"id": "north", "name": "North"}],
    "organizations": [{"id": "org-a", "name": "A", "region": "north"}],
}


def test_an_organization_in_an_unknown_region_is_refused() -> None:
    bad = {**NETWORK, "organizations": [{"id": "org-a", "name": "A", "region": "south"}]}
    with pytest.raises(ValidationError, match="unknown region"):
        Network.model_validate(bad)


def test_adding_an_organization_to_the_file_takes_effect_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "network.json"
    path.write_text(json.dumps(NETWORK))
    network = NetworkFile(path)
    assert network.get().organization("org-b") is None

    grown = {
        **NETWORK,
        "organizations": [*NETWORK["organizations"], {"id": "org-b", "name": "B", "region": "north"}],
    }
    path.write_text(json.dumps(grown))
    os.utime(path, (1, 2_000_000_000))
    assert network.get().organization("org-b") is not None


def test_a_broken_edit_keeps_the_last_good_network(tmp_path: Path) -> None:
    path = tmp_path / "network.json"
    path.write_text(json.dumps(NETWORK))
    network = NetworkFile(path)
    network.get()
    path.write_text("{ not json")
    os.utime(path, (1, 2_000_000_000))
    assert network.get().organization("org-a") is not None
