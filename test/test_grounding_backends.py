"""Both backends and the Grounder facade with randomly initialised tiny models saved and reloaded like hub models."""
import numpy as np
import pytest
import torch

from vla_ros.grounding import Grounder, GrounderConfig, Status
from vla_ros.grounding.offline_model import (
    META_FILE,
    OfflineModelConfig,
    build_model,
    build_processor,
    build_tokenizer,
    check_tokenizer,
    save_bundle,
)
from vla_ros.vocabulary import load_vocabulary

TINY = OfflineModelConfig(vision_hidden=32, vision_layers=2, vision_heads=2, text_hidden=32, text_layers=1,
                          text_heads=2, projection_dim=16, extract_layers=[0, 1], reduce_dim=16, decoder_heads=2)


@pytest.fixture(scope="module")
def vocab():
    return load_vocabulary()


@pytest.fixture(scope="module")
def clipseg_dir(tmp_path_factory, vocab):
    torch.manual_seed(0)
    tok = build_tokenizer(sorted(vocab.words()))
    out = tmp_path_factory.mktemp("clipseg")
    save_bundle(build_model(TINY, tok), build_processor(tok, 224), out,
                {"phrases": vocab.object_phrases(), "threshold": {"clipseg": 0.0, "clip": 0.0}, "clip_region_size": 32})
    return out


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory, vocab):
    """A plain CLIPModel (as openai/clip-vit-base-patch32 is), tiny and random, with the offline tokenizer."""
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor

    torch.manual_seed(0)
    tok = build_tokenizer(sorted(vocab.words()))
    cfg = CLIPConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=16, eos_token_id=tok.eos_token_id,
                         bos_token_id=tok.bos_token_id, pad_token_id=tok.pad_token_id),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=64, patch_size=16),
        projection_dim=16,
    )
    out = tmp_path_factory.mktemp("clip")
    CLIPModel(cfg).save_pretrained(out)
    image_proc = build_processor(tok, 64).image_processor
    CLIPProcessor(image_processor=image_proc, tokenizer=tok).save_pretrained(out)
    return out


def scene():
    return (np.random.default_rng(0).random((120, 160, 3)) * 255).astype(np.uint8)


