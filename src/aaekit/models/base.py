"""What every model shares: phases for the one trainer, encode/decode/sample, held-out diagnostics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aaekit.config import ConfigError, OptimConfig
from aaekit.data.loader import Batch
from aaekit.nets import alive_units
from aaekit.priors import Prior

LossOutput = torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]


@dataclass
class Phase:
    """One update on each mini-batch: ``loss`` is minimised over ``params`` by its own optimizer.

    ``loss`` returns the loss, or the loss and a dict of extra scalars to log (kept on the device;
    the trainer reads them only every ``log_every`` steps).
    """

    name: str  # "reconstruction", "discriminator", "generator", "classification", ...
    params: list[nn.Parameter]
    optimizer: OptimConfig  # the model's default; the config's train.optim.<name> overrides it
    loss: Callable[[Batch], LossOutput]
    every: int = 1  # run on every n-th batch only
    # the images the phase trains on: "all" (the epoch's mini-batch) or "labelled" (its own
    # mini-batch of the labelled images, drawn by BatchLoader.labelled from (seed, step))
    source: str = "all"


class Model(nn.Module):
    """Base of all models. Subclasses build their nets (at least ``self.encoder``, an ``MLP``) and
    declare their phases."""

    kind: str = ""
    decoder_takes_labels: bool = False  # decode(z, y) needs y (the supervised AAE)
    # evaluate() measures how well the codes match the prior (aaekit.metrics.prior_fit): the models
    # whose whole code is pushed onto ``prior`` (the AAEs, the VAE)
    measures_prior_fit: bool = False

    def __init__(self, x_dim: int, code_dim: int, prior: Prior, recon_loss: str = "sse",
                 input_noise: float = 0.0) -> None:
        super().__init__()
        if prior.dim != code_dim:
            raise ConfigError(f"config key 'prior.dim': the prior is {prior.dim}-D but the code is {code_dim}-D")
        self.x_dim, self.code_dim, self.prior = x_dim, code_dim, prior
        self.recon_loss_kind, self.input_noise = recon_loss, input_noise
        prior_mean, prior_std = prior.moments()
        self.register_buffer("prior_mean", prior_mean, persistent=False)
        self.register_buffer("prior_std", prior_std, persistent=False)

    # -- what subclasses provide -------------------------------------------------------------
    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic code of ``x`` (the paper uses a deterministic encoder, Sec. 2)."""
        raise NotImplementedError

    def decode_logits(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------
    @torch.no_grad()
    def encode_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """What ``aaekit encode`` gives for the images ``x``: their ``codes`` and, in models that
        have more to read off an image, those too (``class_probs``: q(y | x); ``reduced``: W_C y + z)."""
        return {"codes": self.encode(x)}

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [0, 1] (the decoder's sigmoid output)."""
        return torch.sigmoid(self.decode_logits(z, y))

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images decoded from ``n`` draws of the prior."""
        device = self.prior_mean.device
        return self.decode(self.prior.sample(n, y, device=device).to(self.prior_mean.dtype))

    def noisy(self, batch: Batch) -> torch.Tensor:
        """The encoder's training input: the batch's images plus Gaussian noise of std ``input_noise``."""
        x = batch.x
        if self.training and self.input_noise > 0:
            noise = batch.draw(lambda y, n: torch.randn((n, *x.shape[1:]), dtype=x.dtype, device=x.device))
            return x + self.input_noise * noise
        return x

    def reconstruction_error(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Per-image reconstruction cost, averaged over the batch: the sum of squared errors over
        pixels (the paper's Euclidean cost; a per-pixel mean makes its learning rates 784x too
        small, PAPER.md sec. 1b) or the Bernoulli negative log-likelihood."""
        if self.recon_loss_kind == "bce":
            return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1).mean()
        return (torch.sigmoid(logits) - x).pow(2).sum(1).mean()

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 1000) -> dict[str, float]:
        """Held-out diagnostics: reconstruction error, the codes' moments against the prior's and,
        where the model measures it, their fit to the prior (``prior_fit_c2st``, ``prior_fit_mmd``:
        10,000 codes at most) (``y``: the labels, for models whose decoder or discriminator takes them)."""
        was_training = self.training
        self.eval()
        sse, codes = 0.0, []
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size]
            z = self.encode(xb)
            codes.append(z.float())
            sse += (self.decode(z, None if y is None else y[i : i + batch_size]) - xb).float().pow(2).sum().item()
        z = torch.cat(codes)
        out = {
            "recon_sse": sse / len(x),  # per image, summed over pixels
            "recon_mse": sse / x.numel(),  # per pixel
            "code_mean": z.mean(0).abs().mean().item(),
            "code_std": z.std(0).mean().item(),
            "prior_mean": self.prior_mean.abs().mean().item(),
            "prior_std": self.prior_std.mean().item(),
            "encoder_alive_units": alive_units(self.encoder, x[:2000]),
        }
        if self.measures_prior_fit:
            from aaekit.metrics.prior_fit import prior_fit

            out.update(prior_fit(z, self.prior))
        out.update(self.extra_diagnostics(x, z, y))
        self.train(was_training)
        return out

    def extra_diagnostics(self, x: torch.Tensor, z: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, float]:
        return {}

    def final_evaluation(self, splits, device, out_dir) -> dict:
        """Measures (and files in ``out_dir``, where given) a model adds to metrics.json once trained,
        beside ``evaluate``'s on the test split; none here."""
        return {}
