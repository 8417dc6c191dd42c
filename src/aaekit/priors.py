"""Priors p(z) that the adversarial part imposes on the code (paper, Sec. 2 and Figs. 2 and 4).

Every prior has ``sample(n, y=None)``. The mixture and the swiss roll are label-conditioned:
given labels ``y`` they draw each sample from that label's component (Sec. 2.3), otherwise from the
whole prior. Samples of the prior are what the discriminator is taught to call "real".
"""

from __future__ import annotations

import math

import torch

from aaekit.config import PriorConfig


def _capturing() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()


class Prior:
    dim: int
    n_classes: int | None = None  # components a label can select; None: not label-conditioned

    def sample(
        self, n: int, y: torch.Tensor | None = None, device: torch.device | str | None = None
    ) -> torch.Tensor:
        raise NotImplementedError

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"the {type(self).__name__} prior has no closed-form density")

    def assign(self, z: torch.Tensor) -> torch.Tensor:
        """The component (label) each code falls in."""
        raise NotImplementedError(f"the {type(self).__name__} prior has no components")

    def axis(self, k: int, steps: int) -> torch.Tensor:
        """``steps`` points along component ``k``'s main axis, in order (a style walk, Fig. 4)."""
        raise NotImplementedError(f"the {type(self).__name__} prior has no components")

    def _labels(self, n: int, y: torch.Tensor | None, device: torch.device | str | None) -> torch.Tensor:
        assert self.n_classes is not None
        if y is None:
            return torch.randint(self.n_classes, (n,), device=device)
        if y.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {tuple(y.shape)}")
        # (not checked inside a CUDA graph capture, where reading a value off the GPU is not allowed)
        if len(y) and not _capturing() and (int(y.min()) < 0 or int(y.max()) >= self.n_classes):
            raise ValueError(f"labels must lie in [0, {self.n_classes}), got {y.min()}..{y.max()}")
        return y.to(device)

    @torch.no_grad()
    def moments(self, n: int = 100_000) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-dimension mean and std, estimated from ``n`` samples with a fixed seed (the global
        RNG is left untouched, so calling this never changes a run)."""
        state = torch.get_rng_state()
        try:
            torch.manual_seed(12345)
            s = self.sample(n)
        finally:
            torch.set_rng_state(state)
        return s.mean(0), s.std(0)


class Gaussian(Prior):
    """N(0, std^2 I) in ``dim`` dimensions (Figs. 2a, 5: std 5 in 8-D for the likelihood model)."""

    def __init__(self, dim: int, std: float = 1.0) -> None:
        self.dim, self.std = dim, std

    def sample(self, n, y=None, device=None):
        return torch.randn(n, self.dim, device=device) * self.std

    def log_prob(self, z):
        return (
            -0.5 * (z / self.std).pow(2).sum(-1)
            - self.dim * (math.log(self.std) + 0.5 * math.log(2 * math.pi))
        )

    def moments(self, n=0):
        return torch.zeros(self.dim), torch.full((self.dim,), float(self.std))


class MixtureOfGaussians(Prior):
    """``n_components`` elongated 2-D Gaussians, component k centred at ``radius`` along the angle
    2*pi*k/n and stretched along that ray (the paper's Fig. 2b layout)."""

    dim = 2

    def __init__(
        self, n_components: int = 10, radius: float = 1.4, radial_std: float = 0.5,
        tangential_std: float = 0.1,
    ) -> None:
        self.n_classes = n_components
        self.radius, self.radial_std, self.tangential_std = radius, radial_std, tangential_std
        angles = 2 * math.pi * torch.arange(n_components) / n_components
        self.angles = angles
        self.means = radius * torch.stack([angles.cos(), angles.sin()], 1)
        self._scale = torch.tensor([radial_std, tangential_std])
        self._on: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def _constants(self, device) -> tuple[torch.Tensor, torch.Tensor]:
        """The angles and the two stds on ``device``, copied there once (no copy from the host inside
        a training step: a CUDA graph cannot capture one)."""
        device = torch.device(device or "cpu")
        if device not in self._on:
            self._on[device] = (self.angles.to(device), self._scale.to(device))
        return self._on[device]

    def _rotate(self, u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        angles = self._constants(u.device)[0][k]
        c, s = angles.cos(), angles.sin()
        return torch.stack([c * u[:, 0] - s * u[:, 1], s * u[:, 0] + c * u[:, 1]], 1)

    def sample(self, n, y=None, device=None):
        k = self._labels(n, y, device)
        u = torch.randn(n, 2, device=device) * self._constants(device)[1]
        u[:, 0] += self.radius
        return self._rotate(u, k)

    def component_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; component k) for every k: (N, n_components)."""
        a = self.angles.to(z.device)
        c, s = a.cos(), a.sin()
        # coordinates of z in each component's own frame (rotation by -angle), shifted to its mean
        u = c * z[:, :1] + s * z[:, 1:] - self.radius
        v = -s * z[:, :1] + c * z[:, 1:]
        return (
            -0.5 * ((u / self.radial_std) ** 2 + (v / self.tangential_std) ** 2)
            - math.log(2 * math.pi * self.radial_std * self.tangential_std)
        )

    def log_prob(self, z):
        return torch.logsumexp(self.component_log_prob(z), 1) - math.log(self.n_classes)

    def assign(self, z):
        return self.component_log_prob(z).argmax(1)

    def axis(self, k, steps):
        """Along the component's long (radial) axis, from 2 std inside its mean to 2 std outside."""
        r = self.radius + self.radial_std * torch.linspace(-2, 2, steps)
        u = torch.stack([r, torch.zeros(steps)], 1)
        return self._rotate(u, torch.full((steps,), k))


class SwissRoll(Prior):
    """A 2-D swiss roll: roll position t ~ U(0, 1), radius ``radius * sqrt(t)``, angle
    ``2*pi*turns*sqrt(t)``; cut into ``n_classes`` equal segments of t, label k on segment k (Fig. 4).
    ``noise`` > 0 gives the roll a width: Gaussian noise of that std added to each sample."""

    dim = 2

    def __init__(self, n_classes: int = 10, radius: float = 3.0, turns: float = 2.0, noise: float = 0.0) -> None:
        self.n_classes, self.radius, self.turns, self.noise = n_classes, radius, turns, noise

    def point(self, t: torch.Tensor) -> torch.Tensor:
        r = t.sqrt()
        angle = 2 * math.pi * self.turns * r
        return torch.stack([self.radius * r * angle.cos(), self.radius * r * angle.sin()], -1)

    def sample(self, n, y=None, device=None):
        k = self._labels(n, y, device)
        t = (k + torch.rand(n, device=device)) / self.n_classes
        z = self.point(t)
        return z + self.noise * torch.randn_like(z) if self.noise > 0 else z

    def axis(self, k, steps):
        """Along the roll through segment ``k``."""
        return self.point((k + (torch.arange(steps) + 0.5) / steps) / self.n_classes)

    def assign(self, z, resolution: int = 4000):
        """The segment of the nearest point of the roll (the roll sampled at ``resolution`` points)."""
        t = (torch.arange(resolution, device=z.device) + 0.5) / resolution
        nearest = torch.cdist(z.float(), self.point(t)).argmin(1)
        return (t[nearest] * self.n_classes).long().clamp_(max=self.n_classes - 1)


class Categorical(Prior):
    """One-hot vectors of a uniform categorical over ``n_classes`` (the semi-supervised y, Sec. 5)."""

    def __init__(self, n_classes: int = 10) -> None:
        self.n_classes = self.dim = n_classes

    def sample(self, n, y=None, device=None):
        k = self._labels(n, y, device)
        return torch.nn.functional.one_hot(k, self.n_classes).float()

    def log_prob(self, z):
        return torch.where(
            (z.sum(-1) == 1) & ((z == 0) | (z == 1)).all(-1),
            torch.full(z.shape[:-1], -math.log(self.n_classes), device=z.device),
            torch.full(z.shape[:-1], -math.inf, device=z.device),
        )

    def assign(self, z):
        return z.argmax(-1)


class Joint(Prior):
    """Independent priors side by side: a sample is their samples concatenated (the semi-supervised
    AAE's code [y, z]: Cat(10) beside N(0, I)). Label-conditioned through the first part, if it is."""

    def __init__(self, *parts: Prior) -> None:
        self.parts = parts
        self.dim = sum(p.dim for p in parts)
        self.n_classes = parts[0].n_classes

    def sample(self, n, y=None, device=None):
        return torch.cat([p.sample(n, y if i == 0 else None, device=device) for i, p in enumerate(self.parts)], 1)

    def split(self, z: torch.Tensor) -> list[torch.Tensor]:
        return list(z.split([p.dim for p in self.parts], dim=-1))

    def assign(self, z):
        return self.parts[0].assign(self.split(z)[0])


def build_prior(cfg: PriorConfig, code_dim: int) -> Prior:
    dim = cfg.dim or code_dim
    if cfg.kind == "gaussian":
        return Gaussian(dim, cfg.std)
    if cfg.kind == "mog":
        return MixtureOfGaussians(
            cfg.n_components, cfg.mog_radius, cfg.mog_radial_std, cfg.mog_tangential_std
        )
    if cfg.kind == "swissroll":
        return SwissRoll(cfg.n_components, cfg.roll_radius, cfg.roll_turns, cfg.roll_noise)
    if cfg.kind == "categorical":
        return Categorical(cfg.n_components)
    raise ValueError(f"unknown prior kind {cfg.kind!r}")
