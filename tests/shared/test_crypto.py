"""The notes keyring: every sealed value names its key version, so keys rotate without losing data."""

import base64
import os

import pytest
from cryptography.exceptions import InvalidTag

from shared.crypto import RetiredKey, Sealer, parse_keys, version_of

V1, V2 = os.urandom(32), os.urandom(32)


def legacy(sealed: str) -> str:
    """What the same value looked like when keys had no versions: no prefix."""
    return sealed.removeprefix("v1:")


def test_a_value_records_the_version_of_the_key_that_sealed_it() -> None:
    assert Sealer({1: V1}).seal("org-a", "case-1", "called back").startswith("v1:")
    assert Sealer({1: V1, 2: V2}).seal("org-a", "case-1", "called back").startswith("v2:")
    assert Sealer({1: V1, 2: V2}, current=1).seal("org-a", "case-1", "called back").startswith("v1:")


def test_after_rotating_old_and_new_values_both_read() -> None:
    old = Sealer({1: V1}).seal("org-a", "case-1", "sealed with v1")

    rotated = Sealer({1: V1, 2: V2}, current=2)
    new = rotated.seal("org-a", "case-1", "sealed with v2")

    assert rotated.open("org-a", "case-1", old) == "sealed with v1"
    assert rotated.open("org-a", "case-1", new) == "sealed with v2"
    assert (rotated.is_current(old), rotated.is_current(new)) == (False, True)


def test_a_value_without_a_version_is_read_as_version_1() -> None:
    unversioned = legacy(Sealer({1: V1}).seal("org-a", "case-1", "written before rotation"))

    assert version_of(unversioned) == 1
    assert Sealer(V1).open("org-a", "case-1", unversioned) == "written before rotation"
    assert Sealer({1: V1, 2: V2}).open("org-a", "case-1", unversioned) == "written before rotation"


def test_a_value_sealed_with_a_retired_key_says_which_key_it_needs() -> None:
    old = Sealer({1: V1}).seal("org-a", "case-1", "never re-encrypted")
    retired = Sealer({2: V2})

    with pytest.raises(RetiredKey, match=r"sealed with key v1, which is not in the keyring \(it holds v2\)"):
        retired.open("org-a", "case-1", old)
    with pytest.raises(RetiredKey, match="key v1"):
        retired.open("org-a", "case-1", legacy(old))


def test_a_value_still_opens_only_on_its_own_record_and_organization() -> None:
    sealer = Sealer({1: V1, 2: V2})
    sealed = sealer.seal("org-a", "case-1", "private")

    with pytest.raises(InvalidTag):
        sealer.open("org-a", "case-2", sealed)
    with pytest.raises(InvalidTag):
        sealer.open("org-b", "case-1", sealed)


def test_keys_are_read_from_one_line_and_errors_never_show_a_key() -> None:
    text = f"v2:{base64.b64encode(V2).decode()}, v1:{base64.b64encode(V1).decode()}"

    assert parse_keys(text) == {2: V2, 1: V1}
    assert parse_keys("") == {}
    with pytest.raises(ValueError, match="v2 is given twice"):
        parse_keys(f"{text},v2:{base64.b64encode(V1).decode()}")
    with pytest.raises(ValueError, match="key v3 is not valid base64") as bad:
        parse_keys("v3:not*base64")
    assert "not*base64" not in str(bad.value)
    with pytest.raises(ValueError, match="a key version is v1, v2"):
        parse_keys(f"two:{base64.b64encode(V2).decode()}")


def test_a_keyring_refuses_short_keys_and_a_current_key_it_does_not_hold() -> None:
    with pytest.raises(ValueError, match="v2 needs at least 32 bytes"):
        Sealer({1: V1, 2: b"short"})
    with pytest.raises(ValueError, match="current key v3 is not in the keyring"):
        Sealer({1: V1, 2: V2}, current=3)
