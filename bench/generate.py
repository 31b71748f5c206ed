"""Generate a synthetic library of valid case studies, for scale benchmarks and tests.

    python bench/generate.py OUT_DIR -n 1000 [--seed 0]     # writes OUT_DIR/<id>.md files

From Python: `write_library(out_dir, n, seed)` writes files; `generate_entries(n, seed)` returns
`kb.format.content.Entry` objects without touching the disk (the same text a written file would
hold).
The text is built from themed phrase banks, so it varies between cases and across sections, and a
share of sections is long enough to exceed the model's 256 tokens. It is not real evidence.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from kb.format.content import REQUIRED_SECTIONS, Entry, split_sections
from kb.format.model import CaseStudy
from kb.format.vocab import load_vocabularies

__all__ = ["generate_case", "generate_entries", "render_case", "write_library"]

THEMES: dict[str, dict[str, list[str]]] = {
    "falls": {
        "topics": ["falls", "frailty", "older-people"],
        "what": [
            "home hazard checks by occupational therapists",
            "strength and balance classes in community halls",
            "a falls response car staffed by a paramedic and a therapist",
            "medication reviews for people on several drugs that cause dizziness",
        ],
        "who": [
            "older people living alone",
            "people over 65 with a recent fall",
            "care home residents",
        ],
    },
    "mental-health": {
        "topics": ["mental-health", "suicide-prevention"],
        "what": [
            "training housing officers to notice signs of distress",
            "a crisis cafe open in the evenings",
            "peer support workers in GP surgeries",
            "talking therapies offered in jobcentres",
        ],
        "who": [
            "young adults in temporary housing",
            "men in debt",
            "people discharged from mental health wards",
        ],
    },
    "cardiovascular": {
        "topics": ["cardiovascular-disease", "hypertension", "stroke"],
        "what": [
            "blood pressure checks in barbers, mosques and pharmacies",
            "case finding of untreated atrial fibrillation from GP records",
            "lipid-lowering treatment reviews led by pharmacists",
            "home blood pressure monitors with remote review",
        ],
        "who": [
            "adults aged 40 to 74 in deprived wards",
            "South Asian communities",
            "people with high readings",
        ],
    },
    "housing": {
        "topics": ["housing", "homelessness", "health-inequalities"],
        "what": [
            "repairing damp and mould in private rented homes",
            "warm home grants for people with lung disease",
            "a hospital discharge service for people with no fixed address",
            "housing advice in GP practices",
        ],
        "who": ["tenants in cold homes", "people sleeping rough", "families in overcrowded flats"],
    },
    "children": {
        "topics": ["children-and-young-people", "child-poverty", "healthy-weight"],
        "what": [
            "free school meals auto-enrolment",
            "family hubs offering health visiting and benefits advice",
            "school-based physical activity sessions",
            "breastfeeding support in the first weeks after birth",
        ],
        "who": ["families on low incomes", "children starting primary school", "teenage parents"],
    },
    "diabetes": {
        "topics": ["diabetes", "long-term-conditions", "healthy-weight"],
        "what": [
            "a low-calorie diet programme to put type 2 diabetes into remission",
            "structured education for newly diagnosed people",
            "foot checks in community clinics",
            "text message reminders for annual reviews",
        ],
        "who": [
            "people with prediabetes",
            "people newly diagnosed with type 2 diabetes",
            "shift workers",
        ],
    },
    "smoking": {
        "topics": ["smoking", "alcohol"],
        "what": [
            "opt-out tobacco treatment for every smoker admitted to hospital",
            "stop smoking support in maternity services",
            "alcohol care teams in emergency departments",
            "vape swap schemes run with councils",
        ],
        "who": [
            "inpatients who smoke",
            "pregnant women who smoke",
            "frequent attenders with alcohol harm",
        ],
    },
    "employment": {
        "topics": ["employment", "poverty-and-income", "workforce"],
        "what": [
            "employment advisers embedded in musculoskeletal services",
            "anchor institution recruitment from local estates",
            "welfare rights advice in hospitals",
            "apprenticeships for young people leaving care",
        ],
        "who": [
            "people off work with back pain",
            "residents of the most deprived neighbourhoods",
            "care leavers",
        ],
    },
}

PLACES = [
    "Northfield",
    "Eastbrook",
    "Westmoor",
    "Southgate",
    "Kingsbury",
    "Riverside",
    "Ashton",
    "Millbrook",
    "Harbourside",
    "Oakridge",
    "Fenwick",
    "Hillcrest",
    "Stonebridge",
    "Lowfield",
]
ORGS = [
    "City Council",
    "County Council",
    "Community Health Trust",
    "Primary Care Network",
    "Fire and Rescue Service",
    "Housing Association",
    "Citizens Advice",
    "Public Health Team",
    "Foundation Trust",
    "Voluntary Action",
]
FILLER = [
    "Partners agreed a shared outcome framework before money moved.",
    "The team met every fortnight to review referrals and waiting times.",
    "Data from primary care and social care were linked to find people at risk.",
    "Funding came first from a non-recurrent transformation fund and later from the core budget.",
    "Staff were trained together, which built trust across organisations.",
    "Residents helped design the leaflets and chose the venues.",
    "An evaluation partner measured change against a matched comparison group.",
    "Early results were shared with the board every quarter to keep support.",
    "Recruitment was slow at first, and the service missed its first target.",
    "Information governance agreements took several months to sign.",
    "The voluntary sector reached people that statutory services rarely see.",
    "Clinical leaders championed the work and protected time for it.",
    "Savings fell to the hospital while costs fell to the council, which strained the partnership.",
    "A single referral route replaced four separate forms.",
    "The programme was later extended to two neighbouring places.",
]


def _paragraph(rng: random.Random, theme: dict[str, list[str]], place: str, n: int) -> str:
    sentences = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.35:
            sentences.append(
                f"In {place} the partners offered {rng.choice(theme['what'])} "
                f"for {rng.choice(theme['who'])}."
            )
        elif roll < 0.45:
            sentences.append(
                f"About {rng.randint(50, 5000)} people took part over {rng.randint(6, 36)} months."
            )
        else:
            sentences.append(rng.choice(FILLER))
    return " ".join(sentences)


OUTCOME_BANK: list[dict[str, Any]] = [
    {"metric": "people reached", "unit": "people", "measure": "level", "kind": "process"},
    {"metric": "emergency admissions", "unit": "percent", "direction": "decrease",
     "measure": "change", "kind": "service-use"},
    {"metric": "net savings to the NHS", "unit": "GBP", "measure": "level", "kind": "financial"},
    {"metric": "quit rate at four weeks", "unit": "percent", "measure": "level", "kind": "health"},
    {"metric": "people satisfied with the service", "unit": "percent", "measure": "level",
     "kind": "experience"},
]


def _outcomes(rng: random.Random) -> list[dict[str, Any]]:
    """One to three outcomes in the current format; a share stated without a number."""
    out = []
    for template in rng.sample(OUTCOME_BANK, rng.randint(1, 3)):
        outcome = dict(template)
        if rng.random() < 0.2:  # qualitative: no value, a direction instead
            outcome.pop("unit")
            outcome["direction"] = outcome.get("direction", "increase")
        else:
            outcome["value"] = rng.randint(5, 5000)
        outcome["status"] = rng.choice(["achieved", "estimated", "target"])
        outcome["timeframe"] = rng.choice(["2019 to 2021", "first year", "not stated"])
        outcome["comparator"] = rng.choice(["the year before", "not stated", "none"])
        outcome["source"] = 1
        out.append(outcome)
    return out


def generate_case(index: int, rng: random.Random) -> tuple[dict[str, Any], str]:
    """One case study: its front-matter (plain data) and its Markdown body."""
    vocab = load_vocabularies()
    ics_terms = [t for t in vocab.ics.terms if t.region and not t.predecessors]
    theme_name = rng.choice(sorted(THEMES))
    theme = THEMES[theme_name]
    place = rng.choice(PLACES)
    ics = rng.choice(ics_terms)
    lead = f"{place} {rng.choice(ORGS)}"
    title = f"{rng.choice(theme['what']).capitalize()} in {place}"[:110]
    case_id = f"gen-{index:05d}-{theme_name}"
    front: dict[str, Any] = {
        "id": case_id,
        "title": title,
        "summary": f"{lead} and partners offered {rng.choice(theme['what'])} for "
        f"{rng.choice(theme['who'])}."[:290],
        "organisations": [lead],
        "partners": [f"{place} {o}" for o in rng.sample(ORGS, 2)],
        "ics": [ics.id],
        "region": [ics.region],
        "place": place,
        "level": [rng.choice(["neighbourhood", "place", "system"])],
        "started": rng.randint(2018, 2025),
        "status": rng.choice(["pilot", "scaling", "established", "ended"]),
        "tiers": sorted(
            rng.sample(
                ["wider-determinants", "primary", "secondary", "tertiary"], rng.randint(1, 2)
            )
        ),
        "kaiser_level": [rng.choice(["high-demand", "rising-risk", "wider-population"])],
        "meps": sorted(
            rng.sample(["medical", "environmental", "public", "social"], rng.randint(1, 2))
        ),
        "three_cs": [rng.choice(["clarity", "congruity", "capacity"])],
        "enablers": [rng.choice([t.id for t in vocab.enablers.terms])],
        "challenges": [rng.choice([t.id for t in vocab.challenges.terms])],
        "topics": list(theme["topics"][: rng.randint(1, len(theme["topics"]))]),
        "cohort": rng.choice(theme["who"]),
        "interventions": rng.sample(theme["what"], 2),
        "outcomes": _outcomes(rng),
        "evidence": {
            "level": rng.randint(1, 4),
            "method": rng.choice(["before-and-after", "comparison-group", "not-stated"]),
        },
        "sources": [
            {
                "title": f"{place} annual prevention report",
                "publisher": lead,
                "year": rng.randint(2019, 2025),
            }
        ],
    }
    parts = []
    for heading in REQUIRED_SECTIONS:
        length = rng.choice([3, 4, 6, 8, 14 if heading == "What they did" else 5])
        parts.append(f"## {heading}\n\n{_paragraph(rng, theme, place, length)}\n")
    return front, "\n".join(parts)


def render_case(front: dict[str, Any], body: str) -> str:
    """The file text of a case study."""
    fm = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{fm}---\n\n{body}"


def _cases(n: int, seed: int) -> Iterator[tuple[dict[str, Any], str]]:
    rng = random.Random(seed)
    for index in range(n):
        yield generate_case(index, rng)


def write_library(out_dir: Path, n: int, seed: int = 0) -> list[Path]:
    """Write `n` case-study files into `out_dir` (created if needed); return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for front, body in _cases(n, seed):
        path = out_dir / f"{front['id']}.md"
        path.write_text(render_case(front, body), "utf-8")
        paths.append(path)
    return paths


def generate_entries(n: int, seed: int = 0, root: Path = Path("generated")) -> list[Entry]:
    """`n` validated Entry objects, as `load_library` would return for the written files."""
    entries = []
    for front, body in _cases(n, seed):
        text = render_case(front, body)
        case = CaseStudy.model_validate(front)
        body_text = text.split("\n---\n", 1)[1]
        entries.append(
            Entry(
                path=root / f"{case.id}.md",
                case=case,
                body=body_text,
                sections=split_sections(body_text, front_line_count(text)),
                content_hash=hashlib.sha256(text.encode()).hexdigest(),
            )
        )
    return entries


def front_line_count(text: str) -> int:
    """Line number of the first body line."""
    return text.split("\n---\n", 1)[0].count("\n") + 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("-n", type=int, default=1000, help="number of case studies")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    paths = write_library(args.out_dir, args.n, args.seed)
    print(f"wrote {len(paths)} case studies to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
