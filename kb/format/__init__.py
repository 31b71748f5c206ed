"""The format of a case study: read a file, check it against the model, phrase its figures.

`vocab` (the controlled vocabularies), `model` (the front-matter as pydantic models), `content`
(reading files safely: front-matter, sections, comments), `markers` (what `kb new` leaves to fill
and text that says the sources are silent), `figures` (every figure phrased for readers), `schema`
(the JSON Schema and field docs made from the model), `html` (safe HTML and remote URLs),
`review` (when a case study is due for review) and `suggest` (nearest names for a slip).

The lowest stage: it imports only `kb.errors` and `kb.settings`, never a later stage.
"""
