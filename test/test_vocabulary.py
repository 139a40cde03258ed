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
