"""Export a reasonkit model folder as a Hugging Face Llama checkpoint.

Our GPT was laid out like Llama (rotate-half RoPE, q/k/v/o and gate/up/down projections, RMSNorm, tied
embeddings, no biases), so export is a renaming of tensors plus a `LlamaConfig`. The result loads offline
with `AutoModelForCausalLM.from_pretrained(out_dir)` and `AutoTokenizer.from_pretrained(out_dir)`.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer as RawTokenizer

from reasonkit.backends.hf import require_transformers
from reasonkit.lm.config import ModelConfig
from reasonkit.lm.pretrained import TOKENIZER_FILE, load_pretrained
from reasonkit.lm.tokenizer import EOT, PAD

log = logging.getLogger(__name__)

# our name -> Hugging Face Llama name; `{i}` is the layer index
_LAYER_RENAMES: dict[str, str] = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn.q_proj.weight": "self_attn.q_proj.weight",
    "attn.k_proj.weight": "self_attn.k_proj.weight",
    "attn.v_proj.weight": "self_attn.v_proj.weight",
    "attn.o_proj.weight": "self_attn.o_proj.weight",
    "mlp_norm.weight": "post_attention_layernorm.weight",
    "mlp.gate_proj.weight": "mlp.gate_proj.weight",
    "mlp.up_proj.weight": "mlp.up_proj.weight",
    "mlp.down_proj.weight": "mlp.down_proj.weight",
}
_TOP_RENAMES: dict[str, str] = {
    "embed.weight": "model.embed_tokens.weight",
    "norm.weight": "model.norm.weight",
}
_LAYER_NAME = re.compile(r"blocks\.(\d+)\.(.+)")


def hf_tensor_name(name: str) -> str:
    """The Llama name of one of our state-dict entries."""
    if name in _TOP_RENAMES:
        return _TOP_RENAMES[name]
    match = _LAYER_NAME.fullmatch(name)
    if match is None or match.group(2) not in _LAYER_RENAMES:
        raise KeyError(f"no Hugging Face Llama name for tensor {name!r}")
    return f"model.layers.{match.group(1)}.{_LAYER_RENAMES[match.group(2)]}"


def llama_config(config: ModelConfig, bos_id: int, eos_id: int, pad_id: int | None) -> Any:
    """The `LlamaConfig` that computes what our `GPT` computes."""
    transformers = require_transformers()
    return transformers.LlamaConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.n_embd,
        intermediate_size=config.mlp_hidden,
        num_hidden_layers=config.n_layer,
        num_attention_heads=config.n_head,
        num_key_value_heads=config.n_head,
        head_dim=config.head_dim,
        hidden_act="silu",
        max_position_embeddings=config.block_size,
        rope_theta=config.rope_theta,  # transformers 5 folds this into rope_parameters
        rms_norm_eps=config.norm_eps,
        initializer_range=config.init_std,
        tie_word_embeddings=True,
        attention_bias=False,
        mlp_bias=False,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        architectures=["LlamaForCausalLM"],
    )


def export_hf(model_dir: str | Path, out_dir: str | Path) -> Path:
    """Write `out_dir` as a Llama checkpoint (config.json, model.safetensors, tokenizer files)."""
    transformers = require_transformers()
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    model, tokenizer, _ = load_pretrained(model_dir)
    if tokenizer.vocab_size > model.config.vocab_size:
        raise ValueError(
            f"{model_dir / TOKENIZER_FILE}: tokenizer has {tokenizer.vocab_size} tokens but the model's "
            f"vocab_size is {model.config.vocab_size}"
        )

    if model.config.position_scheme is not None:
        log.warning(
            "%s uses position_scheme %r: Llama numbers positions 0, 1, 2, ...; texts of that format need "
            "the scheme's position ids passed as position_ids to match",
            model_dir,
            model.config.position_scheme,
        )
    # no BOS token of our own: documents are separated by end-of-text, which also starts an empty context
    config = llama_config(
        model.config, bos_id=tokenizer.eot_id, eos_id=tokenizer.eot_id, pad_id=tokenizer.pad_id
    )
    with torch.device("meta"):
        hf_model = transformers.LlamaForCausalLM(config)
    state = {hf_tensor_name(name): tensor for name, tensor in model.state_dict().items()}
    missing, unexpected = hf_model.load_state_dict(state, strict=False, assign=True)
    if unexpected or set(missing) - {"lm_head.weight"}:
        raise ValueError(
            f"{model_dir}: tensors do not map onto Llama (missing {missing}, unexpected {unexpected})"
        )
    hf_model.tie_weights()
    still_meta = [name for name, param in hf_model.state_dict().items() if param.is_meta]
    if still_meta:
        raise ValueError(f"{model_dir}: export left Llama tensors without weights: {still_meta}")
    out_dir.mkdir(parents=True, exist_ok=True)
    hf_model.save_pretrained(out_dir)

    hf_tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=RawTokenizer.from_file(str(model_dir / TOKENIZER_FILE)),
        bos_token=EOT,
        eos_token=EOT,
        pad_token=PAD,
        model_max_length=model.config.block_size,
        clean_up_tokenization_spaces=False,
        split_special_tokens=True,  # as ours: a literal "<|endoftext|>" in text stays text
    )
    hf_tokenizer.save_pretrained(out_dir)
    log.info("exported %s to %s as a Hugging Face Llama checkpoint", model_dir, out_dir)
    return out_dir
