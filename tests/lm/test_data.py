from __future__ import annotations

import gzip
import json
import logging
import os
import random
from pathlib import Path

import pytest
import torch

from reasonkit.datasets import BUILTIN
from reasonkit.lm.data import (
    DataError,
    DataLeakError,
    LeakChecker,
    TrainData,
    apply_leak_check,
    read_documents,
)
from reasonkit.lm.positions import load_scheme
from reasonkit.lm.recipe import RecipeError, load_recipe

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("REASONKIT_DATA_DIR", REPO.parent / "shared" / "data"))

WORDS = "the a fox dog runs jumps over under quickly slowly red green house tree river stone".split()
DEV_QUESTION = "Where would a curious fox most likely hide its food during the long winter?"
SHORT_DEV_QUESTION = "Who ate it?"


def make_corpus(folder: Path) -> None:
    rng = random.Random(0)
    docs = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 60))) for _ in range(120)]
    with gzip.open(folder / "text.txt.gz", "wt", encoding="utf-8") as handle:
        handle.write("\n\n".join(docs))
    rows = [
        {"id": f"t{i}", "q": {"stem": f"Question number {i} about a {rng.choice(WORDS)}?"}, "a": "yes"}
        for i in range(60)
    ]
    (folder / "train.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    dev = [
        {"id": "d1", "q": {"stem": DEV_QUESTION}},
        {"id": "d2", "q": {"stem": SHORT_DEV_QUESTION}},
    ]
    (folder / "dev.jsonl").write_text("\n".join(json.dumps(row) for row in dev) + "\n")


RECIPE = """
name = "unit"
data_dir = "data"
seed = 7
[tokenizer]
vocab_size = 300
[model]
size = "tiny"
block_size = 16
[[sources]]
name = "text"
path = "text.txt.gz"
format = "text"
weight = 0.75
[[sources]]
name = "qa"
path = "train.jsonl"
format = "jsonl"
weight = 0.25
template = "Question: {q[stem]}\\nAnswer: {a}"
question_field = "q.stem"
DROP
[[leak_check]]
path = "dev.jsonl"
question_field = "q.stem"
id_field = "id"
"""


def write_recipe(tmp_path: Path, drop: bool = False) -> Path:
    data = tmp_path / "data"
    if not data.exists():
        data.mkdir()
        make_corpus(data)
    path = tmp_path / "unit.toml"
    path.write_text(RECIPE.replace("DROP", "drop_eval_overlap = true" if drop else ""))
    return path


def plant(tmp_path: Path, line: int, stem: str) -> None:
    """Replace row `line` (1-based) of the QA training file with one asking `stem`."""
    path = tmp_path / "data" / "train.jsonl"
    lines = path.read_text().splitlines()
    lines[line - 1] = json.dumps({"id": "planted", "q": {"stem": stem}, "a": "yes"})
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> TrainData:
    tmp_path = tmp_path_factory.mktemp("prepared")
    return TrainData.prepare(load_recipe(write_recipe(tmp_path)), tmp_path / "cache")


def test_batch_shapes_and_shift(prepared: TrainData) -> None:
    x, y, positions = prepared.batch(step=0, micro_step=0, rank=0, batch_size=4, block_size=16)
    assert positions is None  # no position scheme: the model counts 0, 1, 2, ...
    assert x.shape == y.shape == (4, 16)
    assert x.dtype == y.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])
    assert int(x.max()) < prepared.tokenizer.vocab_size


def test_batch_is_a_pure_function_of_its_arguments(prepared: TrainData) -> None:
    first = prepared.batch(5, 1, 0, 8, 16)
    prepared.batch(6, 0, 0, 8, 16)  # other calls in between change nothing
    again = prepared.batch(5, 1, 0, 8, 16)
    assert torch.equal(first.inputs, again.inputs) and torch.equal(first.targets, again.targets)
    for other in (
        prepared.batch(5, 1, 1, 8, 16),
        prepared.batch(5, 0, 0, 8, 16),
        prepared.batch(4, 1, 0, 8, 16),
    ):
        assert not torch.equal(first[0], other[0])


def test_val_batches_are_fixed_and_held_out(prepared: TrainData) -> None:
    first = prepared.val_batches(3, 4, 16)
    second = prepared.val_batches(3, 4, 16)
    assert len(first) == 3
    assert all(
        torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, second, strict=True)
    )
    stats = prepared.stats.sources
    assert stats["text"].val_documents >= 1 and stats["text"].val_tokens > 0
    assert stats["text"].documents == 120 and stats["qa"].documents == 60


def test_documents_end_with_eot(prepared: TrainData) -> None:
    x = prepared.batch(0, 0, 0, 16, 16).inputs
    assert (x == prepared.tokenizer.eot_id).any()
    assert "<|endoftext|>" in prepared.tokenizer.decode(x.flatten().tolist())


