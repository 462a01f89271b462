"""Gaussian mixture family: one mixture of Gaussians per class, fitted by EM in closed form.

Each class ``c`` gets ``n_components`` Gaussians over the flattened model space (``D = spec.dim``).
The fit has no optimizer: ``init_from_data`` seeds the components by k-means++ and Lloyd
iterations, then every ``training_step`` is one EM iteration over the whole data shard, with the
sufficient statistics summed across processes before the M-step, so the fit is the same on one
process or many. On grid data (digits, 8-bit images) the variance of uniform dequantization noise
is added to every covariance, so ``log_prob`` is a proper density for dequantized data.

Reference: A. P. Dempster, N. M. Laird and D. B. Rubin, "Maximum likelihood from incomplete data
via the EM algorithm", JRSS B 39(1), 1977; D. Arthur and S. Vassilvitskii, "k-means++: the
advantages of careful seeding", SODA 2007. The conventions (``reg_covar``, ``tol`` on the mean
log-likelihood) follow scikit-learn's ``GaussianMixture``.
"""

from __future__ import annotations

import itertools
import logging
import math
from typing import Annotated, Any, ClassVar, Literal

import torch
from pydantic import Field

from genaug.data.spec import DataSpec
from genaug.models.base import Cond, Generator, GeneratorConfig, OptimizerGroup, rand, randn
from genaug.models.registry import register
from genaug.utils.dist import all_reduce_sum

__all__ = ["REG_COVAR_GRID", "SHRINKAGE_GRID", "GMMConfig", "GaussianMixture"]

logger = logging.getLogger(__name__)

_LOG_2PI = math.log(2.0 * math.pi)
# reg_covar="auto" picks one of these (model-space units: grid and range data live in [-1, 1])
REG_COVAR_GRID = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1)
# shrinkage="auto" picks one of these jointly with reg_covar (0: the sample covariance, 1: its diagonal)
SHRINKAGE_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
_FALLBACK_REG = 2e-3  # reg_covar="auto" with no class large enough to hold a fifth out


class GMMConfig(GeneratorConfig):
    """Configuration of `GaussianMixture`."""

    n_components: int = Field(default=1, ge=1)  # Gaussians per class; raise it for classes of many hundreds of samples
    covariance_type: Literal["full", "diag"] = "full"  # full (D, D) covariances, or diagonal ones
    # added to every covariance diagonal, model-space units; "auto": the value of REG_COVAR_GRID with the
    # best likelihood on a held-out fifth of each class, then the fit on all the data (config.json keeps it)
    reg_covar: Annotated[float, Field(ge=0.0)] | Literal["auto"] = "auto"
    # full covariances only: each becomes (1 - shrinkage) * S + shrinkage * diag(S) before reg_covar is added,
    # a pull towards the diagonal that few records per class need (Ledoit and Wolf); "auto": chosen with
    # reg_covar on the same held-out fifth (SHRINKAGE_GRID). Diagonal covariances ignore it.
    shrinkage: Annotated[float, Field(ge=0.0, le=1.0)] | Literal["auto"] = "auto"
    tol: float = Field(default=1e-3, gt=0.0)  # EM converges when the mean log-likelihood changes by less
    init_kmeans_iters: int = Field(default=100, ge=0)  # Lloyd iterations after k-means++ seeding
    dequantize: bool = True  # grid data: add the uniform dequantization variance bin_width**2 / 12


