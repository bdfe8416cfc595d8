"""Input-grounded generation targets: what speculative decoding with lookups is measured on."""

from __future__ import annotations

import pytest

from crossbound.tasks.construction_faq import answer_opening
from crossbound.tasks.registry import load_task


def test_construction_faq_extract_quotes_the_answer_on_the_topic_task_s_splits():
    topic = load_task("construction-faq:seed=1")
    extract = load_task("construction-faq:seed=1,target=extract")
    assert extract.metric == "rouge_l" and extract.choices is None
    assert extract.params["target"] == "extract" and "target" not in topic.params
    for split in ("train", "validation", "test", "public"):
        assert [ex.id for ex in getattr(extract, split)] == [ex.id for ex in getattr(topic, split)]
    for ex in extract.test:
        question, answer = ex.text.split("\nAnswer text: ")
        assert question.startswith("Question: ") and answer.startswith(ex.target)
        assert len(ex.target.split()) >= 3
    again = load_task("construction-faq:seed=1,target=extract")
    assert extract.fingerprint() == again.fingerprint() != topic.fingerprint()
    with pytest.raises(ValueError, match="target must be one of"):
        load_task("construction-faq:target=summary")


def test_answer_opening_takes_sentences_until_it_says_something():
    assert answer_opening("Yes. Only if you own the house itself. Ask us.") == \
        "Yes. Only if you own the house itself."
    assert answer_opening("Approx. 25,000 SEK for a house, less for a shed. More later.") == \
        "Approx. 25,000 SEK for a house, less for a shed."


def test_clinic_triage_reply_is_a_templated_note_not_a_quote():
    # The reply target exists but does not quote the message (it is told not to repeat
    # personal details): earlier outputs predict it, the message does not.
    task = load_task("clinic-triage:n=60,seed=0,target=reply")
    assert task.metric == "rouge_l"
    for ex in task.test[:20]:
        assert ex.target.startswith("Refer to ")
        assert not any(span.value in ex.target for span in ex.pii)