def test_cache_is_reused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    recipe = load_recipe(write_recipe(tmp_path))
    first = TrainData.prepare(recipe, tmp_path / "cache")
    assert not any(s.reused for s in first.stats.sources.values())
    shards = sorted((tmp_path / "cache").rglob("*.bin"))
    stamps = [p.stat().st_mtime_ns for p in shards]
    with caplog.at_level(logging.INFO, logger="reasonkit.lm.data"):
        second = TrainData.prepare(recipe, tmp_path / "cache")
    assert all(s.reused for s in second.stats.sources.values())
    assert "reusing" in caplog.text
    assert [p.stat().st_mtime_ns for p in shards] == stamps
    assert second.tokenizer.fingerprint == first.tokenizer.fingerprint
    assert torch.equal(second.batch(3, 0, 0, 4, 16)[0], first.batch(3, 0, 0, 4, 16)[0])


def test_changed_source_is_rebuilt(tmp_path: Path) -> None:
    path = write_recipe(tmp_path)
    TrainData.prepare(load_recipe(path), tmp_path / "cache")
    plant(tmp_path, 3, "A brand new question about rivers and stones?")
    again = TrainData.prepare(load_recipe(path), tmp_path / "cache")
    assert not again.stats.sources["qa"].reused


def test_planted_leak_names_file_line_and_question(tmp_path: Path) -> None:
    path = write_recipe(tmp_path)
    plant(tmp_path, 17, DEV_QUESTION.upper().replace("?", " ?!"))
    with pytest.raises(DataLeakError) as info:
        TrainData.prepare(load_recipe(path), tmp_path / "cache")
    message = str(info.value)
    assert "train.jsonl:17" in message and "dev.jsonl" in message and "d1" in message


def test_short_question_leaks_only_through_question_field(tmp_path: Path) -> None:
    path = write_recipe(tmp_path)
    plant(tmp_path, 5, SHORT_DEV_QUESTION)
    with pytest.raises(DataLeakError, match="d2"):
        TrainData.prepare(load_recipe(path), tmp_path / "cache")


def test_leak_inside_free_text_is_found_by_shingles(tmp_path: Path) -> None:
    path = write_recipe(tmp_path)
    text = tmp_path / "data" / "text.txt.gz"
    with gzip.open(text, "rt", encoding="utf-8") as handle:
        docs = handle.read().split("\n\n")
    docs[9] += (
        " as the book asked: where would a curious fox most likely hide its food during the long winter"
    )
    with gzip.open(text, "wt", encoding="utf-8") as handle:
        handle.write("\n\n".join(docs))
    with pytest.raises(DataLeakError) as info:
        TrainData.prepare(load_recipe(path), tmp_path / "cache")
    assert "text.txt.gz:" in str(info.value) and "d1" in str(info.value)


def test_one_shared_phrase_is_not_a_leak(tmp_path: Path) -> None:
    """A stock phrase shared with a dev question (1 of its 7 shingles) is not that question."""
    path = write_recipe(tmp_path)
    plant(tmp_path, 17, "Where would a curious fox most likely hide from the hunters in spring?")
    data = TrainData.prepare(load_recipe(path), tmp_path / "cache")
    assert data.stats.sources["qa"].rows_dropped_as_leaks == 0


def test_drop_eval_overlap_drops_and_counts(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, drop=True)
    plant(tmp_path, 17, DEV_QUESTION)
    plant(tmp_path, 30, SHORT_DEV_QUESTION)
    data = TrainData.prepare(load_recipe(path), tmp_path / "cache")
    qa = data.stats.sources["qa"]
    assert qa.rows_dropped_as_leaks == 2
    assert qa.documents == 58
    assert data.stats.leak_check.eval_questions == 2


def test_source_too_small_for_block(tmp_path: Path) -> None:
    path = write_recipe(tmp_path)
    train = tmp_path / "data" / "train.jsonl"
    train.write_text("\n".join(train.read_text().splitlines()[:3]) + "\n")
    path.write_text(path.read_text().replace("block_size = 16", "block_size = 256"))
    with pytest.raises(DataError, match=r"source 'qa': train split has \d+ tokens.*block_size"):
        TrainData.prepare(load_recipe(path), tmp_path / "cache")


def test_a_source_with_a_short_val_split_is_left_out_of_validation_only(tmp_path: Path) -> None:
    data = TrainData.prepare(load_recipe(write_recipe(tmp_path)), tmp_path / "cache")
    block = 16
    short = min(data._streams, key=lambda s: len(s.val))
    short.val = short.val[:block]  # too short for a window
    weights = data._split_weights("val", block)
    assert weights[data._streams.index(short)] == 0 and weights.sum() == pytest.approx(1.0)
    assert data._split_weights("train", block).all()
    data.val_batches(2, 4, block)  # samples the other sources only


