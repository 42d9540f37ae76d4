"""The peer switch: a missing package skips, or fails under FLOWVOX_REQUIRE_PEERS=1."""

import json

import pytest

from tests.peers.require import REQUIRE_PEERS_ENV, import_peer, require_peer

ABSENT = "flowvox_no_such_package"


def test_missing_peer_is_a_skip_naming_it_without_the_switch(monkeypatch):
    monkeypatch.delenv(REQUIRE_PEERS_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"{ABSENT} cannot be imported .*: pip x"):
        import_peer(ABSENT, "pip x")
    with pytest.raises(pytest.skip.Exception, match="vocos, encodec not installed: pip y"):
        require_peer(["vocos", "encodec"], "pip y")


@pytest.mark.parametrize("value", ["0", ""])
def test_only_the_value_1_turns_the_switch_on(monkeypatch, value):
    monkeypatch.setenv(REQUIRE_PEERS_ENV, value)
    with pytest.raises(pytest.skip.Exception):
        import_peer(ABSENT, "pip x")


def test_missing_peer_is_a_failure_naming_it_under_the_switch(monkeypatch):
    monkeypatch.setenv(REQUIRE_PEERS_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=f"{ABSENT} cannot be imported .*: pip x"):
        import_peer(ABSENT, "pip x")
    with pytest.raises(pytest.fail.Exception, match="vocos not installed: pip y"):
        require_peer("vocos", "pip y")


def test_another_switch_name_is_read_instead(monkeypatch):
    monkeypatch.setenv(REQUIRE_PEERS_ENV, "1")
    monkeypatch.delenv("FLOWVOX_REQUIRE_F5", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require_peer("f5_tts", "setup_peers.sh f5tts", env="FLOWVOX_REQUIRE_F5")
    monkeypatch.setenv("FLOWVOX_REQUIRE_F5", "1")
    with pytest.raises(pytest.fail.Exception):
        require_peer("f5_tts", "setup_peers.sh f5tts", env="FLOWVOX_REQUIRE_F5")


def test_present_peer_is_returned_and_nothing_missing_passes(monkeypatch):
    monkeypatch.setenv(REQUIRE_PEERS_ENV, "1")
    assert import_peer("json", "pip x") is json
    require_peer([], "pip y")  # nothing missing: no skip, no failure
