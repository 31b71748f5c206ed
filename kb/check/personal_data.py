"""Personal data in contributed text: NHS numbers (check digit valid), UK phone numbers, e-mail
addresses (also written out), dates of birth, a postcode beside one, and named patients.

Numbers are read however they are split (spaces, punctuation, markup the page joins); a public
line is allowed only beside the word that says so ('helpline'); officials named in their role
stay allowed. Every scan takes time linear in the text."""

from __future__ import annotations

import bisect
import operator
import re
from collections.abc import Iterable, Iterator

from kb.check.views import Finding, _apart, _edit, _outside, _shown, _View

_EMAIL = re.compile(r"(?<![\w.%+'-])([\w.%+'-]++)@([\w-]++(?:\.[\w-]++)++)")


_EMAIL_MESSAGE = "'{text}' looks like an individual's e-mail address"


_EMAIL_HINT = (
    "remove personal data; give a team or organisation address (such as enquiries@...) at "
    "the organisation's own domain"
)


# how digits are split: spaces, dots (and middle dots), dashes, slashes, brackets; commas, colons,
# semicolons,
# bars and plus signs; or a wide gap (on one line or over two), as in a column of figures
_SEPARATOR = r"[\s.\-/\\()_,:;|+\u00b7\u2010-\u2015\u2022\u2027\u2212]"


_WIDE_GAP = r"(?=\s{4})[^\S\n]*+\n?[^\S\n]*+"


_NUMBER = re.compile(rf"\+?\d(?:(?:{_WIDE_GAP}|{_SEPARATOR}{{0,3}})\d)*+")


_LOOSE = re.compile(r"[,:;|+]|\s{4}")  # a gap that also divides a list or a table of figures


_LOOSE_CHARACTERS = frozenset(",:;|+")


_DIGITS = re.compile(r"\d++")


_URL_PATH = re.compile(r"(?:https?://|(?<![\w.])www\.)([^\s?#<>\"')\]]++)", re.IGNORECASE)


_PUBLIC_LINE = re.compile(r"\b(?:help ?lines?|switchboards?|freephone)\b", re.IGNORECASE)


# where a sentence or a clause ends: a full stop before a capital, ! ? ; or a line's end (a table's
# row is one: '| Falls helpline | 0300 123 4567 |')
_CLAUSE_END = re.compile(r"[;\n!?]|\.(?=[^\S\n]*+$|[^\S\n]++[A-Z])")


# numbers that a public line's word may name: any starting 0 (0800 ..., 0300 ...), 111, 999,
# 116 123
_SERVICE_NUMBER = re.compile(
    r"(?<![\d+])(?:0\d(?:[^\S\n]?[-.]?[^\S\n]?\d){7,9}|1(?:1[1-9]|16[^\S\n]?\d{3})|999)(?!\d)"
)


_BRACKETED = re.compile(r"[^\S\n]*+[(\[][^\S\n]*+")  # '0300 123 4567 (helpline)'


# what tells a number between a public line's word and its number is someone's own
_OWN_NUMBER = re.compile(r"\b(?:mobile|personal|private|own|his|her|their)\b", re.IGNORECASE)


_LIST_GAP = re.compile(r"[^\S\n]*+(?:,|/|,?[^\S\n]*+(?:or|and))?[^\S\n]*+", re.IGNORECASE)


_ROLE_WORDS = frozenset(
    {
        "info", "enquiries", "enquiry", "contact", "contactus", "us", "admin", "hello", "team",
        "office", "press", "media", "communications", "comms", "support", "help", "helpdesk",
        "feedback", "general", "mail", "reception", "england", "engagement", "partnerships",
        "partnership", "prevention", "publichealth", "public", "health", "nhs", "icb", "ics", "ccg",
        "noreply", "no", "reply", "webmaster", "service", "services", "programme", "programmes",
        "project", "projects", "data", "digital", "events", "bookings", "booking", "referrals",
        "referral", "hr", "jobs", "careers", "recruitment", "safeguarding", "accessibility", "foi",
        "pals", "complaints", "patient", "patients", "experience", "queries", "query", "research",
        "evaluation", "innovation", "improvement", "population", "wellbeing", "network", "alliance",
        "board", "council", "uk", "gov", "org", "business", "finance", "commissioning",
        "transformation", "care", "integrated", "system", "systems", "inclusion", "equality", "hub",
        "desk", "unit",
    }
)  # fmt: skip


