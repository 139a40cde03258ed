"""The compact CLIPSeg-architecture model this project trains on sim renders, and its offline tokenizer.

No hub is reachable here, so the model is built from a config and saved in Hugging Face format:
`CLIPSegForImageSegmentation.from_pretrained(dir)` and `CLIPSegProcessor.from_pretrained(dir)` then load it
like any hub model and the same grounding code serves both. The tokenizer is a real `CLIPTokenizer`
(byte-level BPE) whose merges spell the vocabulary words: ~550 tokens instead of CLIP's 49,408, which keeps
the text embedding table (and the model) a few MB. Words it has no merges for still tokenise (into bytes),
so nothing is silently dropped; the grounder refuses phrases outside the trained list before the model.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tokenizers import pre_tokenizers
from transformers import CLIPSegConfig, CLIPSegForImageSegmentation, CLIPSegProcessor, CLIPTokenizer

META_FILE = "vla_ros_grounding.json"  # threshold, phrases, training seeds, metrics (next to config.json)
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
PROMPT_WORDS = ("a", "photo", "of", "the")  # template words, so prompts tokenise to whole words too
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class OfflineModelConfig:
    """Sizes of the compact model (parameter count and latency of the defaults: benchmarks/results/grounding.md)."""

    image_size: int = 224
    patch_size: int = 16
    vision_hidden: int = 128
    vision_layers: int = 4
    vision_heads: int = 4
    text_hidden: int = 64
    text_layers: int = 2
    text_heads: int = 2
    max_text_len: int = 16
    projection_dim: int = 64
    extract_layers: list[int] = field(default_factory=lambda: [1, 2, 3])  # 0-based encoder layer indices
    reduce_dim: int = 32
    decoder_heads: int = 2


def build_tokenizer(words: set[str] | list[str], max_len: int = 16) -> CLIPTokenizer:
    """A byte-level BPE CLIPTokenizer: the 256 byte symbols (plain and word-final) + merges for each word."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab: dict[str, int] = {}
    for a in alphabet:
        vocab[a] = len(vocab)
    for a in alphabet:
        vocab[a + "</w>"] = len(vocab)
    merges: list[tuple[str, str]] = []
    for word in sorted({w.lower() for w in words} | set(PROMPT_WORDS)):
        # Merges are appended after the earlier ones, so they never fire inside an earlier word: first let the
        # existing merges split this word, then join those pieces left to right into one token.
        pieces = _apply_bpe([*word[:-1], word[-1] + "</w>"], merges)
        while len(pieces) > 1:
            merges.append((pieces[0], pieces[1]))
            pieces = [pieces[0] + pieces[1], *pieces[2:]]
            vocab.setdefault(pieces[0], len(vocab))
    vocab[BOS] = len(vocab)
    vocab[EOS] = len(vocab)
    tok = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_len)
    check_tokenizer(tok, sorted(words))
    return tok


def _apply_bpe(pieces: list[str], merges: list[tuple[str, str]]) -> list[str]:
    """Byte-pair encoding as the tokenizers library does it: repeatedly apply the lowest-ranked merge present."""
    rank = {m: i for i, m in enumerate(merges)}
    while len(pieces) > 1:
        pairs = [(rank.get((a, b), len(rank)), i) for i, (a, b) in enumerate(zip(pieces, pieces[1:]))]
        best, i = min(pairs)
        if best == len(rank):
            break
        pieces = [*pieces[:i], pieces[i] + pieces[i + 1], *pieces[i + 2 :]]
    return pieces


def check_tokenizer(tok, words: list[str]) -> None:
    """Every vocabulary word must be one known token between BOS and EOS (transformers 5 can build an empty vocab)."""
    for w in words:
        ids = tok(w).input_ids
        if len(ids) != 3 or ids[0] != tok.bos_token_id or ids[-1] != tok.eos_token_id or ids[1] == tok.unk_token_id:
            raise ValueError(f"tokenizer maps {w!r} to {tok.convert_ids_to_tokens(ids)}: expected [BOS, word, EOS]")


def build_model(cfg: OfflineModelConfig, tok: CLIPTokenizer) -> CLIPSegForImageSegmentation:
    """A randomly initialised CLIPSeg whose text tower pools at this tokenizer's EOS id."""
    config = CLIPSegConfig(
        text_config=dict(
            vocab_size=len(tok),
            hidden_size=cfg.text_hidden,
            intermediate_size=cfg.text_hidden * 2,
            num_hidden_layers=cfg.text_layers,
            num_attention_heads=cfg.text_heads,
            max_position_embeddings=cfg.max_text_len,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        ),
        vision_config=dict(
            hidden_size=cfg.vision_hidden,
            intermediate_size=cfg.vision_hidden * 2,
            num_hidden_layers=cfg.vision_layers,
            num_attention_heads=cfg.vision_heads,
            image_size=cfg.image_size,
            patch_size=cfg.patch_size,
        ),
        projection_dim=cfg.projection_dim,
        extract_layers=list(cfg.extract_layers),
        reduce_dim=cfg.reduce_dim,
        decoder_num_attention_heads=cfg.decoder_heads,
        decoder_intermediate_size=cfg.reduce_dim * 2,
        use_complex_transposed_convolution=cfg.patch_size % 4 == 0,
    )
    if max(cfg.extract_layers) >= cfg.vision_layers:
        raise ValueError(
            f"extract_layers {cfg.extract_layers} are 0-based and must be < vision_layers={cfg.vision_layers}")
    model = CLIPSegForImageSegmentation(config)
    # transformers initialises the decoder's Linear/Conv weights with std 1 (fine for a decoder trained on
    # a frozen CLIP, ruinous from scratch: activations reach std ~60 and the masks never start to learn).
    # PyTorch's fan-in initialisation instead, and mask logits that start near "nothing here".
    for module in model.decoder.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            module.reset_parameters()
    last = [m for m in model.decoder.transposed_convolution.modules() if isinstance(m, torch.nn.ConvTranspose2d)][-1]
    with torch.no_grad():
        last.bias.fill_(-4.0)
    return model


def build_processor(tok: CLIPTokenizer, image_size: int) -> CLIPSegProcessor:
    """CLIPSegProcessor with a ViT image processor at the model's input size and CLIP's normalisation."""
    # CLIPSeg's image processor is ViT's; the PIL backend needs no torchvision (absent here, present on robots).
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    image_proc = ViTImageProcessorPil(
        size={"height": image_size, "width": image_size}, image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD)
    )
    return CLIPSegProcessor(image_processor=image_proc, tokenizer=tok)


def save_bundle(model, processor: CLIPSegProcessor, out_dir: Path, meta: dict) -> None:
    """Model + processor (tokenizer + image config) + grounding metadata, loadable with from_pretrained(out_dir)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def read_meta(model_dir: Path) -> dict:
    """The grounding metadata of a model dir, {} for a plain hub model."""
    path = Path(model_dir) / META_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def config_dict(cfg: OfflineModelConfig) -> dict:
    """The model config as a plain dict, as saved in the bundle's metadata and compared on --init."""
    return asdict(cfg)
