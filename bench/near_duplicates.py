"""The figures behind the near-duplicate thresholds in kb/duplicates.py.

    python bench/near_duplicates.py

Embeds every shipped case study with the packaged model and prints, for every pair of distinct
case studies, how alike they read and how many figures they share; then the same for paraphrased
copies of shipped case studies (tests/duplicates/data), which must be flagged. A threshold is sound
when every paraphrase is above it and no pair of distinct shipped case studies is.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb.check.library import load_library
from kb.index.embed import SentenceTransformerEmbedder
from kb.tools.duplicates import (
    FIGURES_SHARED,
    READS_ALIKE,
    READS_THE_SAME,
    _figures,
    description,
    near_duplicates,
)

PARAPHRASES = {
    "leeds-community-lung-screening": "leeds-lung-health-check",
    "dorset-hypertension-control": "dorset-blood-pressure",
}


def main() -> None:
    library = load_library(ROOT / "content")
    copies = load_library(ROOT / "tests" / "duplicates" / "data")
    embedder = SentenceTransformerEmbedder()
    vectors = embedder.embed_documents([description(e) for e in library])
    similarity = vectors @ vectors.T
    figures = [_figures(e) for e in library]
    pairs = []
    for i in range(len(library)):
        for j in range(i + 1, len(library)):
            pairs.append((float(similarity[i, j]), len(figures[i] & figures[j]), i, j))
    pairs.sort(reverse=True)
    print(f"{len(library)} shipped case studies, {len(pairs)} pairs")
    print("closest distinct pairs (similarity, shared figures):")
    for score, shared, i, j in pairs[:8]:
        print(f"  {score:.3f}  {shared}  {library[i].id} ~ {library[j].id}")
    most_shared = max(pairs, key=lambda p: (p[1], p[0]))
    print(
        f"most figures shared by distinct cases: {most_shared[1]} "
        f"({library[most_shared[2]].id} ~ {library[most_shared[3]].id}, {most_shared[0]:.3f})"
    )
    scores = np.asarray([p[0] for p in pairs])
    top, p99, median = scores.max(), np.percentile(scores, 99), np.median(scores)
    print(f"distinct pairs: max {top:.3f}, 99th percentile {p99:.3f}, median {median:.3f}")
    alike_and_sharing = [p for p in pairs if p[0] >= READS_ALIKE and p[1] >= FIGURES_SHARED]
    print(
        f"distinct pairs >= {READS_ALIKE} alike with >= {FIGURES_SHARED} shared figures: "
        f"{len(alike_and_sharing)}; >= {READS_THE_SAME} alike: "
        f"{int((scores >= READS_THE_SAME).sum())}"
    )
    by_id = {e.id: e for e in library}
    copy_vectors = embedder.embed_documents([description(e) for e in copies])
    for copy, vector in zip(copies, copy_vectors, strict=True):
        original = by_id[PARAPHRASES[copy.id]]
        score = float(vector @ vectors[library.index(original)])
        shared = len(_figures(copy) & _figures(original))
        print(f"paraphrase {copy.id} ~ {original.id}: {score:.3f}, {shared} shared figures")
    flagged = near_duplicates(copies, [*library, *copies], embedder)
    print("flagged:", ", ".join(f"{d.case_id} ~ {d.other_id} ({d.reason})" for d in flagged))
    distinct = near_duplicates(library, library, embedder)
    print("distinct shipped case studies flagged:", len(distinct))


if __name__ == "__main__":
    main()
