"""The trainer: outputs of the tiny run, exact resume, guard rails, and the `reasonkit train` command."""

from __future__ import annotations

import gzip
import importlib.resources
import json
import logging
import math
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from reasonkit.cli import main
from reasonkit.lm import train as train_module
from reasonkit.lm.checkpoint import CheckpointError, read_state
from reasonkit.lm.pretrained import load_pretrained, save_pretrained
from reasonkit.lm.recipe import RecipeError, TrainSection, load_recipe
from reasonkit.lm.schedule import learning_rate
from reasonkit.lm.train import TrainError, TrainResult, read_metrics, train


def test_tiny_run_learns_and_writes_every_output(tiny_run: TrainResult) -> None:
    model, tokenizer, metadata = load_pretrained(tiny_run.model_dir)
    chance = math.log(tokenizer.vocab_size)
    assert tiny_run.initial_val_loss is not None and abs(tiny_run.initial_val_loss - chance) < 0.3
    assert tiny_run.val_loss is not None and tiny_run.val_loss < chance - 1.5
    assert metadata["recipe"] == "tiny" and metadata["steps"] == tiny_run.steps
    assert metadata["val_loss"] == tiny_run.val_loss

    records = read_metrics(tiny_run.out_dir / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(tiny_run.steps + 1))
    assert all(math.isfinite(r["loss"]) and r["lr"] > 0 for r in records[1:])
    assert records[-1]["tokens"] == tiny_run.tokens_seen
    val_steps = [r["step"] for r in records if "val_loss" in r]
    assert val_steps[0] == 0 and val_steps[-1] == tiny_run.steps and len(val_steps) >= 3
    assert (tiny_run.out_dir / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = json.loads((tiny_run.checkpoint_dir / "state.json").read_text())
    assert state["step"] == tiny_run.steps


def test_learning_rate_schedule() -> None:
    kwargs = {"peak": 1.0, "total_steps": 110, "warmup_steps": 10, "min_lr_ratio": 0.1}
    warmup = [learning_rate(s, **kwargs) for s in range(10)]
    assert warmup == pytest.approx([(s + 1) / 10 for s in range(10)])
    decay = [learning_rate(s, **kwargs) for s in range(10, 110)]
    assert decay[0] == pytest.approx(1.0)
    assert all(a > b for a, b in zip(decay, decay[1:], strict=False))
    assert decay[-1] == pytest.approx(0.1)
    assert learning_rate(60, **kwargs) == pytest.approx(0.55, abs=0.01)
    assert learning_rate(500, **kwargs) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="step"):
        learning_rate(-1, **kwargs)