# addresses anyone can open: an address there is an individual's, whatever its local part says
_FREE_MAIL_NAMES = frozenset(
    {
        "gmail", "googlemail", "hotmail", "outlook", "yahoo", "ymail", "icloud", "aol",
        "protonmail", "btinternet", "gmx", "yandex", "tutanota", "virginmedia", "talktalk",
    }
)  # fmt: skip


_FREE_MAIL_DOMAINS = frozenset(
    {
        "live.com", "live.co.uk", "msn.com", "me.com", "mac.com", "mail.com", "sky.com", "pm.me",
        "proton.me", "fastmail.com", "hey.com", "zoho.com",
    }
)  # fmt: skip


_NHS_WEIGHTS = range(10, 1, -1)  # the weights of an NHS number's first nine digits


def nhs_number_valid(digits: str) -> bool:
    """True if ten digits pass the NHS number modulus-11 check."""
    if len(digits) != 10 or not digits.isdigit() or len(set(digits)) == 1:
        return False
    total = sum(map(operator.mul, map(int, digits[:9]), _NHS_WEIGHTS))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def _uk_phone(digits: str, international: bool) -> bool:
    """True for a UK number starting 01, 02, 03 or 07, written nationally or as +44 / 0044."""
    if digits.startswith("0044"):
        rest = digits[4:]
    elif digits.startswith("44") and (international or len(digits) in (12, 13)):
        rest = digits[2:]
    else:
        return len(digits) == 11 and digits[0] == "0" and digits[1] in "1237"
    rest = rest[1:] if rest.startswith("0") else rest  # +44 (0)20 ...
    return len(rest) == 10 and rest[0] in "1237"


def _role_word(token: str) -> bool:
    """'team', or role words run together ('contactus', 'publichealthteam')."""
    if token in _ROLE_WORDS or token.isdigit():
        return True
    if len(token) > 40:
        return False
    ends = {0}
    for end in range(1, len(token) + 1):
        if any(token[start:end] in _ROLE_WORDS for start in ends if start < end):
            ends.add(end)
    return len(token) in ends


def _free_mail(domain: str) -> bool:
    """Whether anyone can open an address at `domain` (gmail.com, hotmail.co.uk, me.com)."""
    domain = domain.lower()
    return bool(_FREE_MAIL_NAMES & set(domain.split("."))) or domain in _FREE_MAIL_DOMAINS


def _personal_email(match: re.Match[str]) -> bool:
    """An address at a free-mail domain, or with a local part not all role words, is a person's."""
    if _free_mail(match.group(2)):
        return True
    tokens = [t for t in re.split(r"[._%+'-]+", match.group(1).lower()) if t]
    return not tokens or not all(_role_word(t) for t in tokens)


_PHONE_MESSAGE = "'{text}' looks like a UK phone number; a person's number must not be published"


_PHONE_HINT = (
    "remove it; a public service line may stay when 'helpline', 'switchboard' or 'freephone' "
    "is written next to its number (in the same sentence or clause)"
)


_NHS_MESSAGE = "'{text}' looks like an NHS number (its check digit is valid)"


_NHS_HINT = "remove it: a case study must never identify a patient"


_PHONE_STARTS = ("01", "02", "03", "07", "44", "0044")  # what a UK phone number starts with


def _grouped(kind: str, groups: list[str], loose: list[bool], first: int, last: int) -> bool:
    """Digits split by a comma, colon, bar, plus or wide gap (which also divide lists and tables
    of figures) are a number only when grouped as one is written: an NHS number 3, 3 and 4; a
    phone number in groups of three digits or more, after any '44' and '(0)'."""
    if not any(loose[first:last]):
        return True
    if kind == "nhs":  # ten digits in three groups, the first two of three
        return last - first == 2 and len(groups[first]) == len(groups[first + 1]) == 3
    skip = 1 if groups[first] in ("44", "0044") else 0
    if skip and first + 1 <= last and groups[first + 1] == "0":
        skip = 2
    return all(len(group) >= 3 for group in groups[first + skip : last + 1])


