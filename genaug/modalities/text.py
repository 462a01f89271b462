"""Text: strings of any length, each a sample (names, titles, short messages, codes).

Model space is a row of token ids per string, ``(T,)`` float32 holding integers: the string's symbols
(ids 1..V-1) then the end mark `END` (id 0) up to the row's end, so ``T - 1`` is the longest string a
model takes. Two tokenizers:

- ``"char"`` (default): the vocabulary is the characters of the training strings, sorted, saved in
  the spec (config.json); a string with a character outside it cannot be encoded: `encode` raises a
  ValueError naming the characters (the documented policy; fit with ``tokenizer="byte"`` to never meet
  an unknown symbol).
- ``"byte"``: the 256 byte values of the UTF-8 encoding; any string encodes, and decoding replaces an
  invalid byte sequence a model may draw by U+FFFD.

Samples come back as ``str``, exactly the strings that were encoded. Likelihoods are reported per
symbol, the end mark included (bits per character, as makemore and char-RNN papers count them):
`Text.units`. Blocks: the families for text are autoregressive over token ids (`genaug.models.charlm`);
the families that model any modality (dense blocks over real values) do not take text
(``generic_families = False``). The feature-space classifier is a character CNN; the downstream models
are a character n-gram logistic regression (``ngram``) and the same CNN (``charcnn``).

Example:
    >>> from genaug.modalities.text import build_vocabulary, encode, decode
    >>> vocab = build_vocabulary(["anna", "bob"])
    >>> vocab
    ('a', 'b', 'n', 'o')
    >>> ids = encode(["bob", "an"], "char", vocab, 5, "x")
    >>> ids.tolist()
    [[2.0, 4.0, 2.0, 0.0, 0.0], [1.0, 3.0, 0.0, 0.0, 0.0]]
    >>> decode(ids, "char", vocab)
    ['bob', 'an']
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genaug.modalities.base import Modality, register_modality

if TYPE_CHECKING:
    from genaug.data.spec import DataSpec

__all__ = ["END", "CharCNN", "NgramLogReg", "Text", "build_vocabulary", "check_texts", "decode", "encode", "encode_prefix", "lengths", "vocab_size"]

END = 0  # the end mark: the id after a string's last symbol, and every id after it
TOKENIZERS = ("char", "byte")


def vocab_size(tokenizer: str, vocabulary: Sequence[str] | None) -> int:
    """Number of token ids, the end mark included: V."""
    return 257 if tokenizer == "byte" else len(vocabulary or ()) + 1


def check_texts(values: Any, what: str) -> list[str]:
    """``values`` as a list of non-empty ``str``; ValueError naming the first bad one (not a string, empty)."""
    if isinstance(values, str):
        raise ValueError(f"{what}: expected a sequence of strings, got one string {values[:40]!r} (wrap it in a list)")
    if isinstance(values, torch.Tensor) or (isinstance(values, np.ndarray) and values.dtype.kind not in "USO"):
        raise ValueError(f"{what}: expected strings, got a {type(values).__name__} of dtype {values.dtype}")
    try:
        texts = list(values)
    except TypeError:
        raise ValueError(f"{what}: expected a sequence of strings, got {type(values).__name__}") from None
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"{what}[{i}]: expected a string, got {type(text).__name__} {text!r:.40}")
        if not text:
            raise ValueError(f"{what}[{i}]: empty string; every sample needs at least one character (drop empty rows first)")
    return [str(t) for t in texts]


def build_vocabulary(texts: Sequence[str]) -> tuple[str, ...]:
    """The sorted distinct characters of ``texts``: a ``"char"`` tokenizer's vocabulary."""
    return tuple(sorted({c for text in texts for c in text}))


def _symbols(text: str, tokenizer: str) -> list[str] | bytes:
    return text.encode("utf-8") if tokenizer == "byte" else list(text)


def _ids(texts: list[str], tokenizer: str, vocabulary: Sequence[str] | None, what: str) -> list[list[int]]:
    """Token ids of each string (no end mark); ValueError naming characters outside a char vocabulary."""
    if tokenizer == "byte":
        return [[b + 1 for b in text.encode("utf-8")] for text in texts]
    lookup = {c: i + 1 for i, c in enumerate(vocabulary or ())}
    unknown = sorted({c for text in texts for c in text if c not in lookup})
    if unknown:
        first = next(i for i, text in enumerate(texts) if any(c not in lookup for c in text))
        raise ValueError(
            f"{what}: characters {unknown[:10]} (first in {what}[{first}] {texts[first]!r:.40}) are not in the model's "
            f"vocabulary of {len(lookup)} characters {''.join(vocabulary or ())!r:.80}; "
            "remove them, or fit with tokenizer='byte', which has no unknown symbols"
        )
    return [[lookup[c] for c in text] for text in texts]