UNIT_RECIPE = """
name = "unit"
data_dir = "."
seed = 3

[tokenizer]
vocab_size = 300
sample_chars = 50000

[model]
size = "tiny"
block_size = 32
n_layer = 1
n_head = 2
n_embd = 32

[train]
steps = 12
batch_size = 4
grad_accum = 2
lr = 1e-2
warmup_steps = 3
eval_interval = 4
eval_batches = 2
checkpoint_interval = 4
device = "cpu"

[[sources]]
name = "text"
path = "corpus.txt"
format = "text"
weight = 1.0
"""


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def unit_recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-layer recipe over 60 kB of Shakespeare: a run takes a second or two."""
    root = tmp_path_factory.mktemp("unit_recipe")
    corpus = importlib.resources.files("reasonkit.lm") / "corpora" / "tinyshakespeare.txt.gz"
    (root / "corpus.txt").write_text(gzip.decompress(corpus.read_bytes()).decode()[:60_000])
    (root / "unit.toml").write_text(UNIT_RECIPE)
    return root / "unit.toml"


@pytest.fixture(scope="module")
def finished_run(unit_recipe: Path) -> TrainResult:
    return train(
        load_recipe(unit_recipe), unit_recipe.parent / "full", cache_dir=unit_recipe.parent / "cache"
    )


def _losses(run_dir: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_metrics(run_dir / "metrics.jsonl") if "loss" in r}


def test_resume_retraces_the_uninterrupted_run_bit_for_bit(
    unit_recipe: Path, finished_run: TrainResult
) -> None:
    recipe, cache = load_recipe(unit_recipe), unit_recipe.parent / "cache"
    run_dir = unit_recipe.parent / "interrupted"
    first = train(recipe, run_dir, cache_dir=cache, max_steps=5)
    assert first.steps == 5 and read_state(run_dir / "checkpoint").step == 5
    # a crash after step 6 was logged, mid-way through step 7's line: the resume must drop both
    with (run_dir / "metrics.jsonl").open("a") as handle:
        handle.write(json.dumps({"step": 6, "loss": 123.0}) + '\n{"step": 7, "lo')

    resumed = train(recipe, run_dir, cache_dir=cache, resume=True)

    assert resumed.resumed_from == 5 and resumed.steps == finished_run.steps == 12
    steps = [r["step"] for r in read_metrics(run_dir / "metrics.jsonl")]
    assert steps == sorted(set(steps)) == list(range(13))
    assert _losses(run_dir) == _losses(finished_run.out_dir)  # exact float equality, every step
    assert resumed.weights_sha256 == finished_run.weights_sha256
    assert resumed.val_loss == finished_run.val_loss
    assert resumed.tokens_seen == finished_run.tokens_seen == 12 * 2 * 4 * 32


def test_refuses_to_overwrite_a_run_or_resume_another_recipe(
    unit_recipe: Path, finished_run: TrainResult
) -> None:
    cache = unit_recipe.parent / "cache"
    with pytest.raises(TrainError, match="already holds a run"):
        train(load_recipe(unit_recipe), finished_run.out_dir, cache_dir=cache)
    other = unit_recipe.with_name("other.toml")
    other.write_text(UNIT_RECIPE.replace("seed = 3", "seed = 4"))
    with pytest.raises(CheckpointError, match="state.json: recipe fingerprint mismatch"):
        train(load_recipe(other), finished_run.out_dir, cache_dir=cache, resume=True)
    with pytest.raises(CheckpointError, match="no checkpoint there"):
        train(load_recipe(unit_recipe), unit_recipe.parent / "empty", cache_dir=cache, resume=True)


def test_cli_reports_a_bad_recipe_key_before_any_work(tmp_path: Path, unit_recipe: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        UNIT_RECIPE.replace("steps = 12", "stepz = 12").replace(
            'data_dir = "."', f'data_dir = "{unit_recipe.parent}"'
        )
    )
    result = CliRunner().invoke(main, ["train", "--recipe", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0
    assert "bad.toml: [train] unknown key 'stepz'" in result.output
    assert (
        "Traceback" not in result.output
        and result.exception is None
        or isinstance(result.exception, SystemExit)
    )
    assert not (tmp_path / "out").exists()


def test_cli_names_a_position_scheme_that_cannot_be_imported(
    tmp_path: Path, unit_recipe: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["train", "--recipe", str(unit_recipe), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(main, [*args, "--position-scheme", "reasonkit.nowhere:positions"])
    assert result.exit_code == 2
    assert "--position-scheme" in result.output and "REASONKIT_TRUST_CODE=1" in result.output
    monkeypatch.setenv("REASONKIT_TRUST_CODE", "1")
    result = CliRunner().invoke(main, [*args, "--position-scheme", "reasonkit.nowhere:positions"])
    assert result.exit_code == 2
    assert (
        "--position-scheme" in result.output
        and "'reasonkit.nowhere:positions' cannot be imported" in result.output
    )
    assert not (tmp_path / "out").exists()


def test_cli_trains_and_reports_a_missing_checkpoint_cleanly(tmp_path: Path, unit_recipe: Path) -> None:
    out = tmp_path / "out"
    args = [
        "train",
        "--recipe",
        str(unit_recipe),
        "--out",
        str(out),
        "--cache-dir",
        str(unit_recipe.parent / "cache"),
    ]
    result = CliRunner().invoke(main, [*args, "--steps", "2"])
    assert result.exit_code == 0, result.output
    assert "trained 2 steps" in result.output and (out / "model" / "model.safetensors").is_file()

    resized = CliRunner().invoke(
        main,
        [
            *args[:4],
            str(tmp_path / "resized"),
            *args[5:],
            "--steps",
            "1",
            "--size",
            "small",
            "--dtype",
            "fp32",
        ],
    )
    assert resized.exit_code == 0, resized.output
    config = json.loads((tmp_path / "resized" / "model" / "config.json").read_text())
    assert (config["model"]["n_layer"], config["model"]["n_embd"]) == (6, 256)
    recipe = load_recipe(str(unit_recipe))
    expected = recipe.model_copy(
        update={
            "train": recipe.train.model_copy(update={"steps": 1, "dtype": "fp32"}),
            "model": type(recipe.model).model_validate(
                {
                    **recipe.model.model_dump(),
                    "size": "small",
                    "n_layer": None,
                    "n_head": None,
                    "n_embd": None,
                }
            ),
        }
    )
    assert config["metadata"]["recipe_fingerprint"] == expected.fingerprint

    missing = CliRunner().invoke(main, [*args[:4], str(tmp_path / "nothing"), "--resume"])
    assert missing.exit_code != 0 and "Traceback" not in missing.output
    assert f"{tmp_path / 'nothing' / 'checkpoint'}: no checkpoint there" in missing.output


@pytest.mark.parametrize(("native", "warned"), [(False, True), (True, False)])
def test_bf16_on_a_cpu_that_emulates_it_is_kept_but_warned_about(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, native: bool, warned: bool
) -> None:
    monkeypatch.setattr(train_module, "cpu_has_native_bf16", lambda: native)
    section = TrainSection(steps=1, dtype="bf16")
    with caplog.at_level(logging.WARNING, logger="reasonkit.lm.train"):
        precision = train_module.resolve_precision(section, torch.device("cpu"))
    assert precision.autocast_dtype == torch.bfloat16
    assert ("--dtype fp32" in caplog.text) is warned
    auto = train_module.resolve_precision(TrainSection(steps=1), torch.device("cpu"))
    assert auto.autocast_dtype is None and not auto.compile


def _finetune_recipe(unit_recipe: Path, name: str, init_from: str, extra: str = "") -> Path:
    """UNIT_RECIPE without [tokenizer] and [model] (the init model brings them), 4 steps at a low lr."""
    body = UNIT_RECIPE.split("[tokenizer]")[0] + "[train]" + UNIT_RECIPE.split("[train]")[1]
    body = body.replace("steps = 12", "steps = 4").replace("lr = 1e-2", "lr = 1e-4")
    path = unit_recipe.with_name(name)
    path.write_text(f'init_from = "{init_from}"\n' + body + extra)
    return path


def test_init_from_starts_from_the_trained_weights_and_tokenizer(
    unit_recipe: Path, finished_run: TrainResult
) -> None:
    recipe = load_recipe(_finetune_recipe(unit_recipe, "tuned.toml", "full/model"))
    assert recipe.init_dir == finished_run.model_dir.resolve()
    assert recipe.architecture(300) == load_pretrained(finished_run.model_dir)[0].config
    tuned = train(recipe, unit_recipe.parent / "tuned", cache_dir=unit_recipe.parent / "cache")
    # same val batches, same weights: the run starts where the trained model ended (a fresh one starts ~5.7)
    assert tuned.initial_val_loss == pytest.approx(finished_run.val_loss, abs=1e-4)
    tokenizer = "tokenizer.json"
    assert (tuned.model_dir / tokenizer).read_bytes() == (finished_run.model_dir / tokenizer).read_bytes()
    assert tuned.weights_sha256 != finished_run.weights_sha256


def test_init_from_fingerprint_follows_the_weights_not_the_folder(
    unit_recipe: Path, finished_run: TrainResult, tmp_path: Path
) -> None:
    here = load_recipe(_finetune_recipe(unit_recipe, "here.toml", "full/model"))
    copy = shutil.copytree(finished_run.model_dir, tmp_path / "copy")
    there = load_recipe(_finetune_recipe(unit_recipe, "there.toml", str(copy)))
    assert here.fingerprint == there.fingerprint
    model, tokenizer, _ = load_pretrained(copy)
    with torch.no_grad():
        model.norm.weight[0] += 1.0
    save_pretrained(model, tokenizer, copy)  # other weights, saved with their checksum
    assert load_recipe(_finetune_recipe(unit_recipe, "there.toml", str(copy))).fingerprint != here.fingerprint


def test_init_from_refuses_a_model_section_and_a_folder_that_is_not_a_model(unit_recipe: Path) -> None:
    with pytest.raises(RecipeError, match=r"init_from takes the model and tokenizer .* remove \[model\]"):
        load_recipe(_finetune_recipe(unit_recipe, "both.toml", "full/model", '\n[model]\nsize = "tiny"\n'))
    with pytest.raises(RecipeError, match=r"init_from = 'nowhere': .* is not a model folder \(config.json"):
        load_recipe(_finetune_recipe(unit_recipe, "nowhere.toml", "nowhere"))


def test_init_from_a_modified_or_non_finite_model_is_refused(
    unit_recipe: Path, finished_run: TrainResult, tmp_path: Path
) -> None:
    copy = Path(shutil.copytree(finished_run.model_dir, tmp_path / "copy"))
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(RecipeError, match=r"init_from = .*model.safetensors: sha256 mismatch"):
        load_recipe(_finetune_recipe(unit_recipe, "flipped.toml", str(copy)))
    model, tokenizer, _ = load_pretrained(finished_run.model_dir)
    with torch.no_grad():
        model.norm.weight[0] = float("inf")
    save_pretrained(model, tokenizer, copy)  # checksums that match weights saved non-finite
    recipe = load_recipe(_finetune_recipe(unit_recipe, "infinite.toml", str(copy)))
    with pytest.raises(TrainError, match=r"init_from: .*tensor 'norm.weight' holds 1 NaN or infinite"):
        train(recipe, tmp_path / "tuned", cache_dir=unit_recipe.parent / "cache")


def test_cli_refuses_to_resize_a_fine_tuning_recipe(unit_recipe: Path, finished_run: TrainResult) -> None:
    """A fine-tune takes the init model's architecture; a --size would be silently lost."""
    path = _finetune_recipe(unit_recipe, "reshaped.toml", "full/model")
    out = unit_recipe.parent / "reshaped"
    result = CliRunner().invoke(main, ["train", "--recipe", str(path), "--out", str(out), "--size", "mini"])
    assert result.exit_code == 2 and "fine-tunes" in result.output and "(init_from)" in result.output
    assert not out.exists()