def _number_windows(
    groups: list[str], international: bool, loose: list[bool]
) -> Iterator[tuple[int, int, str]]:
    """(first, last, kind) of the runs of digit groups that form an NHS or a UK phone number.

    A run must start and end at a group's edge; each group is looked at a bounded number of times.
    `loose[i]` says whether the gap after group i also divides a list of figures.
    """
    digits = "".join(groups)
    edges = [0]
    for group in groups:
        edges.append(edges[-1] + len(group))
    group_ending_at = {edge: index - 1 for index, edge in enumerate(edges)}
    first = 0
    while first < len(groups):
        begin = edges[first]
        found: tuple[int, str] | None = None
        last = group_ending_at.get(begin + 10)
        if (
            last is not None
            and _grouped("nhs", groups, loose, first, last)
            and nhs_number_valid(digits[begin : begin + 10])
        ):
            found = (last, "nhs")
        elif digits.startswith(_PHONE_STARTS, begin):
            for length in (11, 12, 13, 14):
                last = group_ending_at.get(begin + length)
                if (
                    last is not None
                    and _uk_phone(digits[begin : begin + length], international and first == 0)
                    and _grouped("phone", groups, loose, first, last)
                ):
                    found = (last, "phone")
                    break
        if found:
            yield first, found[0], found[1]
            first = found[0] + 1
        else:
            first += 1


_THOUSANDS = re.compile(r"(?<![\d,])\d{1,3}(?:,\d{3})++(?!\d|,\d)")  # '1,500,000,000'


_PERIOD = re.compile(r"(?<!\d)((?:19|20)\d\d)[/\-\u2010-\u2015](\d{4}|\d\d)(?!\d)")  # '2018/19'


_FULL_DATE = re.compile(  # '2023-10-31', '31/10/2023', '31.10.2023'
    r"(?<!\d)(?:(?:19|20)\d\d-[01]\d-[0-3]\d"
    r"|(?:0?[1-9]|[12]\d|3[01])([/.\-])(?:0?[1-9]|1[0-2])\1(?:19|20)\d\d)(?!\d)"
)


def _figures(found: str, spans: list[tuple[int, int]]) -> list[bool]:
    """Which digit groups (at `spans` in `found`) belong to a figure written as one: digits in
    threes after commas, '1,500,000,000', a year span such as '2018/19' or '2018-2019', or a
    date, '2023-10-31'. A figure is no part of an NHS or phone number (£1.5 billion passes the
    NHS check digit)."""
    figure = [False] * len(spans)
    if "," not in found and not _PERIOD.search(found) and not _FULL_DATE.search(found):
        return figure
    starts = [start for start, _ in spans]
    marked = [m.span() for m in _THOUSANDS.finditer(found)]
    marked += [m.span() for m in _FULL_DATE.finditer(found)]
    for match in _PERIOD.finditer(found):
        year, end = match.groups()
        following = int(year) + 1
        if int(end) == (following if len(end) == 4 else following % 100):
            marked.append(match.span())
    for begin, end in marked:
        first = bisect.bisect_left(starts, begin)
        last = bisect.bisect_left(starts, end)
        figure[first:last] = [True] * (last - first)
    return figure


def _url_paths(text: str) -> list[tuple[int, int]]:
    """Spans of the paths of web addresses in a text (a query string is not part of one)."""
    if "://" not in text and "www." not in text:
        return []
    return [m.span(1) for m in _URL_PATH.finditer(text)]


def _number_spans(view: _View) -> Iterator[tuple[int, int, str]]:
    """Source spans and kinds ('nhs', 'phone') of NHS and UK phone numbers, however their
    digits are spaced or split; in the path of a web address, only ten digits in one run (split
    digits there are a journal's ISSN and volume, '2072-6643/14', or a page's date)."""
    paths = _url_paths(view.text)
    starts = [start for start, _ in paths]
    for chain in _NUMBER.finditer(view.text):
        found = chain.group()
        if len(found) < 10:
            continue
        at = bisect.bisect_right(starts, chain.start()) - 1
        in_path = at >= 0 and chain.end() <= paths[at][1]
        spans = [m.span() for m in _DIGITS.finditer(found)]
        groups = [found[s:e] for s, e in spans]
        gaps = [found[spans[i][1] : spans[i + 1][0]] for i in range(len(spans) - 1)]
        figure = _figures(found, spans)
        if _LOOSE.search(found):
            loose = [gap in _LOOSE_CHARACTERS or bool(_LOOSE.search(gap)) for gap in gaps]
        else:
            loose = [False] * len(gaps)
        index = 0
        while index < len(groups):  # each run of groups between figures
            if figure[index]:
                index += 1
                continue
            end = index
            while end + 1 < len(groups) and not figure[end + 1]:
                end += 1
            international = index == 0 and found.startswith("+")
            windows = _number_windows(groups[index : end + 1], international, loose[index:end])
            for first, last, kind in windows:
                if in_path and last > first:
                    continue  # digits split by '-' or '/' in a web address: an ISSN and a volume
                first, last = first + index, last + index
                begin = view.source(chain.start() + (spans[first][0] if first else 0))
                yield begin, view.source(chain.start() + spans[last][1] - 1) + 1, kind
            index = end + 1


