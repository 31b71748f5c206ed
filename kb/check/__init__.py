"""Checking case studies: every problem in every file, collected as records, then rendered.

`validate` reads each file and runs the checks: `model_errors` (the model's errors with field and
line), `rules` (tags, ICSs, sources, dates, placeholders), `sections` (the body), `untrusted`
(script and remote images) and `personal_data`, both reading contributed text through `views`;
`problems` holds the records, `report` renders them as text, JSON or GitHub annotations,
`library` loads a validated library, `changed` and `gitdiff` check only what a branch changed.

May import `kb.format` and the base modules (`kb.errors`, `kb.settings`, `kb.paths`).
"""
