"""SMS segment counting (GSM-7 vs UCS-2), which decides what an SMS costs."""

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