def _next_to(text: str, start: int, end: int) -> bool:
    """Whether text[start:end], between a public line's word and a number, keeps them together:
    short, and not saying whose the number is ('and Jane's mobile is')."""
    return end - start <= 60 and not _OWN_NUMBER.search(text, start, end)


def _public_lines(text: str, plain: _View, phones: list[tuple[int, int]]) -> set[int]:
    """Which of `phones` (source spans, in order) are public service lines: the number next to
    'helpline', 'switchboard' or 'freephone' in the same sentence or clause (the first number
    after the word, or the one just before '(helpline)'), and the numbers listed with it
    ('freephone 0800 123 456 or 0300 123 4567'). A person's number elsewhere in the text is
    not covered."""
    words = [
        (plain.source(m.start()), plain.source(m.end() - 1) + 1)
        for m in _PUBLIC_LINE.finditer(plain.text)
    ]
    if not words or not phones:
        return set()
    ends = [plain.source(m.start()) for m in _CLAUSE_END.finditer(plain.text)]
    # every number that could be a line, each with the index of the phone it is (or -1)
    lines = [(begin, end, index) for index, (begin, end) in enumerate(phones)]
    for match in _SERVICE_NUMBER.finditer(plain.text):
        begin, end = plain.source(match.start()), plain.source(match.end() - 1) + 1
        lines.append((begin, end, -1))
    lines.sort()
    kept: list[tuple[int, int, int]] = []
    for line in lines:  # a service number that is also a phone found counts once
        if kept and line[0] < kept[-1][1]:
            if line[2] >= 0 and kept[-1][2] < 0:
                kept[-1] = line
            continue
        kept.append(line)
    starts = [line[0] for line in kept]
    clause = [bisect.bisect_right(ends, line[0]) for line in kept]
    claimed: set[int] = set()
    taken = [False] * len(kept)
    for begin, end in words:
        here = bisect.bisect_right(ends, begin)
        after = bisect.bisect_left(starts, end)
        before = after - 1
        has_after = (
            after < len(kept) and clause[after] == here and _next_to(text, end, kept[after][0])
        )
        has_before = (
            before >= 0
            and clause[before] == here
            and kept[before][1] <= begin
            and _next_to(text, kept[before][1], begin)
        )
        if has_before and _BRACKETED.fullmatch(text, kept[before][1], begin):
            pick = before
        elif has_after:
            pick = after
        elif has_before:
            pick = before
        else:
            continue
        while not taken[pick]:
            taken[pick] = True
            if kept[pick][2] >= 0:
                claimed.add(kept[pick][2])
            following = pick + 1
            if following == len(kept) or clause[following] != here:
                break
            if not _LIST_GAP.fullmatch(text, kept[pick][1], kept[following][0]):
                break
            pick = following
    return claimed


def _scan_numbers(text: str, views: Iterable[_View], plain: _View | None) -> list[Finding]:
    """NHS numbers and UK phone numbers in `text`, read in each of `views`; a phone number is
    kept when `plain` (the text as read) marks it as a public service line."""
    spans: list[tuple[int, int, str]] = []
    for view in views:
        spans += _number_spans(view)
    spans = _apart(sorted(spans, key=lambda s: (s[0], -s[1])))
    phones = [(begin, end) for begin, end, kind in spans if kind == "phone"]
    public = _public_lines(text, plain, phones) if plain is not None else set()
    found: list[Finding] = []
    phone = 0
    for begin, end, kind in spans:
        shown = _shown(text, begin, end)
        if kind == "nhs":
            message = _NHS_MESSAGE.format(text=shown)
            found.append((begin, end, message, _NHS_HINT, "error", "personal-data"))
            continue
        if phone not in public:
            message = _PHONE_MESSAGE.format(text=shown)
            found.append((begin, end, message, _PHONE_HINT, "error", "personal-data"))
        phone += 1
    return found