# ---- the real small recipe against the staged data ---------------------------------------------------------


@pytest.mark.skipif(not DATA_DIR.is_dir(), reason=f"no staged data at {DATA_DIR} (set REASONKIT_DATA_DIR)")
def test_small_recipe_has_no_dev_or_test_question_in_training() -> None:
    recipe = load_recipe("small", data_dir=DATA_DIR)
    held_out = {file.path for spec in BUILTIN for file in spec.held_out.values()}
    assert len(held_out) == 12 and held_out <= {
        check.path for check in recipe.leak_check
    }  # every dataset spec's
    checker = LeakChecker.for_recipe(recipe)
    assert checker.stats.eval_questions > 15_000
    dropped: dict[str, int] = {}
    for source in recipe.sources:
        path = recipe.source_path(source)
        docs = read_documents(source, path)
        apply_leak_check(checker, source, path, docs)  # raises DataLeakError where dropping is not allowed
        dropped[source.name] = docs.dropped_leaks
        if docs.dropped_leaks:
            assert checker.find(docs) == []
        if source.name.startswith("strategyqa"):  # dev.jsonl is a split of the official train set
            assert not any(
                checker.questions[leak.question].file == "strategyqa/dev.jsonl" for leak in checker.find(docs)
            )
    assert sum(dropped.values()) > 0

    # ECQA's rows include 794 CommonsenseQA dev questions: the leak check itself must catch every one of them
    ecqa = next(s for s in recipe.sources if s.path.startswith("ecqa/"))
    unfiltered = ecqa.model_copy(update={"formatter": None, "field": "question"})
    docs = read_documents(unfiltered, recipe.source_path(ecqa))
    rows = [json.loads(line) for line in recipe.source_path(ecqa).read_text().splitlines()]
    dev_lines = {number for number, row in enumerate(rows, start=1) if row["csqa_split"] == "dev"}
    flagged = {docs.lines[leak.doc] for leak in checker.find(docs)}
    assert len(dev_lines) == 794
    assert dev_lines <= flagged


COUPLED = "reasonkit.strategies.arithmetic_positions:coupled_positions"
SCHEMED_RECIPE = f"""
name = "schemed"
data_dir = "data"
seed = 3
[tokenizer]
vocab_size = 300
[model]
size = "tiny"
block_size = 32
position_scheme = "{COUPLED}"
[[sources]]
name = "text"
path = "text.txt.gz"
format = "text"
weight = 0.5
[[sources]]
name = "arithmetic"
format = "generated"
generator = "reasonkit.benchmarks.synthetic:rows"
generator_args = {{ suite = "arithmetic", n_train = 200 }}
weight = 0.5
formatter = "reasonkit.strategies.arithmetic_format:scratchpad_text"
question_field = "text"
"""


def test_a_position_scheme_gives_its_documents_their_positions(tmp_path: Path) -> None:
    """Arithmetic documents carry the scheme's positions, everything else counts 0, 1, 2, ... and a batch
    window keeps the differences (where it starts does not matter to rotary positions)."""
    write_recipe(tmp_path)
    (tmp_path / "schemed.toml").write_text(SCHEMED_RECIPE)
    data = TrainData.prepare(load_recipe(tmp_path / "schemed.toml"), tmp_path / "cache")
    scheme = load_scheme(COUPLED)
    assert scheme is not None
    seen = {"coupled": 0, "counted": 0}
    for step in range(4):
        batch = data.batch(step, 0, 0, 8, 32)
        assert batch.positions is not None and batch.positions.shape == batch.inputs.shape
        assert bool((batch.positions[:, 0] == 0).all())
        for ids, positions in zip(batch.inputs.tolist(), batch.positions.tolist(), strict=True):
            text = data.tokenizer.decode(ids)
            steps = [b - a for a, b in zip(positions, positions[1:], strict=False)]
            if not any(
                ch.isdigit() or ch in ":,+*\n" for ch in text.replace("<|endoftext|>", "")
            ):  # text source
                seen["counted"] += 1
                assert steps == [1] * len(steps)
            else:
                seen["coupled"] += 1
                assert max(steps) > 1  # jumps between fields and lines
    assert seen["coupled"] and seen["counted"]
    # the first arithmetic document, as stored, is exactly the scheme's positions of its text
    stream = next(s for s in data._streams if s.name == "arithmetic")
    tokens, stored = stream.train.tolist(), stream.train_positions
    assert stored is not None
    end = tokens.index(data.tokenizer.eot_id)
    expected = scheme.for_ids(data.tokenizer, tokens[:end])
    assert expected is not None and stored[:end].tolist() == expected
    assert int(stored[end]) == max(expected) + 1  # end-of-text right after the document
    # the next document's positions start one after that end-of-text
    following = tokens.index(data.tokenizer.eot_id, end + 1)
    second = scheme.for_ids(data.tokenizer, tokens[end + 1 : following])
    assert second is not None
    assert stored[end + 1 : following].tolist() == [int(stored[end]) + 1 + p for p in second]


