from recovery_app.domain.campaigns.rendering import render, variables_in


def test_values_are_substituted() -> None:
    assert render(
        "Hi {{first_name}}, {{ agent_name }} here.", {"first_name": "Ana", "agent_name": "Bo"}
    ) == ("Hi Ana, Bo here.")


def test_missing_values_fall_back_and_never_leak_braces() -> None:
    rendered = render(
        "Hi {{first_name}}, about {{property_interest}} {{mystery}}!", {"first_name": "  "}
    )
    assert rendered == "Hi there, about your home search!"
    assert "{{" not in rendered


def test_variables_are_listed_in_order() -> None:
    assert variables_in("{{a}} and {{ b_2 }} and {{a}}") == ["a", "b_2", "a"]