_WRITTEN_MAIL = re.compile(
    r"(?=[\s(\[{<@])"  # (each form starts with a space, a bracket or '@')
    r"(?:(?P<at>(?<![^\S\n])[^\S\n]*+[(\[{<][^\S\n]*+(?:at|@)[^\S\n]*+[)\]}>][^\S\n]*+)"
    r"|(?P<dot>(?<![^\S\n])[^\S\n]*+[(\[{<][^\S\n]*+dot[^\S\n]*+[)\]}>][^\S\n]*+)"
    r"|(?P<spaced>(?<=[\w.])[^\S\n]*+@[^\S\n]++)"
    r"|(?P<word_dot>(?<=\w)[^\S\n]++(?:dot|\.)[^\S\n]++(?=\w))"
    r"|(?P<word_at>(?<=\w)[^\S\n]++at[^\S\n]++(?=\w))"
    r"|(?P<dash_at>(?<=\w)[^\S\n]++-at-[^\S\n]++(?=\w))"
    r"|(?P<dash_dot>(?<=\w)[^\S\n]++-dot-[^\S\n]++(?=\w)))",
    re.IGNORECASE,
)


_DOTTED = re.compile(r"\w[._]\w")  # a local part such as 'jane.doe'


_TOP_LEVEL = re.compile(r"\.[A-Za-z]{2,}$")  # an address's domain ends '.com', '.uk'


_MAIL_CUE = re.compile(r"\b(?:e-?mail(?:ed)?|mail)\b", re.IGNORECASE)


_WRITTEN_MESSAGE = "'{text}' looks like an individual's e-mail address, written out"


_WRITTEN_HINT = (
    _EMAIL_HINT + "; 'at' and 'dot' written as words or in brackets still give the address"
)


def _bare_address(text: str, match: re.Match[str]) -> bool:
    """Whether 'x at y.z' is an address: at a free-mail domain, with a dotted local part
    ('jane.doe at nhs.net'), or after 'e-mail' ('e-mail jane at leeds.gov.uk')."""
    if _free_mail(match.group(2)) or _DOTTED.search(match.group(1)):
        return True
    line = max(text.rfind("\n", 0, match.start()) + 1, match.start() - 30)
    return bool(_MAIL_CUE.search(text, line, match.start()))


def _scan_written_mail(text: str, view: _View) -> Iterator[Finding]:
    """Personal e-mail addresses with 'at' and 'dot' written out, in brackets or spaced.

    A bare ' at ' is an address's only when the rest shows one too (a 'dot' written out, a
    free-mail domain or a dotted local part): 'published at gov.uk' is no address.
    """
    edits: list[tuple[int, int, str]] = []
    marks: list[int] = []  # where each replacement is in the new text
    kinds: list[str] = []
    shift = 0
    for match in _WRITTEN_MAIL.finditer(view.text):
        kind = match.lastgroup or ""
        replacement = "." if kind in ("dot", "word_dot", "dash_dot") else "@"
        edits.append((match.start(), match.end(), replacement))
        marks.append(match.start() + shift)
        kinds.append(kind)
        shift += len(replacement) - (match.end() - match.start())
    if not edits:
        return
    mail = _edit(view, edits)
    for match in _EMAIL.finditer(mail.text):
        first = bisect.bisect_left(marks, match.start())
        used = kinds[first : bisect.bisect_left(marks, match.end())]
        if not used or not _TOP_LEVEL.search(match.group(2)) or not _personal_email(match):
            continue
        if all(kind == "word_at" for kind in used) and not _bare_address(mail.text, match):
            continue
        start, end = mail.source(match.start()), mail.source(match.end() - 1) + 1
        message = _WRITTEN_MESSAGE.format(text=_shown(text, start, end))
        yield start, end, message, _WRITTEN_HINT, "error", "personal-data"


_SP = r"[^\S\n]"


_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?(?![a-z])"
)


_DAY = r"(?<!\d)(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?(?![\da-z])"


_PART_GAP = rf",?{_SP}*+[-/.]?{_SP}*+"  # between a date's parts: '3 March', '3-Mar-41'


_DATE = (
    rf"(?:{_DAY}{_PART_GAP}(?:of{_SP}++)?{_MONTH}{_PART_GAP}(?:\d{{4}}|'?\d\d)(?!\d)"
    rf"|{_MONTH}{_PART_GAP}{_DAY}{_PART_GAP}(?:\d{{4}}|'?\d\d)(?!\d)"
    r"|(?<!\d)(?:0?[1-9]|[12]\d|3[01])([/.\-])\d\d?\1(?:\d{4}|\d\d)(?!\d)"
    r"|(?<!\d)(?:1[89]|20)\d\d-[01]\d-[0-3]\d(?!\d))"
)


