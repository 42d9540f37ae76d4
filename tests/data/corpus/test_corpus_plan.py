"""Planning: sizes, even spread, deterministic dealing, held-out split follows the sentence."""

import random
from collections import Counter

import pytest

from flowvox.data.corpus.plan import deal, estimated_seconds, plan_corpus, select_voices
from flowvox.data.corpus.sentences import TextSource, is_held_out
from flowvox.errors import FlowvoxError

SENTENCES = [f"Sentence number {w} is here for the test." for w in "abcdefghijklmnopqrst"]


def sources(sentences=SENTENCES):
    return {"en": TextSource("en", "test", "none", "none", "none.txt", sentences)}


def voices():
    return select_voices(["flite:kal16", "flite:awb", "festival:kal_diphone"], None)


def test_utterances_are_spread_evenly_and_ids_follow_voice_and_sentence():
    plan = plan_corpus(voices(), sources(), utterances=8, hours=None, seed=0)
    per_voice = Counter(u.voice.name for u in plan)
    assert [per_voice[v.name] for v in voices()] == [3, 3, 2]
    assert len({u.text for u in plan}) == 8  # no sentence twice while the list lasts
    for u in plan:
        assert SENTENCES[u.sentence_id] == u.text
        assert u.utt_id == f"{u.voice.slug}_{u.sentence_id:05d}"
        assert u.rel_path == f"wavs/{u.voice.slug}/{u.utt_id}.wav"
        assert u.split == ("test" if is_held_out(u.text) else "train")


def test_plan_is_a_function_of_the_seed():
    one = plan_corpus(voices(), sources(), utterances=9, hours=None, seed=1)
    assert one == plan_corpus(voices(), sources(), utterances=9, hours=None, seed=1)
    assert one != plan_corpus(voices(), sources(), utterances=9, hours=None, seed=2)


def test_sentences_repeat_across_voices_only_after_the_list_runs_out():
    plan = plan_corpus(voices(), sources(), utterances=45, hours=None, seed=0)  # 15 per voice
    for v in voices():
        mine = [u.sentence_id for u in plan if u.voice == v]
        assert len(mine) == len(set(mine)) == 15  # a voice never says a sentence twice
    assert len({u.sentence_id for u in plan}) == 20
    with pytest.raises(FlowvoxError, match="more than the 20 en sentences per voice"):
        plan_corpus(voices(), sources(), utterances=63, hours=None, seed=0)


def test_deal_round_robin_from_one_shuffle():
    order = list(range(10))
    random.Random(5).shuffle(order)
    dealt = deal(10, 2, lambda k, taken: len(taken) < 3, random.Random(5))
    assert dealt == [order[0:6:2], order[1:6:2]]


def test_hours_mode_stops_each_voice_at_its_share():
    plan = plan_corpus(voices(), sources(), utterances=None, hours=0.01, seed=0)
    share = 0.01 * 3600 / 3
    for v in voices():
        est = [estimated_seconds(u.text, v) for u in plan if u.voice == v]
        assert sum(est) >= share > sum(est[:-1])
    with pytest.raises(FlowvoxError, match="run out of the 20 en sentences"):
        plan_corpus(voices(), sources(), utterances=None, hours=1.0, seed=0)


@pytest.mark.parametrize(
    ("utterances", "hours", "message"),
    [(None, None, "exactly one"), (5, 1.0, "exactly one"), (0, None, "positive"),
     (None, -1.0, "positive")],
)  # fmt: skip
def test_bad_sizes_are_refused(utterances, hours, message):
    with pytest.raises(FlowvoxError, match=message):
        plan_corpus(voices(), sources(), utterances=utterances, hours=hours, seed=0)
