"""Personal data however it is written: NHS and phone numbers split by punctuation or markup,
private numbers beside a public line, e-mail addresses in words, dates of birth and named
patients are errors; officials named in their role, figures and public lines stay allowed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.check.problems import Problem
from kb.check.untrusted import FIGURE_FIELDS
from kb.check.validate import validate_file
from kb.format.model import CaseStudy

VALID = Path(__file__).parent / "data" / "valid" / "norfolk-falls-prevention.md"


def check(source: str, tmp_path: Path) -> list[Problem]:
    path = tmp_path / VALID.name
    path.write_text(source, encoding="utf-8")
    problems, _, _ = validate_file(path)
    return problems


def check_body(text: str, tmp_path: Path) -> list[Problem]:
    """Problems of the valid example with `text` added to its 'Context' section."""
    source = VALID.read_text(encoding="utf-8")
    return check(source.replace("## Context\n", f"## Context\n\n{text}\n", 1), tmp_path)


def check_fields(text: str, tmp_path: Path) -> dict[str, list[Problem]]:
    """Problems of the valid example with `text` as a top-level, a list's and an outcome's
    text field, by field."""
    source = VALID.read_text(encoding="utf-8")
    quoted = json.dumps(text)
    found: dict[str, list[Problem]] = {}
    for field, old, new in (
        ("place", "place: Norfolk\n", f"place: {quoted}\n"),
        ("partners[0]", "partners: [Norfolk", f"partners: [{quoted}, Norfolk"),
        ("outcomes[0].note", "    value: 93\n", f"    value: 93\n    note: {quoted}\n"),
    ):
        problems = check(source.replace(old, new, 1), tmp_path)
        found[field] = [p for p in problems if p.field == field]
    return found


def personal(problems: list[Problem], word: str = "") -> list[Problem]:
    """The personal-data errors among `problems` whose message holds `word`."""
    return [
        p
        for p in problems
        if p.code == "personal-data" and p.severity == "error" and word in p.message
    ]


def assert_found_everywhere(text: str, word: str, tmp_path: Path) -> None:
    """`text` is a personal-data error, with a hint, in the body and in every kind of field."""
    found = personal(check_body(text, tmp_path), word)
    assert found and all(p.hint for p in found), text
    for field, problems in check_fields(text, tmp_path).items():
        assert personal(problems, word), (field, text)


def assert_allowed(text: str, tmp_path: Path) -> None:
    assert personal(check_body(text, tmp_path)) == [], text
    for field, problems in check_fields(text, tmp_path).items():
        assert personal(problems) == [], (field, text)


# ------------------------------------------------------------------------------------------
# 1. NHS numbers split by punctuation, a wide gap or markup (the page shows them joined)

SPLIT_NHS = [
    "943,476,5919",
    "943, 476, 5919",
    "943:476:5919",
    "943|476|5919",
    "| 943 | 476 | 5919 |",
    "943+476+5919",
    "943;476;5919",
    "943\u00b7476\u00b75919",  # middle dots
    "943    476    5919",
    "943\t\t\t\t476\t\t\t\t5919",
    "943\n    476\n    5919",
    "943 **476** 5919",
    "943**476**5919",
    "943 _476_ 5919",
    "943 ~~476~~ 5919",
    "943`476`5919",
    "943<b>476</b>5919",
    "943<em>476</em>5919",
    '943<span class="x">476</span>5919',
    "943<br>476<br>5919",
    "943<!-- -->476<!-- -->5919",
    "943<!-- a note -->476<!-- -->5919",
    "[943 476](https://example.org/page) 5919",
]


@pytest.mark.parametrize("text", SPLIT_NHS)
def test_split_nhs_numbers_are_errors(text: str, tmp_path: Path) -> None:
    assert_found_everywhere(f"The patient ({text}) was seen.", "NHS number", tmp_path)


def test_a_split_nhs_number_is_reported_where_it_starts(tmp_path: Path) -> None:
    found = personal(check_body("Seen: 943 **476** 5919.", tmp_path), "NHS number")
    context = VALID.read_text(encoding="utf-8").split("\n").index("## Context") + 1
    assert len(found) == 1 and found[0].line == context + 2 and found[0].column == 7
    assert "'943 **476** 5919'" in found[0].message


@pytest.mark.parametrize(
    "text",
    [
        "943,476,5910",  # the check digit fails
        "943 **476** 5910",
        "Saved £1,500,000,000 and 9,434,765,919 pence.",  # figures in threes, not NHS numbers
        "In 2018/19 2019/20, 2020/21 and 2021-22 the rate fell.",
        "In 2019, 120, 340 and 5,000 people; scores of 12, 15, 18, 21 and 24.",
        "| 2019 | 120 | 340 | 5000 |",
        "<table><tr><td>40</td><td>123</td><td>4567</td></tr></table>",
        "Open 09:00 to 17:00, 7 days; ratio 1:4; 2+2.",
        "DOI 10.1186/s12884-025-08096-9, 17 October 2025.",
        "Table 2.3 (2023-10-31); [version 2.23.4](https://example.org) (2023-10-31).",
    ],
)
def test_figures_lists_and_tables_are_not_split_numbers(text: str, tmp_path: Path) -> None:
    assert_allowed(text, tmp_path)


# ------------------------------------------------------------------------------------------
# 2. UK phone numbers split the same ways

SPLIT_PHONES = [
    "07700,900,123",
    "07700, 900123",
    "07700:900123",
    "0113|496|0000",
    "| 020 | 7946 | 0000 |",
    "07700+900+123",
    "+44+7700+900123",
    "07700    900123",
    "07700 **900** 123",
    "07700<b>900</b>123",
    "07700<!-- -->900<!-- -->123",
    "0113 _496_ 0000",
    "0113<p>496</p>0000",
]


@pytest.mark.parametrize("text", SPLIT_PHONES)
def test_split_phone_numbers_are_errors(text: str, tmp_path: Path) -> None:
    assert_found_everywhere(f"Ring the lead on {text} today.", "phone number", tmp_path)


# ------------------------------------------------------------------------------------------
# 3. a public line covers only the number next to 'helpline', 'switchboard' or 'freephone'

PRIVATE_BESIDE_PUBLIC = [
    "Helpline 0300 123 4567. Contact Jane on 07700 900123.",
    "The helpline is 0300 123 4567 and Jane's mobile is 07700 900123",
    "Freephone 0800 123 4567 or the lead nurse on 07700 900123",
    "Helpline: 0300 123 4567; Jane: 07700 900123",
    "0300 123 4567 (helpline), or ring Jane on 07700 900123",
    "Call the switchboard. Jane Doe is on 07700 900123",
    "| Helpline | 0300 123 4567 | Jane | 07700 900123 |",
]


@pytest.mark.parametrize("text", PRIVATE_BESIDE_PUBLIC)
def test_a_private_number_beside_a_public_line_is_an_error(text: str, tmp_path: Path) -> None:
    body = personal(check_body(text, tmp_path), "phone number")
    assert [p.message.split("'")[1] for p in body] == ["07700 900123"], text
    for field, problems in check_fields(text, tmp_path).items():
        found = personal(problems, "phone number")
        assert [p.message.split("'")[1] for p in found] == ["07700 900123"], (field, text)
        assert "next to" in found[0].hint


@pytest.mark.parametrize(
    "text",
    [
        "The Falls Helpline is 0300 123 4567.",
        "The helpline, open every day from 8am, is 0300 123 4567.",
        "Call 0113 496 0000 (switchboard) for the ward.",
        "Freephone 0800 123 456 or 0300 123 4567.",
        "Helplines: 0300 123 4567, 0300 765 4321 or 0113 496 0000.",
        "Ring 0300 123 4567, the council's switchboard.",
        "| Falls helpline | 0300 123 4567 |",
    ],
)
def test_a_public_line_next_to_its_word_is_fine(text: str, tmp_path: Path) -> None:
    assert_allowed(text, tmp_path)


# ------------------------------------------------------------------------------------------
# 4. e-mail addresses written out

WRITTEN_EMAILS = [
    "jane dot doe at gmail dot com",
    "jane.doe(at)gmail.com",
    "jane [at] gmail [dot] com",
    "jane.doe @ gmail.com",
    "jane.doe@ gmail.com",
    "jane{at}example{dot}org",
    "j.smith (at) nhs (dot) net",
    "sam.jones AT leeds DOT gov DOT uk",
    "jane at gmail.com",
    "jane.doe at leeds.gov.uk",
    "jane dot doe at leeds dot gov dot uk",
    "jane.doe -at- gmail -dot- com",
    "jane . doe @ gmail . com",
    "jane.doe [@] gmail.com",
]


@pytest.mark.parametrize("text", WRITTEN_EMAILS)
def test_written_out_emails_are_errors(text: str, tmp_path: Path) -> None:
    assert_found_everywhere(f"Contact {text} for details.", "e-mail", tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "Write to enquiries at nhs dot net.",
        "Write to enquiries (at) leeds.gov.uk or publichealth [at] leeds [dot] gov [dot] uk.",
        "The guidance was published at gov.uk in 2023.",
        "Read at a copy of the GOV.UK page, at nhs.uk and at www.england.nhs.uk.",
        "Figures as at 31.03.2023, at 1.5 times the rate.",
        "Spots and a polka dot dress at home.",
        "Contact Healthwatch at healthwatchleeds.co.uk; a stay-at-home parent.",
        "Follow @NHSEngland; a CPU @ 2.70GHz; version 1.2 @ 3.4.",
    ],
)
def test_role_addresses_and_prose_about_sites_are_fine(text: str, tmp_path: Path) -> None:
    assert_allowed(text, tmp_path)


def test_e_mail_before_a_bare_at_makes_it_an_address(tmp_path: Path) -> None:
    assert personal(check_body("E-mail jane at leeds.gov.uk for details.", tmp_path), "e-mail")
    assert personal(check_body("Jane at leeds.gov.uk wrote it.", tmp_path)) == []


def test_an_address_is_reported_once(tmp_path: Path) -> None:
    found = personal(check_body("Mail jane.doe@gmail.com . Or jane @ gmail.com", tmp_path))
    assert len(found) == 2


# ------------------------------------------------------------------------------------------
# 5. dates of birth, in words or beside a postcode

BIRTH_DATES = [
    "She was born on 3 March 1941.",
    "Date of birth: 3rd March 1941.",
    "DOB 03/03/41.",
    "D.O.B. 12.11.1938",
    "He was born 14/02/1950 in Leeds.",
    "Her birth date is 4 July 1939.",
    "Born March 3, 1941, she moved here.",
    "DoB: 1942-05-17",
    "Born on **3 March 1941**.",
    "DOB: 3-Mar-1941",
    "She was born on the 3rd of March 1941.",
    "date-of-birth: 3/3/41",
    "DOB 03031941",
    "Ethel Smith (b. 3/3/1941) moved here.",
    "She was born in March 1941.",
]


@pytest.mark.parametrize("text", BIRTH_DATES)
def test_dates_of_birth_are_errors(text: str, tmp_path: Path) -> None:
    assert_found_everywhere(text, "date of birth", tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "Jane, 03/03/1941, LS1 4AB.",
        "Visited at NR1 3QU, 12 May 1936.",
        "SW1A 1AA 03.03.41",
        "Postcode B15 2TT; 17/09/1944.",
        "ls1 4ab 03/03/1941",
        "LS1 4AB, born 1941.",
    ],
)
def test_a_postcode_with_a_date_of_birth_is_an_error(text: str, tmp_path: Path) -> None:
    assert_found_everywhere(text, "postcode", tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "Babies born on or after 1 April 2019 were offered it.",
        "Children born 1 April 2019 to 31 March 2020 took part.",
        "Born in Bradford follows 13,776 families.",
        "The hub opened on 3 March 2019 at 1 Park Row, LS1 4AB.",
        "Residents born outside the UK; born in 1941; babies born in March 2020.",
        "The Leeds LS1 4AB office; the trial ran from 1990 to 2005.",
    ],
)
def test_cohorts_and_an_organisations_address_are_fine(text: str, tmp_path: Path) -> None:
    assert_allowed(text, tmp_path)


# ------------------------------------------------------------------------------------------
# 6. named patients: a name with an age or a patient's word close beside it

NAMED_PATIENTS = [
    "Mrs Jane Doe, aged 82, lives alone.",
    "Mr Smith, 67, was referred.",
    "The patient John Smith was referred.",
    "Mrs Doe (84) was visited.",
    "An 82-year-old, Mrs Edith Brown, fell.",
    "82-year-old Mrs Edith Brown fell.",
    "Resident Mary Jones said it helped.",
    "Mr Patel, a patient at the practice, said so.",
    "Ms Amy Green, 45, a service user, said so.",
    "Service user Tom Brown said so.",
    "Mrs O'Brien, aged 91, said so.",
    "Mr J. Smith, aged 70, said so.",
    "Jane Doe, a resident of the home, said so.",
    "Jane Doe, aged 82, said so.",
    "Mrs Zoë Walker, 88, said so.",
    "Mrs Jane Doe, aged eighty-two, said so.",
    "Mr Smith, sixty-seven, said so.",
    "An eighty-two-year-old patient, John Smith, said so.",
    "John Smith, who is 67, said so.",
    "Mrs Doe, 82 years old, said so.",
    "Patient: Jane Doe.",
]


@pytest.mark.parametrize("text", NAMED_PATIENTS)
def test_named_patients_are_errors(text: str, tmp_path: Path) -> None:
    assert_found_everywhere(text, "named patient", tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "Dr Jane Smith, Director of Public Health, led it.",
        "Professor Sir Michael Marmot reviewed it.",
        "Dr Jane Smith, the practice's lead GP, said patients liked it.",
        "Dr Smith, a resident doctor, said so.",
        "Cllr Jane Smith, cabinet member for adult care, opened it.",
        "Patients aged 40 to 74 in Greater Manchester aged 65 and over.",
        "The West of England Patient Safety Collaborative and the Patient Experience Team.",
        "Mr Khan (Chief Executive) and Ms Lee (2019) wrote it.",
        "Dr Chris Hayre; only the opening was read.",
        "Residents of North Yorkshire, aged 65 to 74, took part.",
        "Practices in Tower Hamlets (45) and Hackney (30) took part.",
        "The Amazon Interactive Video Service User Guide; an http.Client (Mikeal Rogers).",
        "Dr Smith, ten years on, said so.",
        "Its [Resident Set Size](https://example.org) and the Client Certificate Portal.",
    ],
)
def test_officials_organisations_and_cohorts_are_fine(text: str, tmp_path: Path) -> None:
    assert_allowed(text, tmp_path)


# ------------------------------------------------------------------------------------------
# a figure written as a YAML number is a number, not the digits of an NHS or phone number


@pytest.mark.parametrize(
    "old, new",
    [
        ("    value: 175\n", "    value: 1500000000\n"),  # £1.5 billion
        ("    value: 175\n", "    value: 1500000000.0\n"),
        ("    value: 175\n", "    value: {low: 1500000000, high: 2500000000}\n"),
        ("    value: 93\n", "    value: 93\n    measure: level\n    baseline: 1500000000\n"),
        ("    value: 93\n", "    value: 93\n    measure: level\n    comparison: 1500000000\n"),
        ("    value: 93\n", "    value: 93\n    also: [{value: 1500000000, unit: GBP}]\n"),
        ("reviewed:", "funding:\n  amount_gbp: 1500000000\nreviewed:"),
    ],
)
def test_a_figure_field_is_not_read_as_an_nhs_number(old: str, new: str, tmp_path: Path) -> None:
    source = VALID.read_text(encoding="utf-8")
    assert old in source
    problems = check(source.replace(old, new, 1), tmp_path)
    assert personal(problems) == []


def test_a_count_out_of_a_whole_is_not_an_nhs_number(tmp_path: Path) -> None:
    source = VALID.read_text(encoding="utf-8")
    figure = "    value: 1500000000\n    unit: people\n    out_of: 9434765919\n    measure: level\n"
    problems = check(source.replace("    value: 175\n    unit: GBP\n", figure, 1), tmp_path)
    assert personal(problems) == []


def test_digits_in_a_text_field_or_a_non_figure_field_still_are(tmp_path: Path) -> None:
    source = VALID.read_text(encoding="utf-8")
    for old, new in (
        ("place: Norfolk\n", "place: 1500000000\n"),
        ("place: Norfolk\n", "place: '1500000000'\n"),
        ("    page: Systems taking incremental action, Norfolk\n", "    page: 9434765919\n"),
        ("    value: 93\n", "    value: 93\n    note: 9434765919\n"),
    ):
        problems = check(source.replace(old, new, 1), tmp_path)
        assert personal(problems, "NHS number"), new


def _numeric_fields(node: object, name: str, found: set[tuple[str, str]]) -> None:
    if isinstance(node, dict):
        if node.get("type") in ("number", "integer"):
            found.add((name, str(node["type"])))
        for key in ("anyOf", "oneOf", "allOf"):
            for option in node.get(key, []):
                _numeric_fields(option, name, found)
        for key, value in node.get("properties", {}).items():
            _numeric_fields(value, key, found)
        if "items" in node:
            _numeric_fields(node["items"], name, found)


def test_the_figure_fields_are_the_models_figures() -> None:
    """Every field the model takes a figure in (any number, or a whole: out_of) is a figure
    field; whole-number indexes, pages and years stay checked as text would be."""
    schema = CaseStudy.model_json_schema()
    found: set[tuple[str, str]] = set()
    for node in [schema, *schema.get("$defs", {}).values()]:
        _numeric_fields(node, "", found)
    figures = {name for name, kind in found if kind == "number"} | {"out_of"}
    assert figures == FIGURE_FIELDS
