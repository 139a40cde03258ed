"""Draws a task from the command vocabulary: which objects are on the table, where, and what to do.

Everything comes from `vla_ros.vocabulary` (verbs, colours, shapes, directions, synonyms, typed phrasing), so a
word added to config/vocabulary.yaml reaches the sim with no code change. Scenes are well posed: the target
description is unique, objects do not overlap and leave room for the fingers, and for a push the target
has room to move and nothing stands in its way.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from vla_ros.vocabulary import Command, ParseError, Vocabulary
from vla_sim.scene import WORKSPACE_MAX_RADIUS, WORKSPACE_X, WORKSPACE_Y, ObjectSlot

# Robot's point of view: the arm faces +x; "left" is +y.
DIRECTION_VECTORS: dict[str, tuple[float, float]] = {
    "left": (0.0, 1.0), "right": (0.0, -1.0), "forward": (1.0, 0.0), "back": (-1.0, 0.0),
}
PUSH_ROOM = 0.16  # the target must be able to move this far (threshold 0.10 + overshoot)
PUSH_APPROACH = 0.09  # free space needed behind the target for the gripper
FINGER_CLEARANCE = 0.05  # gap kept between object footprints so open fingers fit between them
MAX_BOX_YAW = 0.3  # radians; blocks stay graspable by a gripper closing along a fixed axis (ee_delta mode)
INSTRUCTION_CHARSET = "abcdefghijklmnopqrstuvwxyz "
INSTRUCTION_MAX_LENGTH = 64
# Share of sampled instructions worded as people type them (a request frame, "the cube that is blue", "pick the
# cube up"), so grounding and policy evaluations see those forms too; the rest stay in the plain command form.
PHRASED_SHARE = 0.2


@dataclass(frozen=True)
class PlacedObject:
    """One object of a task on the table: which model body (slot), where, and turned by how much."""

    slot: ObjectSlot
    xy: tuple[float, float]
    yaw: float


@dataclass(frozen=True)
class Task:
    """What an episode asks for: the command, its worded instruction and the objects on the table."""

    command: Command
    instruction: str
    objects: tuple[PlacedObject, ...]  # objects[0] is not necessarily the target
    target_index: int


def normalise_instruction(text: str) -> str:
    """Lower-case words joined by single spaces: what the observation's Text space can hold."""
    out = " ".join(re.findall(r"[a-z]+", text.lower()))
    if not out or len(out) > INSTRUCTION_MAX_LENGTH:
        raise ValueError(f"instruction {text!r} must have 1..{INSTRUCTION_MAX_LENGTH} characters of words")
    return out


def check_directions(vocab: Vocabulary) -> None:
    """Fail early if the vocabulary names a push direction the sim has no world vector for."""
    unknown = [d for d in vocab.directions if d not in DIRECTION_VECTORS]
    if unknown:
        raise ValueError(f"vocabulary directions {unknown} have no world vector (known: {list(DIRECTION_VECTORS)})")


def parse_command(vocab: Vocabulary, text: str) -> Command:
    """Parse a requested task; a stop or a non-command is a ValueError carrying the parser's reason."""
    parsed = vocab.parse(text)
    if isinstance(parsed, ParseError):
        raise ValueError(f"cannot use {text!r} as a task: {parsed.reason}")
    if parsed.is_stop:
        raise ValueError(f"{text!r} is a stop command, not a task")
    return parsed


def _wording_rng(rng: np.random.Generator) -> np.random.Generator:
    """A generator for the wording alone, spawned from `rng` without drawing from it: deterministic per seed, and
    the commands and scenes of every seed are the ones they were before instructions were ever reworded."""
    return rng.spawn(1)[0]


def _typed_wording(rng: np.random.Generator, vocab: Vocabulary, verb_phrase: str) -> dict[str, Any]:
    """`Vocabulary.render` options for one instruction: none (plain) or, with PHRASED_SHARE, one typed form of the
    vocabulary's `phrasing`, the form first (each equally likely), then its phrase. Only phrases the instruction's
    charset holds ("i'd like you to" does not) and relative clauses ("the cube that is blue", not "one")."""
    if rng.random() >= PHRASED_SHARE:
        return {}

    def fits(phrases: tuple[str, ...]) -> list[str]:
        return [p for p in phrases if set(p) <= set(INSTRUCTION_CHARSET)]

    ph = vocab.phrasing
    forms: dict[str, list[Any]] = {"opener": fits(ph.openers), "closing": fits(ph.closings),
                                   "relative": [p for p in fits(ph.relatives) if len(p.split()) > 1]}
    if len(verb_phrase.split()) > 1 and verb_phrase.split()[-1] in ph.particles:
        forms["particle_last"] = [True]
    forms = {k: v for k, v in forms.items() if v}
    if not forms:
        return {}
    kind = list(forms)[rng.integers(len(forms))]
    return {kind: forms[kind][rng.integers(len(forms[kind]))]}


def _matches(slot: ObjectSlot, cmd: Command) -> bool:
    return (cmd.color is None or slot.color == cmd.color) and (cmd.shape is None or slot.shape == cmd.shape)


