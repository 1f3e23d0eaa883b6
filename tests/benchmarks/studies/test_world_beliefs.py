from reasonkit.benchmarks.studies import world_beliefs
from reasonkit.fake import FakeLM
from reasonkit.strategies.beliefs import find_slot
from reasonkit.strategies.maieutic import CONTENT_FREE


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


def _believes_unless_negated(context: str, continuation: str) -> float:
    """Belief prompts: P(true) near 1 for a sentence without "not", near 0 with it; anything else neutral."""
    if not context.endswith("\nA: This statement is"):
        return 0.0
    statement = _last_sentence(context)
    if statement == CONTENT_FREE:
        return 0.0
    lean = -1.0 if " not " in f" {statement} " else 1.0
    return 0.0 if (continuation == " true") == (lean > 0) else -5.0


def test_threshold_sweep_keeps_trees_only_when_e_and_not_e_get_different_beliefs() -> None:
    # every explanation is "Zapodus are striped."; its negation falls back to the rule's "... not ..."
    indifferent = FakeLM(default=" zapodus are striped.", scores=lambda context, continuation: 0.0)
    flat = world_beliefs.threshold_sweep(indifferent, [0.45, 0.0], start=0, stop=4)
    assert [run.non_empty_trees for run in flat] == [0, 0]
    assert flat[0].gaps and set(flat[0].gaps) == {0.0}

    believing = FakeLM(default=" zapodus are striped.", scores=_believes_unless_negated)
    [sweep] = world_beliefs.threshold_sweep(believing, [0.45], start=0, stop=4)
    assert sweep.non_empty_trees == 4
    assert min(sweep.gaps) > 0.9


def test_quantile_is_nearest_rank() -> None:
    values = [0.0, 0.1, 0.2, 0.3, 0.4]
    assert world_beliefs.quantile(values, 0.5) == 0.2
    assert world_beliefs.quantile(values, 1.0) == 0.4
    assert world_beliefs.quantile(values, 0.0) == 0.0


def test_completion_recall_reads_facts_the_way_the_documents_state_them() -> None:
    suite = world_beliefs.suites()["world"].generate(0)
    documents = set(suite.documents)

    def score(context: str, continuation: str) -> float:  # likely exactly when the documents say it
        return 0.0 if f"{context}{continuation}" in documents else -3.0

    recall = world_beliefs.completion_recall(FakeLM(scores=score))
    assert (recall.train_entities, recall.test_entities, recall.kind_facts, recall.n_kinds) == (
        1.0,
        1.0,
        1.0,
        12,
    )
    facts = {
        (q.metadata["kind"], q.metadata["property"]): q.gold for split in suite.splits.values() for q in split
    }
    share_true = sum(facts.values()) / len(facts)
    never_not = world_beliefs.completion_recall(
        FakeLM(scores=lambda context, continuation: -len(continuation))
    )
    assert never_not.kind_facts == share_true  # " p." always beats " not p.": right on the true facts only
    assert never_not.kind_facts_majority == max(share_true, 1 - share_true)


def test_the_likelihood_columns_read_facts_by_completion() -> None:
    """A model that completes "Ks are" with the documented polarity gets AUC 1 from the likelihood belief."""
    [(name, rows)] = [
        (n, r) for n, r in world_beliefs.sentence_groups(30).items() if n.startswith("kind facts")
    ]
    truth = dict(rows)

    def holds(sentence: str) -> bool:
        slot = find_slot(sentence)
        assert slot is not None
        other = f"{slot.prefix} {slot.filler}." if slot.negated else f"{slot.prefix} not {slot.filler}."
        return truth[sentence] if sentence in truth else not truth[other]

    def score(context: str, continuation: str) -> float:
        if context.startswith(CONTENT_FREE):
            return -1.0
        if not continuation.endswith("."):  # the prompted formats: no signal
            return -1.0
        return 0.0 if holds(context + continuation) else -5.0

    table = world_beliefs.probe(FakeLM(scores=score), {name: rows}, likelihood=True)
    assert table[name]["likelihood"] == 1.0 and table[name]["likelihood calibrated"] == 1.0
    assert table[name]["maieutic"] == 0.5
