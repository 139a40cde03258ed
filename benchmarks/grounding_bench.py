"""Grounding quality and speed on held-out sim scenes: `python benchmarks/grounding_bench.py [--quick]`.

Quality (shipped threshold): hit rate (target pixel inside the named object's instance mask), mask IoU,
correct "not found" for commands naming absent objects; on the standard held-out split and on the crowded
split (more objects than training). Speed: Grounder.ground() frames/s at 224 px on CPU, and one batched
forward for all candidate prompts vs one forward per prompt. `--hub-size --device cuda` times a randomly
initialised CIDAS/clipseg-rd64-refined-sized model (no weights needed to measure speed).
Writes benchmarks/results/grounding.json, grounding.md and grounding_overlays.png.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "sim")]  # run from a checkout without installing

from vla_ros.grounding import Grounder, GrounderConfig  # noqa: E402
from vla_ros.grounding.data import GroundingSplit, load_split  # noqa: E402
from vla_ros.grounding.evaluate import metrics, record  # noqa: E402
from vla_ros.grounding.grounder import RIVALS  # noqa: E402
from vla_ros.grounding.overlay import draw_overlay  # noqa: E402


def ensure_split(data: Path, name: str) -> GroundingSplit:
    """Load DATA/NAME.npz, generating the sim's standard split NAME (its held-out seeds) when it is missing."""
    if not (data / f"{name}.npz").is_file():
        cmd = [sys.executable, "-m", "vla_sim.grounding_dataset", "--out", str(data), "--split", name, "--size", "224"]
        print("generating:", " ".join(cmd), flush=True)
        python_path = os.pathsep.join([str(ROOT), str(ROOT / "sim"), os.environ.get("PYTHONPATH", "")])
        env = {**os.environ, "PYTHONPATH": python_path}
        subprocess.run(cmd, check=True, cwd=ROOT, env=env)
    return load_split(data, name)


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def speed(grounder: Grounder, images: np.ndarray, n: int) -> dict:
    """ground() latency end to end, and batched vs per-prompt heatmaps, on real scenes."""
    frames = [images[i % len(images)] for i in range(n)]
    grounder.ground(frames[0], "pick up the red block")  # warm-up
    it = iter(range(10**9))
    lat = timed(lambda: grounder.ground(frames[next(it) % n], "pick up the red block"), n)
    phrases = grounder.rivals_of("red block")
    backend = grounder.backend
    img = frames[0]
    batched = timed(lambda: backend.heatmaps(img, phrases), max(5, n // 4))
    single = timed(lambda: [backend.heatmaps(img, [p]) for p in phrases], max(5, n // 4))
    return {
        "frames": n,
        "prompts": len(phrases),
        "ground_latency_ms_median": 1e3 * float(np.median(lat)),
        "ground_latency_ms_p90": 1e3 * float(np.percentile(lat, 90)),
        "ground_hz_median": 1.0 / float(np.median(lat)),
        "batched_ms_median": 1e3 * float(np.median(batched)),
        "one_prompt_per_forward_ms_median": 1e3 * float(np.median(single)),
        "batched_speedup": float(np.median(single) / np.median(batched)),
    }


def hub_size_speed(device: str, n: int, prompts: int = 12) -> dict:
    """A CIDAS/clipseg-rd64-refined-sized CLIPSeg (ViT-B/16, rd64, 352 px), random weights: speed only."""
    from transformers import CLIPSegConfig, CLIPSegForImageSegmentation

    from vla_ros.grounding.clipseg_backend import decoder_logits, vision_activations

    cfg = CLIPSegConfig(vision_config={"patch_size": 16}, reduce_dim=64, extract_layers=[3, 6, 9],
                        use_complex_transposed_convolution=True)
    dtype = torch.float16 if device == "cuda" else torch.float32
    model = CLIPSegForImageSegmentation(cfg).to(device, dtype).eval()
    x = torch.randn(1, 3, 352, 352, device=device, dtype=dtype)
    cond = torch.randn(prompts, cfg.projection_dim, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    @torch.inference_mode()
    def batched():
        decoder_logits(model, vision_activations(model, x), cond)
        sync()

    @torch.inference_mode()
    def one_by_one():
        for i in range(prompts):
            decoder_logits(model, vision_activations(model, x), cond[i : i + 1])
        sync()

    for _ in range(3):
        batched()
    b, s = timed(batched, n), timed(one_by_one, max(3, n // 4))
    return {"device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu",
            "dtype": str(dtype).replace("torch.", ""), "input_px": 352, "prompts": prompts,
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "batched_ms_median": 1e3 * float(np.median(b)), "batched_hz": 1.0 / float(np.median(b)),
            "one_prompt_per_forward_ms_median": 1e3 * float(np.median(s)),
            "batched_speedup": float(np.median(s) / np.median(b))}


def overlays(grounder: Grounder, splits: dict[str, GroundingSplit], path: Path, per_split: int = 4) -> None:
    """A grid: per split, found targets and one command for an absent object, each labelled with its score."""
    tiles = []
    rng = np.random.default_rng(0)
    for name, split in splits.items():
        for k, i in enumerate(rng.choice(len(split), size=per_split, replace=False)):
            present = sorted(split.phrases(i))
            absent = [p for p in grounder.candidates if p not in present]
            phrase = present[rng.integers(len(present))] if k < per_split - 1 or not absent else absent[0]
            r = grounder.ground(split.images[i], f"pick up the {phrase}")
            tile = cv2.resize(draw_overlay(split.images[i], r), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
            cv2.putText(tile, f"{name} seed {int(split.seeds[i])}: '{phrase}'", (4, tile.shape[0] - 6),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
    rows = [np.hstack(tiles[j : j + per_split]) for j in range(0, len(tiles), per_split)]
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))


def markdown(res: dict) -> str:
    lines = [f"# Grounding benchmark ({res['model']})", "",
             f"Offline model: {res['parameters']:,} parameters, {res['size_mb']:.1f} MB; "
             f"threshold {res['threshold']:.3f} (calibrated on validation at training time). "
             f"CPU threads: {res['threads']}. Rivals per frame: {res.get('rivals', 'all')} (the candidates the target "
             "competes with: every one, or those sharing a word with it).", "",
             "| split | seeds | images | targets | hit rate | mask IoU | absent cmds | correct not-found |",
             "|---|---|---|---|---|---|---|---|"]
    for name, m in res["quality"].items():
        lines.append(f"| {name} | {m['seeds'][0]}..{m['seeds'][1]} | {m['images']} | {m['targets']} | "
                     f"{m['hit_rate']:.3f} | {m['mask_iou']:.3f} | {m['absent_commands']} | "
                     f"{m['not_found_correct']:.3f} |")
    s = res["speed_cpu"]
    lines += ["", "Goals: hit rate >= 0.98, correct not-found >= 0.95, >= 20 Hz on CPU at 224 px.", "",
              "| speed (224 px, CPU) | value |", "|---|---|",
              f"| ground() median latency | {s['ground_latency_ms_median']:.1f} ms ({s['ground_hz_median']:.1f} Hz), "
              f"p90 {s['ground_latency_ms_p90']:.1f} ms |",
              f"| {s['prompts']} prompts, one batched forward | {s['batched_ms_median']:.1f} ms |",
              f"| {s['prompts']} prompts, one forward each | {s['one_prompt_per_forward_ms_median']:.1f} ms |",
              f"| batched speed-up | {s['batched_speedup']:.1f}x |"]
    if "hub_size" in res:
        h = res["hub_size"]
        lines += ["", f"CIDAS/clipseg-rd64-refined-sized model (random weights, {h['parameters']:,} params) "
                  f"on {h['device']} ({h['dtype']}, {h['input_px']} px, {h['prompts']} prompts): "
                  f"batched {h['batched_ms_median']:.1f} ms "
                  f"({h['batched_hz']:.0f} Hz), one forward per prompt {h['one_prompt_per_forward_ms_median']:.1f} ms "
                  f"({h['batched_speedup']:.1f}x)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="clipseg-sim", help="model dir or id (default: the shipped offline model)")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "grounding",
                    help="where the held-out splits live / are generated")
    ap.add_argument("--quick", action="store_true", help="fewer scenes and frames (a smoke run)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="device for --hub-size timing")
    ap.add_argument("--hub-size", action="store_true", help="also time a CIDAS/clipseg-rd64-refined-sized config")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--rivals", choices=RIVALS, default=GrounderConfig.rivals,
                    help="candidates the target competes with per frame (results/grounding.rivals_<x>.* unless the "
                    "default)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n_images = 60 if args.quick else None
    splits = {}
    for name in ("test", "crowded"):  # held-out seeds; crowded has more objects than training ever shows
        split = ensure_split(args.data, name)
        splits[name] = split.subset(slice(0, n_images)) if n_images else split
    grounder = Grounder(GrounderConfig(model=args.model, device="cpu", rivals=args.rivals))
    files = [p for p in Path(grounder.model_path).glob("*") if p.is_file()]
    model_path = Path(grounder.model_path)
    shown_path = str(model_path.relative_to(ROOT)) if model_path.is_relative_to(ROOT) else grounder.model_path
    res = {"model": args.model, "model_path": shown_path,
           "parameters": int(sum(p.numel() for p in grounder.backend.model.parameters())),
           "size_mb": sum(p.stat().st_size for p in files) / 2**20, "threshold": grounder.threshold,
           "threads": args.threads, "quick": args.quick, "rivals": args.rivals, "quality": {}}
    for name, split in splits.items():
        q = record(grounder, split, absent_per_image=2, seed=1)
        m = metrics(q, grounder.threshold)
        m["seeds"] = [int(split.seeds.min()), int(split.seeds.max())]
        m["objects_per_image"] = [min(len(o) for o in split.objects), max(len(o) for o in split.objects)]
        res["quality"][name] = m
        print(name, m, flush=True)
    res["speed_cpu"] = speed(grounder, splits["test"].images, 40 if args.quick else 200)
    print("speed", res["speed_cpu"], flush=True)
    if args.hub_size:
        res["hub_size"] = hub_size_speed(args.device, 10 if args.quick or args.device == "cpu" else 50)
        print("hub-size", res["hub_size"], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    name = "grounding" if args.rivals == GrounderConfig.rivals else f"grounding.rivals_{args.rivals}"
    if name == "grounding":
        overlays(grounder, splits, args.out / "grounding_overlays.png")
    (args.out / f"{name}.json").write_text(json.dumps(res, indent=2) + "\n")
    (args.out / f"{name}.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
