"""AAEs that use labels (paper, Sec. 2.3 and Sec. 4).

- ``SupervisedAAE`` (Fig. 6): the decoder sees the one-hot label beside the code, so the code,
  pushed onto a Gaussian, need only hold the style (Fig. 7: one writer's style, every digit).
- ``LabelPriorAAE`` (Fig. 3): the discriminator sees a one-hot vector with one slot per class and
  one extra slot for "no label" beside the code; a labelled image's code is matched to its own
  class's component of the prior, an unlabelled one's to the whole prior (Fig. 4).

Unlabelled training images carry the label -1 (``aaekit.data``: ``data.labelled``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from aaekit.config import ConfigError
from aaekit.data.loader import Batch
from aaekit.models.aae import AAE
from aaekit.priors import Prior

NO_LABEL = -1


def _outside(y: torch.Tensor, low: int, high: int) -> bool:
    """Whether a label of ``y`` lies outside [low, high). Not asked of one seed's labels inside the
    batched step of seeds trained together (aaekit.train.seeds: a vmap, where reading a value is
    impossible): the run checked every label when it loaded them."""
    if not len(y) or torch._C._functorch.is_batchedtensor(y):
        return False
    return int(y.max()) >= high or int(y.min()) < low


def label_slots(y: torch.Tensor | None, n_classes: int, n: int | None = None,
                device: torch.device | str | None = None) -> torch.Tensor:
    """One-hot vectors with ``n_classes + 1`` slots: label k in slot k, "no label" (-1, or ``y``
    None for ``n`` images) in the extra last slot."""
    if y is None:
        return F.one_hot(torch.full((n,), n_classes, device=device), n_classes + 1).float()
    if _outside(y, NO_LABEL, n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}) or be {NO_LABEL} (no label)")
    return F.one_hot(torch.where(y < 0, n_classes, y), n_classes + 1).float()


class SupervisedAAE(AAE):
    """Decoder input = [one-hot label, code]; the code (the style) has a Gaussian prior. Phases as
    the AAE's; the reconstruction phase needs every training image's label.

    ``adversary_sees_label`` (not in the paper; default off): the discriminator also sees the
    image's one-hot label beside its code, and the same label beside each prior sample. Prior
    samples do not depend on the label, so the only way left to tell codes from them is a code
    distribution that changes with the label: the encoder is pushed toward the same Gaussian for
    every class, i.e. a style independent of the label, instead of only a Gaussian over all codes.
    """

    kind = "supervised_aae"
    decoder_takes_labels = True

    def __init__(self, x_dim: int, code_dim: int, prior: Prior, n_classes: int = 10,
                 adversary_sees_label: bool = False, **kwargs) -> None:
        super().__init__(x_dim, code_dim, prior, decoder_side=n_classes,
                         discriminator_side=n_classes if adversary_sees_label else 0, **kwargs)
        self.n_classes = n_classes
        self.adversary_sees_label = adversary_sees_label

    def _onehot(self, y: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
        if _outside(y, 0, self.n_classes):
            raise ValueError(f"the supervised AAE needs every image labelled in 0..{self.n_classes - 1}; "
                             "set data.labelled to null")
        return F.one_hot(y, self.n_classes).to(dtype)

    def side_input(self, y, n, device):
        if not self.adversary_sees_label:
            return None
        if y is None:
            raise ValueError("model.adversary_sees_label: the discriminator needs the images' labels")
        return self._onehot(y.to(device))

    def prior_pairs(self, y, n, device):
        return self.prior.sample(n, device=device), self.side_input(y, n, device)

    def decode_logits(self, z, y=None):
        if y is None:
            raise ValueError("the supervised AAE's decoder needs the labels of the codes it decodes")
        return self.decoder(torch.cat([self._onehot(y.to(z.device), z.dtype), z], 1))

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """Decoded prior draws, with labels ``y`` (uniformly random when None)."""
        device = self.prior_mean.device
        y = torch.randint(self.n_classes, (n,), device=device) if y is None else y.to(device)
        return self.decode(self.prior.sample(n, device=device), y)

    def extra_diagnostics(self, x, z, y=None):
        """The AAE's discriminator accuracies and ``style_label_probe``: how well a linear classifier
        (logistic regression) fitted on the first half of these codes reads the label of the second
        half (0.1 = chance: the style holds no label), a cheap per-epoch view of the style's label
        content that metrics.json measures with a trained classifier at the end."""
        out = super().extra_diagnostics(x, z, y)
        if y is not None and len(y) >= 100:
            from sklearn.linear_model import LogisticRegression

            codes, labels = z.float().cpu().numpy(), y.cpu().numpy()
            half = len(codes) // 2
            if len(set(labels[:half])) > 1:
                probe = LogisticRegression(max_iter=300).fit(codes[:half], labels[:half])
                out["style_label_probe"] = float(probe.score(codes[half:], labels[half:]))
        return out

    def final_evaluation(self, splits, device, out_dir):
        """Does the style hold the label, does the decoder draw the digit asked for (style.png)."""
        from aaekit.metrics.labels import style_metrics

        return style_metrics(self, splits, device, out_dir)

    def reconstruction_loss(self, batch: Batch) -> torch.Tensor:
        if batch.y is None:
            raise ValueError("the supervised AAE trains on labelled images; the data set has no labels")
        return self.reconstruction_error(self.decode_logits(self.encoder(self.noisy(batch)), batch.y), batch.x)


class LabelPriorAAE(AAE):
    """The discriminator judges [code, 11-slot label vector]. "Real" pairs: a prior sample from the
    image's class component with that label's slot, or, for an unlabelled image, a sample of the
    whole prior with the "no label" slot; "fake" pairs: the image's code with the same slot."""

    kind = "label_aae"

    def __init__(self, x_dim: int, code_dim: int, prior: Prior, **kwargs) -> None:
        if prior.n_classes is None:
            raise ConfigError(f"config key 'prior.kind': the label_aae needs a prior with one component per "
                              f"class (mog or swissroll), not {type(prior).__name__}")
        super().__init__(x_dim, code_dim, prior, discriminator_side=prior.n_classes + 1, **kwargs)
        self.n_classes = prior.n_classes

    def side_input(self, y, n, device):
        return label_slots(y, self.n_classes, n, device)

    def prior_pairs(self, y, n, device):
        """Prior samples matched to labels ``y`` (-1 or None: the whole prior) and their slot vectors."""
        if y is None:
            return self.prior.sample(n, device=device), self.side_input(None, n, device)
        # an unlabelled image's sample comes from a uniformly drawn component: the whole mixture
        drawn = torch.where(y < 0, torch.randint_like(y, self.n_classes), y)
        return self.prior.sample(n, drawn, device=device), self.side_input(y, n, device)

    def final_evaluation(self, splits, device, out_dir):
        """Images decoded along each label's component (walks.png); its measure,
        ``component_accuracy``, comes with every evaluation."""
        if out_dir is not None and len(splits.test.image_shape) >= 2:
            from aaekit.metrics.labels import component_walks

            component_walks(self, out_dir, splits.test.image_shape)
        return {}

    def extra_diagnostics(self, x, z, y=None):
        """The AAE's discriminator accuracies (with the held-out labels) and the share of codes that
        fall in their own label's component of the prior (the measure of Fig. 4)."""
        out = super().extra_diagnostics(x, z, y)
        if y is not None and bool((y >= 0).any()):
            known = y >= 0
            out["component_accuracy"] = (self.prior.assign(z[known].float()) == y[known]).float().mean().item()
        return out
