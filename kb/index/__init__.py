"""The search index: case studies cut into passages, embedded, and stored for quick searches.

`passages` (how a case study becomes passages and BM25 words), `wordpiece` and `embed` (the
embedding model, through sentence-transformers or its ONNX export), `layout` (file names and
schemes), `records` (pydantic schemas of the sealed records) and `quickcheck` (the same check
without pydantic, for searches), `storage` (atomic writes, verified reads, aligned npz), `onnx`
(the export's records), `search_file` (the arrays a search reads), `build` (update a generation)
and `load` (open one for a search, and tell whether the content changed).

May import `kb.check`, `kb.format` and the base modules.
"""
