"""WaveNet: an autoregressive network over sequences, with fast queue-based generation.

The network (van den Oord, Dieleman, Zen, Simonyan, Vinyals, Graves, Kalchbrenner, Senior and
Kavukcuoglu, "WaveNet: A Generative Model for Raw Audio", 2016) maps a sequence (N, C, T) and a
global condition (N, E) to the parameters (N, C, T, P) of every element's conditional distribution
given the elements before it: a causal input convolution, a stack of gated residual blocks whose
kernel-2 causal convolutions dilate 1, 2, 4, ... (cycling), and a head on the sum of the blocks'
skip outputs. Channels of one time step are generated in their order: the trunk at time t sees the
times < t of every channel, and a small per-channel head adds the channels < c of time t.

Generation follows Paine, Khorrami, Chang, Zhang, Ramachandran, Hasegawa-Johnson and Huang, "Fast
Wavenet Generation Algorithm" (arXiv:1611.09482, 2016): a kernel-2 convolution of dilation d at
time t reads its input at t and at t - d, so each layer keeps its last d inputs in a ring buffer
and a step costs O(layers) small matrix products, whatever the length. `WaveNet.sample_naive`
recomputes the whole prefix at every step instead (O(T^2)); both compute the same arithmetic, so
they draw the same samples.

Example:
    >>> import torch
    >>> net = WaveNet(1, 256, cond_dim=3, layers=4, cycle=4).eval()
    >>> x, cond = torch.rand(2, 1, 50) * 2 - 1, torch.randn(2, 3)
    >>> net(x, cond).shape
    torch.Size([2, 1, 50, 256])
    >>> g = torch.Generator().manual_seed(0)
    >>> draw = lambda logits: (torch.multinomial(logits.softmax(-1), 1, generator=g)[:, 0] + 0.5) / 128 - 1
    >>> net.sample(20, cond, draw).shape
    torch.Size([2, 1, 20])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Draw", "WaveNet", "WaveNetTrunk"]

Draw = Callable[[torch.Tensor], torch.Tensor]  # conditional parameters (N, P) -> one value per row (N,)


_ROW_BLOCK = 16  # rows of a matrix product are padded to a multiple of this (see `_Linear`)


class _Linear(nn.Linear):
    """`nn.Linear` whose every output row has the same rounding however many rows there are.

    BLAS kernels compute the last (rows mod 4..16) rows of a product with an edge kernel that sums
    in another order, so one time step alone and the same step inside a whole sequence could differ
    in the last bit. Padding the rows to a multiple of `_ROW_BLOCK` keeps every row in the main
    kernel: the fast and the naive generation then agree exactly (checked on CPU, float32/float64).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        pad = -len(rows) % _ROW_BLOCK
        y = super().forward(F.pad(rows, (0, 0, 0, pad)) if pad else rows)
        return y[: len(rows)].view(*x.shape[:-1], self.out_features)


def _delay(h: torch.Tensor, d: int) -> torch.Tensor:
    """(N, T, F) -> the same sequence d steps later (zeros before the start): out[t] = h[t - d]."""
    return F.pad(h, (0, 0, d, 0))[:, : h.shape[1]]


def _push(queue: torch.Tensor, t: int, now: torch.Tensor) -> torch.Tensor:
    """Ring buffer (d, N, F) of a layer's last d inputs: store input ``now`` of time t, return time t - d's."""
    slot = t % queue.shape[0]
    past = queue[slot].clone()
    queue[slot] = now
    return past