SCHEME = "reasonkit.strategies.arithmetic_positions:coupled_positions"


def test_a_fine_tune_may_count_positions_anew(unit_recipe: Path, finished_run: TrainResult) -> None:
    """[model] position_scheme (alone) in a fine-tuning recipe, or --position-scheme on the command line:
    the init model's architecture and weights, trained and saved with the new scheme."""
    init = load_pretrained(finished_run.model_dir)[0].config
    assert init.position_scheme is None
    recipe = load_recipe(
        _finetune_recipe(
            unit_recipe, "coupled.toml", "full/model", f'\n[model]\nposition_scheme = "{SCHEME}"\n'
        )
    )
    assert recipe.architecture(300) == init.model_copy(update={"position_scheme": SCHEME})
    assert recipe.position_scheme == SCHEME
    assert (
        recipe.fingerprint
        != load_recipe(_finetune_recipe(unit_recipe, "plain.toml", "full/model")).fingerprint
    )

    out = unit_recipe.parent / "coupled-cli"
    path = _finetune_recipe(unit_recipe, "cli.toml", "full/model")
    args = [
        "train",
        "--recipe",
        str(path),
        "--out",
        str(out),
        "--cache-dir",
        str(unit_recipe.parent / "cache"),
    ]
    result = CliRunner().invoke(main, [*args, "--position-scheme", SCHEME])
    assert result.exit_code == 0, result.output
    saved = load_pretrained(out / "model")[0].config
    assert saved == init.model_copy(update={"position_scheme": SCHEME})
    # the unit corpus has no arithmetic, so its positions do not change: the run starts where the model ended
    assert read_metrics(out / "metrics.jsonl")[0]["val_loss"] == pytest.approx(
        finished_run.val_loss, abs=1e-4
    )


