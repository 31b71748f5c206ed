"""The published site: pages made from the library, the site's search data, the mkdocs adapter.

`markup` (escaping, paths, links, facets), `case_page`, `browse` (browse, catalogue, coverage),
`pages` (every generated page, and the markers of the hand-written ones), `search_data` (what the
site's search reads: the ranking's parameters, vectors, model and runtime) and `plugin` (the only
module that knows mkdocs).

May import `kb.search`, `kb.index`, `kb.check`, `kb.format` and the base modules; never
`kb.tools` or `kb.cli`.
"""