class _Block(nn.Module):
    """A gated residual block: a dilated kernel-2 causal convolution, the condition, the gate."""

    def __init__(self, residual: int, skip: int, dilation: int, cond_dim: int, dropout: float, last: bool) -> None:
        super().__init__()
        self.dilation, self.width = dilation, residual
        # the convolution's two taps (input at t - d, input at t) as one matrix over their concatenation,
        # so the parallel pass and one generation step run the very same product
        self.conv = _Linear(2 * residual, 2 * residual)
        self.cond = _Linear(cond_dim, 2 * residual, bias=False) if cond_dim else None
        self.res = None if last else _Linear(residual, residual)  # the last block's residual output is unused
        self.skip = _Linear(residual, skip)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, h: torch.Tensor, past: torch.Tensor, cond: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Input at t and t - d (..., R), projected condition (broadcastable to (..., 2R)) -> (residual, skip)."""
        pre = self.conv(torch.cat([past, h], dim=-1))
        if cond is not None:
            pre = pre + cond
        a, b = pre.chunk(2, dim=-1)
        z = self.dropout(torch.tanh(a) * torch.sigmoid(b))
        return (h if self.res is None else h + self.res(z)), self.skip(z)


class WaveNetTrunk(nn.Module):
    """The causal trunk of `WaveNet`: inputs (N, T, C) and a global condition -> head features (N, T, head).

    The features at time t see the inputs at times < t only. `WaveNet` adds per-channel output heads;
    other autoregressive nets (a character model over embedded tokens) add their own head on the same
    trunk and generate with `step`, one time step in O(layers) work.

    Example:
        >>> trunk = WaveNetTrunk(4, cond_dim=2, residual=8, skip=8, layers=3, cycle=3, head=8)
        >>> trunk.features(torch.zeros(5, 7, 4), torch.zeros(5, 2)).shape, trunk.receptive_field
        (torch.Size([5, 7, 8]), 9)
    """

    def __init__(
        self,
        channels_in: int,
        *,
        cond_dim: int,
        residual: int = 64,
        skip: int = 64,
        layers: int = 10,
        cycle: int = 10,
        head: int = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        sizes = {"channels_in": channels_in, "residual": residual, "skip": skip, "layers": layers, "cycle": cycle, "head": head}
        for name, value in sizes.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        if not isinstance(cond_dim, int) or cond_dim < 0:
            raise ValueError(f"cond_dim: expected an integer >= 0, got {cond_dim!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
        self.channels_in, self.cond_dim = channels_in, cond_dim
        # the input convolution's taps read x[t-2] and x[t-1]: nothing at t sees time t itself
        self.inp = _Linear(2 * channels_in, residual)
        self.blocks = nn.ModuleList(
            _Block(residual, skip, 2 ** (i % cycle), cond_dim, dropout, last=i == layers - 1) for i in range(layers)
        )
        self.hidden = _Linear(skip, head)
        self.feature = _Linear(head, head)

    @property
    def receptive_field(self) -> int:
        """How many earlier time steps an output sees: 2 (input convolution) + the sum of the dilations."""
        return 2 + sum(block.dilation for block in self.blocks)

    def _conds(self, cond: torch.Tensor) -> list[torch.Tensor | None]:
        """Each block's projection of the condition: (N, 2R), or None when unconditional."""
        return [None if block.cond is None else block.cond(cond) for block in self.blocks]

    def _features(self, skips: torch.Tensor) -> torch.Tensor:
        return self.feature(F.relu(self.hidden(F.relu(skips))))

    def features(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Head features (N, T, head) at every time step from the times before it: x (N, T, C) time-major."""
        s = _delay(x, 1)  # s[t] = x[t-1]
        h = self.inp(torch.cat([_delay(s, 1), s], dim=-1))  # (N, T, R)
        skips = None
        for block, c in zip(self.blocks, self._conds(cond)):
            h, out = block(h, _delay(h, block.dilation), None if c is None else c[:, None])
            skips = out if skips is None else skips + out
        return self._features(skips)

    def start(self, n: int, cond: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
        """The state `step` needs to generate ``n`` sequences: every layer's empty queue, each block's condition."""
        like = self.inp.weight
        queues = [torch.zeros(1, n, self.channels_in, dtype=like.dtype, device=like.device)]
        queues += [torch.zeros(b.dilation, n, b.width, dtype=like.dtype, device=like.device) for b in self.blocks]
        return queues, self._conds(cond)

    def step(self, prev: torch.Tensor, queues: list[torch.Tensor], conds: list[torch.Tensor | None], t: int) -> torch.Tensor:
        """Head features (N, head) at time t from the input at t - 1 (N, C); advances every layer's queue."""
        h = self.inp(torch.cat([_push(queues[0], t, prev), prev], dim=-1))
        skips = None
        for block, queue, c in zip(self.blocks, queues[1:], conds):
            h, out = block(h, _push(queue, t, h), c)
            skips = out if skips is None else skips + out
        return self._features(skips)

    @contextmanager
    def _evaluating(self) -> Iterator[None]:
        """Eval mode (no dropout) for the duration, then back to the mode the caller had."""
        was_training = self.training
        self.eval()
        try:
            yield
        finally:
            self.train(was_training)


class WaveNet(WaveNetTrunk):
    """Sequence (N, C, T) + condition (N, E) -> parameters (N, C, T, P) of each element's conditional.

    Output ``[:, c, t]`` depends on the input at times < t (the last `receptive_field` of them) of
    every channel, and on channels < c at time t. Feed it the values conditioned on (for a
    categorical over a grid: the bin centres, in [-1, 1]).

    Args:
        channels_in: C, channels per time step (generated in order within a step).
        n_params: P, parameters of one element's conditional (e.g. 256 logits).
        cond_dim: E, width of the global condition (0: unconditional; pass cond of shape (N, 0)).
        residual: channels of the residual stream.
        skip: channels of the skip outputs summed into the head.
        layers: gated residual blocks.
        cycle: dilations run 1, 2, ..., 2**(cycle-1), then start again.
        head: hidden units of the output head.
        dropout: dropout on the gate outputs (training only).

    Reference: van den Oord et al., "WaveNet: A Generative Model for Raw Audio", arXiv:1609.03499;
    Paine et al., "Fast Wavenet Generation Algorithm", arXiv:1611.09482.
    """

    def __init__(
        self,
        channels_in: int,
        n_params: int,
        *,
        cond_dim: int,
        residual: int = 64,
        skip: int = 64,
        layers: int = 10,
        cycle: int = 10,
        head: int = 64,
        dropout: float = 0.0,
    ) -> None:
        if not isinstance(n_params, int) or n_params < 1:
            raise ValueError(f"n_params: expected an integer >= 1, got {n_params!r}")
        super().__init__(
            channels_in, cond_dim=cond_dim, residual=residual, skip=skip, layers=layers, cycle=cycle, head=head, dropout=dropout
        )
        self.n_params = n_params
        # channel c of a time step also sees channels < c of the same step (none for c = 0)
        self.earlier = nn.ModuleList(_Linear(c, head, bias=False) for c in range(1, channels_in))
        self.out = nn.ModuleList(_Linear(head, n_params) for _ in range(channels_in))

    # ------------------------------------------------------------------ parallel pass
    def _channel(self, c: int, feats: torch.Tensor, earlier: torch.Tensor) -> torch.Tensor:
        """Parameters (..., P) of channel ``c`` from head features (..., head) and channels < c (..., c)."""
        if c > 0:
            feats = feats + self.earlier[c - 1](earlier.contiguous())
        return self.out[c](F.relu(feats))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """All conditionals in one pass (teacher forcing): x (N, C, T), cond (N, E) -> (N, C, T, P)."""
        self._check(x, cond)
        xt = x.transpose(1, 2)  # (N, T, C)
        feats = self.features(xt, cond)
        return torch.stack([self._channel(c, feats, xt[..., :c]) for c in range(self.channels_in)], dim=1)

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def sample(
        self, n_steps: int, cond: torch.Tensor, draw: Draw, *, first: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Generate (N, C, n_steps) one time step at a time in O(layers) work per step.

        Every layer keeps a ring buffer (dilation, N, width) of its last inputs: the one written
        ``dilation`` steps ago is the convolution's other tap. Memory does not grow with the length.

        Args:
            n_steps: length T of the sequences.
            cond: (N, E) global condition; N sequences are generated.
            draw: parameters (N, P) of channel c's conditional at one time step -> values (N,),
                called for t = 0, 1, ... and, within a step, c = 0, 1, ... (the caller's
                distribution and random numbers).
            first: optional (N, C, T0) prompt, T0 <= n_steps: the sequences start with it and
                only the later steps are drawn.

        Returns:
            (N, C, n_steps) in the dtype and on the device of the parameters.
        """
        n, t0 = self._check_sample(n_steps, cond, first)
        like = self.inp.weight
        x = self._canvas(n, n_steps, first)
        prev = torch.zeros(n, self.channels_in, dtype=like.dtype, device=like.device)
        with self._evaluating():
            queues, conds = self.start(n, cond)
            for t in range(n_steps):
                feats = self.step(prev, queues, conds, t)  # the prompt's steps only fill the queues
                if t >= t0:
                    self._draw_step(x, t, feats, draw)
                prev = x[:, :, t]
        return x

    @torch.no_grad()
    def sample_naive(
        self, n_steps: int, cond: torch.Tensor, draw: Draw, *, first: torch.Tensor | None = None
    ) -> torch.Tensor:
        """`sample` by recomputing the whole forward pass over the prefix at every step (O(T^2)).

        The reference for `sample`: same arguments, same calls to ``draw``, same samples.
        """
        n, t0 = self._check_sample(n_steps, cond, first)
        x = self._canvas(n, n_steps, first)
        with self._evaluating():
            for t in range(t0, n_steps):
                feats = self.features(x[:, :, : t + 1].transpose(1, 2), cond)[:, t]  # (N, head)
                self._draw_step(x, t, feats, draw)
        return x

    def _canvas(self, n: int, n_steps: int, first: torch.Tensor | None) -> torch.Tensor:
        """The output (N, C, n_steps): zeros, with the prompt in place."""
        like = self.inp.weight
        x = torch.zeros(n, self.channels_in, n_steps, dtype=like.dtype, device=like.device)
        if first is not None:
            x[:, :, : first.shape[2]] = first
        return x

    def _draw_step(self, x: torch.Tensor, t: int, feats: torch.Tensor, draw: Draw) -> None:
        """Draw time step t of x (N, C, T) channel by channel from the trunk's features (N, head)."""
        for c in range(self.channels_in):
            x[:, c, t] = draw(self._channel(c, feats, x[:, :c, t]))

    # ------------------------------------------------------------------ argument checks
    def _check(self, x: torch.Tensor, cond: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[1] != self.channels_in:
            raise ValueError(f"x: expected shape (N, {self.channels_in}, T), got {tuple(x.shape)}")
        if cond.dim() != 2 or cond.shape != (x.shape[0], self.cond_dim):
            raise ValueError(f"cond: expected shape ({x.shape[0]}, {self.cond_dim}), got {tuple(cond.shape)}")

    def _check_sample(self, n_steps: int, cond: torch.Tensor, first: torch.Tensor | None) -> tuple[int, int]:
        if not isinstance(n_steps, int) or n_steps < 1:
            raise ValueError(f"n_steps: expected an integer >= 1, got {n_steps!r}")
        if cond.dim() != 2 or cond.shape[1] != self.cond_dim:
            raise ValueError(f"cond: expected shape (N, {self.cond_dim}), got {tuple(cond.shape)}")
        n = cond.shape[0]
        if first is None:
            return n, 0
        if first.dim() != 3 or first.shape[:2] != (n, self.channels_in) or first.shape[2] > n_steps:
            raise ValueError(
                f"first: expected shape ({n}, {self.channels_in}, T0) with T0 <= n_steps={n_steps}, "
                f"got {tuple(first.shape)}"
            )
        return n, first.shape[2]
