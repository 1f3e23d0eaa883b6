
from reasonkit.benchmarks import world_beliefs
from reasonkit.fake import FakeLM


def test_every_group_has_both_labels_and_at_most_the_asked_size() -> None:
    groups = world_beliefs.sentence_groups(per_group=40)
    assert len(groups) == 5
    for name, rows in groups.items():
        assert 0 < len(rows) <= 40, name
        assert {label for _, label in rows} == {True, False}, name


def _last_sentence(context: str) -> str:
    """The sentence a belief or direct prompt asks about: after the last "Q: " or "True or false: "."""
    tail = context.rsplit("Q: ", 1)[-1].rsplit("True or false: ", 1)[-1]
    return tail.split("\n", 1)[0]


def test_a_model_that_knows_the_truth_scores_auc_one_in_both_formats() -> None:
    groups = world_beliefs.sentence_groups(30)
    truth = {text: label for rows in groups.values() for text, label in rows}

    def score(context: str, continuation: str) -> float:
        says_true = continuation.strip().lower() == "true"
        return 0.0 if says_true == truth[_last_sentence(context)] else -5.0

    table = world_beliefs.probe(FakeLM(scores=score), groups)
    assert all(aucs == {"maieutic": 1.0, "direct": 1.0} for aucs in table.values()), table


def test_fallbacks_disagree_when_the_model_ignores_not() -> None:
    truth = {q: g for q, g in world_beliefs.sentence_groups(600)["test statements"]}

    def score(context: str, continuation: str) -> float:
        sentence = _last_sentence(context).replace(" is not ", " is ")  # "not" changes nothing
        lean = {True: 1.0, False: -1.0, None: 0.25}[truth.get(sentence)]  # None: the content-free "N/A"
        return lean if continuation == " true" else -lean

    result = world_beliefs.fallback_accuracy(FakeLM(scores=score), start=0, stop=100)
    assert result["statement"] == 1.0 and result["statement_auc"] == 1.0
    # E and ~E get the same belief: the difference is 0 (the calibration offset cancels), so "pair" says
    # True to every statement
    true_share = sum(list(truth.values())[:100]) / 100
    assert result["pair_auc"] == 0.5 and result["pair"] == true_share