def sample_task(rng: np.random.Generator, vocab: Vocabulary, slots: tuple[ObjectSlot, ...], min_objects: int,
                max_objects: int, command: Command | None = None) -> Task:
    """A seeded task; with `command`, that task (its text becomes the instruction)."""
    if command is None:
        verb = vocab.verbs[rng.integers(len(vocab.verbs))]
        target = slots[rng.integers(len(slots))]
        direction = list(vocab.directions)[rng.integers(len(vocab.directions))] if verb.needs_direction else None
        command = Command(verb.name, target.color, target.shape, direction)
        shape = vocab.shape(target.shape)
        words = (shape.name, *shape.synonyms)
        verb_phrase = verb.phrases[rng.integers(len(verb.phrases))]
        shape_word = words[rng.integers(len(words))]
        direction_word = None
        if direction is not None:  # any of the direction's words, not only the canonical one
            words = vocab.directions[direction]
            direction_word = words[rng.integers(len(words))]
        text = vocab.render(command, verb_phrase, shape_word, direction_word=direction_word,
                            **_typed_wording(_wording_rng(rng), vocab, verb_phrase))
        if len(text) > INSTRUCTION_MAX_LENGTH:
            text = vocab.render(command, verb_phrase, shape_word, direction_word=direction_word)
        parsed = parse_command(vocab, text)
        if (parsed.verb, parsed.color, parsed.shape, parsed.direction) != (command.verb, command.color, command.shape,
                                                                           command.direction):
            raise ValueError(f"sampled instruction {text!r} parses as another command: check the vocabulary's phrasing")
    else:
        candidates = [s for s in slots if _matches(s, command)]
        target = candidates[rng.integers(len(candidates))]
        text = command.text or vocab.render(command)
    instruction = normalise_instruction(text)
    others = [s for s in slots if not _matches(s, command)]
    n = int(rng.integers(min_objects, max_objects + 1))
    order = rng.permutation(len(others))[: max(0, n - 1)]
    distractors = [others[i] for i in order]
    placed = _place(rng, target, distractors, command.direction)
    target_index = int(rng.integers(len(placed)))
    placed[0], placed[target_index] = placed[target_index], placed[0]
    return Task(Command(command.verb, command.color, command.shape, command.direction, instruction), instruction,
                tuple(placed), target_index)


def _in_workspace(xy: np.ndarray, margin: float = 0.0) -> bool:
    return (WORKSPACE_X[0] + margin <= xy[0] <= WORKSPACE_X[1] - margin
            and WORKSPACE_Y[0] + margin <= xy[1] <= WORKSPACE_Y[1] - margin
            and np.hypot(*xy) <= WORKSPACE_MAX_RADIUS - margin)


def _yaw(rng: np.random.Generator, slot: ObjectSlot) -> float:
    return float(rng.uniform(-MAX_BOX_YAW, MAX_BOX_YAW)) if slot.geom_type in ("box", "ellipsoid") else 0.0


def _place(rng: np.random.Generator, target: ObjectSlot, distractors: list[ObjectSlot],
           direction: str | None) -> list[PlacedObject]:
    """Rejection-sample poses; a distractor that finds no room is left off the table (deterministic per rng)."""
    push = np.array(DIRECTION_VECTORS[direction]) if direction else None
    for _ in range(1000):
        xy = rng.uniform([WORKSPACE_X[0], WORKSPACE_Y[0]], [WORKSPACE_X[1], WORKSPACE_Y[1]])
        if not _in_workspace(xy):
            continue
        if push is not None and not (_in_workspace(xy + PUSH_ROOM * push) and _in_workspace(xy - 0.05 * push)):
            continue
        break
    else:
        raise RuntimeError("could not place the target (workspace constants inconsistent)")
    placed = [PlacedObject(target, (float(xy[0]), float(xy[1])), _yaw(rng, target))]
    for slot in distractors:
        for _ in range(200):
            p = rng.uniform([WORKSPACE_X[0], WORKSPACE_Y[0]], [WORKSPACE_X[1], WORKSPACE_Y[1]])
            if not _in_workspace(p):
                continue
            if any(np.hypot(*(p - np.array(o.xy))) < slot.footprint_radius + o.slot.footprint_radius + FINGER_CLEARANCE
                   for o in placed):
                continue
            if push is not None and _in_push_corridor(p - xy, push, slot.footprint_radius + target.footprint_radius):
                continue
            placed.append(PlacedObject(slot, (float(p[0]), float(p[1])), _yaw(rng, slot)))
            break
    return placed


def _in_push_corridor(rel: np.ndarray, push: np.ndarray, radii: float) -> bool:
    """Whether a point `rel` (from the target) lies where the pushed target or the pushing hand will sweep."""
    along = float(rel @ push)
    across = float(abs(rel @ np.array([-push[1], push[0]])))
    return -(PUSH_APPROACH + radii + 0.03) < along < PUSH_ROOM + radii + 0.03 and across < radii + 0.06
