"""Classic character-level text augmentation: the character noise of nlpaug's character augmenters.

- `CharSwap`: swaps a character with its right-hand neighbour (nlpaug ``RandomCharAug(action="swap")``).
- `CharDelete`: deletes a character (``RandomCharAug(action="delete")``); a string never becomes empty.
- `CharInsert`: inserts a character of ``alphabet`` after a character (``RandomCharAug(action="insert")``).
- `KeyboardSubstitute`: replaces a letter or digit by one of its neighbours on a QWERTY keyboard, keeping
  its case (nlpaug ``KeyboardAug``; the layout is written here, no file is read).

Each character is chosen with probability ``p`` (at least one per string when ``at_least_one``), as
nlpaug's ``aug_char_p``. A transform takes one sample: a ``str``, or a tuple, list or dict holding one
(the first string of a tuple or list, the ``"text"`` key of a dict, else its first string value),
and returns the same structure with that string changed; other leaves (labels) pass through. They
draw from torch's global random generator, as torchvision's random transforms do, so
``torch.manual_seed`` reproduces them and DataLoader workers (seeded apart by torch) differ. They
compose with ``torchvision.transforms.v2.Compose`` and ``RandomApply`` (which call them on the sample).

Example:
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> CharSwap(p=0.5)(("martha", "female"))
    ('amthar', 'female')
"""

from __future__ import annotations

import string
from typing import Any

import torch

__all__ = ["CharDelete", "CharInsert", "CharSwap", "KeyboardSubstitute", "TextTransform"]

_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, str]:
    """Each key's neighbours on a QWERTY layout (same row left and right, the rows above and below)."""
    where = {c: (r, i) for r, row in enumerate(_ROWS) for i, c in enumerate(row)}
    out = {}
    for c, (r, i) in where.items():
        near = []
        for dr, di in ((0, -1), (0, 1), (-1, 0), (-1, 1), (1, -1), (1, 0)):
            rr, ii = r + dr, i + di
            if 0 <= rr < len(_ROWS) and 0 <= ii < len(_ROWS[rr]):
                near.append(_ROWS[rr][ii])
        out[c] = "".join(near)
    return out


_NEIGHBOURS = _keyboard_neighbours()


class TextTransform:
    """Base: finds the sample's string, chooses characters, calls `edit`. Subclasses implement `edit`."""

    def __init__(self, p: float = 0.1, *, at_least_one: bool = True) -> None:
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"p: expected a probability in [0, 1], got {p!r}")
        self.p, self.at_least_one = float(p), bool(at_least_one)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"

    def _chosen(self, n: int) -> list[int]:
        """Positions 0..n-1 chosen with probability p each (one at random when none was and at_least_one)."""
        if n == 0:
            return []
        picks = (torch.rand(n) < self.p).nonzero().flatten().tolist()
        if not picks and self.at_least_one and self.p > 0:
            picks = [int(torch.randint(n, (1,)))]
        return picks

    def edit(self, text: str) -> str:
        raise NotImplementedError

    def __call__(self, sample: Any) -> Any:
        if isinstance(sample, str):
            return self.edit(sample)
        if isinstance(sample, (tuple, list)):
            for i, leaf in enumerate(sample):
                if isinstance(leaf, str):
                    out = [*sample[:i], self.edit(leaf), *sample[i + 1 :]]
                    return type(sample)(out) if isinstance(sample, list) else tuple(out)
        if isinstance(sample, dict):
            key = "text" if isinstance(sample.get("text"), str) else next((k for k, v in sample.items() if isinstance(v, str)), None)
            if key is not None:
                return {**sample, key: self.edit(sample[key])}
        raise TypeError(f"{type(self).__name__}: expected a string or a tuple, list or dict holding one, got {type(sample).__name__}")


class CharSwap(TextTransform):
    """Swap each chosen character with the next one."""

    def edit(self, text):
        chars = list(text)
        for i in self._chosen(len(chars) - 1):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        return "".join(chars)


class CharDelete(TextTransform):
    """Delete each chosen character, keeping at least one."""

    def edit(self, text):
        drop = set(self._chosen(len(text)))
        if len(drop) >= len(text):
            drop.discard(min(drop))
        return "".join(c for i, c in enumerate(text) if i not in drop)


class CharInsert(TextTransform):
    """Insert a random character of ``alphabet`` after each chosen character (default: lowercase letters)."""

    def __init__(self, p: float = 0.1, *, alphabet: str = string.ascii_lowercase, at_least_one: bool = True) -> None:
        super().__init__(p, at_least_one=at_least_one)
        if not isinstance(alphabet, str) or not alphabet:
            raise ValueError(f"alphabet: expected a non-empty string of characters, got {alphabet!r}")
        self.alphabet = alphabet

    def edit(self, text):
        after = set(self._chosen(len(text)))
        out = []
        for i, c in enumerate(text):
            out.append(c)
            if i in after:
                out.append(self.alphabet[int(torch.randint(len(self.alphabet), (1,)))])
        return "".join(out)


class KeyboardSubstitute(TextTransform):
    """Replace each chosen letter or digit by a QWERTY neighbour of the same case (others are kept)."""

    def edit(self, text):
        chars = list(text)
        keys = [i for i, c in enumerate(chars) if c.lower() in _NEIGHBOURS]
        for k in self._chosen(len(keys)):
            i = keys[k]
            near = _NEIGHBOURS[chars[i].lower()]
            new = near[int(torch.randint(len(near), (1,)))]
            chars[i] = new.upper() if chars[i].isupper() else new
        return "".join(chars)
