"""How domain values read on screen: phone numbers, money, relative times."""

from datetime import datetime

import phonenumbers


def display_phone(e164: str | None) -> str:
    """(512) 555-0123 for US numbers, +44 20 7946 0958 for the rest, "" for none."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    fmt = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if number.country_code == 1
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, fmt)


def relative_time(moment: datetime | None, now: datetime) -> str:
    """ "just now", "12 min ago", "5 h ago", "3 d ago", or a date past 60 days."""
    if moment is None:
        return ""
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86_400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 60 * 86_400:
        return f"{int(seconds // 86_400)} d ago"
    return moment.strftime("%b %-d, %Y")


def elapsed(start: datetime, end: datetime | None) -> str:
    """How long after `start` something happened: "+4.2 s", "+3 min", "+2 h 5 min", "+3 d"."""
    if end is None:
        return ""
    seconds = max(0.0, (end - start).total_seconds())
    if seconds < 60:
        return f"+{seconds:.1f} s"
    if seconds < 3600:
        return f"+{int(seconds // 60)} min"
    if seconds < 86_400:
        hours, minutes = divmod(int(seconds // 60), 60)
        return f"+{hours} h {minutes} min" if minutes else f"+{hours} h"
    return f"+{int(seconds // 86_400)} d"


def display_source(source: str) -> str:
    return {
        "web_form": "Web form",
        "portal": "Listing portal",
        "ghl": "GoHighLevel",
        "open_house": "Open house",
        "referral": "Referral",
        "sms": "SMS",
    }.get(source, source.replace("_", " ").capitalize())
