"""Voice registry, name resolution and the checks that name the Debian package to install."""

import dataclasses
from pathlib import Path

import pytest

from flowvox.data.corpus.card import format_voice_table
from flowvox.data.corpus.plan import select_voices
from flowvox.data.corpus.voices import check_available, list_voices, resolve_voice
from flowvox.errors import FlowvoxError


def test_registry_names_engines_people_and_packages():
    voices = {v.name: v for v in list_voices()}
    assert len(voices) == len(list_voices())  # names are unique
    assert voices["flite:kal16"].person == voices["festival:kal_diphone"].person == "kal"
    assert voices["flite:slt"].person == voices["festival:cmu_us_slt_arctic_hts"].person == "slt"
    assert voices["festival:cmu_us_slt_arctic_hts"].package == "festvox-us-slt-hts"
    assert voices["espeak:es+f2"].language == "es"
    assert voices["espeak:en-us+m3"].slug == "espeak-en-us-m3"
    assert len({v.slug for v in voices.values()}) == len(voices)
    english = select_voices(None, None)
    assert len(english) == 15 and all(v.language == "en" for v in english)
    assert "flite:kal" not in [v.name for v in english]
    assert [v.name for v in select_voices(None, ["es"])] == [
        "espeak:es+m1", "espeak:es+f2", "espeak:es-419+m3", "espeak:es-419+f4",
    ]  # fmt: skip


def test_every_registered_voice_is_installed():
    check_available(list_voices())  # raises FlowvoxError naming the package otherwise


def test_any_espeak_variant_resolves_by_name():
    voice = resolve_voice("espeak:en-gb-x-rp+m7")
    assert (voice.engine, voice.voice, voice.language, voice.person) == (
        "espeak", "en-gb-x-rp+m7", "en", None,
    )  # fmt: skip
    check_available([voice])


def test_unknown_voice_lists_the_known_ones():
    with pytest.raises(FlowvoxError) as err:
        resolve_voice("flite:nobody")
    assert "flite:kal16" in str(err.value) and "festival:ked_diphone" in str(err.value)
    with pytest.raises(FlowvoxError, match="name a voice twice"):
        select_voices(["flite:awb", "flite:awb"], None)
    with pytest.raises(FlowvoxError, match="no voice selected"):
        select_voices(["flite:awb"], ["es"])


@pytest.mark.parametrize(
    ("name", "package"),
    [
        ("flite:awb", "flite"),
        ("festival:kal_diphone", "festival"),
        ("espeak:en-us+m3", "espeak-ng"),
    ],
)
def test_missing_binary_names_the_package(monkeypatch, tmp_path: Path, name, package):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no engine binary found
    with pytest.raises(FlowvoxError, match=f"apt-get install {package}$"):
        check_available([resolve_voice(name)])


def test_missing_festival_voice_names_its_package():
    slt = resolve_voice("festival:cmu_us_slt_arctic_hts")
    ghost = dataclasses.replace(slt, voice="cmu_us_ghost_hts", package="festvox-us-ghost")
    expected = "festival voice cmu_us_ghost_hts not found: apt-get install festvox-us-ghost"
    with pytest.raises(FlowvoxError, match=expected):
        check_available([slt, ghost])


def test_unknown_espeak_language_or_variant_is_refused():
    with pytest.raises(FlowvoxError, match="espeak-ng variant zz9 not found"):
        check_available([resolve_voice("espeak:en-us+zz9")])
    with pytest.raises(FlowvoxError, match="espeak-ng voice xx not found"):
        check_available([resolve_voice("espeak:xx+m1")])


def test_voice_table_has_a_row_per_voice():
    table = format_voice_table(list_voices()).splitlines()
    assert len(table) == 1 + len(list_voices())
    assert table[1].split()[:4] == ["flite:kal16", "en", "kal", "yes"]


def test_default_espeak_voices_sound_different(tmp_path: Path):
    # espeak-ng ignores "+variant" after some language names (en-gb+m1 == en-gb): such a voice
    # would label one sound as two speakers
    from flowvox.data.corpus.engines import synthesize_raw

    voices = [v for v in list_voices() if v.engine == "espeak" and v.default]
    digests = {}
    for voice in voices:
        folder = tmp_path / voice.slug
        folder.mkdir()
        (path,) = synthesize_raw(voice, ["testing one two three"], folder)
        digests.setdefault(path.read_bytes(), []).append(voice.name)
    assert len(digests) == len(voices), [names for names in digests.values() if len(names) > 1]
