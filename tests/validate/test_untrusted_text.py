"""Personal data, script-looking text and remote images, found however they are written."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.check.problems import Problem
from kb.check.validate import validate_file
from kb.format.html import sanitise_html

VALID = Path(__file__).parent / "data" / "valid" / "norfolk-falls-prevention.md"
ROOT = Path(__file__).resolve().parents[2]


def check_body(text: str, tmp_path: Path) -> list[Problem]:
    """Problems of the valid example with `text` added to its 'Context' section."""
    source = VALID.read_text(encoding="utf-8")
    path = tmp_path / VALID.name
    path.write_text(source.replace("## Context\n", f"## Context\n\n{text}\n", 1), "utf-8")
    problems, _, _ = validate_file(path)
    return problems


def check_field(line: str, tmp_path: Path) -> list[Problem]:
    """Problems of the valid example with one more front-matter line."""
    source = VALID.read_text(encoding="utf-8")
    path = tmp_path / VALID.name
    path.write_text(source.replace("place: Norfolk\n", f"{line}\n", 1), "utf-8")
    problems, _, _ = validate_file(path)
    return problems


def codes(problems: list[Problem], severity: str = "error") -> set[str]:
    return {p.code for p in problems if p.severity == severity}


NHS = [
    "943 476 5919",
    "943\u00a0476\u00a05919",  # no-break spaces
    "943  476  5919",
    "943\t476\t5919",
    "943.476.5919",
    "943/476/5919",
    "943-476-5919",
    "943\u200b476\u200b5919",  # zero-width spaces
    "943\u2060476\ufeff5919",
    "９４３ ４７６ ５９１９",  # fullwidth digits
    "NHS9434765919",
    "https://example.org/patients/9434765919/record",
    "https://example.org/p?nhs=943%20476%205919",
    "&#57;434765919",
    "9 4 3 4 7 6 5 9 1 9",
    "943\n476\n5919",
]


@pytest.mark.parametrize("text", NHS)
def test_nhs_numbers_are_found_however_written(text: str, tmp_path: Path) -> None:
    problems = check_body(f"The patient ({text}) was seen.", tmp_path)
    found = [p for p in problems if p.code == "personal-data" and "NHS number" in p.message]
    assert found and found[0].severity == "error"
    context = VALID.read_text(encoding="utf-8").split("\n").index("## Context") + 1
    assert found[0].line == context + 2  # the line the number starts on


def test_an_nhs_number_as_a_yaml_number_or_in_a_field(tmp_path: Path) -> None:
    assert "personal-data" in codes(check_field("place: 9434765919", tmp_path))
    assert "personal-data" in codes(check_field("place: NHS\u00a0943\u00a0476\u00a05919", tmp_path))
    assert "personal-data" in codes(check_field("place: [1, 9434765919]", tmp_path))


def test_ten_digits_failing_the_check_digit_are_not_nhs_numbers(tmp_path: Path) -> None:
    assert "personal-data" not in codes(check_body("Reference 943 476 5910.", tmp_path))


def test_a_journals_issn_and_volume_in_a_web_address_are_no_nhs_number(tmp_path: Path) -> None:
    """'2072-6643' and '14' pass the check digit together, but split digits in an address's path
    are identifiers; in its query string, or as one run of ten, they are still found."""
    url = "https://mdpi.com/2072-6643/14/15/3146"
    assert "personal-data" not in codes(check_body(f"Read at {url}.", tmp_path))
    assert "personal-data" not in codes(check_field(f"place: {url}", tmp_path))
    assert "personal-data" in codes(check_body("Seen 2072-6643/14 at home.", tmp_path))
    query = "https://example.org/p?id=2072-6643/14"
    assert "personal-data" in codes(check_body(f"Read at {query}.", tmp_path))


PERSONAL_EMAILS = [
    "sarah.health@gmail.com",
    "info@hotmail.co.uk",
    "sarah＠nhs.net",  # fullwidth at sign
    "zoë.smith@nhs.net",
    "josé@example.org",
    "j.smith@nhs.net",
    "amy.health@nhs.net",
    "sarah&#64;example.org",
    "mailto:sarah%40example.org",
    "ｓａｒａｈ@example.org",
]


@pytest.mark.parametrize("address", PERSONAL_EMAILS)
def test_personal_emails_are_errors(address: str, tmp_path: Path) -> None:
    problems = check_body(f"Contact {address} for details.", tmp_path)
    assert any(p.code == "personal-data" and "e-mail" in p.message for p in problems), problems


@pytest.mark.parametrize(
    "address", ["info@example.org", "publichealth.team@nhs.net", "england.contactus@nhs.net"]
)
def test_team_addresses_at_an_organisation_are_fine(address: str, tmp_path: Path) -> None:
    assert "personal-data" not in codes(check_body(f"Write to {address}.", tmp_path))


PHONES = [
    "07700 900123",
    "0044 7700 900123",
    "+44 7700 900123",
    "+44 (0)7700 900123",
    "07700.900.123",
    "07700-900-123",
    "０７７００ ９００１２３",
    "0113 496 0000",
    "(020) 7946 0000",
    "07700\u00a0900\u00a0123",
    "tel:07700900123",
]


@pytest.mark.parametrize("number", PHONES)
def test_phone_numbers_are_errors(number: str, tmp_path: Path) -> None:
    problems = check_body(f"Ring {number} to speak to the lead.", tmp_path)
    found = [p for p in problems if p.code == "personal-data" and "phone" in p.message]
    assert found and found[0].severity == "error", problems
    assert "helpline" in found[0].hint


@pytest.mark.parametrize(
    "line",
    [
        "The Falls Helpline is 0300 123 4567.",
        "Call the council switchboard on 0113 496 0000.",
        "| Advice | freephone 0800 123 456 or 0300 123 4567 |",
    ],
)
def test_a_public_service_line_is_marked_by_a_word_on_its_line(line: str, tmp_path: Path) -> None:
    assert "personal-data" not in codes(check_body(line, tmp_path))


def test_the_marker_must_be_on_the_same_line(tmp_path: Path) -> None:
    problems = check_body("The helpline:\n\n0300 123 4567", tmp_path)
    assert "personal-data" in codes(problems)


def test_a_phone_number_in_a_field_is_an_error_unless_the_field_marks_it(tmp_path: Path) -> None:
    assert "personal-data" in codes(check_field("place: Ring 07700 900123", tmp_path))
    assert "personal-data" not in codes(check_field("place: Helpline 0300 123 4567", tmp_path))


@pytest.mark.parametrize(
    "text",
    [
        "More than 4,000 people, 12,500 visits and £1,250,000 saved.",
        "In 2019 2020 2021 and 2022 the rate fell; 2019/20 to 2022/23.",
        "Between 01.04.2022 and 31.03.2023, 1 in 3 people over 65 fell.",
        "About 12 000 people, 3.5 per cent, ratio 1:4, ages 18-64.",
        "ISBN 978-1-4721-5063-8; DOI 10.1136/bmj.n1234.",
    ],
)
def test_figures_and_years_are_not_personal_data(text: str, tmp_path: Path) -> None:
    assert "personal-data" not in codes(check_body(text, tmp_path))


def test_the_real_case_studies_raise_no_personal_data_or_script_findings() -> None:
    for path in sorted((ROOT / "content").glob("*.md")):
        problems, entry, _ = validate_file(path)
        assert entry is not None, path
        found = [p for p in problems if p.code in ("personal-data", "unsafe-html", "remote-image")]
        assert found == [], path


SCRIPT = [
    '<a href="java&#x09;script:alert(1)">x</a>',
    "[x](jav&Tab;ascript:alert(1))",
    "[x](java\nscript:alert(1))",
    "[x](&amp;#106;avascript:alert(1))",
    "[x](&#0000106;avascript:alert(1))",
    "[x](JaVaScRiPt&colon;alert(1))",
    "[x](java\u200bscript:alert(1))",
    "[x](vbscript:msgbox)",
    "A paragraph.\n{: onclick=\"alert(1)\" }",
    "A paragraph. { #id .class onmouseover=alert(1) }",
    '" onmouseover="alert(1)',
    "' autofocus onfocus='alert(1)",
    "<a x<1 onclick=alert(1)>y</a>",
    "<a\nonclick=alert(1)>y</a>",
    "<img/onerror=alert(1) src=x>",
    "<svg><script>alert(1)</script></svg>",
]


@pytest.mark.parametrize("text", SCRIPT)
def test_script_looking_text_is_an_error_with_a_hint(text: str, tmp_path: Path) -> None:
    found = [p for p in check_body(text, tmp_path) if p.code == "unsafe-html"]
    assert found and all(p.severity == "error" and p.hint for p in found)


def test_script_in_a_field_is_an_error(tmp_path: Path) -> None:
    problems = check_field('place: "x\\" onmouseover=\\"alert(1)"', tmp_path)
    assert any(p.code == "unsafe-html" and p.field == "place" for p in problems)


def test_plain_prose_about_script_is_fine(tmp_path: Path) -> None:
    text = "They wrote JavaScript for the online portal; focus on outcomes = better care."
    assert codes(check_body(text, tmp_path)) == set()


REMOTE_IMAGES = [
    "<img src=https://tracker.example/p.gif>",
    '<IMG SRC="//tracker.example/p.gif">',
    "<img alt=x src='http://tracker.example/p.gif'>",
    "![](https://tracker.example/p.gif)",
    '![chart](<https://tracker.example/p.gif> "title")',
    "![chart][t]\n\n[t]: https://tracker.example/p.gif",
    "![t]\n\n[T]: //tracker.example/p.gif",
    "![x](local.png){: src=https://tracker.example/p.gif }",
]


@pytest.mark.parametrize("text", REMOTE_IMAGES)
def test_remote_images_are_reported_as_dropped(text: str, tmp_path: Path) -> None:
    found = [p for p in check_body(text, tmp_path) if p.code == "remote-image"]
    assert found, text
    assert "dropped" in found[0].message and found[0].hint


def test_a_local_image_is_not_reported(tmp_path: Path) -> None:
    problems = check_body("![chart](images/chart.png)", tmp_path)
    assert "remote-image" not in codes(problems, "warning")


@pytest.mark.parametrize(
    "html",
    [
        '<p><img src="https://tracker.example/p.gif" alt="x"></p>',
        '<p><img alt="x" src="//tracker.example/p.gif"></p>',
        '<p><img src="/\\tracker.example/p.gif"></p>',
        '<p><img src=" https://tracker.example/p.gif"></p>',
        '<p><img src="ht&#x09;tps://tracker.example/p.gif"></p>',
        '<p><img src="data:image/png;base64,AAAA"></p>',
    ],
)
def test_the_site_drops_images_from_other_servers(html: str) -> None:
    clean = sanitise_html(html)
    assert "<img" not in clean and "tracker" not in clean


def test_the_site_keeps_local_images() -> None:
    clean = sanitise_html('<p><img src="images/chart.png" alt="A chart"></p>')
    assert '<img src="images/chart.png" alt="A chart">' in clean
