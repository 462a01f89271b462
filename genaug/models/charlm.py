"""A character-level language model of labelled strings (family ``"charlm"``): text data only.

Each string is generated one symbol at a time, each symbol conditioned on the ones before it, the
class label (and any further categorical condition) and nothing else, until the end mark (Bengio et
al. 2003; Karpathy's makemore). The network is a WaveNet trunk (`genaug.nn.wavenet.WaveNetTrunk`:
causal dilated convolutions, gated units, the condition in every gate) over embedded token ids, with a
softmax over the vocabulary and the end mark; enough layers that every symbol sees the whole string
before it. ``log_prob`` is exact: log P(string | condition), the end mark included, and sums to one
over all strings of 1 to ``T - 1`` symbols (the first position cannot end, the last can only end). `genaug.bits_per_dim` reports it per symbol (bits per character).

Generation keeps each layer's past activations in queues (the fast WaveNet algorithm), stops a row at
its end mark, and takes:

- ``temperature``: divides the logits (below 1: likelier strings, less variety);
- ``top_k``: draw among the k likeliest symbols only; ``top_p``: among the smallest set of symbols
  whose probability reaches p (nucleus sampling, Holtzman et al. 2020);
- ``prefix``: a string (or one per sample) every sample starts with; the model completes it;
- ``guidance``: Bayes class guidance with the model's own posterior, no second network
  (`genaug.models.guidance`; as classifier-free guidance, Ho and Salimans 2022, with the
  unconditional model exact here): each
  symbol is drawn from ``p(s | prefix, class) * p(class | prefix + s) ** guidance / p(class | prefix)
  ** guidance``, where ``p(class | prefix)`` comes from the class prior and the conditional
  likelihoods of the prefix under every class. Above 0 samples are more typical of their class (a
  classifier labels them as asked more often) and less varied; each row then runs once per class, so
  sampling costs ``num_classes`` times as much. ``log_prob`` stays the unguided ``p(x | class)``.

Defaults come from the config (``temperature``, ``top_k``, ``top_p``, ``guidance``) and can be given per call:
``model.sample(10, labels="female", temperature=0.8, prefix="ma")``.

Example:
    >>> import genaug, torch
    >>> data = genaug.from_texts(["anna", "anne", "bob", "bert"] * 5, ["f", "f", "m", "m"] * 5)
    >>> model = genaug.fit(data, "charlm", steps=30, embed=8, residual=8, skip=8, head=16, label_dim=4)
    >>> names = model.sample(3, labels="m", generator=torch.Generator().manual_seed(0), prefix="b")
    >>> [name[0] for name in names]
    ['b', 'b', 'b']
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from genaug.data.spec import DataSpec
from genaug.models.base import Cond, Generator, GeneratorConfig, OptimizerGroup
from genaug.models.guidance import check_guidance, check_temperature, every_class, guided_log_weights
from genaug.models.registry import register
from genaug.modalities.text import END, encode_prefix, lengths, vocab_size
from genaug.nn.wavenet import WaveNetTrunk

__all__ = ["CharLM", "CharLMConfig", "filter_logits"]


class CharLMConfig(GeneratorConfig):
    """Architecture and sampling defaults of `CharLM`."""

    embed: int = Field(32, ge=1)  # width of a symbol's embedding
    residual: int = Field(64, ge=1)  # channels of the residual stream
    skip: int = Field(64, ge=1)  # channels of the skip connections
    layers: int | None = Field(None, ge=1)  # gated blocks; None: two cycles of dilations 1, 2, 4, ... that see the whole string
    head: int = Field(128, ge=1)  # hidden units of the output head
    label_dim: int = Field(32, ge=1)  # size of the condition embedding every gate reads
    dropout: float = Field(0.3, ge=0.0, lt=1.0)  # dropout on the gate outputs (0.3: best of 0.1-0.4 on the census names)
    weight_decay: float = Field(0.0, ge=0.0)  # AdamW's decoupled weight decay
    temperature: float = Field(1.0, gt=0.0)  # sampling: logits are divided by it
    top_k: int | None = Field(None, ge=1)  # sampling: only the k likeliest symbols (None: all)
    top_p: float | None = Field(None, gt=0.0, le=1.0)  # sampling: nucleus of probability p (None: all)
    # sampling: weight of the model's own class posterior (0: plain p(x | class)); 1 (set before it was measured) squares the
    # class evidence of every symbol; costs num_classes forward passes per symbol
    guidance: float = Field(1.0, ge=0.0)


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Logits (N, V) scaled by ``1 / temperature`` with everything outside the top k and the top-p nucleus at -inf.

    Example:
        >>> filter_logits(torch.tensor([[1.0, 3.0, 2.0]]), top_k=2).tolist()
        [[-inf, 3.0, 2.0]]
        >>> filter_logits(torch.log(torch.tensor([[0.5, 0.3, 0.2]])), top_p=0.6).isinf().tolist()
        [[False, False, True]]
    """
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        probs, order = logits.softmax(-1).sort(dim=-1, descending=True)
        before = probs.cumsum(-1) - probs  # probability of the likelier symbols
        drop = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order, before >= top_p)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def _check_options(temperature: Any, top_k: Any, top_p: Any, guidance: Any = 0.0) -> None:
    check_guidance(guidance)
    check_temperature(temperature)
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k: expected an integer >= 1 or None, got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1):
        raise ValueError(f"top_p: expected a probability in (0, 1] or None, got {top_p!r}")


