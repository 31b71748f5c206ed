"""Searching the index: read the query, rank every case study, explain each hit.

`params` (the ranking's parameters, chosen on the evaluation's tuning half), `filters` (filters
on the controlled fields), `intent` (what a query asks about: results, evidence, no effect),
`spelling` (a slip read as the library word it is for), `reading` (a query's words, slips and
named terms), `searcher` (ranking and 'more like this'), `explain` (each hit's passage, snippet,
shared facets and result sentences) and `output` (results as JSON rows and text).

May import `kb.index`, `kb.check`, `kb.format` and the base modules.
"""
