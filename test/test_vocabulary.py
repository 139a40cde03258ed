"""The shared vocabulary parses what users say, rejects what it does not know, and generates every command."""
import pytest

from vla_ros.vocabulary import Command, ParseError, load_vocabulary


@pytest.fixture(scope="module")
def vocab():
    return load_vocabulary()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("pick up the blue block", Command("pick", "blue", "block")),
        ("Grab the red cube, please!", Command("pick", "red", "block")),
        ("push the red ball to the left", Command("push", "red", "ball", "left")),
        ("move the yellow cylinder away", Command("push", "yellow", "cylinder", "forward")),
        ("touch the green can", Command("touch", "green", "cylinder")),
        ("point at the blue sphere", Command("touch", "blue", "ball")),
        ("pick up the ball", Command("pick", None, "ball")),
    ],
)
def test_parses_commands_and_synonyms(vocab, text, expected):
    got = vocab.parse(text)
    assert isinstance(got, Command)
    assert (got.verb, got.color, got.shape, got.direction) == (
        expected.verb, expected.color, expected.shape, expected.direction)
    assert got.text == text


@pytest.mark.parametrize(
    "text, reason_part",
    [
        ("", "empty"),
        ("pick up the purple block", "unknown word(s): purple"),
        ("push the ball", "needs a direction"),
        ("dance with the red block", "no known verb"),
        ("pick up the red blue block", "two different colors"),
        ("pick up the", "no object"),
        ("touch the red ball to the left", "takes no direction"),
    ],
)
def test_rejects_with_reason(vocab, text, reason_part):
    got = vocab.parse(text)
    assert isinstance(got, ParseError)
    assert reason_part in got.reason


def test_stop_always_wins(vocab):
    for text in ("stop", "STOP!", "pick up the blue block, no, stop", "halt now"):
        assert vocab.parse(text).is_stop


def test_every_generated_command_parses_back(vocab):
    commands = vocab.all_commands()
    # 3 verbs x 4 colours x 3 shapes, push x 4 directions
    assert len(commands) == 12 + 12 * 4 + 12
    for cmd in commands:
        back = vocab.parse(cmd.text)
        assert isinstance(back, Command), cmd.text
        assert (back.verb, back.color, back.shape, back.direction) == (cmd.verb, cmd.color, cmd.shape, cmd.direction)
    assert len({c.text for c in commands}) == len(commands)


def test_object_phrases_cover_the_vocabulary(vocab):
    phrases = vocab.object_phrases()
    assert "blue block" in phrases and "yellow cylinder" in phrases
    assert len(phrases) == len(vocab.colors) * len(vocab.shapes)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("could you pick the yellow cylinder up", Command("pick", "yellow", "cylinder")),
        ("can you please grab the blue cube", Command("pick", "blue", "block")),
        ("I'd like you to push the red ball to the left, thank you!", Command("push", "red", "ball", "left")),
        ("go ahead and touch the cylinder that is green", Command("touch", "green", "cylinder")),
        ("pick up the one that is a blue cube", Command("pick", "blue", "block")),
        ("Pick the GREEN ball   up, thanks", Command("pick", "green", "ball")),
        ("can you grab the green can", Command("pick", "green", "cylinder")),
        ("tap the blue one please", Command("touch", "blue", None)),
    ],
)
def test_typed_phrasings_name_the_same_command(vocab, text, expected):
    got = vocab.parse(text)
    assert isinstance(got, Command), got
    assert (got.verb, got.color, got.shape, got.direction) == (
        expected.verb, expected.color, expected.shape, expected.direction)


@pytest.mark.parametrize(
    "text, kind",
    [
        ("don't pick up the red block", "negation"),
        ("please do not push the blue ball to the left", "negation"),
        ("pick up the red block, not the blue one", "negation"),
        ("pick up the red block and the blue ball", "more_than_one"),
        ("pick up the red block the blue ball", "more_than_one"),
        ("pick up the red block then push the blue ball to the left", "more_than_one"),
        ("nudge the red ball", "no_verb"),
        ("pick up the purple block", "unknown_word"),
        ("push the red ball sideways", "unknown_word"),
        ("lift the red block up", "unknown_word"),  # "up" is a particle of "pick up" only
    ],
)
def test_negations_two_objects_and_unknown_words_are_refused(vocab, text, kind):
    got = vocab.parse(text)
    assert isinstance(got, ParseError) and got.kind == kind, got


@pytest.mark.parametrize(
    "text, suggestion",
    [
        ("nudge the red ball to the left", "push the red ball to the left"),  # the suggestions table
        ("pick up the bleu block", "pick up the blue block"),  # a typo
        ("puhs the red ball left", "push the red ball to the left"),
        ("pick the red block", "pick up the red block"),  # a verb phrase not finished
        ("nudge the red ball", None),  # a suggestion never fills in a missing direction
        ("pick up the purple block", None),  # nor a colour
        ("pick up the green cap", None),  # short words: one letter makes another word ("can", "tap")
        ("don't pick up the red block", None),  # a negation never suggests the command it negates
        ("pick up the red block and the blue ball", None),
    ],
)
def test_suggestions_only_where_one_command_is_clearly_closest(vocab, text, suggestion):
    got = vocab.parse(text)
    assert isinstance(got, ParseError)
    assert got.suggestion == suggestion


def test_phrasing_is_data_and_may_not_hide_a_vocabulary_word(tmp_path):
    import yaml

    from vla_ros.paths import config_path
    from vla_ros.vocabulary import Vocabulary

    data = yaml.safe_load(config_path("vocabulary.yaml").read_text())
    data["phrasing"]["openers"].append("be a dear and")
    path = tmp_path / "vocabulary.yaml"
    path.write_text(yaml.safe_dump(data))
    assert Vocabulary.from_yaml(path).parse("be a dear and touch the red ball").verb == "touch"
    for kind, word in (("relatives", "blue"), ("closings", "left"), ("openers", "grab")):
        bad = yaml.safe_load(config_path("vocabulary.yaml").read_text())
        bad["phrasing"][kind].append(word)
        path.write_text(yaml.safe_dump(bad))
        with pytest.raises(ValueError, match="vocabulary word"):
            Vocabulary.from_yaml(path)


def test_phrasing_does_not_reach_the_vocabulary_words(vocab):
    """Speech, the grounding tokenizer and the Whisper check read `words()`: typed-only phrasing stays out of it."""
    assert not {"could", "thanks", "that", "one", "dont", "and"} & vocab.words()
