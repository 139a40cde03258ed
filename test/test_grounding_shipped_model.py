"""The model that ships in models/grounding/clipseg-sim loads from the install and grounds held-out sim scenes."""
import subprocess
import sys

import numpy as np
import pytest

from vla_ros.grounding import Grounder, GrounderConfig, Status
from vla_ros.grounding.data import load_split
from vla_ros.grounding.loading import default_model_dir
from vla_ros.grounding.offline_model import read_meta
from vla_ros.paths import models_dir


@pytest.fixture(scope="module")
def grounder():
    return Grounder(GrounderConfig(device="cpu", num_threads=2))


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    from vla_sim import grounding_dataset as gd

    out = tmp_path_factory.mktemp("heldout")
    start = gd.TEST_SEEDS[0]
    subprocess.run([sys.executable, "-m", "vla_sim.grounding_dataset", "--out", str(out), "--split", "test",
                    "--seeds", f"{start}:{start + 12}", "--size", "224"], check=True)
    return load_split(out, "test")


def test_shipped_model_is_found_and_small():
    path = default_model_dir()
    assert path.parent.parent == models_dir() and (path / "config.json").is_file()
    meta = read_meta(path)
    assert set(meta["phrases"]) and 0.0 < meta["threshold"]["clipseg"] < 1.0
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    assert size < 10 * 2**20


@pytest.mark.slow  # grounds the held-out scenes
def test_finds_targets_on_held_out_scenes(grounder, scenes):
    hits, total = 0, 0
    for i in range(len(scenes)):
        for phrase in sorted(scenes.phrases(i)):
            r = grounder.ground(scenes.images[i], f"pick up the {phrase}")
            total += 1
            if r.status is Status.FOUND and scenes.target_mask(i, phrase)[r.pixel[1], r.pixel[0]]:
                hits += 1
    assert total >= 20 and hits / total >= 0.9, (hits, total)


@pytest.mark.slow
def test_absent_objects_are_not_found(grounder, scenes):
    correct, total = 0, 0
    for i in range(len(scenes)):
        for phrase in [p for p in grounder.candidates if p not in scenes.phrases(i)][:3]:
            r = grounder.ground(scenes.images[i], f"touch the {phrase}")
            total += 1
            correct += r.status is Status.NOT_FOUND and r.mask is None
    assert correct / total >= 0.85, (correct, total)


def test_3d_point_from_depth(grounder, scenes):
    i = 0
    phrase = sorted(scenes.phrases(i))[0]
    depth = np.full(scenes.images[i].shape[:2], 0.9, np.float32)
    r = grounder.ground(scenes.images[i], f"grab the {phrase}", depth=depth, intrinsics=(270.0, 270.0, 111.5, 111.5))
    assert r.status is Status.FOUND and r.point_camera is not None
    x, y, z = r.point_camera
    assert z == pytest.approx(0.9) and x == pytest.approx((r.pixel[0] - 111.5) * 0.9 / 270.0)


def test_confusable_rivals_are_the_candidates_sharing_a_word():
    g = Grounder(GrounderConfig(device="cpu", num_threads=1, rivals="confusable"))
    rivals = g.rivals_of("blue ball")
    assert "blue ball" in rivals and all("blue" in r or "ball" in r for r in rivals)
    assert len(rivals) < len(g.candidates) and set(rivals) < set(g.candidates)
    with pytest.raises(ValueError, match="rivals"):
        Grounder(GrounderConfig(device="cpu", rivals="some"))
