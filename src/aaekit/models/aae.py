"""The unsupervised adversarial autoencoder (paper, Sec. 2, Fig. 1)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from aaekit.config import ConfigError, OptimConfig
from aaekit.data.loader import Batch
from aaekit.models.adversary import Adversary
from aaekit.models.base import Model, Phase
from aaekit.nets import MLP, NetSpec
from aaekit.priors import Prior

# Appendix A [memory; 1henrypage "Paper Configuration"], PAPER.md sec. 2: SGD, autoencoder lr 0.01
# with momentum 0.9, generator and discriminator lr 0.1 with momentum 0.1, lr / 10 at epochs 50, 1000.
PAPER_MILESTONES = [50, 1000]
AUTOENCODER_SGD = OptimConfig("sgd", lr=0.01, momentum=0.9, milestones=PAPER_MILESTONES)
ADVERSARIAL_SGD = OptimConfig("sgd", lr=0.1, momentum=0.1, milestones=PAPER_MILESTONES)


class AAE(Model):
    """Encoder q(z|x) (deterministic), decoder p(x|z) and a discriminator on codes.

    Each mini-batch runs three phases, in this order (Sec. 2): reconstruction (encoder + decoder
    on the reconstruction error), then regularization: discriminator (prior samples are "real",
    label 1; codes of data are "fake", label 0), then generator (the encoder learns to make the
    discriminator call its codes real). Adversarial losses are computed on logits.
    """

    kind = "aae"
    measures_prior_fit = True

    def __init__(
        self, x_dim: int, code_dim: int, prior: Prior,
        encoder_hidden: Sequence[int] = (1000, 1000), decoder_hidden: Sequence[int] = (1000, 1000),
        discriminator_hidden: Sequence[int] = (1000, 1000), init_std: float | None = 0.01,
        recon_loss: str = "sse", input_noise: float = 0.0, decoder_side: int = 0, discriminator_side: int = 0,
        nets: NetSpec | None = None, discriminator_batchnorm: bool = False, discriminator_dropout: float = 0.0,
        posterior: str = "deterministic",
    ) -> None:
        """``decoder_side`` / ``discriminator_side``: widths of the side inputs (labels) that the
        decoder / discriminator see beside the code (models/supervised.py); 0 here. ``nets``: how
        the encoder and decoder are built (None: the MLPs of ``encoder_hidden`` / ``decoder_hidden``;
        ``aaekit.nets.CustomNets``: your own, the discriminator's too). ``posterior``:
        ``deterministic`` (the paper's choice for its experiments) or ``gaussian`` (its Sec. 2
        option (b)): the encoder gives a mean and a log-variance per code dimension, and training
        uses a draw z = mean + prior_std * exp(log_var / 2) * eps, eps ~ N(0, I) (the posterior's std
        in units of the prior's, so that it starts about as wide as the prior); ``encode`` gives the
        mean."""
        super().__init__(x_dim, code_dim, prior, recon_loss, input_noise)
        if posterior not in ("deterministic", "gaussian"):
            raise ConfigError(f"config key 'model.posterior': deterministic or gaussian, not {posterior!r}")
        self.posterior = posterior
        nets = nets or NetSpec((x_dim,), encoder_hidden, decoder_hidden, init_std)
        self.encoder = nets.encoder(2 * code_dim if posterior == "gaussian" else code_dim)
        self.decoder = nets.decoder(code_dim + decoder_side)
        self.adversary = Adversary(prior, discriminator_hidden, init_std, discriminator_side, discriminator_batchnorm,
                                   make_net=getattr(nets, "discriminator", None), dropout=discriminator_dropout)
        self._register_load_state_dict_pre_hook(_rename_discriminator)

    @property
    def discriminator(self) -> MLP:
        """The adversary's net (``adversary.net``)."""
        return self.adversary.net

    def encode(self, x):
        """The code of ``x``: with a Gaussian posterior, its mean."""
        out = self.encoder(x)
        return out[:, : self.code_dim] if self.posterior == "gaussian" else out

    def draw_codes(self, batch: Batch, x: torch.Tensor) -> torch.Tensor:
        """The training codes of the images ``x`` (the batch's, perhaps noisy): the encoder's
        output, or with a Gaussian posterior one draw of q(z | x) per image."""
        out = self.encoder(x)
        if self.posterior != "gaussian":
            return out
        mean, log_var = out[:, : self.code_dim], out[:, self.code_dim :]
        eps = batch.draw(lambda y, n: torch.randn((n, self.code_dim), dtype=mean.dtype, device=mean.device))
        return mean + (0.5 * log_var.float()).exp().to(mean.dtype) * self.prior_std.to(mean.dtype) * eps

    def decode_logits(self, z, y=None):
        return self.decoder(z)

    def phases(self) -> list[Phase]:
        ae = [*self.encoder.parameters(), *self.decoder.parameters()]
        return [
            Phase("reconstruction", ae, AUTOENCODER_SGD, self.reconstruction_loss),
            Phase("discriminator", list(self.adversary.parameters()), ADVERSARIAL_SGD,
                  self.discriminator_loss),
            Phase("generator", list(self.encoder.parameters()), ADVERSARIAL_SGD, self.generator_loss),
        ]

    def reconstruction_loss(self, batch: Batch) -> torch.Tensor:
        return self.reconstruction_error(self.decoder(self.draw_codes(batch, self.noisy(batch))), batch.x)

    # -- the adversarial part; the label models (models/supervised.py) change only these three hooks --
    def prior_pairs(self, y: torch.Tensor | None, n: int, device) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``n`` samples of the prior (the discriminator's "real") and the side input the
        discriminator sees with them and with the codes of images labelled ``y`` (none here)."""
        return self.prior.sample(n, device=device), None

    def side_input(self, y: torch.Tensor | None, n: int, device) -> torch.Tensor | None:
        """What the discriminator sees beside the codes of ``n`` images labelled ``y`` (none here)."""
        return None

    def judge(self, z: torch.Tensor, side: torch.Tensor | None) -> torch.Tensor:
        """The discriminator's logits ("real" > 0) for codes ``z`` (beside ``side``), in fp32."""
        return self.adversary.logits(z, side)

    def discriminator_loss(self, batch: Batch):
        # The codes, with their graph: the discriminator's update leaves the encoder as it is, so
        # the generator phase of this batch backpropagates through these same codes instead of
        # encoding the batch again (the same numbers, one encoder pass fewer per step).
        codes = self.draw_codes(batch, self.noisy(batch))
        batch.cache["codes"] = codes
        real, side = batch.draw(lambda y, m: self.prior_pairs(y, m, batch.x.device))
        loss, acc_prior, acc_codes = self.adversary.discriminator_loss(codes, real, side)
        return loss, {"d_acc_prior": acc_prior, "d_acc_codes": acc_codes}

    def generator_loss(self, batch: Batch) -> torch.Tensor:
        side = self.side_input(batch.y, len(batch.x), batch.x.device)
        codes = batch.cache.pop("codes", None)
        if codes is None:
            codes = self.draw_codes(batch, self.noisy(batch))
        return self.adversary.generator_loss(codes, side)

    def extra_diagnostics(self, x, z, y=None):
        """How well the discriminator tells held-out codes from as many prior samples."""
        real, side = self.prior_pairs(y, len(z), z.device)
        return {
            "d_acc_prior": (self.judge(real, side) > 0).float().mean().item(),
            "d_acc_codes": (self.judge(z, side) < 0).float().mean().item(),
        }


def _rename_discriminator(state_dict, prefix, *args) -> None:
    """Checkpoints from before the adversary was its own piece name its net ``discriminator.*``."""
    old = prefix + "discriminator."
    for key in [k for k in state_dict if k.startswith(old)]:
        state_dict[prefix + "adversary.net." + key[len(old):]] = state_dict.pop(key)