def test_a_position_scheme_trains_resumes_exactly_and_reaches_the_engine(unit_recipe: Path) -> None:
    """The scheme's positions go through the trainer (a resumed run retraces them bit for bit) into the
    saved config, and the engine built from the model folder uses them."""
    from reasonkit.lm.engine import Engine

    scheme = SCHEME
    text = UNIT_RECIPE.replace("n_embd = 32\n", f'n_embd = 32\nposition_scheme = "{scheme}"\n').replace(
        "weight = 1.0",
        'weight = 0.5\n\n[[sources]]\nname = "arithmetic"\nformat = "generated"\n'
        'generator = "reasonkit.benchmarks.synthetic:rows"\n'
        'generator_args = { suite = "arithmetic", n_train = 300 }\nweight = 0.5\n'
        'formatter = "reasonkit.strategies.arithmetic_format:scratchpad_text"\nquestion_field = "text"',
    )
    path = unit_recipe.parent / "schemed.toml"
    path.write_text(text)
    recipe, cache = load_recipe(path), unit_recipe.parent / "cache"
    whole = train(recipe, unit_recipe.parent / "schemed-whole", cache_dir=cache)
    train(recipe, unit_recipe.parent / "schemed-cut", cache_dir=cache, max_steps=5)
    resumed = train(recipe, unit_recipe.parent / "schemed-cut", cache_dir=cache, resume=True)
    assert resumed.weights_sha256 == whole.weights_sha256
    assert whole.val_loss is not None and whole.initial_val_loss is not None
    assert whole.val_loss < whole.initial_val_loss
    engine = Engine.from_pretrained(whole.model_dir)
    assert engine.config.position_scheme == scheme and engine.scheme is not None
    # the scratchpad strategy on it, end to end (no accuracy claim after 12 steps)
    from reasonkit.strategies.arithmetic_format import ArithmeticProblem, to_question
    from reasonkit.strategies.scratchpad import Scratchpad

    questions = [to_question(ArithmeticProblem(op="add", operands=(23, 58)), "q0")]
    prediction = Scratchpad(max_tokens=24).run_many(questions, engine)[0]
    assert [call.kind for call in prediction.trace.calls] == ["generate"]


def test_the_loss_counts_only_trained_targets_and_a_prompt_only_window_adds_zero() -> None:
    from reasonkit.lm.config import ModelConfig
    from reasonkit.lm.model import GPT

    torch.manual_seed(0)
    model = GPT(ModelConfig(vocab_size=300, block_size=8, n_layer=1, n_head=2, n_embd=16))
    net = train_module.LossOf(model, None)
    x = torch.randint(0, 300, (2, 8))
    y = torch.randint(0, 300, (2, 8))
    masked = y.clone()
    masked[:, :5] = -1
    logits = model(x).float()
    expected = torch.nn.functional.cross_entropy(logits[:, 5:].reshape(-1, 300), y[:, 5:].reshape(-1))
    assert torch.allclose(net(x, masked), expected)
    assert torch.allclose(
        net(x, y), torch.nn.functional.cross_entropy(logits.reshape(-1, 300), y.reshape(-1))
    )
    assert net(x, torch.full_like(y, -1)).item() == 0.0
