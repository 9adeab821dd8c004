"""Template variables: `{{first_name}}` and friends, rendered with safe fallbacks so a message
never goes out as "Hi {{first_name}}"."""

import re
from collections.abc import Mapping

VARIABLE = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")

# What a variable reads as when the lead or tenant has no value for it.
FALLBACKS: dict[str, str] = {
    "first_name": "there",
    "last_name": "",
    "agent_name": "our team",
    "agent_first_name": "our team",
    "company_name": "our office",
    "property_interest": "your home search",
    "city": "the area",
    "open_house_address": "the open house",
    "price_drop_amount": "a price reduction",
    # The assigned agent's scheduling page (Settings -> Team); empty when they have none.
    "booking_link": "",
}


def variables_in(text: str) -> list[str]:
    return VARIABLE.findall(text)


def render(text: str, values: Mapping[str, object | None]) -> str:
    """Replace every `{{name}}`; empty or unknown values fall back, unknown names vanish."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = values.get(name)
        if value is None or str(value).strip() == "":
            return FALLBACKS.get(name, "")
        return str(value).strip()

    rendered = VARIABLE.sub(substitute, text)
    # A fallback of "" can leave doubled spaces or a space before punctuation.
    rendered = re.sub(r"[ \t]{2,}", " ", rendered)
    return re.sub(r" ([,.!?])", r"\1", rendered)