def test_a_position_scheme_that_cannot_be_imported_is_named(tmp_path: Path) -> None:
    write_recipe(tmp_path)
    (tmp_path / "schemed.toml").write_text(SCHEMED_RECIPE.replace("coupled_positions", "no_such_scheme"))
    with pytest.raises(
        RecipeError, match="position_scheme 'reasonkit.strategies.arithmetic_positions:no_such_scheme'"
    ):
        load_recipe(tmp_path / "schemed.toml")


SUITE_LEAK_RECIPE = """
name = "suite_leak"
data_dir = "."
leak_check_suites = ["consistency"]
[tokenizer]
vocab_size = 300
[model]
size = "tiny"
block_size = 32
[[sources]]
name = "statements"
format = "generated"
generator = "reasonkit.benchmarks.synthetic:rows"
generator_args = {{ suite = "consistency", split = "{split}" }}
weight = 1.0
template = "Q: {{text}}"
question_field = "text"
"""


@pytest.mark.parametrize("split", ["test", "held_out"])
def test_a_synthetic_suites_evaluation_split_in_training_stops_the_run(tmp_path: Path, split: str) -> None:
    """leak_check_suites covers a synthetic suite's evaluation splits, which live in no file a
    [[leak_check]] could name: rendering them for training is refused, naming the split. (The prompt
    formatters already skip rows not marked train; a template does not.)"""
    (tmp_path / "r.toml").write_text(SUITE_LEAK_RECIPE.format(split=split))
    with pytest.raises(DataLeakError, match=f"consistency:{split}"):
        TrainData.prepare(load_recipe(tmp_path / "r.toml"), tmp_path / "cache")


def test_the_consistency_recipe_trains_on_train_statements_only(tmp_path: Path) -> None:
    """The study recipe checks the suite's test and held-out statements and none of them is in its data."""
    recipe = load_recipe(REPO / "lm" / "recipes" / "consistency.toml")
    checker = LeakChecker.for_recipe(recipe)
    assert set(checker.files) == {"consistency:test", "consistency:held_out"}
    assert len(checker.questions) > 300
    data = TrainData.prepare(recipe, tmp_path / "cache")
    assert data.stats.leak_check.eval_questions == len(checker.questions)


def test_an_unknown_leak_check_suite_is_named(tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text(
        SUITE_LEAK_RECIPE.format(split="test").replace('["consistency"]', '["nosuch"]')
    )
    with pytest.raises(RecipeError, match="no synthetic suite nosuch"):
        load_recipe(tmp_path / "r.toml")


def masked_recipe(tmp_path: Path) -> Path:
    """The unit recipe with its QA source trained on the answer only."""
    path = write_recipe(tmp_path)
    text = path.read_text()
    text_source = text[text.index("[[sources]]") : text.index("[[sources]]", text.index("[[sources]]") + 1)]
    text = text.replace(text_source, "").replace("weight = 0.25", 'weight = 1.0\nloss_after = "Answer:"')
    path.write_text(text)
    return path


def test_loss_after_trains_only_on_the_completion_and_its_end(tmp_path: Path) -> None:
    data = TrainData.prepare(load_recipe(masked_recipe(tmp_path)), tmp_path / "cache")
    tok = data.tokenizer
    answer = tok.encode(" yes") + [tok.eot_id]
    seen = 0
    for step in range(20):
        x, y, _ = data.batch(step, 0, 0, 8, 16)
        assert torch.equal(x[:, 1:][y[:, :-1] >= 0], y[:, :-1][y[:, :-1] >= 0])  # inputs stay whole
        for inputs, targets in zip(x.tolist(), y.tolist(), strict=True):
            assert min(inputs) >= 0  # a masked target is still a real input
            kept = [t for t in targets if t >= 0]
            seen += len(kept)
            assert set(kept) <= set(answer)  # only " yes" and end-of-text are targets
    assert seen > 0


def test_a_document_without_the_loss_after_marker_is_named(tmp_path: Path) -> None:
    path = masked_recipe(tmp_path)
    path.write_text(path.read_text().replace('loss_after = "Answer:"', 'loss_after = "Verdict:"'))
    with pytest.raises(
        DataError, match=r"train\.jsonl:1 \(source 'qa'\): loss_after 'Verdict:' does not occur"
    ):
        TrainData.prepare(load_recipe(path), tmp_path / "cache")
