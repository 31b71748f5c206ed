"""Tools for contributors and facilitators, built on the library and its search.

`scaffold` (`kb new`), `duplicates` (`kb duplicates`: look-alikes of a case study), `pack` and
`pack_text` (`kb pack`: a peer-review session pack, chosen, then written), `export`
(`kb export`) and `stats` (`kb stats`).

May import `kb.search`, `kb.index`, `kb.check`, `kb.format` and the base modules; never
`kb.publish` or `kb.cli`.
"""
