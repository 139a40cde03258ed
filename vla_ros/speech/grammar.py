"""The JSGF command grammar, generated from the shared vocabulary.

Pocketsphinx's general language model cannot hear robot commands, but a grammar that allows only
"<verb> the <colour> <shape> [<direction>]" (and the stop words) can. Building it from the vocabulary
means a colour or shape added to config/vocabulary.yaml is sayable with no other edit. The grammar is
deliberately stricter than `Vocabulary.parse` (colour and shape both required, no fillers other than
"the" / "to the"): every extra path is a path that out-of-grammar speech can be forced onto.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import product
from typing import Iterator

from vla_ros.vocabulary import Verb, Vocabulary

_RULE_NAME = re.compile(r"[^A-Za-z0-9_]")
# The only words jsgf() adds around the vocabulary's own ("the <colour> <shape>", "to the <direction>"):
# they carry no meaning, so a misheard filler never changes a command (word_fit.py ignores them).
FILLER_WORDS = frozenset({"the", "to"})


def _alternatives(phrases: tuple[str, ...] | list[str]) -> str:
    return " | ".join(phrases)


@dataclass(frozen=True)
class CommandGrammar:
    """Every sentence the speech recogniser may return, as JSGF text and as an explicit list.

    `synonyms=False` (the speech default) keeps each verb, colour, shape and direction in its canonical
    word only ("pick up the blue block", not "grab the blue cube"); every stop word stays. Every
    command is still sayable, and each synonym left out is one fewer path that near-miss speech
    can be forced onto (measured: benchmarks/results/speech.oog_rejection.md, "Second study").
    Typed commands keep every synonym (`Vocabulary.parse`).
    """

    vocab: Vocabulary
    name: str = "vla_commands"
    synonyms: bool = False

    def _spoken(self, words: tuple[str, ...]) -> tuple[str, ...]:
        """A slot's words, canonical first: all of them, or only the canonical one."""
        return words if self.synonyms else words[:1]

    def verb_phrases(self, verb: Verb) -> tuple[str, ...]:
        """How a verb may be said ("pick up"; "grab", "take" too with synonyms)."""
        return self._spoken(verb.phrases)

    def color_words(self) -> list[str]:
        """Every colour word the grammar hears."""
        return [w for c in self.vocab.colors for w in self._spoken((c.name, *c.synonyms))]

    def shape_words(self) -> list[str]:
        """Every shape word the grammar hears."""
        return [w for s in self.vocab.shapes for w in self._spoken((s.name, *s.synonyms))]

    def direction_words(self) -> list[str]:
        """Every direction word the grammar hears (push's "to the left", "forward", ...)."""
        return [w for ws in self.vocab.directions.values() for w in self._spoken(ws)]

    def _direction_phrases(self) -> list[str]:
        return [p for w in self.direction_words() for p in (w, f"to the {w}")]

    def stop_phrases(self, jsgf: bool = False) -> list[str]:
        """Every stop word alone, and the first (canonical) one said up to three times.

        People repeat "stop" when it matters, and one stop word forced over "stop stop" scores too low to be heard.
        Only the canonical word repeats: "halt halt halt" becomes a path that chit-chat is forced onto
        (benchmarks/results/speech.oog_rejection.md, "Sixth study").
        """
        if not self.vocab.stop_words:
            return []
        first, *others = self.vocab.stop_words
        repeated = [f"{first} [{first} [{first}]]"] if jsgf else [first, f"{first} {first}", f"{first} {first} {first}"]
        return [*repeated, *others]

    def answer_words(self) -> list[str]:
        """The spoken answers to "did you mean ...?" (yes first), from the vocabulary."""
        return [*self.vocab.yes_words, *self.vocab.no_words]

    def jsgf(self, answers: bool = False) -> str:
        """JSGF text for `Decoder.add_jsgf_string`; `answers` adds the yes/no words, for while a question is open."""
        verb_rules = {v.name: "verb_" + _RULE_NAME.sub("_", v.name) for v in self.vocab.verbs}
        answer = ["<answer>"] if answers and self.answer_words() else []
        lines = [
            "#JSGF V1.0;",
            f"grammar {self.name};",
            "public <command> = "
            + _alternatives(["<stop>", *answer, *(f"<{r}_command>" for r in verb_rules.values())]) + ";",
            "<stop> = " + _alternatives(self.stop_phrases(jsgf=True)) + ";",
            *(["<answer> = " + _alternatives(self.answer_words()) + ";"] if answer else []),
            "<object> = the <color> <shape>;",
            "<color> = " + _alternatives(self.color_words()) + ";",
            "<shape> = " + _alternatives(self.shape_words()) + ";",
        ]
        if self.vocab.directions:
            lines.append("<direction_word> = " + _alternatives(self.direction_words()) + ";")
            lines.append("<direction> = <direction_word> | to the <direction_word>;")
        for verb in self.vocab.verbs:
            rule = verb_rules[verb.name]
            lines.append(f"<{rule}> = " + _alternatives(self.verb_phrases(verb)) + ";")
            tail = " <direction>" if verb.needs_direction else ""
            lines.append(f"<{rule}_command> = <{rule}> <object>{tail};")
        return "\n".join(lines) + "\n"

    def sentences(self) -> Iterator[str]:
        """Every sentence `jsgf()` accepts, enumerated (a few hundred for the shipped vocabulary)."""
        yield from self.stop_phrases()
        for verb in self.vocab.verbs:
            tails = self._direction_phrases() if verb.needs_direction else [""]
            slots = product(self.verb_phrases(verb), self.color_words(), self.shape_words(), tails)
            for phrase, color, shape, tail in slots:
                yield " ".join(w for w in (phrase, "the", color, shape, tail) if w)

    def words(self) -> set[str]:
        """Every word of the grammar's commands: each needs a pronunciation in the recogniser's dictionary."""
        return {w for s in self.sentences() for w in s.split()}


def whisper_prompt(vocab: Vocabulary) -> str:
    """The spoken grammar's words as a Whisper prompt, so that it expects "block", not "lock"."""
    def said(words: list[str]) -> str:
        return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]

    grammar = CommandGrammar(vocab)
    verbs = [p for v in vocab.verbs for p in grammar.verb_phrases(v)]
    return (f"Robot commands: {said(verbs)} the {said(grammar.color_words())} {said(grammar.shape_words())}, "
            f"{said(grammar.direction_words())}. {said([w.capitalize() for w in vocab.stop_words])}.")
