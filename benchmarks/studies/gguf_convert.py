"""Convert an exported reasonkit model (`reasonkit export --hf DIR`) to GGUF with llama.cpp's own converter,
and check the file: every tensor equal to the checkpoint's, the vocabulary and merges equal to tokenizer.json.

    python -m reasonkit.benchmarks.studies.gguf_convert LLAMA_CPP_DIR HF_DIR OUT.gguf

LLAMA_CPP_DIR is a llama.cpp source tree (the llama-cpp-python sdist has one in vendor/llama.cpp); its
convert_hf_to_gguf.py and gguf-py are used as they are, with two choices made for our tokenizer, which the
converter cannot guess: (1) the vocabulary is byte-level BPE from tokenizer.json (the Llama converter first
looks for a SentencePiece model and fails without the `sentencepiece` package instead of falling back), and
(2) the pre-tokenizer is GPT-2's (our tokenizer.json's ByteLevel pre-tokenizer with use_regex=true is GPT-2's
regex; the converter only recognises pre-tokenizers by a hash of known models' outputs and refuses others).
No beginning-of-text token is added (our encoder adds none). The whole llama.cpp recipe is in
llama_cpp_server.sh beside this file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np


def convert(llama_cpp: Path, hf_dir: Path, out: Path) -> None:
    """Run convert_hf_to_gguf.py's main() in this process with the two tokenizer choices patched in."""
    sys.path[:0] = [str(llama_cpp), str(llama_cpp / "gguf-py")]
    import convert_hf_to_gguf  # type: ignore[import-not-found]
    from conversion.base import TextModel  # type: ignore[import-not-found]
    from conversion.llama import LlamaModel  # type: ignore[import-not-found]

    def byte_level_vocab(self: Any) -> None:
        TextModel._set_vocab_gpt2(self)
        self.gguf_writer.add_add_bos_token(False)

    LlamaModel.set_vocab = byte_level_vocab
    TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt-2"
    argv, sys.argv = (
        sys.argv,
        ["convert_hf_to_gguf.py", str(hf_dir), "--outfile", str(out), "--outtype", "f32"],
    )
    try:
        convert_hf_to_gguf.main()
    finally:
        sys.argv = argv


def check(hf_dir: Path, out: Path) -> dict[str, Any]:
    """Compare the GGUF file with the checkpoint it came from."""
    from gguf import GGUFReader  # type: ignore[import-not-found]
    from safetensors.numpy import load_file

    reader = GGUFReader(out)
    fields = {name: field for name, field in reader.fields.items()}

    def strings(name: str) -> list[str]:
        field = fields[name]
        return [bytes(field.parts[i]).decode() for i in field.data]

    def scalar(name: str) -> Any:
        field = fields[name]
        value = field.parts[field.data[0]]
        return bytes(value).decode() if field.types[0].name == "STRING" else value.tolist()[0]

    tokenizer = json.loads((hf_dir / "tokenizer.json").read_text())
    vocab = sorted(tokenizer["model"]["vocab"].items(), key=lambda item: item[1])
    merges = [" ".join(m) if isinstance(m, list) else m for m in tokenizer["model"]["merges"]]
    weights = load_file(hf_dir / "model.safetensors")
    gguf_tensors = {t.name: np.asarray(t.data) for t in reader.tensors}
    heads = json.loads((hf_dir / "config.json").read_text())["num_attention_heads"]
    worst = 0.0
    for name, tensor in gguf_tensors.items():
        expected = weights[_source_name(name)]
        if name.endswith(("attn_q.weight", "attn_k.weight")):  # llama.cpp's rotary layout: rows permuted
            expected = _permute(expected, heads)
        worst = max(worst, float(np.abs(tensor.reshape(expected.shape) - expected).max()))
    return {
        "tensors": len(gguf_tensors),
        "checkpoint_tensors": len(weights),
        "max_abs_tensor_difference": worst,
        "tokenizer_model": scalar("tokenizer.ggml.model"),
        "tokenizer_pre": scalar("tokenizer.ggml.pre"),
        "add_bos_token": scalar("tokenizer.ggml.add_bos_token"),
        "vocabulary_equal": strings("tokenizer.ggml.tokens") == [token for token, _ in vocab],
        "merges_equal": strings("tokenizer.ggml.merges") == merges,
        "eos_token_id": scalar("tokenizer.ggml.eos_token_id"),
        "context_length": scalar("llama.context_length"),
    }


def _permute(weight: np.ndarray, heads: int) -> np.ndarray:
    """The converter's permutation of q/k rows (rotate-half pairs to interleaved pairs), as in LlamaModel."""
    shape = weight.shape
    return weight.reshape(heads, 2, shape[0] // heads // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


_GGUF_TO_HF = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}


def _source_name(name: str) -> str:
    if name in _GGUF_TO_HF:
        return _GGUF_TO_HF[name]
    _, layer, rest = name.split(".", 2)
    return f"model.layers.{layer}.{_GGUF_TO_HF[rest]}"


@click.command()
@click.argument("llama_cpp", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("hf_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def main(llama_cpp: Path, hf_dir: Path, out: Path) -> None:
    """Convert, then print the checks as JSON; exit 1 if the file differs from the checkpoint."""
    convert(llama_cpp, hf_dir, out)
    report = check(hf_dir, out)
    click.echo(json.dumps(report, indent=2))
    if not (report["vocabulary_equal"] and report["merges_equal"]) or report["max_abs_tensor_difference"] > 0:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
