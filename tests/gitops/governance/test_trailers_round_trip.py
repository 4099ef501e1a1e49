import pytest

from gitops.governance import trailers


def test_render_then_parse_round_trips_in_key_order():
    values = {trailers.DIGEST: "sha256:" + "a" * 64, trailers.ACTION: "promote", trailers.SERVICE: "api"}
    text = trailers.render(values)
    assert text.splitlines()[0] == "Delivery-Action: promote"
    assert trailers.parse(f"promote(prod/api): 1 → 2\n\nbody\n\n{text}\n") == values


def test_render_skips_empty_values_and_refuses_unknown_keys_and_newlines():
    assert trailers.render({trailers.TAG: "v1", trailers.REASON: None, trailers.APPROVER: ""}) == "Image-Tag: v1"
    with pytest.raises(ValueError, match="unknown trailer keys: Nope"):
        trailers.render({"Nope": "x"})
    with pytest.raises(ValueError, match="one line"):
        trailers.render({trailers.REASON: "two\nlines"})


@pytest.mark.parametrize("message", [
    "subject only",
    "subject\n\nImage-Tag: v1",  # a two-paragraph message whose body happens to look like a trailer
])
def test_parse_needs_a_trailer_paragraph_after_the_subject(message):
    expected = {"Image-Tag": "v1"} if message.endswith("v1") else {}
    assert trailers.parse(message) == expected


def test_a_last_paragraph_with_prose_has_no_trailers():
    assert trailers.parse("subject\n\nImage-Tag: v1\nthis line is prose\n") == {}


def test_a_pull_request_block_round_trips_inside_a_markdown_body():
    values = {trailers.SERVICE: "api", trailers.ENVIRONMENT: "prod", trailers.TAG: "v2",
              trailers.PROPOSAL_COMMIT: "c" * 40}
    body = f"Promotes **api**\n\n| a | b |\n\n{trailers.render_block(values)}\n\ntrailing text"
    assert trailers.parse_block(body) == values
    assert trailers.parse_block("no block here") is None
    assert trailers.parse_block("<!-- delivery-pipeline:promotion\n{not json}\n-->") is None
