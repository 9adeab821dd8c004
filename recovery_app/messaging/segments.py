"""SMS segment counting (GSM-7 vs UCS-2), which decides what an SMS costs."""

from dataclasses import dataclass

# GSM 03.38 basic character set, and the extension table whose characters take two septets.
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")
GSM7 = frozenset(GSM7_BASIC | GSM7_EXTENDED)


def is_gsm7(text: str) -> bool:
    return GSM7.issuperset(text)


def sms_segments(text: str) -> int:
    """How many segments carriers bill for `text` (a single segment holds 160 GSM-7 septets
    or 70 UCS-2 characters; concatenated ones 153 and 67)."""
    if not text:
        return 1
    if is_gsm7(text):
        # Extension characters are sent as an escape plus the character: two septets each.
        septets = len(text) + sum(text.count(ch) for ch in GSM7_EXTENDED.intersection(text))
        return 1 if septets <= 160 else -(-septets // 153)
    # UCS-2 counts UTF-16 code units: characters outside the BMP (emoji) take two.
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """What the SMS counter shows: the encoding, the length in its units, the segments billed
    and how many more units fit before the next segment starts."""

    encoding: str  # "GSM-7" | "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int  # 160 / 153 (GSM-7) or 70 / 67 (UCS-2)
    left_in_segment: int


def count_segments(text: str) -> SegmentCount:
    """`sms_segments` with its working shown, for a live counter under a message box."""
    if is_gsm7(text):
        encoding, single, multi = "GSM-7", 160, 153
        units = len(text) + sum(text.count(ch) for ch in GSM7_EXTENDED.intersection(text))
    else:
        encoding, single, multi = "UCS-2", 70, 67
        units = len(text.encode("utf-16-le")) // 2
    segments = sms_segments(text)
    per_segment = single if segments == 1 else multi
    return SegmentCount(encoding, units, segments, per_segment, segments * per_segment - units)
