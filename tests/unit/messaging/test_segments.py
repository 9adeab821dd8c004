import pytest

from recovery_app.messaging.segments import count_segments, is_gsm7, sms_segments


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # extension characters take two septets
        ("€" * 81, 2),
        ("é" * 160, 1),  # é is in the GSM-7 basic set
        ("ж" * 70, 1),  # Cyrillic forces UCS-2
        ("ж" * 71, 2),
        ("😀" * 35, 1),  # emoji are two UTF-16 units each
        ("😀" * 36, 2),
    ],
)
def test_segment_counts(text: str, segments: int) -> None:
    assert sms_segments(text) == segments


def test_gsm7_detection() -> None:
    assert is_gsm7("Hi Ana, reply STOP to opt out. {ok} €5")
    assert not is_gsm7("Hi Ana 😀")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a" * 160, ("GSM-7", 160, 1, 160, 0)),
        ("a" * 161, ("GSM-7", 161, 2, 153, 145)),
        ("€" * 3, ("GSM-7", 6, 1, 160, 154)),
        ("ж" * 70, ("UCS-2", 70, 1, 70, 0)),
        ("ж" * 71, ("UCS-2", 71, 2, 67, 63)),
        ("😀", ("UCS-2", 2, 1, 70, 68)),
    ],
)
def test_the_counter_shows_its_working(text: str, shown: tuple) -> None:
    counted = count_segments(text)
    assert (
        counted.encoding,
        counted.units,
        counted.segments,
        counted.per_segment,
        counted.left_in_segment,
    ) == shown
    assert counted.segments == sms_segments(text)