def _padded(rows: list[list[int]], width: int, too_long: Callable[[int, int], str]) -> torch.Tensor:
    """Id rows -> int64 (N, width) with END after each row; ValueError ``too_long(row, symbols)`` past ``width - 1``."""
    out = torch.full((len(rows), width), END, dtype=torch.long)
    for i, row in enumerate(rows):
        if len(row) > width - 1:
            raise ValueError(too_long(i, len(row)))
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def encode(texts: Any, tokenizer: str, vocabulary: Sequence[str] | None, width: int, what: str = "x") -> torch.Tensor:
    """Strings -> model space: float32 (N, width) token ids, each row ending in `END` marks.

    ValueError for a non-string or empty value, an unknown character, or a string longer than
    ``width - 1`` symbols.
    """
    texts = check_texts(texts, what)
    unit = "bytes" if tokenizer == "byte" else "characters"
    return _padded(
        _ids(texts, tokenizer, vocabulary, what),
        width,
        lambda i, n: f"{what}[{i}]: {texts[i]!r:.40} has {n} {unit}, more than the {width - 1} the model takes "
        "(its longest training string; declare max_length= when fitting)",
    ).float()


def encode_prefix(texts: list[str], tokenizer: str, vocabulary: Sequence[str] | None, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Prefixes (possibly empty strings) -> (ids (N, width) int64 padded with END, lengths (N,))."""
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"prefix[{i}]: expected a string, got {type(text).__name__}")
    ids = _padded(
        _ids(texts, tokenizer, vocabulary, "prefix"),
        width,
        lambda i, n: f"prefix[{i}]: {texts[i]!r:.40} is longer than the {width - 1} symbols the model generates",
    )
    return ids, lengths(ids)


def lengths(z: torch.Tensor) -> torch.Tensor:
    """Symbols before the first end mark of each row of ids (N, T): (N,) int64."""
    ended = z.round().long() == END
    first = torch.where(ended.any(1), ended.float().argmax(1), torch.full((len(z),), z.shape[1], device=z.device))
    return first.long()


def decode(z: torch.Tensor, tokenizer: str, vocabulary: Sequence[str] | None) -> list[str]:
    """Model-space ids (N, T) -> the strings (symbols up to each row's first end mark)."""
    ids = z.detach().round().long().cpu()
    size = vocab_size(tokenizer, vocabulary)
    if len(ids) and (ids.min() < 0 or ids.max() >= size):
        raise ValueError(f"z: token ids must lie in 0..{size - 1}, got {int(ids.min())}..{int(ids.max())}")
    out = []
    for row, n in zip(ids.tolist(), lengths(ids).tolist()):
        symbols = row[:n]
        if tokenizer == "byte":
            out.append(bytes(s - 1 for s in symbols).decode("utf-8", errors="replace"))
        else:
            out.append("".join(vocabulary[s - 1] for s in symbols))
    return out


@register_modality
class Text(Modality):
    name = "text"
    layouts = ("S",)  # one string per sample
    generic_families = False
    default_classifier = "ngram"
    classic_library = "genaug.transforms"
    diff_augment_ops = ()
    column_names = ("text", "name", "sentence")

    def infer_layout(self, shape):
        if len(shape) != 1:
            raise ValueError(f"x: text data is one string per sample, shape (N,); got shape {tuple(shape)}")
        return "S"

    def check_shape(self, shape):
        if len(shape) != 1 or shape[0] < 2:
            raise ValueError(f"shape: text data needs (T,) with T >= 2 (the longest string and its end mark), got {shape}")

    def user_shape(self, shape, layout):
        return ()

    def takes_shape(self, model_shape, shape):
        return True  # strings of any length join a pipeline of strings (a too-long one is refused when encoded)

    # ------------------------------------------------------------------ values
    def values_to_model(self, spec: DataSpec, x: Any) -> torch.Tensor:
        return encode(x, spec.tokenizer, spec.vocabulary, spec.shape[0])

    def values_to_user(self, spec: DataSpec, z: torch.Tensor) -> list[str]:
        return decode(z, spec.tokenizer, spec.vocabulary)

    def units(self, spec: DataSpec, z: torch.Tensor) -> torch.Tensor:
        """Symbols each string is scored on: its characters (bytes) and its end mark."""
        return (lengths(z) + 1).to(torch.float64)

    def describe_values(self, spec: DataSpec) -> str:
        unit = "bytes (UTF-8)" if spec.tokenizer == "byte" else f"{len(spec.vocabulary)} characters {''.join(spec.vocabulary)!r:.60}"
        return f"text over {unit}, up to {spec.shape[0] - 1} per string"

    # ------------------------------------------------------------------ injection
    string_samples = True  # SamplePool and the injectors serve one str per sample

    def bank_dtype(self, spec: DataSpec) -> np.dtype:
        """Numpy unicode wide enough for the longest string: ``T - 1`` symbols (a byte is at least one character)."""
        return np.dtype(f"<U{max(1, spec.shape[0] - 1)}")

    def samples_to_numpy(self, spec: DataSpec, samples: Any) -> np.ndarray:
        """Strings (as ``model.sample`` returns them) -> a unicode array; ValueError for a non-string or a too long one."""
        if isinstance(samples, np.ndarray) and samples.dtype.kind == "U":
            samples = samples.tolist()
        if isinstance(samples, str) or not isinstance(samples, list | tuple):
            raise ValueError(f"samples: expected a list of strings (one per sample), got {type(samples).__name__}")
        dtype = self.bank_dtype(spec)
        for i, text in enumerate(samples):
            if not isinstance(text, str):
                raise ValueError(f"samples[{i}]: expected a string, got {type(text).__name__} {text!r:.40}")
            if len(text) > dtype.itemsize // 4:
                raise ValueError(f"samples[{i}]: {text!r:.40} has {len(text)} characters, more than the {spec.shape[0] - 1} the model makes")
        return np.array(samples, dtype=dtype).reshape(len(samples))

    def numpy_to_samples(self, spec: DataSpec, array: np.ndarray) -> list[str]:
        """A unicode array -> a list of ``str``."""
        return [str(text) for text in array.tolist()]

    # ------------------------------------------------------------------ pictures
    def save_samples(self, spec, z, path, *, nrow=8):
        _save_text_table([decode(z, spec.tokenizer, spec.vocabulary)], path, ncol=nrow)

    def save_pairs(self, spec, left, right, path, *, per_row=4):
        a, b = decode(left, spec.tokenizer, spec.vocabulary), decode(right, spec.tokenizer, spec.vocabulary)
        _save_text_table([[f"{p}  |  {q}" for p, q in zip(a, b)]], path, ncol=per_row)

    # ------------------------------------------------------------------ classifiers
    def feature_body(self, shape, *, width, dim):
        """A character CNN whose pooled features pass a linear layer of ``dim`` units and a SiLU."""
        return nn.Sequential(CharCNN(_FEATURE_VOCAB, dim, width=2 * width), nn.SiLU())

    def classifier_range(self, spec):
        return None

    def classifier_input(self, spec, x_user):
        """Strings -> their UTF-8 bytes as ids (byte + 1; 0 ends a string), float32 (N, longest + 1).

        Bytes, not the model's vocabulary: a classic chain may insert characters the generator never saw,
        and the downstream classifiers take ids of any tokenizer.
        """
        texts = check_texts(x_user, "x")
        width = 1 + max((len(t.encode("utf-8")) for t in texts), default=1)
        return encode(texts, "byte", None, width)

    def classifier_to_user(self, spec, x):
        return decode(x, "byte", None)

    def classic_defaults(self):
        return [{"CharSwap": {"p": 0.1}}, {"KeyboardSubstitute": {"p": 0.1}}]

    def linear_features(self, spec, z):
        """Counts of each string's character 1- to 4-grams (word-boundary marked), hashed into 2^16 columns (sparse)."""
        from sklearn.feature_extraction.text import HashingVectorizer

        vectorizer = HashingVectorizer(analyzer="char_wb", ngram_range=(1, 4), n_features=1 << 16, alternate_sign=False, norm="l2", lowercase=False)
        return vectorizer.transform(decode(z, spec.tokenizer, spec.vocabulary))

    def classifiers(self):
        return ("ngram", "charcnn")

    def classifier(self, name, shape, classes, **args):
        if name == "ngram":
            return NgramLogReg(classes, **args)
        if name == "charcnn":
            return CharCNN(args.pop("vocab", _FEATURE_VOCAB), classes, **args)
        raise ValueError(f"downstream.model: {name!r} is not a classifier of text data; expected one of {list(self.classifiers())} or 'package.module:factory'")


_FEATURE_VOCAB = 257  # classifiers embed ids of any tokenizer (a char vocabulary has fewer than 257 only if small)


def _save_text_table(columns: list[list[str]], path: str | os.PathLike, *, ncol: int) -> None:
    """Draw strings as a table (``ncol`` per row) into one PNG, with PIL's built-in font."""
    from PIL import Image, ImageDraw

    from genaug.utils.io import atomic_path

    texts = [t for column in columns for t in column]
    rows = [texts[i : i + ncol] for i in range(0, len(texts), ncol)] or [[]]
    cell_w = 8 + 6 * min(40, max((len(t) for t in texts), default=1))
    image = Image.new("RGB", (max(1, ncol * cell_w + 8), 12 + 14 * len(rows)), "white")
    draw = ImageDraw.Draw(image)
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            draw.text((6 + c * cell_w, 6 + 14 * r), text[:40], fill="black")
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


class CharCNN(nn.Module):
    """A small character CNN over model-space token ids (N, T): embedding, two convolutions (kernels 3 and 5),
    max pooling over each string's symbols, a linear head (Zhang, Zhao and LeCun 2015, much smaller).

    Ids above ``vocab - 1`` share the last row (a classifier can take any tokenizer's ids).

    Example:
        >>> CharCNN(30, 2, width=16)(torch.tensor([[3.0, 4.0, 0.0], [5.0, 0.0, 0.0]])).shape
        torch.Size([2, 2])
    """

    def __init__(self, vocab: int, classes: int, *, width: int = 64, embed: int = 32) -> None:
        super().__init__()
        self.vocab = vocab
        self.embed = nn.Embedding(vocab, embed)
        self.conv1 = nn.Conv1d(embed, width, 3, padding=1)
        self.conv2 = nn.Conv1d(width, width, 5, padding=2)
        self.head = nn.Linear(width, classes)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        ids = z.round().long().clamp(0, self.vocab - 1)
        mask = torch.arange(ids.shape[1], device=ids.device)[None] <= lengths(ids)[:, None]  # symbols and the end mark
        h = self.embed(ids).transpose(1, 2)
        h = F.relu(self.conv2(F.relu(self.conv1(h))))
        h = h.masked_fill(~mask[:, None], float("-inf")).amax(dim=2)
        return self.head(h)


class NgramLogReg(nn.Module):
    """Logistic regression on hashed character n-gram counts of each string (with ``^``/``$`` boundaries):
    what scikit-learn's ``CountVectorizer(analyzer="char_wb")`` + ``LogisticRegression`` compute, as a
    torch module (an ``EmbeddingBag`` of one weight row per n-gram bucket, summed, plus a bias).

    Example:
        >>> m = NgramLogReg(2, orders=(1, 2), buckets=64)
        >>> m(torch.tensor([[3.0, 4.0, 0.0]])).shape
        torch.Size([1, 2])
    """

    def __init__(self, classes: int, *, orders: Sequence[int] = (1, 2, 3, 4), buckets: int = 1 << 15) -> None:
        super().__init__()
        if not orders or any(int(o) < 1 for o in orders):
            raise ValueError(f"orders: expected n-gram orders >= 1, got {list(orders)}")
        self.orders, self.buckets = tuple(int(o) for o in orders), int(buckets)
        self.weights = nn.EmbeddingBag(self.buckets, classes, mode="sum")
        nn.init.zeros_(self.weights.weight)
        self.bias = nn.Parameter(torch.zeros(classes))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        ids = z.round().long()
        n, t = ids.shape
        n_sym = lengths(ids)
        # boundary marks: 300 before the string, the end mark (0) after it (ids are < 300 for every tokenizer)
        padded = torch.cat([torch.full((n, 1), 300, device=ids.device), ids, torch.zeros(n, max(self.orders), dtype=torch.long, device=ids.device)], 1)
        grams, weights = [], []
        position = torch.arange(t + 1, device=ids.device)
        for order in self.orders:
            code = torch.zeros(n, t + 1, dtype=torch.long, device=ids.device)
            for k in range(order):
                code = code * 1_000_003 + padded[:, k : k + t + 1] + 1
            code = (code * 2654435761 + order * 97) % self.buckets
            valid = position[None] + order <= n_sym[:, None] + 2  # n-grams inside ^ string $
            grams.append(code)
            weights.append(valid.float())
        codes, mask = torch.cat(grams, 1), torch.cat(weights, 1)
        return self.weights(codes, per_sample_weights=mask) + self.bias
