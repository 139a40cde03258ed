"""The command vocabulary (config/vocabulary.yaml) and the one parser every part uses.

Speech builds its grammar from `Vocabulary`, the sim samples tasks from it, grounding builds its prompts
from it and evaluation scores against it, so a word added to the YAML reaches all of them.
Parsing is strict: a word the vocabulary does not know makes the command "not understood" rather than
being skipped, because a robot that guesses what it was told is worse than one that asks again. Typed text
may be worded the way people type a request (`Phrasing`: "could you pick the yellow cylinder up, thanks"),
because those words never name an object, a verb or a direction; a negation or a second object is refused,
and where one command is clearly closest the refusal suggests it (never acted on).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import product
from pathlib import Path
from typing import Iterator

import yaml

from vla_ros.paths import config_path

STOP_COMMAND = "stop"  # every stop word renders as this canonical command


@dataclass(frozen=True)
class Verb:
    """An action the robot knows, with the phrases that say it and whether it needs a direction (push)."""

    name: str
    phrases: tuple[str, ...]
    description: str
    needs_direction: bool = False


@dataclass(frozen=True)
class Color:
    """An object colour: its name, the RGB the sim paints it with, and other words for it."""

    name: str
    rgb: tuple[float, float, float]
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Shape:
    """An object shape: its name, the MuJoCo geom type the sim builds it from, and other words for it."""

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


# ParseError.kind: what was wrong, for programs (the benchmark counts refusals by it).
EMPTY, NEGATION, MORE_THAN_ONE, NO_VERB, UNKNOWN_WORD, NO_OBJECT, DIRECTION = (
    "empty", "negation", "more_than_one", "no_verb", "unknown_word", "no_object", "direction")


@dataclass(frozen=True)
class ParseError:
    """Why a text is not a command; `reason` is meant for a human and for the status topic.

    `suggestion` is the one canonical command the text is clearly closest to (one word unknown, misspelt or
    missing), for the user to confirm by sending it: it is never acted on.
    """

    text: str
    reason: str
    unknown_words: tuple[str, ...] = ()
    kind: str = ""
    suggestion: str | None = None


@dataclass(frozen=True)
class Phrasing:
    """How a typed command may be worded around the vocabulary's words (config/vocabulary.yaml `phrasing`).

    None of these phrases names an object, a verb or a direction, and each is dropped only where it stands
    (openers before the command, closings after it, relatives among the object's words, a particle after the
    object), so a wider wording never changes which command is meant. Negations and conjunctions make a text
    not understood; `suggestions` (unknown word -> vocabulary word) only ever feed `ParseError.suggestion`.
    """

    openers: tuple[str, ...] = ()
    closings: tuple[str, ...] = ()
    relatives: tuple[str, ...] = ()
    particles: tuple[str, ...] = ()
    negations: tuple[str, ...] = ()
    conjunctions: tuple[str, ...] = ()
    suggestions: dict[str, str] = field(default_factory=dict, hash=False)

    PHRASE_LISTS = ("openers", "closings", "relatives", "particles", "negations", "conjunctions")


_WORD = re.compile(r"[a-z]+")
_APOSTROPHE = re.compile(r"['\u2019]")


def tokenize(text: str) -> list[str]:
    """The words of a text as the vocabulary reads them: lower case, letters only."""
    return _WORD.findall(text.lower())


def phrase_words(text: str) -> tuple[str, ...]:
    """The words the parser matches: `tokenize` with apostrophes dropped first, so "don't" is one word, "dont"."""
    return tuple(tokenize(_APOSTROPHE.sub("", text)))


def _find(words: list[str], phrases: tuple[str, ...]) -> str | None:
    """The first of `phrases` (as written) that occurs in `words` at word boundaries, else None."""
    for phrase in phrases:
        pw = list(phrase_words(phrase))
        if any(words[i : i + len(pw)] == pw for i in range(len(words) - len(pw) + 1)):
            return phrase
    return None


def _drop(words: list[str], phrases: tuple[str, ...]) -> list[str]:
    """`words` with every occurrence of each phrase removed, longest phrases first."""
    for pw in sorted((list(phrase_words(p)) for p in phrases), key=len, reverse=True):
        out: list[str] = []
        i = 0
        while i < len(words):
            if words[i : i + len(pw)] == pw:
                i += len(pw)
            else:
                out.append(words[i])
                i += 1
        words = out
    return words


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of neighbours ("puhs")."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def typo_tolerance(word: str) -> int:
    """How many edits a word may be from the vocabulary word it is suggested as: none for short words, where one
    letter makes another word ("cap", "can"), one from four letters, two from seven."""
    return 0 if len(word) < 4 else 1 if len(word) < 7 else 2


@dataclass(frozen=True)
class Vocabulary:
    """Everything config/vocabulary.yaml defines, and the parser and renderer built on it (see the module docstring)."""

    verbs: tuple[Verb, ...]
    colors: tuple[Color, ...]
    shapes: tuple[Shape, ...]
    directions: dict[str, tuple[str, ...]] = field(hash=False)
    fillers: tuple[str, ...] = ()
    stop_words: tuple[str, ...] = ()
    # Spoken answers to "did you mean ...?" (speech/confirmation.py): never commands themselves.
    yes_words: tuple[str, ...] = ()
    no_words: tuple[str, ...] = ()
    phrasing: Phrasing = field(default_factory=Phrasing)

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
            ph = data.get("phrasing") or {}
            extra = set(ph) - {*Phrasing.PHRASE_LISTS, "suggestions"}
            if extra:
                raise KeyError(f"unknown phrasing entries {sorted(extra)}")
            phrasing = Phrasing(*(tuple(str(p) for p in ph.get(k) or ()) for k in Phrasing.PHRASE_LISTS),
                                suggestions={str(k): str(v) for k, v in (ph.get("suggestions") or {}).items()})
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"vocabulary file {path} is malformed: {exc!r}") from exc
        vocab = cls(verbs, colors, shapes, directions, tuple(data.get("fillers", ())),
                    tuple(data.get("stop_words", ())), tuple(data.get("yes_words", ())),
                    tuple(data.get("no_words", ())), phrasing)
        vocab._check()
        return vocab

    def _check(self) -> None:
        """Every surface word must mean one thing, or parsing would be ambiguous; a phrasing word must mean nothing."""
        seen: dict[str, str] = {}
        for kind, word in self._surface_words():
            if word in seen and seen[word] != kind:
                raise ValueError(f"vocabulary word {word!r} is both {seen[word]} and {kind}")
            seen[word] = kind
        meaningful = self._content_words() | set(self.stop_words)
        for kind in Phrasing.PHRASE_LISTS:
            for phrase in getattr(self.phrasing, kind):
                words = phrase_words(phrase)
                if not words:
                    raise ValueError(f"phrasing {kind}: {phrase!r} has no words")
                if kind == "particles":
                    if not any(p.split()[-1] == words[0] and len(p.split()) > 1 for v in self.verbs for p in v.phrases):
                        raise ValueError(f"phrasing particle {phrase!r} ends no verb phrase of two or more words")
                elif len(words) == 1 and words[0] in meaningful:
                    raise ValueError(
                        f"phrasing {kind}: {phrase!r} is a vocabulary word; dropping it would change a command")
        for word, meant in self.phrasing.suggestions.items():
            if word in self.words():
                raise ValueError(f"phrasing suggestion {word!r} is already a vocabulary word")
            if not (meant in meaningful or any(meant in v.phrases for v in self.verbs)):
                raise ValueError(
                    f"phrasing suggestion {word!r} -> {meant!r}: not a verb phrase, colour, shape or direction")

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
        """Every word of the command vocabulary proper (for grammars and out-of-vocabulary checks). The typed-only
        `phrasing` words are left out: speech and the grounding tokenizer never need them."""
        out = set(self.fillers) | set(self.stop_words)
        for v in self.verbs:
            for p in v.phrases:
                out.update(p.split())
        out.update(w for _, phrase in self._surface_words() for w in phrase.split())
        return out

    def _content_words(self) -> set[str]:
        """The words that name a verb, an object or a direction: what a typo is suggested as."""
        return {w for v in self.verbs for p in v.phrases for w in p.split()} | {w for _, p in self._surface_words()
                                                                                 for w in p.split()}

    # ------------------------------------------------------------------ parsing
    def only_stop_words(self, text: str) -> bool:
        """Whether a recognised phrase is nothing but stop words ("halt", "stop stop"): what speech treats as a stop."""
        words = text.split()
        return bool(words) and all(w in self.stop_words for w in words)

    def parse(self, text: str) -> Command | ParseError:
        """Text -> Command, or ParseError saying exactly what was wrong (and suggesting the closest command)."""
        words = list(phrase_words(text))
        if not words:
            return ParseError(text, "empty command", kind=EMPTY)
        if any(w in self.stop_words for w in words):
            return Command("stop", text=text)
        negation = _find(words, self.phrasing.negations)
        if negation is not None:
            return ParseError(text, f"negated command ({negation!r}): a negation is never carried out", kind=NEGATION)
        words = self._strip_frame(words)
        parsed = self._parse_words(text, words)
        if isinstance(parsed, ParseError) and parsed.kind in (NO_VERB, UNKNOWN_WORD):
            return replace(parsed, suggestion=self._suggest(words, parsed.unknown_words))
        return parsed

    def _strip_frame(self, words: list[str]) -> list[str]:
        """`words` without the request frame: openers at the start, closings at the end, each as often as said."""
        openers = sorted((list(phrase_words(p)) for p in self.phrasing.openers), key=len, reverse=True)
        closings = sorted((list(phrase_words(p)) for p in self.phrasing.closings), key=len, reverse=True)
        changed = True
        while changed:
            changed = False
            for pw in openers:
                if len(words) > len(pw) and words[: len(pw)] == pw:
                    words, changed = words[len(pw) :], True
                    break
            for pw in closings:
                if len(words) > len(pw) and words[-len(pw) :] == pw:
                    words, changed = words[: -len(pw)], True
                    break
        return words

    def _parse_words(self, text: str, words: list[str]) -> Command | ParseError:
        """The command the words (frame stripped) name: one verb, one object, a direction if the verb needs one."""
        conjunction = _find(words, self.phrasing.conjunctions)
        if conjunction is not None:
            return ParseError(text, f"more than one command or object ({conjunction!r}): give one at a time",
                              kind=MORE_THAN_ONE)
        verb, rest = self._match_verb(words)
        if verb is not None:
            second, _ = self._match_verb(rest)
            if second is not None:
                return ParseError(text, f"two verbs named ({verb.name}, {second.name}): give one command at a time",
                                  kind=MORE_THAN_ONE)
        color = shape = direction = None
        unknown: list[str] = []
        for w in _drop(rest, self.phrasing.relatives):
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
                    return ParseError(text, f"two different {slot}s named ({current}, {value})", kind=MORE_THAN_ONE)
            if c:
                color = c
            elif s:
                shape = s
            elif d:
                direction = d
            else:
                unknown.append(w)
        if verb is None:
            said = f"; not understood: {', '.join(unknown)}" if unknown else ""
            known = ", ".join(self.verb_names)
            return ParseError(text, f"no known verb (known: {known}{said})", tuple(unknown), NO_VERB)
        if unknown:
            return ParseError(text, f"unknown word(s): {', '.join(unknown)}", tuple(unknown), UNKNOWN_WORD)
        if color is None and shape is None:
            return ParseError(text, "no object named (say a colour and/or a shape)", kind=NO_OBJECT)
        if verb.needs_direction and direction is None:
            return ParseError(text, f"'{verb.name}' needs a direction ({', '.join(self.directions)})", kind=DIRECTION)
        if not verb.needs_direction and direction is not None:
            return ParseError(text, f"'{verb.name}' takes no direction", kind=DIRECTION)
        return Command(verb.name, color, shape, direction, text)

    def _match_verb(self, words: list[str]) -> tuple[Verb | None, list[str]]:
        """Longest verb phrase found anywhere at a word boundary, else one split by its particle around the object
        ("pick the block up"); returns it and the remaining words."""
        best: tuple[int, int, Verb] | None = None
        for v in self.verbs:
            for phrase in v.phrases:
                pw = phrase.split()
                for i in range(len(words) - len(pw) + 1):
                    if words[i : i + len(pw)] == pw and (best is None or len(pw) > best[1]):
                        best = (i, len(pw), v)
        if best is not None:
            i, n, v = best
            return v, words[:i] + words[i + n :]
        for v in self.verbs:
            for phrase in v.phrases:
                *head, particle = phrase.split()
                if not head or particle not in self.phrasing.particles:
                    continue
                for i in range(len(words) - len(head)):
                    after = i + len(head) + 1  # at least one word (the object) between verb and particle
                    if words[i : i + len(head)] == head and particle in words[after:]:
                        j = words.index(particle, after)
                        return v, [w for k, w in enumerate(words) if not (i <= k < i + len(head) or k == j)]
        return None, words

    def _suggest(self, words: list[str], unknown: tuple[str, ...]) -> str | None:
        """The one complete command (colour, shape and any direction named) that the words are one change away
        from, rendered canonically; None when there is none or more than one. The change is to the one word not
        understood: replaced by its `suggestions` entry, by the vocabulary word it is a typo of, or by the verb
        phrase it begins ("pick" -> "pick up"), or left out. A suggestion never fills in a word that is missing."""
        if len(unknown) != 1:
            return None
        word = unknown[0]
        replacements = [self.phrasing.suggestions[word]] if word in self.phrasing.suggestions else []
        replacements += [p for v in self.verbs for p in v.phrases if len(p.split()) > 1 and p.split()[0] == word]
        tolerance = typo_tolerance(word)
        if tolerance:
            distances = {w: edit_distance(word, w) for w in self._content_words() if w != word}
            nearest = min(distances.values(), default=tolerance + 1)
            close = [w for w, d in distances.items() if d == nearest]
            if nearest <= tolerance and len(close) == 1:
                replacements += close
        found: set[str] = set()
        for i in (i for i, w in enumerate(words) if w == word):
            for r in [*replacements, ""]:
                got = self._parse_words("", words[:i] + r.split() + words[i + 1 :])
                if isinstance(got, Command) and got.color and got.shape:
                    found.add(self.render(got))
        return found.pop() if len(found) == 1 else None

    # ------------------------------------------------------------------ generating
    def render(self, cmd: Command, verb_phrase: str | None = None, shape_word: str | None = None, *,
               direction_word: str | None = None, opener: str | None = None, closing: str | None = None,
               relative: str | None = None, particle_last: bool = False) -> str:
        """Command -> sentence; the optional words pick a synonym and a typed wording from `phrasing` (the sim
        samples them): `relative` says "the cube that is blue", `particle_last` "pick the blue cube up"."""
        if cmd.is_stop:
            return STOP_COMMAND
        vp = verb_phrase or self.verb(cmd.verb).phrases[0]
        shape = shape_word or cmd.shape
        if relative and cmd.color and shape:
            obj = f"{shape} {relative} {cmd.color}"
        else:
            obj = " ".join(w for w in (cmd.color, shape) if w)
        *head, last = vp.split()
        if particle_last and head and last in self.phrasing.particles:
            text = f"{' '.join(head)} the {obj} {last}"
        else:
            text = f"{vp} the {obj}"
        if cmd.direction:
            word = direction_word or self.directions[cmd.direction][0]  # the first word listed is the canonical one
            text += f" to the {word}" if cmd.direction in ("left", "right") else f" {word}"
        return " ".join(w for w in (opener, text, closing) if w)

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