_BIRTH_DATE = re.compile(
    rf"\b(?:born|date(?:{_SP}|-)++of(?:{_SP}|-)++birth|d\.?{_SP}?o\.?{_SP}?b\b\.?"
    rf"|birth{_SP}*+date|birthday|(?<![\w.])b\.(?={_SP}*+\d))(?![a-z]){_SP}*+[:\-\u2013\u2014=(,]?{_SP}*+"
    rf"(?:(?:is|was|on|of){_SP}++)?(?:the{_SP}++)?"
    rf"(?:{_DATE}|(?<!\d)(?:0[1-9]|[12]\d|3[01])(?:0[1-9]|1[0-2])(?:19\d\d|20\d\d|\d\d)(?!\d))"
    rf"(?!{_SP}*+(?:(?:to|until|till|and|or|-|\u2013|\u2014){_SP}*+\d"
    rf"|or{_SP}++(?:later|after|before|earlier)|onwards))",
    re.IGNORECASE,
)


_BORN_IN_MONTH = re.compile(  # 'born in March 1941'
    rf"\bborn{_SP}++(?:in{_SP}++)?{_MONTH},?{_SP}*+(?:19|20)\d\d(?!\d)", re.IGNORECASE
)


_BIRTH_YEAR = re.compile(rf"\bborn{_SP}++(?:in{_SP}++)?(?:19|20)\d\d(?!\d)", re.IGNORECASE)


_ANY_DATE = re.compile(_DATE, re.IGNORECASE)


_POSTCODE = re.compile(  # in capitals or all in small letters: 'LS1 4AB', 'ls1 4ab'
    r"(?<![A-Za-z0-9])(?:(?:[A-Z]{1,2}\d[A-Z\d]?|GIR)[^\S\n]?\d[ABD-HJLNP-UW-Z]{2}"
    r"|[a-z]{1,2}\d[a-z\d]?[^\S\n]?\d[abd-hjlnp-uw-z]{2})(?![A-Za-z0-9])"
)


_BIRTH_MESSAGE = (
    "'{text}' looks like a date of birth; a person's date of birth must not be published"
)


_BIRTH_HINT = (
    "remove it: a case study must never identify a patient; give an age band instead "
    "('aged 80 and over')"
)


_POSTCODE_MESSAGE = (
    "'{text}' looks like a date of birth with a postcode: together they identify a person"
)


_POSTCODE_HINT = (
    "remove the date (and the postcode, unless it is an organisation's address): a case study "
    "must never identify a patient"
)


def _birth_like(date: str) -> bool:
    """A date that could be a living person's birth: a year from 1900 to 2009, or two digits."""
    numbers = _DIGITS.findall(date)
    year = numbers[0] if len(numbers[0]) == 4 else numbers[-1]
    return len(year) == 2 or 1900 <= int(year) <= 2009


def _scan_birth_dates(text: str, view: _View) -> Iterator[Finding]:
    """Dates of birth given as such, and birth-like dates near a postcode on the same line."""
    said = [m.span() for m in _BIRTH_DATE.finditer(view.text)]
    months = [m.span() for m in _BORN_IN_MONTH.finditer(view.text) if _birth_like(m.group())]
    if months:
        said = _apart(sorted(said + months))
    for begin, end in said:
        start, stop = view.source(begin), view.source(end - 1) + 1
        message = _BIRTH_MESSAGE.format(text=_shown(text, start, stop))
        yield start, stop, message, _BIRTH_HINT, "error", "personal-data"
    if not _POSTCODE.search(view.text):
        return
    dates = [
        m.span()
        for pattern in (_ANY_DATE, _BIRTH_YEAR)
        for m in pattern.finditer(view.text)
        if _birth_like(m.group())
    ]
    dates = _outside(_apart(sorted(dates)), said)  # one said as such is reported already
    starts = [start for start, _ in dates]
    for match in _POSTCODE.finditer(view.text):
        at = bisect.bisect_left(starts, match.start())
        for begin, end in (dates[i] for i in (at - 1, at) if 0 <= i < len(dates)):
            low, high = min(begin, match.start()), max(end, match.end())
            if high - low <= 100 and "\n" not in view.text[low:high]:
                start, stop = view.source(low), view.source(high - 1) + 1
                message = _POSTCODE_MESSAGE.format(text=_shown(text, start, stop))
                yield start, stop, message, _POSTCODE_HINT, "error", "personal-data"
                break


