"""The command vocabulary (config/vocabulary.yaml) and the one parser every part uses.

Speech builds its grammar from `Vocabulary`, the sim samples tasks from it, grounding builds its prompts
from it and evaluation scores against it, so a word added to the YAML reaches all of them.
Parsing is strict: a word the vocabulary does not know makes the command "not understood" rather than
being skipped, because a robot that guesses what it was told is worse than one that asks again.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import product
from pathlib import Path
from typing import Iterator

import yaml

from vla_ros.paths import config_path

STOP_COMMAND = "stop"  # every stop word renders as this canonical command


@dataclass(frozen=True)
class Verb:
    name: str
    phrases: tuple[str, ...]
    description: str
    needs_direction: bool = False


@dataclass(frozen=True)
class Color:
    name: str
    rgb: tuple[float, float, float]
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Shape:
    name: str
    geom: str
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Command:
    """A parsed command. `verb == "stop"` is the always-honoured stop; otherwise color/shape name the target."""

    verb: str
    color: str | None = None
    shape: str | None = None
    direction: str | None = None
    text: str = ""

    @property
    def is_stop(self) -> bool:
        return self.verb == "stop"

    @property
    def target_phrase(self) -> str:
        """Canonical object phrase, e.g. "blue block" (what grounding and evaluation compare)."""
        return " ".join(w for w in (self.color, self.shape) if w)


@dataclass(frozen=True)
class ParseError:
    """Why a text is not a command; `reason` is meant for a human and for the status topic."""

    text: str
    reason: str
    unknown_words: tuple[str, ...] = ()


_WORD = re.compile(r"[a-z]+")


def tokenize(text: str) -> list[str]:
    """The words of a text as the vocabulary reads them: lower case, letters only."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Vocabulary:
    verbs: tuple[Verb, ...]
    colors: tuple[Color, ...]
    shapes: tuple[Shape, ...]
    directions: dict[str, tuple[str, ...]] = field(hash=False)
    fillers: tuple[str, ...] = ()
    stop_words: tuple[str, ...] = ()
    # Spoken answers to "did you mean ...?" (speech/confirmation.py): never commands themselves.
    yes_words: tuple[str, ...] = ()
    no_words: tuple[str, ...] = ()

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_yaml(cls, path: Path) -> "Vocabulary":
        data = yaml.safe_load(Path(path).read_text())
        try:
            verbs = tuple(
                Verb(name, tuple(v["phrases"]), v.get("description", ""), bool(v.get("needs_direction", False)))
                for name, v in data["verbs"].items()
            )
            colors = tuple(
                Color(name, tuple(float(x) for x in c["rgb"]), tuple(c.get("synonyms") or ()))
                for name, c in data["colors"].items()
            )
            shapes = tuple(
                Shape(name, s["geom"], tuple(s.get("synonyms") or ())) for name, s in data["shapes"].items()
            )
            directions = {name: tuple(words) for name, words in data.get("directions", {}).items()}
        except (KeyError, TypeError) as exc:
            raise ValueError(f"vocabulary file {path} is malformed: {exc!r}") from exc
        vocab = cls(verbs, colors, shapes, directions, tuple(data.get("fillers", ())), tuple(data.get("stop_words", ())),
                    tuple(data.get("yes_words", ())), tuple(data.get("no_words", ())))
        vocab._check()
        return vocab

    def _check(self) -> None:
        """Every surface word must mean one thing, or parsing would be ambiguous."""
        seen: dict[str, str] = {}
        for kind, word in self._surface_words():
            if word in seen and seen[word] != kind:
                raise ValueError(f"vocabulary word {word!r} is both {seen[word]} and {kind}")
            seen[word] = kind

    def _surface_words(self) -> Iterator[tuple[str, str]]:
        for c in self.colors:
            for w in (c.name, *c.synonyms):
                yield f"color:{c.name}", w
        for s in self.shapes:
            for w in (s.name, *s.synonyms):
                yield f"shape:{s.name}", w
        for d, words in self.directions.items():
            for w in words:
                yield f"direction:{d}", w

    # ------------------------------------------------------------------ lookups
    @property
    def color_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.colors)

    @property
    def shape_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.shapes)

    @property
    def verb_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.verbs)

    def verb(self, name: str) -> Verb:
        return next(v for v in self.verbs if v.name == name)

    def color(self, name: str) -> Color:
        return next(c for c in self.colors if c.name == name)

    def shape(self, name: str) -> Shape:
        return next(s for s in self.shapes if s.name == name)

    def object_phrases(self) -> list[str]:
        """Every "colour shape" phrase, the candidate set for grounding."""
        return [f"{c} {s}" for c, s in product(self.color_names, self.shape_names)]

    def words(self) -> set[str]:
        """Every word the parser accepts (for grammars and out-of-vocabulary checks)."""
        out = set(self.fillers) | set(self.stop_words)
        for v in self.verbs:
            for p in v.phrases:
                out.update(p.split())
        out.update(w for _, phrase in self._surface_words() for w in phrase.split())
        return out

    # ------------------------------------------------------------------ parsing
    def only_stop_words(self, text: str) -> bool:
        """Whether a recognised phrase is nothing but stop words ("halt", "stop stop"): what speech treats as a stop."""
        words = text.split()
        return bool(words) and all(w in self.stop_words for w in words)

    def parse(self, text: str) -> Command | ParseError:
        """Text -> Command, or ParseError saying exactly what was wrong."""
        words = tokenize(text)
        if not words:
            return ParseError(text, "empty command")
        if any(w in self.stop_words for w in words):
            return Command("stop", text=text)
        verb, rest = self._match_verb(words)
        if verb is None:
            return ParseError(text, f"no known verb (known: {', '.join(self.verb_names)})")
        color = shape = direction = None
        unknown: list[str] = []
        for w in rest:
            if w in self.fillers:
                continue
            c = next((c.name for c in self.colors if w == c.name or w in c.synonyms), None)
            s = next((s.name for s in self.shapes if w == s.name or w in s.synonyms), None)
            d = next((d for d, ws in self.directions.items() if w in ws), None)
            for slot, value in (("color", c), ("shape", s), ("direction", d)):
                if value is None:
                    continue
                current = {"color": color, "shape": shape, "direction": direction}[slot]
                if current is not None and current != value:
                    return ParseError(text, f"two different {slot}s named ({current}, {value})")
            if c:
                color = c
            elif s:
                shape = s
            elif d:
                direction = d
            else:
                unknown.append(w)
        if unknown:
            return ParseError(text, f"unknown word(s): {', '.join(unknown)}", tuple(unknown))
        if color is None and shape is None:
            return ParseError(text, "no object named (say a colour and/or a shape)")
        if verb.needs_direction and direction is None:
            return ParseError(text, f"'{verb.name}' needs a direction ({', '.join(self.directions)})")
        if not verb.needs_direction and direction is not None:
            return ParseError(text, f"'{verb.name}' takes no direction")
        return Command(verb.name, color, shape, direction, text)

    def _match_verb(self, words: list[str]) -> tuple[Verb | None, list[str]]:
        """Longest verb phrase found anywhere at a word boundary; returns it and the remaining words."""
        best: tuple[int, int, Verb] | None = None
        for v in self.verbs:
            for phrase in v.phrases:
                pw = phrase.split()
                for i in range(len(words) - len(pw) + 1):
                    if words[i : i + len(pw)] == pw and (best is None or len(pw) > best[1]):
                        best = (i, len(pw), v)
        if best is None:
            return None, words
        i, n, v = best
        return v, words[:i] + words[i + n :]

    # ------------------------------------------------------------------ generating
    def render(self, cmd: Command, verb_phrase: str | None = None, shape_word: str | None = None) -> str:
        """Command -> sentence; the optional words pick a synonym (the sim samples them)."""
        if cmd.is_stop:
            return STOP_COMMAND
        vp = verb_phrase or self.verb(cmd.verb).phrases[0]
        obj = " ".join(w for w in (cmd.color, shape_word or cmd.shape) if w)
        text = f"{vp} the {obj}"
        if cmd.direction:
            word = self.directions[cmd.direction][0]  # the first word listed is the canonical one
            text += f" to the {word}" if cmd.direction in ("left", "right") else f" {word}"
        return text

    def all_commands(self) -> list[Command]:
        """Every canonical command (verb x colour x shape [x direction]): the evaluation set."""
        out: list[Command] = []
        for v in self.verbs:
            dirs = list(self.directions) if v.needs_direction else [None]
            for c, s, d in product(self.color_names, self.shape_names, dirs):
                out.append(Command(v.name, c, s, d))
        return [Command(c.verb, c.color, c.shape, c.direction, self.render(c)) for c in out]


@lru_cache(maxsize=None)
def load_vocabulary(path: str | None = None) -> Vocabulary:
    """The vocabulary at `path`, or the package's config/vocabulary.yaml."""
    return Vocabulary.from_yaml(Path(path) if path else config_path("vocabulary.yaml"))
