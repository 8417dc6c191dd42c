"""A VAE on the AAE's own nets, for the paper's Fig. 2 comparison (Kingma & Welling, 2014)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from aaekit.config import ConfigError, OptimConfig
from aaekit.data.loader import Batch
from aaekit.models.base import Model, Phase
from aaekit.nets import NetSpec
from aaekit.priors import Gaussian, Prior

# The paper gives no VAE schedule; Adam at 1e-3 is the usual choice for this model.
VAE_ADAM = OptimConfig("adam", lr=1e-3)


class VAE(Model):
    """Gaussian q(z|x) whose mean and log-variance come from the AAE encoder net (2x the outputs);
    the AAE decoder net. One phase minimises the negative ELBO: reconstruction + KL(q(z|x) || p(z)).
    The KL is exact for a Gaussian prior and a one-sample Monte Carlo estimate otherwise (mixture)."""

    kind = "vae"
    measures_prior_fit = True

    def __init__(
        self, x_dim: int, code_dim: int, prior: Prior,
        encoder_hidden: Sequence[int] = (1000, 1000), decoder_hidden: Sequence[int] = (1000, 1000),
        init_std: float | None = 0.01, recon_loss: str = "bce", input_noise: float = 0.0,
        nets: NetSpec | None = None,
    ) -> None:
        super().__init__(x_dim, code_dim, prior, recon_loss, input_noise)
        try:
            prior.log_prob(torch.zeros(1, code_dim))
        except NotImplementedError:
            raise ConfigError(
                f"config key 'prior.kind': the VAE needs a prior with a density, "
                f"{type(prior).__name__} has none"
            ) from None
        nets = nets or NetSpec((x_dim,), encoder_hidden, decoder_hidden, init_std)
        self.encoder = nets.encoder(2 * code_dim)
        self.decoder = nets.decoder(code_dim)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.encoder(x).float().chunk(2, dim=1)
        return mean, logvar

    def encode(self, x):
        return self.posterior(x)[0]

    def decode_logits(self, z, y=None):
        return self.decoder(z)

    def phases(self) -> list[Phase]:
        return [Phase("elbo", list(self.parameters()), VAE_ADAM, self.elbo_loss)]

    def kl(self, mean: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if isinstance(self.prior, Gaussian):
            s2 = self.prior.std**2
            return 0.5 * ((logvar.exp() + mean.pow(2)) / s2 - 1 - logvar + math.log(s2)).sum(1)
        log_q = (-0.5 * ((z - mean).pow(2) / logvar.exp() + logvar + math.log(2 * math.pi))).sum(1)
        return log_q - self.prior.log_prob(z)

    def elbo_loss(self, batch: Batch):
        mean, logvar = self.posterior(self.noisy(batch))
        eps = batch.draw(lambda y, n: torch.randn((n, mean.shape[1]), dtype=mean.dtype, device=mean.device))
        z = mean + (0.5 * logvar).exp() * eps
        recon = self.reconstruction_error(self.decoder(z), batch.x)
        kl = self.kl(mean, logvar, z).mean()
        return recon + kl, {"recon": recon.detach(), "kl": kl.detach()}
