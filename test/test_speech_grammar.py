"""The speech grammar is generated from the vocabulary: everything it accepts parses, every command is sayable."""
from pathlib import Path

import pytest
import yaml
from pocketsphinx import Decoder

from vla_ros.paths import config_path
from vla_ros.speech.grammar import CommandGrammar
from vla_ros.speech.recognizer import PocketsphinxRecognizer
from vla_ros.speech.synth import synthesize
from vla_ros.vocabulary import Command, load_vocabulary


@pytest.fixture(scope="module")
def vocab():
    return load_vocabulary()


@pytest.fixture(scope="module")
def grammar(vocab):
    return CommandGrammar(vocab)


@pytest.fixture(scope="module")
def fsg(grammar):
    return Decoder(loglevel="ERROR").parse_jsgf(grammar.jsgf())


def test_every_grammar_sentence_parses_to_a_command(vocab, grammar, fsg):
    sentences = list(grammar.sentences())
    assert len(sentences) > len(vocab.all_commands())
    for sentence in sentences:
        assert fsg.accept(sentence), sentence
        assert isinstance(vocab.parse(sentence), Command), sentence


def test_synonyms_are_only_in_the_grammar_that_asks_for_them(vocab, grammar):
    with_synonyms = CommandGrammar(vocab, synonyms=True)
    synonym_words = {w for c in vocab.colors for w in c.synonyms} | {w for s in vocab.shapes for w in s.synonyms} | \
        {p for v in vocab.verbs for p in v.phrases[1:]} | {w for ws in vocab.directions.values() for w in ws[1:]}
    spoken = {w for s in with_synonyms.sentences() for w in s.split()}
    assert {w for p in synonym_words for w in p.split()} <= spoken
    assert not any(f" {p} " in f" {s} " for s in grammar.sentences() for p in synonym_words)
    assert set(grammar.sentences()) < set(with_synonyms.sentences())
    fsg = Decoder(loglevel="ERROR").parse_jsgf(with_synonyms.jsgf())
    for sentence in with_synonyms.sentences():
        assert fsg.accept(sentence), sentence
        assert isinstance(vocab.parse(sentence), Command), sentence


def test_every_vocabulary_command_and_stop_word_is_sayable(vocab, grammar, fsg):
    sentences = set(grammar.sentences())
    for cmd in vocab.all_commands():
        assert cmd.text in sentences and fsg.accept(cmd.text), cmd.text
    for word in vocab.stop_words:
        assert fsg.accept(word) and vocab.parse(word).is_stop


def test_only_the_canonical_stop_word_may_be_repeated(vocab, grammar, fsg):
    """"stop stop" is how people say it when it matters; "halt halt halt" would be a path for chit-chat."""
    first, second = vocab.stop_words[:2]
    for said in (f"{first} {first}", f"{first} {first} {first}"):
        assert fsg.accept(said) and said in set(grammar.sentences()) and vocab.parse(said).is_stop
    for said in (f"{second} {second}", f"{first} {first} {first} {first}", f"{first} {second}"):
        assert not fsg.accept(said), said


@pytest.mark.parametrize("text", ["lift the", "pick up the blue", "push the red ball", "what is the weather like today",
                                  "stop the"])
def test_grammar_rejects_incomplete_and_other_sentences(fsg, text):
    assert not fsg.accept(text)


def _vocab_with_extra_colour(tmp_path: Path, colour: str):
    data = yaml.safe_load(config_path("vocabulary.yaml").read_text())
    data["colors"][colour] = {"rgb": [0.5, 0.1, 0.6], "synonyms": []}
    path = tmp_path / "vocabulary.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_vocabulary(str(path))


def test_a_colour_added_to_the_yaml_becomes_sayable(tmp_path):
    vocab = _vocab_with_extra_colour(tmp_path, "purple")
    grammar = CommandGrammar(vocab)
    color_rule = next(line for line in grammar.jsgf().splitlines() if line.startswith("<color> ="))
    assert "| purple;" in color_rule
    assert "pick up the purple block" in set(grammar.sentences())
    audio, rate = synthesize("pick up the purple block")
    assert PocketsphinxRecognizer(vocab).recognize(audio, rate).text == "pick up the purple block"


def test_a_word_without_pronunciation_fails_with_its_name(tmp_path):
    vocab = _vocab_with_extra_colour(tmp_path, "zorblaxian")
    with pytest.raises(ValueError, match="zorblaxian"):
        PocketsphinxRecognizer(vocab)
