"""The adversarial part as a reusable piece: a prior, a discriminator and an optional side input.

A model holds one (the AAE's code) or several (the semi-supervised AAE: Cat(10) on the class y,
N(0, I) on the style z) and calls the two losses from its discriminator and generator phases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from aaekit.nets import MLP
from aaekit.priors import Prior


class Adversary(nn.Module):
    """A discriminator that tells samples of ``prior`` ("real", target 1) from codes ("fake", 0),
    seeing ``side`` (e.g. a one-hot label) beside each when ``side_dim`` > 0. Losses on logits."""

    def __init__(self, prior: Prior, hidden: Sequence[int] = (1000, 1000), init_std: float | None = 0.01,
                 side_dim: int = 0, batchnorm: bool = False, minibatch: bool = False,
                 make_net: Callable[[int], nn.Module] | None = None, dropout: float = 0.0) -> None:
        """``batchnorm``: batch normalization in the hidden layers but the first (DCGAN); prior
        samples and codes then go through the net in separate batches, never normalised together.
        ``minibatch``: the net also sees, beside each row, the mean of the rows it came with (codes
        beside their batch's mean code, prior samples beside theirs), so it can judge a batch's
        spread over the prior, not only each code alone (minibatch discrimination). ``make_net``:
        your own net in place of the MLP, made for the input width (aaekit.nets.CustomNets).
        ``dropout``: the MLP's dropout after each hidden ReLU (training only)."""
        super().__init__()
        self.prior = prior
        self.batchnorm = batchnorm
        self.minibatch = minibatch
        in_dim = prior.dim * (2 if minibatch else 1) + side_dim
        self.net = make_net(in_dim) if make_net else MLP(in_dim, hidden, 1, init_std, batchnorm, dropout=dropout)

    def _with_mean(self, z: torch.Tensor) -> torch.Tensor:
        """``z``, beside its rows' mean with ``minibatch``."""
        return torch.cat([z, z.mean(0, keepdim=True).expand_as(z)], 1) if self.minibatch else z

    def logits(self, z: torch.Tensor, side: torch.Tensor | None = None) -> torch.Tensor:
        """The discriminator's logits ("real" > 0), in fp32; with ``minibatch``, ``z`` is one batch."""
        z = self._with_mean(z)
        return self.net(z if side is None else torch.cat([z, side.to(z.dtype)], 1)).squeeze(1).float()

    def discriminator_loss(self, codes: torch.Tensor, real: torch.Tensor, side: torch.Tensor | None = None):
        """Loss of the discriminator on ``real`` prior samples and (detached) ``codes``, and its
        accuracy on each; one forward pass over both (with batch norm or ``minibatch``, two: a batch
        of each)."""
        n = len(real)
        fake = codes.detach().to(real.dtype)
        if self.batchnorm or self.minibatch:  # each batch alone: its own statistics, its own mean
            real_logits, fake_logits = self.logits(real, side), self.logits(fake, side)
        else:
            logits = self.logits(torch.cat([real, fake]), None if side is None else torch.cat([side, side]))
            real_logits, fake_logits = logits[:n], logits[n:]
        loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        return loss, (real_logits > 0).float().mean(), (fake_logits < 0).float().mean()

    def generator_loss(self, codes: torch.Tensor, side: torch.Tensor | None = None) -> torch.Tensor:
        """The encoder's loss: make the discriminator call its ``codes`` real."""
        logits = self.logits(codes, side)
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))

    @torch.no_grad()
    def accuracies(self, codes: torch.Tensor, side: torch.Tensor | None = None,
                   batch_size: int = 100) -> tuple[float, float]:
        """Held-out accuracy on as many prior samples as ``codes`` (beside the same ``side``), and on
        the codes; with ``minibatch``, judged in batches of ``batch_size`` rows (100: the paper's
        training batch)."""
        real = self.prior.sample(len(codes), device=codes.device)
        step = batch_size if self.minibatch else len(codes)

        def judged(z: torch.Tensor) -> torch.Tensor:
            return torch.cat([self.logits(z[i : i + step], None if side is None else side[i : i + step])
                              for i in range(0, len(z), step)])

        return (judged(real) > 0).float().mean().item(), (judged(codes) < 0).float().mean().item()