@register
class CharLM(Generator):
    """Autoregressive model of strings: exact ``log_prob`` (bits per character), fast sampling, prefixes."""

    family: ClassVar[str] = "charlm"
    config_class: ClassVar[type[GeneratorConfig]] = CharLMConfig
    has_likelihood: ClassVar[bool] = True
    modalities: ClassVar[tuple[str, ...]] = ("text",)
    # a few thousand names overfit within a few thousand steps: stop on the validation likelihood, keep the best
    train_defaults: ClassVar[dict[str, Any]] = {
        "steps": 6000,
        "batch_size": 64,
        "lr": 2e-3,
        "ema_decay": 0.995,
        "eval_every": 100,
        "eval_epochs": 5,  # 20 names are memorized within 100 steps: validate every 5 passes over a small set
        "patience": 5,
        "sample_every": 0,
    }

    def __init__(self, spec: DataSpec, config: CharLMConfig | None = None) -> None:
        super().__init__(spec, config)
        cfg = self.config
        self.vocab = vocab_size(spec.tokenizer, spec.vocabulary)
        width = spec.shape[0]
        cycle = max(1, math.ceil(math.log2(max(width - 1, 2))))  # 2 + (2^cycle - 1) >= width: the whole string
        layers = cfg.layers if cfg.layers is not None else 2 * cycle
        cond_dim = self.embed_conditions(cfg.label_dim)
        self.tokens = nn.Embedding(self.vocab, cfg.embed)
        self.trunk = WaveNetTrunk(
            cfg.embed, cond_dim=cond_dim, residual=cfg.residual, skip=cfg.skip, layers=layers, cycle=cycle, head=cfg.head, dropout=cfg.dropout
        )
        self.out = nn.Linear(cfg.head, self.vocab)
        # a string has 1 to width - 1 symbols: the first position cannot end, the last can only end
        mask = torch.zeros(width, self.vocab)
        mask[0, END] = float("-inf")
        mask[-1, END + 1 :] = float("-inf")
        self.register_buffer("position_mask", mask, persistent=False)

    def optimizer_groups(self) -> list[OptimizerGroup]:
        return [OptimizerGroup("main", [p for p in self.parameters() if p.requires_grad], weight_decay=self.config.weight_decay)]

    # ------------------------------------------------------------------ likelihood
    def _ids(self, z: torch.Tensor) -> torch.Tensor:
        ids = z.round()
        if not torch.equal(ids, z.to(ids.dtype)) or (len(z) and (ids.min() < 0 or ids.max() >= self.vocab)):
            raise ValueError(f"x: expected token ids, integers in 0..{self.vocab - 1} (genaug.modalities.text); got other values")
        return ids.long()

    def _logits(self, ids: torch.Tensor, cond: Cond) -> torch.Tensor:
        """Logits (N, T, V) of every position's symbol given the symbols before it."""
        feats = self.trunk.features(self.tokens(ids), self.condition_vector(cond))
        return self.out(F.relu(feats)).float() + self.position_mask

    def _log_prob_given(self, z: torch.Tensor, cond: Cond) -> torch.Tensor:
        ids = self._ids(z)
        with torch.autocast(device_type=z.device.type, enabled=False):
            logp = self._logits(ids, cond).log_softmax(-1).gather(-1, ids[..., None])[..., 0]  # (N, T)
        counted = torch.arange(ids.shape[1], device=ids.device)[None] <= lengths(ids)[:, None]  # symbols and the end mark
        return logp.masked_fill(~counted, 0.0).sum(1)

    def log_prob(self, z: torch.Tensor, cond=None) -> torch.Tensor:
        """Exact log P(string | conditions) of model-space ids (N, T) in nats: (N,). Positions after a row's
        first end mark are not read (they are end marks in data the text modality encodes)."""
        cond = self.check_input(z, cond)
        if "label" in cond:
            return self._log_prob_given(z, cond)
        return self.marginal_over_classes(lambda c: self._log_prob_given(z, c), cond, len(z), z.device)

    def _loss(self, batch: Cond) -> torch.Tensor:
        """Nats per symbol over the batch (every string's symbols and its end mark)."""
        z = batch["x"]
        return -self._log_prob_given(z, batch).sum() / (lengths(z) + 1).sum()

    def training_step(self, batch, *, step, group, generator):
        return {"loss": self._loss(batch)}

    @torch.no_grad()
    def validation_step(self, batch, *, generator):
        return {"loss": self._loss(batch)}

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def sample_model(
        self,
        cond: Cond,
        *,
        generator: torch.Generator | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        prefix: str | list[str] | tuple[str, ...] | None = None,
        guidance: float | None = None,
    ) -> torch.Tensor:
        """One string per row of ``cond`` as model-space ids (N, T); see the module docstring for the options."""
        cfg = self.config
        temperature = cfg.temperature if temperature is None else temperature
        top_k = cfg.top_k if top_k is None else top_k
        top_p = cfg.top_p if top_p is None else top_p
        guidance = cfg.guidance if guidance is None else guidance
        _check_options(temperature, top_k, top_p, guidance)
        device = self.device
        cond = {k: v.to(device) for k, v in cond.items()}
        n, width = len(cond["label"]), self.spec.shape[0]
        classes = self.spec.num_classes
        guided = guidance > 0 and classes > 1
        if guided:  # every row runs once per class: the class posterior of each prefix needs them all
            asked = cond["label"]
            cond = every_class(cond, classes)
            log_prior = self.class_prior.log().to(device)
            seen = torch.zeros(n, classes, device=device)  # log p(symbols so far | class)
        forced, forced_len = None, None
        if prefix is not None:
            prefixes = [prefix] * n if isinstance(prefix, str) else list(prefix)
            if len(prefixes) != n:
                raise ValueError(f"prefix: expected one string or {n} (one per sample), got {len(prefixes)}")
            forced, forced_len = (t.to(device) for t in encode_prefix(prefixes, self.spec.tokenizer, self.spec.vocabulary, width))
        ids = torch.full((n, width), END, dtype=torch.long, device=device)
        done = torch.zeros(n, dtype=torch.bool, device=device)
        rows = n * classes if guided else n
        prev = torch.zeros(rows, self.tokens.embedding_dim, device=device)
        with self.trunk._evaluating():
            queues, conds = self.trunk.start(rows, self.condition_vector(cond))
            for t in range(width):
                feats = self.trunk.step(prev, queues, conds, t)
                logits = self.out(F.relu(feats)).float() + self.position_mask[t]
                if guided:
                    per_class = logits.log_softmax(-1).reshape(n, classes, -1)  # log p(symbol | prefix, class)
                    logits = guided_log_weights(per_class, (seen + log_prior).log_softmax(1), asked, guidance)
                if t == width - 1:
                    token = torch.full((n,), END, dtype=torch.long, device=device)
                else:
                    token = torch.multinomial(filter_logits(logits, temperature, top_k, top_p).softmax(-1), 1, generator=generator)[:, 0]
                if forced is not None:
                    token = torch.where(t < forced_len, forced[:, t], token)
                token = token.masked_fill(done, END)
                ids[:, t] = token
                if guided:
                    seen = seen + per_class.gather(2, token[:, None, None].expand(n, classes, 1))[..., 0].masked_fill(done[:, None], 0.0)
                done = done | (token == END)
                if bool(done.all()):
                    break
                prev = self.tokens(token.repeat_interleave(classes) if guided else token)
        return ids.float()