_NAME_WORD = (
    r"[A-Z\u00c0-\u00d6\u00d8-\u00de](?:['\u2019\-]?[A-Z\u00c0-\u00d6\u00d8-\u00de]?"
    r"[a-z\u00df-\u00f6\u00f8-\u00ff]++)++(?!\w)"
)


_NAME_PART = rf"(?:{_NAME_WORD}|[A-Z]\.?(?!\w))"


_TITLED = re.compile(
    rf"(?<![\w.])(?:Mrs|Mr|Ms|Miss|Mx|Master|Dr|Madam)\.?{_SP}++{_NAME_PART}"
    rf"(?:{_SP}++{_NAME_PART}){{0,2}}"
)


_CAPITALISED = re.compile(rf"(?<![\w'\u2019\-]){_NAME_WORD}(?:{_SP}++{_NAME_WORD})*+")


_WORD = re.compile(_NAME_WORD)


# an age in words: 'eighty-two', 'ninety', 'a hundred and one'
_AGE_WORDS = (
    r"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[- ](?:one|two|three|four"
    r"|five|six|seven|eight|nine))?(?![a-z])|(?:ten|eleven|twelve|thirteen|fourteen|fifteen"
    r"|sixteen|seventeen|eighteen|nineteen)(?![a-z])|(?:a|one)[- ]hundred(?:[- ]and[- ][a-z]+)?)"
)


_YEARS_OLD = rf"(?:\d{{1,3}}|{_AGE_WORDS})[- ]years?[- ]old"  # '82-year-old', 'ninety-year-old'


_PATIENT_WORD = (
    r"(?:patient|in-?patient|out-?patient|resident|service[ -]user|client)\b"
    r"(?![ -](?:safety|experience|representatives?|reps?|leaders?|partners?|voices?|champions?"
    r"|participation|involvement|engagement|groups?|panels?|forums?|councils?|associations?"
    r"|led|advis[eo]rs?|doctors?|physicians?|gps?|nurses?|registrars?|surgeons?|staff))"
)


_PATIENT_BEFORE = re.compile(
    rf"(?<![\w./\\])(?:(?:patient|in-?patient|out-?patient|resident|service[ -]user){_SP}*+"
    rf"[:,(\-\u2013\u2014]?|client{_SP}*+[:,\-\u2013\u2014]?){_SP}*+(?:(?:called|named){_SP}++)?\Z",
    re.IGNORECASE,
)


_PATIENT_AFTER = re.compile(
    rf"{_SP}*+(?:[,(\-\u2013\u2014]{_SP}*+)?(?:(?:who{_SP}++(?:is|was)|is|was){_SP}++)?"
    rf"(?:(?:a|an|the|our|one|another){_SP}++)?(?:(?:{_YEARS_OLD}|local|elderly|older|former"
    rf"|frail|long-term|care[- ]home){_SP}++)?{_PATIENT_WORD}",
    re.IGNORECASE,
)


_AGE_AFTER = re.compile(
    rf"{_SP}*+(?:(?P<mark>[,(\-\u2013\u2014]){_SP}*+)?(?P<who>(?:who{_SP}++is|now){_SP}++)?"
    rf"(?P<aged>aged?{_SP}++)?(?P<age>\d{{1,3}}|{_AGE_WORDS})(?P<years>{_SP}*+-?{_SP}*+(?:years?|yrs?)"
    rf"(?:{_SP}*+-?{_SP}*+old)?|{_SP}*+y/?o\b)?(?={_SP}*+(?:[,;:)]|\.(?!\d)|\Z))",
    re.IGNORECASE,
)


_AGE_BEFORE = re.compile(
    rf"(?<![\da-z]){_YEARS_OLD}(?:[,:(\-\u2013\u2014]?{_SP}++(?:[a-z]+{_SP}++){{0,2}})?\Z",
    re.IGNORECASE,
)


