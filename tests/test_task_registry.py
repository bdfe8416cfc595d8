"""Task names with options, partitioning over data parties, the Task invariants."""

from __future__ import annotations

from collections import Counter

import pytest

from crossbound.tasks.base import Example, PiiSpan, Task
from crossbound.tasks.partition import partition
from crossbound.tasks.registry import load_task, task_specs


def _examples(n=300, labels=("a", "b", "c")):
    return [Example(id=f"e{i}", text=f"text {i}", target=labels[i % len(labels)])
            for i in range(n)]


def test_builtin_tasks_are_registered():
    assert {"clinic-triage", "support-qa", "movie-sentiment", "construction-faq"} <= {
        s.name for s in task_specs()}


def test_iid_partition_is_a_deterministic_disjoint_cover():
    examples = _examples()
    parts = partition(examples, 4, "iid", seed=1)
    ids = [ex.id for part in parts for ex in part]
    assert sorted(ids) == sorted(ex.id for ex in examples) and len(set(ids)) == len(ids)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert partition(examples, 4, "iid", seed=1) == parts
    assert partition(examples, 4, "iid", seed=2) != parts


def test_dirichlet_partition_skews_labels():
    examples = _examples(600)
    skewed = partition(examples, 3, "dirichlet", alpha=0.1, seed=0)
    even = partition(examples, 3, "dirichlet", alpha=1000.0, seed=0)
    assert sum(map(len, skewed)) == 600 and all(skewed)

    def top_share(parts):  # how much of a party its most common label takes, on average
        return sum(Counter(ex.target for ex in p).most_common(1)[0][1] / len(p)
                   for p in parts) / len(parts)

    assert top_share(skewed) > 0.6 > top_share(even)


def test_partition_errors():
    with pytest.raises(ValueError, match=">= 1"):
        partition(_examples(), 0)
    with pytest.raises(ValueError, match="one example each"):
        partition(_examples(3), 5)
    with pytest.raises(ValueError, match="scheme"):
        partition(_examples(), 2, "random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="alpha"):
        partition(_examples(), 2, "dirichlet", alpha=0)


def test_load_task_splits_over_parties_by_options():
    task = load_task("clinic-triage:n=200,seed=3,parties=3,partition=dirichlet,alpha=0.3")
    assert len(task.parties) == 3
    assert task.params["parties"] == 3 and task.params["alpha"] == 0.3
    single = load_task("clinic-triage:n=200,seed=3")
    assert sorted(ex.id for ex in task.train) == sorted(ex.id for ex in single.train)
    assert task.fingerprint() == load_task(
        "clinic-triage:n=200,seed=3,parties=3,partition=dirichlet,alpha=0.3").fingerprint()


@pytest.mark.parametrize(("spec", "message"), [
    ("nope", "unknown task"),
    ("clinic-triage:size=3", "no option"),
    ("clinic-triage:n", "key=value"),
    ("clinic-triage:parties=2,partition=zigzag", "partition"),
    ("construction-faq:n=100", "no option"),
    ("construction-faq:test=1.5", "test must be a fraction"),
])
def test_load_task_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        load_task(spec)


def test_construction_faq_by_name_over_parties():
    task = load_task("construction-faq:seed=2,parties=3,partition=dirichlet,alpha=0.3")
    assert task.name == "construction-faq" and len(task.parties) == 3
    single = load_task("construction-faq:seed=2")
    assert sorted(ex.id for ex in task.train) == sorted(ex.id for ex in single.train)
    assert task.test == single.test and task.params["seed"] == 2


def test_task_and_example_invariants():
    with pytest.raises(ValueError, match="does not match"):
        Example(id="x", text="call Ana", target="a", pii=(PiiSpan(0, 3, "PERSON", "Ana"),))
    good = Example(id="x", text="call Ana", target="a", pii=(PiiSpan(5, 8, "PERSON", "Ana"),))
    assert Example.from_dict(good.to_dict()) == good
    with pytest.raises(ValueError, match="not one of"):
        Task("t", "", "", ((good,),), (), (), (), choices=("b", "c"))
    with pytest.raises(ValueError, match="at least one"):
        Task("t", "", "", ((),), (), (), (), choices=("a", "b"))