@register
class GaussianMixture(Generator):
    """A class-conditional Gaussian mixture over model space, fitted by EM.

    Buffers (no parameters: EM fits them in closed form), all float64:
    ``log_weights`` (C, K), ``means`` (C, K, D), ``covariances`` (C, K, D, D) or (C, K, D),
    ``scale`` (the Cholesky factor of each covariance (C, K, D, D), or the standard deviations
    (C, K, D) for ``diag``), ``lower_bound`` (the last mean log-likelihood) and ``converged``.

    A class with fewer training samples than ``n_components`` uses one component per sample; the
    unused components get weight 0 (log-weight ``-inf``) and are never sampled. A class with no
    training sample at all raises a ``ValueError``.

    Args:
        spec: the data's `DataSpec`.
        config: a `GMMConfig`. The default, one full-covariance Gaussian per class with
            ``reg_covar="auto"``, sizes its regularization to the data: the grid value with the best
            likelihood on a held-out fifth of each class (on digits: a few 1e-3 for 90 images per
            class, 0.1 for 20). With 64 dimensions, a second full component per class already
            overfits digits.

    Example:
        >>> import genaug, torch
        >>> model = genaug.fit("digits", "gmm", n_components=2, steps=20)
        >>> model.sample(4, labels=3, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([4, 8, 8])

    Reference: Dempster, Laird and Rubin, "Maximum likelihood from incomplete data via the EM
    algorithm", JRSS B, 1977.
    """

    family: ClassVar[str] = "gmm"
    config_class: ClassVar[type[GeneratorConfig]] = GMMConfig
    has_likelihood: ClassVar[bool] = True
    condition_kinds: ClassVar[tuple[str, ...]] = ()  # one mixture per class: the label is its only condition
    # EM sees the whole shard at every step; steps caps the EM iterations, tol stops them earlier.
    train_defaults: ClassVar[dict[str, Any]] = {
        "batch_size": 0,
        "steps": 100,
        "val_fraction": 0.0,
        "ema_decay": 0.0,
        "sample_every": 0,
    }
    config: GMMConfig

    def __init__(self, spec: DataSpec, config: GMMConfig | None = None) -> None:
        super().__init__(spec, config)
        c, k, d = spec.num_classes, self.config.n_components, spec.dim
        f64 = torch.float64
        full = self.config.covariance_type == "full"
        cov_shape = (c, k, d, d) if full else (c, k, d)
        eye = torch.eye(d, dtype=f64).expand(cov_shape) if full else torch.ones(cov_shape, dtype=f64)
        # Before init_from_data: K standard normals per class, a valid (if useless) density.
        self.register_buffer("log_weights", torch.full((c, k), -math.log(k), dtype=f64))
        self.register_buffer("means", torch.zeros(c, k, d, dtype=f64))
        self.register_buffer("covariances", eye.clone())
        self.register_buffer("scale", eye.clone())
        self.register_buffer("lower_bound", torch.tensor(-math.inf, dtype=f64))
        self.register_buffer("converged", torch.tensor(False))

    # ------------------------------------------------------------------ densities
    @property
    def _shrinkage(self) -> float:
        """The pull of full covariances towards their diagonal, in [0, 1]."""
        if self.config.shrinkage == "auto":
            raise RuntimeError("shrinkage: 'auto' is chosen from the data by init_from_data (genaug.fit calls it); call it first or give a number")
        return self.config.shrinkage

    @property
    def _extra_variance(self) -> float:
        """What the M-step adds to every variance: ``reg_covar`` plus the dequantization variance."""
        extra = self.config.reg_covar
        if extra == "auto":
            raise RuntimeError("reg_covar: 'auto' is chosen from the data by init_from_data (genaug.fit calls it); call it first or give a number")
        if self.config.dequantize and self.spec.scaling == "grid":
            extra += self.spec.bin_width**2 / 12.0
        return extra

    def _log_gauss(self, x: torch.Tensor, c: int) -> torch.Tensor:
        """log N(x | mean_ck, cov_ck) for every component k of class ``c``: (n, D) -> (n, K)."""
        means, scale = self.means[c].double(), self.scale[c].double()
        if self.config.covariance_type == "full":
            diff = (x.unsqueeze(0) - means.unsqueeze(1)).transpose(1, 2)  # (K, D, n)
            white = torch.linalg.solve_triangular(scale, diff, upper=False)  # (K, D, n)
            maha = white.square().sum(1).T  # (n, K)
            half_logdet = scale.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # (K,)
        else:
            maha = ((x.unsqueeze(1) - means) / scale).square().sum(-1)  # (n, K)
            half_logdet = scale.log().sum(-1)
        return -0.5 * (maha + x.shape[1] * _LOG_2PI) - half_logdet

    def _log_joint(self, x: torch.Tensor, c: int) -> torch.Tensor:
        """log w_ck + log N(x | mean_ck, cov_ck): (n, D) -> (n, K); unused components give -inf."""
        return self._log_gauss(x, c) + self.log_weights[c].double()

    def log_prob(self, z: torch.Tensor, cond=None) -> torch.Tensor:
        """Exact log density of model-space samples, per sample: (N,), in ``z``'s float dtype.

        With labels: ``log p(z | c)``; without: ``log sum_c prior_c p(z | c)`` with the
        training class frequencies as prior.
        """
        labels = self.check_input(z, cond, name="z").get("label")
        x = z.reshape(len(z), -1).to(self.means.device, torch.float64)
        if labels is not None:
            out = torch.empty(len(x), dtype=torch.float64, device=x.device)
            for c in labels.unique().tolist():
                rows = labels == c
                out[rows] = torch.logsumexp(self._log_joint(x[rows], c), dim=1)
        else:
            classes = range(self.spec.num_classes)
            per_class = torch.stack([torch.logsumexp(self._log_joint(x, c), dim=1) for c in classes], 1)  # (N, C)
            out = torch.logsumexp(per_class + self.class_prior.double().log().to(x.device), dim=1)
        return out.to(z.dtype if z.dtype.is_floating_point else torch.float32)

    @torch.no_grad()
    def sample_model(self, cond: Cond, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """One sample per label: a component by its weight, then Gaussian noise. (N, *spec.shape) float32."""
        labels = torch.as_tensor(cond["label"], device=self.means.device).long()
        n, d = len(labels), self.spec.dim
        u = rand((n,), generator, self.means.device, dtype=torch.float64)
        noise = randn((n, d), generator, self.means.device, dtype=torch.float64)
        out = torch.empty(n, d, dtype=torch.float64, device=self.means.device)
        for c in labels.unique().tolist():
            rows = torch.nonzero(labels == c).squeeze(1)
            weights = self.log_weights[c].double().exp()  # (K,); unused components are exactly 0
            cdf = weights.cumsum(0)
            last = int(torch.nonzero(weights > 0).max())
            comp = torch.searchsorted(cdf, u[rows] * cdf[-1], right=True).clamp(max=last)  # inverse CDF
            for k in comp.unique().tolist():
                idx = rows[comp == k]
                scale = self.scale[c, k].double()
                scaled = noise[idx] @ scale.T if self.config.covariance_type == "full" else noise[idx] * scale
                out[idx] = self.means[c, k].double() + scaled
        return out.to(torch.float32).reshape(n, *self.spec.shape)

    # ------------------------------------------------------------------ EM
    def optimizer_groups(self) -> list[OptimizerGroup]:
        """None: EM updates the buffers in closed form inside ``training_step``."""
        return []

    def _statistics(self, x: torch.Tensor, resp: torch.Tensor, centre: torch.Tensor) -> list[torch.Tensor]:
        """Sufficient statistics of one class: N_k, sum r (x - m_k), sum r (x - m_k)(x - m_k)^T.

        Centred on ``centre`` (K, D), the current means, the same on every process: more accurate
        than raw moments, and sums of them over processes are still exact.
        """
        diff = x.unsqueeze(0) - centre.unsqueeze(1)  # (K, n, D)
        weighted = diff * resp.T.unsqueeze(-1)  # (K, n, D)
        if self.config.covariance_type == "full":
            second = weighted.transpose(1, 2) @ diff  # (K, D, D)
        else:
            second = (weighted * diff).sum(1)  # (K, D)
        return [resp.sum(0), weighted.sum(1), second]

    def _m_step(self, nk: torch.Tensor, first: torch.Tensor, second: torch.Tensor, centre: torch.Tensor) -> None:
        """New weights, means and covariances from statistics summed over every process.

        ``nk`` (C, K), ``first`` (C, K, D), ``second`` (C, K, D, D) or (C, K, D), centred on
        ``centre`` (C, K, D). A component with no responsibility keeps its Gaussian and gets weight
        0. Nothing changes if a covariance is singular (ValueError).
        """
        live = nk > 0  # (C, K)
        safe = nk.clamp_min(torch.finfo(nk.dtype).tiny)
        shift = first / safe.unsqueeze(-1)  # (C, K, D): new mean - centre
        means = centre + shift
        if self.config.covariance_type == "full":
            cov = second / safe[..., None, None] - shift.unsqueeze(-1) * shift.unsqueeze(-2)
            cov = 0.5 * (cov + cov.transpose(-1, -2))
            if self._shrinkage:
                diagonal = torch.diag_embed(cov.diagonal(dim1=-2, dim2=-1))
                cov = (1.0 - self._shrinkage) * cov + self._shrinkage * diagonal
            cov = cov + self._extra_variance * torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
            scale, info = torch.linalg.cholesky_ex(cov)
            bad = live & (info > 0)
            cov_live = live[..., None, None]
        else:
            cov = (second / safe.unsqueeze(-1) - shift.square()).clamp_min(0.0) + self._extra_variance
            scale = cov.sqrt()
            bad = live & (cov <= 0).any(-1)
            cov_live = live.unsqueeze(-1)
        if bad.any():
            c, k = (int(i) for i in torch.nonzero(bad)[0])
            raise ValueError(
                f"reg_covar: {self.config.reg_covar} leaves the covariance of component {k} of class "
                f"{self.spec.class_names[c]!r} singular; increase reg_covar or decrease n_components"
            )
        total = nk.sum(1, keepdim=True)
        log_weights = torch.where(live, nk.log() - total.log(), torch.full_like(nk, -math.inf))
        has_data = (total > 0).expand_as(nk)  # a class absent from the data keeps its mixture
        self.log_weights.copy_(torch.where(has_data, log_weights, self.log_weights.double()))
        self.means.copy_(torch.where(live.unsqueeze(-1), means, self.means.double()))
        self.covariances.copy_(torch.where(cov_live, cov, self.covariances.double()))
        self.scale.copy_(torch.where(cov_live, scale, self.scale.double()))

    def _flatten(self, data: Cond) -> tuple[torch.Tensor, torch.Tensor]:
        x = data["x"]
        labels = self.check_input(x, data["label"])["label"]
        return x.reshape(len(x), -1).to(self.means.device, torch.float64), labels.to(self.means.device)

    @torch.no_grad()
    def init_from_data(self, data: Cond, *, generator: torch.Generator) -> None:
        """k-means++ seeding and Lloyd iterations per class, then parameters from the hard assignments.

        Deterministic given ``generator``'s seed; every process must call it with the same data
        and seed, so that all of them start EM from the same mixture.
        """
        x, labels = self._flatten(data)
        counts = torch.bincount(labels, minlength=self.spec.num_classes)
        if (counts == 0).any():
            c = int(torch.nonzero(counts == 0)[0])
            name = self.spec.class_names[c]
            raise ValueError(f"labels: class {c} ({name!r}) has no training samples; every class needs at least one")
        if "auto" in (self.config.reg_covar, self.config.shrinkage):
            self.config = self.config.model_copy(update=self._choose_regularization(x, labels, generator))
        self._initialise(x, labels, generator)

    def _initialise(self, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> None:
        """k-means seeding per class on flattened ``x``, then the M-step of the hard assignments."""
        k = self.config.n_components
        centre = self.means.double().clone()
        stats: list[list[torch.Tensor]] = []
        for c in range(self.spec.num_classes):
            xc = x[labels == c]
            centres, assign = _kmeans(xc, min(k, len(xc)), self.config.init_kmeans_iters, generator)
            resp = torch.zeros(len(xc), k, dtype=torch.float64, device=x.device)
            resp[torch.arange(len(xc), device=x.device), assign] = 1.0
            centre[c, : len(centres)] = centres
            stats.append(self._statistics(xc, resp, centre[c]))
        self._m_step(*(torch.stack(parts) for parts in zip(*stats)), centre=centre)
        self.lower_bound.fill_(-math.inf)
        self.converged.fill_(False)

    @torch.no_grad()
    def training_step(self, batch: Cond, *, step: int, group: str | None, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """One EM iteration on this process's whole shard ``x`` (model space, bin centres).

        The E-step runs locally; N_k, the centred first and second moments, the log-likelihood
        sum and the sample count are packed into one tensor and summed over processes; the M-step
        uses only those sums. Returns ``nll`` (mean negative log-likelihood before the update) and
        ``lower_bound_change`` (``inf`` at the first step).
        """
        x, labels = self._flatten(batch)
        return self._em_iteration(x, labels, all_reduce_sum)

    def _em_iteration(self, x: torch.Tensor, labels: torch.Tensor, reduce) -> dict[str, torch.Tensor]:
        """Local E-step on flattened ``x``, statistics summed by ``reduce`` (across processes, or not), M-step.

        Updates ``lower_bound`` and ``converged``; returns ``training_step``'s logs.
        """
        nk, first, second, loglik = self._e_step(x, labels)
        count = torch.tensor(float(len(x)), dtype=torch.float64, device=x.device)
        packed = reduce(torch.cat([nk.flatten(), first.flatten(), second.flatten(), loglik[None], count[None]]))
        sizes = [nk.numel(), first.numel(), second.numel(), 1, 1]
        nk, first, second, loglik, count = packed.split(sizes)
        if count.item() == 0:
            raise ValueError("x: no samples on any process; EM needs data")
        nk, first, second = nk.view_as(self.log_weights), first.view_as(self.means), second.view_as(self.covariances)
        self._m_step(nk, first, second, self.means.double())
        mean_loglik = (loglik / count).squeeze()
        change = mean_loglik - self.lower_bound
        self.lower_bound.copy_(mean_loglik)
        self.converged.fill_(bool(change.abs() < self.config.tol))
        return {"nll": -mean_loglik.float(), "lower_bound_change": change.float()}

    def _e_step(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """This process's sufficient statistics (N_k, centred first and second moments) and log-likelihood sum."""
        c_all, k, d = self.means.shape
        nk = torch.zeros(c_all, k, dtype=torch.float64, device=x.device)
        first = torch.zeros(c_all, k, d, dtype=torch.float64, device=x.device)
        second = torch.zeros(self.covariances.shape, dtype=torch.float64, device=x.device)
        loglik = torch.zeros((), dtype=torch.float64, device=x.device)
        for c in labels.unique().tolist():
            xc = x[labels == c]
            log_joint = self._log_joint(xc, c)  # (n_c, K)
            log_norm = torch.logsumexp(log_joint, dim=1)
            loglik += log_norm.sum()
            resp = (log_joint - log_norm.unsqueeze(1)).exp()
            nk[c], first[c], second[c] = self._statistics(xc, resp, self.means[c].double())
        return nk, first, second, loglik

    def should_stop(self) -> bool:
        """True once the mean log-likelihood changed by less than ``tol`` in the last EM step."""
        return bool(self.converged)

    # ------------------------------------------------------------------ reg_covar / shrinkage "auto"
    def _choose_regularization(self, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> dict[str, float]:
        """The ``reg_covar`` and ``shrinkage`` left "auto" whose fit on four fifths of each class best predicts the fifth held out.

        Candidates: `REG_COVAR_GRID` x `SHRINKAGE_GRID` (shrinkage only for full covariances), each
        fixed value standing alone. Every candidate starts from the same k-means seeding and runs
        EM locally (no collective calls: every process makes the same choice from the same data
        and seed). With no class of 5 records, reg_covar falls back to 2e-3 and shrinkage to 0.
        """
        cfg = self.config
        regs = REG_COVAR_GRID if cfg.reg_covar == "auto" else (cfg.reg_covar,)
        shrinks = SHRINKAGE_GRID if cfg.shrinkage == "auto" and cfg.covariance_type == "full" else (0.0 if cfg.shrinkage == "auto" else cfg.shrinkage,)
        fixed = {"reg_covar": regs[0], "shrinkage": shrinks[0]}
        if len(regs) * len(shrinks) == 1:
            return fixed
        held = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        for c in range(self.spec.num_classes):
            rows = torch.nonzero(labels == c)[:, 0]
            n_hold = len(rows) // 5
            if n_hold:
                held[rows[torch.randperm(len(rows), generator=generator)[:n_hold].to(rows.device)]] = True
        if not held.any():
            fallback = {"reg_covar": _FALLBACK_REG if len(regs) > 1 else regs[0], "shrinkage": 0.0 if len(shrinks) > 1 else shrinks[0]}
            logger.info("gmm: choosing regularization needs 5 records of a class to hold one out; using %s", fallback)
            return fallback
        seed = int(torch.randint(2**62, (1,), generator=generator))
        fit_x, fit_y, val_x, val_y = x[~held], labels[~held], x[held], labels[held]
        scores: dict[tuple[float, float], float] = {}
        for reg, shrink in itertools.product(regs, shrinks):
            self.config = cfg.model_copy(update={"reg_covar": reg, "shrinkage": shrink})
            try:
                self._initialise(fit_x, fit_y, torch.Generator().manual_seed(seed))
                for _ in range(100):  # the Trainer's default EM cap
                    self._em_iteration(fit_x, fit_y, lambda t: t)  # local: every process has all the data here
                    if self.converged:
                        break
            except ValueError:  # singular covariances at this regularization
                continue
            scores[reg, shrink] = float(self.log_prob(val_x.reshape(len(val_x), *self.spec.shape), val_y).mean())
        self.config = cfg
        if not scores:
            raise ValueError(f"reg_covar: every value of {regs} leaves a covariance singular; set reg_covar above {regs[-1]}")
        reg, shrink = max(scores, key=scores.get)
        logger.info(
            "gmm: chose reg_covar %g, shrinkage %g (held-out log-likelihood per record on a fifth of each class; best of %d candidates: %.1f)",
            reg, shrink, len(scores), scores[reg, shrink],
        )
        return {"reg_covar": reg, "shrinkage": shrink}


def _draw(weights: torch.Tensor, generator: torch.Generator) -> int:
    """One index drawn with probability proportional to ``weights`` (any device, explicit generator)."""
    cdf = weights.cumsum(0)
    u = rand((1,), generator, weights.device, dtype=weights.dtype) * cdf[-1]
    return int(torch.searchsorted(cdf, u, right=True).clamp(max=len(weights) - 1))


def _nearest(x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centre for every row of ``x``: (n, D), (k, D) -> (n,)."""
    return (centres.square().sum(1) - 2.0 * x @ centres.T).argmin(1)


def _kmeans(x: torch.Tensor, k: int, iters: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy k-means++ seeding then up to ``iters`` Lloyd iterations: centres (k, D), labels (n,).

    As scikit-learn, each new centre is the best of ``2 + log k`` candidates drawn by D^2 weighting.
    """
    n = len(x)
    trials = 2 + int(math.log(k))
    centres = [x[int(rand((1,), generator, x.device, dtype=x.dtype).item() * n)]]
    closest = (x - centres[0]).square().sum(1)  # squared distance to the nearest centre
    for _ in range(1, k):
        if closest.sum() <= 0:  # every point already is a centre (duplicates): take any other point
            candidates = [len(centres)]
        else:
            candidates = [_draw(closest, generator) for _ in range(trials)]
        dists = torch.stack([torch.minimum(closest, (x - x[i]).square().sum(1)) for i in candidates])
        best = int(dists.sum(1).argmin())
        centres.append(x[candidates[best]])
        closest = dists[best]
    centres_t = torch.stack(centres)
    assign = _nearest(x, centres_t)
    for _ in range(iters):
        onehot = torch.nn.functional.one_hot(assign, k).to(x.dtype)  # (n, k); a matmul beats index_add_ on CPU
        counts = onehot.sum(0)
        centres_t = torch.where(counts.unsqueeze(1) > 0, (onehot.T @ x) / counts.clamp_min(1).unsqueeze(1), centres_t)
        new_assign = _nearest(x, centres_t)
        if torch.equal(new_assign, assign):
            break
        assign = new_assign
    return centres_t, assign
