"""GoHighLevel's wire format: its error bodies read in its own words, tokens as stored, the
pipelines and custom fields found in its answers."""

import pytest

from recovery_app.integrations import ghl


def test_errors_are_read_in_ghl_words() -> None:
    assert ghl.error_text('{"statusCode": 401, "message": "Invalid JWT"}') == "Invalid JWT"
    assert ghl.error_text('{"statusCode": 422, "message": ["a", "b"]}') == "a; b"
    assert ghl.error_text("<html>Bad gateway</html>") == "<html>Bad gateway</html>"


def test_tokens_are_stored_without_bearer_and_never_shown() -> None:
    assert ghl.check_token("  Bearer pit-abc123  ") == "pit-abc123"
    assert ghl.check_token("") is None
    with pytest.raises(ValueError, match="without spaces"):
        ghl.check_token("pit-abc 123")
    assert ghl.mask("pit-1234567890") == "…7890"
    assert ghl.mask("short") == "…"


def test_stages_and_fields_are_found_in_answers() -> None:
    pipelines = ghl.Answer(
        ghl.Verdict.OK,
        200,
        "",
        data={
            "pipelines": [
                {"id": "p1", "name": "Sales", "stages": [{"id": "s1", "name": "Won"}, {}]},
                {"name": "no id"},
            ]
        },
    )
    assert ghl.stages_of(pipelines) == [
        {"pipeline_id": "p1", "pipeline": "Sales", "stage_id": "s1", "stage": "Won"}
    ]
    fields = ghl.Answer(
        ghl.Verdict.OK,
        200,
        "",
        data={
            "customFields": [
                {"id": "f1", "name": "Recovery Score", "fieldKey": "contact.other"},
                {"id": "f2", "name": "x", "fieldKey": "contact.recovery_temperature"},
            ]
        },
    )
    assert ghl.field_id(fields, "contact.recovery_temperature", "Recovery temperature") == "f2"
    assert ghl.field_id(fields, "contact.recovery_score", "Recovery score") == "f1"  # by name
    assert ghl.field_id(fields, "contact.none", "None") is None
    notes = ghl.Answer(ghl.Verdict.OK, 200, "", data={"notes": [{"id": "n1", "body": "x [m 1]"}]})
    assert ghl.note_with(notes, "[m 1]") == "n1"
    assert ghl.note_with(notes, "[m 2]") is None