# words of organisations, places and sentences, not of a person's name
_NOT_NAMES = frozenset(
    {
        "the", "a", "an", "this", "that", "these", "those", "our", "their", "his", "her", "its",
        "one", "each", "every", "another", "some", "all", "any", "in", "on", "at", "of", "for",
        "from", "with", "by", "and", "or", "but", "if", "when", "while", "after", "before",
        "during", "since", "as", "to", "case", "study", "studies", "safety", "experience",
        "group", "groups", "council", "forum", "panel", "liaison", "service", "services",
        "advice", "voice", "voices", "reported", "outcome", "outcomes", "measure", "measures",
        "care", "health", "network", "association", "partnership", "champion", "champions",
        "leader", "leaders", "representative", "representatives", "engagement", "involvement",
        "participation", "day", "days", "centre", "center", "trust", "board", "committee",
        "team", "hub", "survey", "record", "records", "portal", "app", "online", "access",
        "support", "programme", "project", "scheme", "society", "foundation", "charity",
        "university", "college", "school", "practice", "surgery", "clinic", "hospital",
        "hospitals", "primary", "community", "mental", "public", "national", "royal", "local",
        "integrated", "system", "england", "wales", "scotland", "ireland", "north", "south",
        "east", "west", "greater", "city", "county", "borough", "district", "street", "road",
        "feedback", "story", "stories", "week", "month", "year", "january", "february",
        "march", "april", "may", "june", "july", "august", "september", "october", "november",
        "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
        "sunday", "first", "led", "plan", "strategy", "review", "report", "patient", "patients",
        "resident", "residents", "client", "clients", "user", "users", "home", "homes",
        "housing", "social", "medical", "general", "nursing", "older", "people", "adult",
        "adults", "children", "young", "family", "families", "carer", "carers",
    }
)  # fmt: skip


_PATIENT_MESSAGE = (
    "'{text}' looks like a named patient or resident (a name beside an age or a word such as "
    "'patient'); a person cared for must not be identified"
)


_PATIENT_HINT = (
    "remove the name: describe the person without it ('a woman in her eighties'); staff and "
    "officials named in their role (Dr Jane Smith, Director of Public Health) may stay"
)


_SENTENCE_START = re.compile(r"(?:^|[.!?;][\s\"'\u201c(]*+|^[\s>*+\-\"'\u201c(]*+)\Z")


def _starts_sentence(text: str, offset: int) -> bool:
    """Whether the word at `offset` starts a sentence, or a line or list item ('Resident Mary
    Jones said'), rather than being one of a name's capitals ('the Resident Set Size')."""
    line_start = max(text.rfind("\n", 0, offset) + 1, offset - 40)
    return bool(_SENTENCE_START.search(text[line_start:offset]))


def _named_patient(text: str, start: int, end: int, *, titled: bool = False) -> bool:
    """Whether the name at text[start:end] has an age or a patient's word close beside it."""
    line_start = max(text.rfind("\n", 0, start) + 1, start - 40)
    line_end = text.find("\n", end, end + 60)
    before = text[line_start:start]
    after = text[end : line_end if line_end >= 0 else end + 60]
    word = _PATIENT_BEFORE.search(before)
    if word and (word.group()[0].islower() or _starts_sentence(text, line_start + word.start())):
        return True
    if _PATIENT_AFTER.match(after):
        return True
    if _AGE_BEFORE.search(before):
        return True
    age = _AGE_AFTER.match(after)
    if age is None:
        return False
    said = bool(age.group("aged") or age.group("years") or age.group("who"))  # 'aged 82'
    if not age.group("age").isdigit():  # 'aged eighty-two', 'Mr Smith, sixty-seven,'
        return said or (titled and bool(age.group("mark")))
    years = int(age.group("age"))
    if not 0 < years <= 120:
        return False
    # 'Mr Smith, 67,'; a bare number after a name without a title may be a count, 'Tower
    # Hamlets (45)'
    return said or (titled and bool(age.group("mark")))


def _scan_patients(text: str, view: _View) -> Iterator[Finding]:
    """Names with a title, or full names, beside an age or a patient's or resident's word."""
    names: list[tuple[int, int]] = []
    for match in _TITLED.finditer(view.text):
        if _named_patient(view.text, match.start(), match.end(), titled=True):
            names.append(match.span())
    for match in _CAPITALISED.finditer(view.text):  # full names: two or three name words
        run: list[tuple[int, int]] = []
        for word in [*_WORD.finditer(view.text, match.start(), match.end()), None]:
            if word is not None and word.group().lower() not in _NOT_NAMES:
                run.append(word.span())
                continue
            # a name ends the capitalised words: 'Video' in 'Amazon Interactive Video Service
            # User Guide' is no name
            start, end = (run[0][0], run[-1][1]) if run else (0, 0)
            if word is None and 2 <= len(run) <= 3 and _named_patient(view.text, start, end):
                names.append((start, end))
            run = []
    for begin, end in _apart(sorted(names)):
        start, stop = view.source(begin), view.source(end - 1) + 1
        message = _PATIENT_MESSAGE.format(text=_shown(text, start, stop))
        yield start, stop, message, _PATIENT_HINT, "error", "personal-data"