def test_tokenizer_gives_one_token_per_vocabulary_word(vocab, clipseg_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(clipseg_dir, local_files_only=True)
    check_tokenizer(tok, sorted(vocab.words()))
    ids = tok("a photo of a blue block").input_ids
    assert len(ids) == 8 and len(set(ids[1:-1])) == 5  # BOS, 6 words ("a" twice, one id), EOS
    assert tok.unk_token_id not in tok("zebra").input_ids[1:-1]  # unknown words still tokenise (into bytes)


def test_clipseg_one_forward_for_all_prompts(clipseg_dir, vocab, monkeypatch):
    g = Grounder(GrounderConfig(model=str(clipseg_dir), device="cpu"))
    calls = []
    vision = g.backend.model.clip.vision_model
    monkeypatch.setattr(vision, "forward", lambda *a, _f=vision.forward, **k: calls.append(1) or _f(*a, **k))
    probs = g.backend.heatmaps(scene(), g.candidates)
    assert probs.shape == (len(vocab.object_phrases()), 224, 224) and probs.dtype == np.float32
    assert len(calls) == 1  # the image is encoded once, whatever the number of prompts
    # batching is exact: each prompt's heatmap equals the one from its own forward pass
    single = g.backend.heatmaps(scene(), [g.candidates[3]])
    np.testing.assert_allclose(probs[3], single[0], atol=1e-3)


def test_clipseg_result_geometry_and_depth(clipseg_dir):
    g = Grounder(GrounderConfig(model=str(clipseg_dir), device="cpu", score_threshold=0.0))
    img = scene()
    depth = np.full(img.shape[:2], 1.25, np.float32)
    r = g.ground(img, "pick up the blue block", depth=depth, intrinsics=(100.0, 100.0, 80.0, 60.0))
    # scored: the target and the candidates sharing a word with it (rivals=confusable, the default)
    assert r.phrase == "blue block" and set(r.candidate_scores) == set(g.rivals_of("blue block"))
    assert set(g.rivals_of("blue block")) == {c for c in g.candidates if "blue" in c or "block" in c}
    if r.status is Status.FOUND:  # a random model may or may not claim a region; if it does, geometry follows
        assert r.mask.shape == img.shape[:2] and r.mask[r.pixel[1], r.pixel[0]]
        u0, v0, u1, v1 = r.bbox
        assert u0 <= r.pixel[0] <= u1 and v0 <= r.pixel[1] <= v1
        assert r.point_camera[2] == pytest.approx(1.25)
    else:
        assert r.status is Status.NOT_FOUND and r.reason
    assert r.latency_s > 0


def test_target_region_is_where_the_target_beats_every_candidate(clipseg_dir, monkeypatch):
    """Heatmaps stubbed: the red cylinder lights up "red block" weakly over its whole square, and "red cylinder"
    more strongly over the right half; the block's region is only the left half, where it wins."""
    g = Grounder(GrounderConfig(model=str(clipseg_dir), device="cpu", score_threshold=0.5,
                                candidates=("red block", "red cylinder", "blue ball")))

    def heatmaps(image, phrases):
        probs = np.zeros((len(phrases), 120, 160), np.float32)
        probs[phrases.index("red block"), 40:60, 40:80] = 0.9
        probs[phrases.index("red cylinder"), 40:60, 60:80] = 0.99
        return probs

    monkeypatch.setattr(g.backend, "heatmaps", heatmaps)
    r = g.ground(scene(), "pick up the red block")
    assert r.status is Status.FOUND
    assert r.mask[40:60, 40:60].all() and not r.mask[:, 60:].any()
    assert 40 <= r.pixel[0] < 60
    r = g.ground(scene(), "pick up the red cylinder")
    assert r.status is Status.FOUND and r.mask[40:60, 60:80].all() and not r.mask[:, :60].any()


def test_text_embeddings_are_cached_until_candidates_change(clipseg_dir):
    g = Grounder(GrounderConfig(model=str(clipseg_dir), device="cpu"))
    before = g.backend.text_forwards
    for _ in range(3):
        g.ground(scene(), "grab the red ball")
    assert g.backend.text_forwards == before
    g.set_candidates(["red ball", "green cylinder"])
    assert g.candidates == ["red ball", "green cylinder"] and g.backend.text_forwards == before  # both seen before
    g.ground(scene(), "grab the red ball")
    assert g.backend.text_forwards == before


def test_not_understood_is_not_guessed(clipseg_dir):
    g = Grounder(GrounderConfig(model=str(clipseg_dir), device="cpu"))
    for text, why in [("pick up the purple block", "purple"), ("", "empty"), ("dance", "verb"), ("stop", "stop")]:
        r = g.ground(scene(), text)
        assert r.status is Status.NOT_UNDERSTOOD and why in r.reason and r.mask is None
    r = g.ground_phrase(scene(), "teapot")
    assert r.status is Status.NOT_UNDERSTOOD and "vocabulary" in r.reason
    r = g.ground(scene(), "pick up the ball")  # a shape alone is not a phrase this model was trained on
    assert r.status is Status.NOT_UNDERSTOOD
    with pytest.raises(ValueError, match="not trained on"):
        g.set_candidates(["purple teapot"])


def test_bad_image_is_a_clear_error(clipseg_dir):
    g = Grounder(GrounderConfig(model=str(clipseg_dir), device="cpu"))
    with pytest.raises(ValueError, match="uint8 RGB"):
        g.ground(np.zeros((10, 10), np.uint8), "pick up the red block")


def test_missing_model_dir_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"not found; train it with .*vla_ros.grounding.train"):
        Grounder(GrounderConfig(model=str(tmp_path / "nope")))
    with pytest.raises(FileNotFoundError, match="no config.json"):
        Grounder(GrounderConfig(model=str(tmp_path)))


def test_unreachable_hub_id_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match=r"CIDAS/clipseg-rd64-refined.*(shipped offline model|clipseg-sim)"):
        Grounder(GrounderConfig(model="CIDAS/clipseg-rd64-refined", device="cpu"))


def test_clip_backend_on_a_plain_clip_model(clip_dir, vocab):
    g = Grounder(GrounderConfig(backend="clip", model=str(clip_dir), device="cpu", score_threshold=0.0))
    assert g.known_phrases is None  # a model without the offline vocabulary list is open-vocabulary
    img = scene()
    r = g.ground(img, "touch the green cylinder")
    assert set(r.candidate_scores) == set(vocab.object_phrases())
    assert all(0.0 <= s <= 1.0 for s in r.candidate_scores.values())
    probs = g.backend.probabilities([img, img[:50, :50]], g.candidates)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)  # softmax over the candidate prompts
    if r.status is Status.FOUND:
        u0, v0, u1, v1 = r.bbox
        assert r.mask.sum() == (u1 - u0 + 1) * (v1 - v0 + 1)
    free = g.ground_phrase(img, "purple teapot")  # open vocabulary: any phrase is a target
    assert free.status is not Status.NOT_UNDERSTOOD


def test_clip_backend_reads_the_clip_inside_a_clipseg_model(clipseg_dir):
    g = Grounder(GrounderConfig(backend="clip", model=str(clipseg_dir), device="cpu"))
    assert g.backend.spec.height == 32  # crop size the offline model's CLIP was trained at (clip_region_size)
    assert (clipseg_dir / META_FILE).is_file()
    r = g.ground(scene(), "pick up the yellow ball")
    assert r.status in (Status.FOUND, Status.NOT_FOUND)
