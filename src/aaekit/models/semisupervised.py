"""The semi-supervised adversarial autoencoder (paper, Sec. 5, Fig. 8).

The encoder q(y, z | x) has one 2 x 1000 ReLU trunk and two heads: a softmax over the classes, y,
and a style z. The decoder p(x | y, z) takes [y, z]. Two adversaries, each with its own
discriminator, push y onto Cat(n_classes) (one-hot draws) and z onto N(0, I). Each mini-batch
runs the reconstruction phase, the regularization phases (both discriminators, then the encoder
against both) and the semi-supervised classification phase, whose cross-entropy of q(y | x) is
taken on its own mini-batch of labelled images (``Phase.source = "labelled"``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aaekit.config import ConfigError, OptimConfig
from aaekit.data.loader import Batch
from aaekit.models.aae import ADVERSARIAL_SGD, AUTOENCODER_SGD, PAPER_MILESTONES
from aaekit.models.adversary import Adversary
from aaekit.models.base import Model, Phase
from aaekit.nets import NetSpec
from aaekit.priors import Categorical, Joint, Prior

# PAPER.md sec. 3 [memory]: the semi-supervised cost at lr 0.1 -> 0.01 (epoch 50) -> 0.001 (epoch
# 1000); its momentum is not recorded: the autoencoder's 0.9 (the encoder is the autoencoder's).
CLASSIFICATION_SGD = OptimConfig("sgd", lr=0.1, momentum=0.9, milestones=PAPER_MILESTONES)


class SemiSupervisedAAE(Model):
    """``code_dim`` is the style's dimension; the model's code is [y, z], ``n_classes + code_dim``
    wide, with the joint prior Cat(n_classes) x ``prior``. ``classify=False`` drops the
    classification phase (the unsupervised clustering model of Sec. 6); ``classifier_only=True``
    keeps only it (the supervised-only baseline of Table 2: the same encoder on the labelled images).
    ``style_sees_class`` (not in the paper; ``model.adversary_sees_label``): the style's discriminator
    sees q(y | x) beside each style and beside each N(0, I) sample, so it can only win on styles
    whose distribution changes with the class: the encoder is pushed to a style free of the class.
    ``minibatch_adversary`` (not in the paper; ``model.minibatch_adversary``): the class adversary
    also sees each mini-batch's mean y (:class:`Adversary` ``minibatch``). ``style_noise`` (not in
    the paper; ``model.style_noise``): the reconstruction phase's decoder reads the style plus
    Gaussian noise of ``style_noise`` times the style prior's std, which caps what the style carries.
    ``input_shift`` (not in the paper; ``model.input_shift``): in training the encoder reads each
    image moved by up to that many pixels (:meth:`noisy`) and the decoder must still give the unmoved
    image back, so the code is pushed to ignore small shifts."""

    kind = "semisupervised_aae"

    def __init__(self, x_dim: int, code_dim: int, prior: Prior, n_classes: int = 10,
                 encoder_hidden: Sequence[int] = (1000, 1000), decoder_hidden: Sequence[int] = (1000, 1000),
                 discriminator_hidden: Sequence[int] = (1000, 1000), init_std: float | None = 0.01,
                 recon_loss: str = "sse", input_noise: float = 0.0, classify: bool = True,
                 classifier_only: bool = False, style_sees_class: bool = False, labelled_shift: int = 0,
                 nets: NetSpec | None = None, discriminator_batchnorm: bool = False,
                 minibatch_adversary: bool = False, discriminator_dropout: float = 0.0,
                 style_noise: float = 0.0, input_shift: int = 0) -> None:
        categorical = Categorical(n_classes)
        super().__init__(x_dim, n_classes + code_dim, Joint(categorical, prior), recon_loss, input_noise)
        self.n_classes, self.style_dim = n_classes, code_dim
        self.classify, self.classifier_only = classify or classifier_only, classifier_only
        self.nets = nets or NetSpec((x_dim,), encoder_hidden, decoder_hidden, init_std)
        self.encoder = self.nets.encoder(n_classes + code_dim)
        self.decoder = self.nets.decoder(self.decoder_input_dim())
        self.adversaries = nn.ModuleDict({
            "y": Adversary(categorical, discriminator_hidden, init_std, batchnorm=discriminator_batchnorm,
                           minibatch=minibatch_adversary, make_net=getattr(self.nets, "discriminator", None),
                           dropout=discriminator_dropout),
            "z": Adversary(prior, discriminator_hidden, init_std, side_dim=n_classes if style_sees_class else 0,
                           batchnorm=discriminator_batchnorm, make_net=getattr(self.nets, "discriminator", None),
                           dropout=discriminator_dropout),
        })
        self.style_sees_class = style_sees_class
        self.style_noise = style_noise * float(prior.moments()[1].mean()) if style_noise else 0.0
        self.labelled_shift, self.input_shift = labelled_shift, input_shift
        self.image_hw = tuple(self.nets.image_shape)
        for key, shift in (("labelled_shift", labelled_shift), ("input_shift", input_shift)):
            if not shift:
                continue
            if len(self.image_hw) != 2:  # flat data: square images if the size is a square
                side = round(x_dim**0.5)
                if side * side != x_dim:
                    raise ConfigError(f"config key 'model.{key}': it shifts (height, width) images, and "
                                      f"these data are flat, {x_dim} values each")
                self.image_hw = (side, side)
            if shift >= min(self.image_hw):
                raise ConfigError(f"config key 'model.{key}': {shift} leaves nothing of a "
                                  f"{self.image_hw[0]} x {self.image_hw[1]} image")

    def decoder_input_dim(self) -> int:
        """What the decoder reads: the code [y, z]."""
        return self.n_classes + self.style_dim

    # -- the encoder's two heads -------------------------------------------------------------
    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits and style of ``x``."""
        out = self.encoder(x)
        return out[:, : self.n_classes], out[:, self.n_classes :]

    @staticmethod
    def _code(logits: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.softmax(logits.float(), 1).to(z.dtype), z], 1)

    def encode(self, x):
        return self._code(*self.heads(x))

    def decode_logits(self, z, y=None):
        return self.decoder(z)

    @torch.no_grad()
    def encode_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The codes [y, z] and the class probabilities q(y | x)."""
        codes = self.encode(x)
        return {"codes": codes, "class_probs": codes[:, : self.n_classes]}

    @torch.no_grad()
    def classify_images(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """The predicted class (argmax of q(y | x)) of each image."""
        return torch.cat([self.heads(x[i : i + batch_size])[0].argmax(1) for i in range(0, len(x), batch_size)])

    # -- phases ------------------------------------------------------------------------------
    def autoencoder_parameters(self) -> list[nn.Parameter]:
        """What the reconstruction phase trains."""
        return [*self.encoder.parameters(), *self.decoder.parameters()]

    def phases(self) -> list[Phase]:
        ae = self.autoencoder_parameters()
        classification = Phase("classification", list(self.encoder.parameters()), CLASSIFICATION_SGD,
                               self.classification_loss, source="labelled")
        if self.classifier_only:
            return [classification]
        phases = [
            Phase("reconstruction", ae, AUTOENCODER_SGD, self.reconstruction_loss),
            Phase("discriminator", list(self.adversaries.parameters()), ADVERSARIAL_SGD, self.discriminator_loss),
            Phase("generator", list(self.encoder.parameters()), ADVERSARIAL_SGD, self.generator_loss),
        ]
        return phases + [classification] if self.classify else phases

    def reconstruction_loss(self, batch: Batch) -> torch.Tensor:
        code = self.encode(self.noisy(batch))
        if self.style_noise:
            eps = batch.draw(lambda y, n: torch.randn((n, self.style_dim), dtype=code.dtype, device=code.device))
            code = torch.cat([code[:, : self.n_classes], code[:, self.n_classes :] + self.style_noise * eps], 1)
        return self.reconstruction_error(self.decode_logits(code), batch.x)

    def discriminator_loss(self, batch: Batch):
        # the heads with their graph: the generator phase of this batch reuses them (the encoder
        # has not changed in between: the same numbers, one encoder pass fewer)
        logits, z = self.heads(self.noisy(batch))
        y = F.softmax(logits.float(), 1)
        batch.cache["heads"] = (y, z)
        device = batch.x.device
        real_y, real_z = batch.draw(lambda _, m: (self.adversaries["y"].prior.sample(m, device=device),
                                                  self.adversaries["z"].prior.sample(m, device=device)))
        loss_y, prior_y, codes_y = self.adversaries["y"].discriminator_loss(y, real_y)
        loss_z, prior_z, codes_z = self.adversaries["z"].discriminator_loss(z, real_z, self._style_side(y))
        return loss_y + loss_z, {"d_acc_prior_y": prior_y, "d_acc_codes_y": codes_y,
                                 "d_acc_prior_z": prior_z, "d_acc_codes_z": codes_z}

    def generator_loss(self, batch: Batch) -> torch.Tensor:
        heads = batch.cache.pop("heads", None)
        if heads is None:
            logits, z = self.heads(self.noisy(batch))
            heads = F.softmax(logits.float(), 1), z
        y, z = heads
        return self.adversaries["y"].generator_loss(y) + self.adversaries["z"].generator_loss(z, self._style_side(y))

    def _style_side(self, y: torch.Tensor) -> torch.Tensor | None:
        """What the style's discriminator sees beside each style: the class probabilities, fixed
        (the encoder may change the style to fool it, not the class)."""
        return y.detach() if self.style_sees_class else None

    def classification_loss(self, batch: Batch):
        """Cross-entropy of q(y | x) on a mini-batch of labelled images (each shifted at random by
        up to ``labelled_shift`` pixels)."""
        if self.labelled_shift:
            batch = dataclasses.replace(batch, x=self.shifted(batch, self.labelled_shift))
        logits = self.heads(self.noisy(batch))[0].float()
        return F.cross_entropy(logits, batch.y), {"accuracy": (logits.argmax(1) == batch.y).float().mean()}

    def noisy(self, batch: Batch) -> torch.Tensor:
        """The encoder's training input: with ``input_shift`` each image moved at random (:meth:`shifted`)
        before the input noise; the reconstruction phase still compares the decoder's output with the
        unmoved image."""
        if self.training and self.input_shift:
            batch = dataclasses.replace(batch, x=self.shifted(batch, self.input_shift))
        return super().noisy(batch)

    def shifted(self, batch: Batch, k: int) -> torch.Tensor:
        """The batch's images, each moved by its own random whole number of pixels, from -k to +k
        along each axis, the pixels moved in being 0."""
        x = batch.x
        n, (h, w) = len(x), self.image_hw
        dy, dx = batch.draw(lambda _, m: tuple(torch.randint(0, 2 * k + 1, (2, m), device=x.device)))
        padded = F.pad(x.reshape(n, h, w), (k, k, k, k))
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]
        return padded[torch.arange(n, device=x.device)[:, None, None], rows, cols].reshape(n, -1)

    # -- measures ----------------------------------------------------------------------------
    def extra_diagnostics(self, x, z, y=None):
        """Classification error (%, on the labelled images among ``x``) and each discriminator's
        held-out accuracy on prior samples and on the codes."""
        code_y = z[:, : self.n_classes]
        out = self._d_accuracies(z)
        if y is not None and bool((y >= 0).any()):
            known = y >= 0
            out["error_pct"] = 100 * (code_y[known].argmax(1) != y[known]).float().mean().item()
        return out

    def _d_accuracies(self, z: torch.Tensor) -> dict[str, float]:
        """Each discriminator's held-out accuracy on prior samples and on the codes ``z`` = [y, z]."""
        code_y, code_z = z[:, : self.n_classes], z[:, self.n_classes :]
        out = {}
        out["d_acc_prior_y"], out["d_acc_codes_y"] = self.adversaries["y"].accuracies(code_y)
        out["d_acc_prior_z"], out["d_acc_codes_z"] = self.adversaries["z"].accuracies(
            code_z, self._style_side(code_y.float()))
        return out

    def final_evaluation(self, splits, device, out_dir: Path | None) -> dict[str, Any]:
        """Test and validation error (%); with ``out_dir``, the test and validation predictions
        (``test_predictions.npy``, ``val_predictions.npy``), the labelled training images' indices in the MNIST training
        file (``labelled_indices.npy``) and the test confusion matrix (``confusion.png``)."""
        out: dict[str, Any] = {}
        preds = {}
        for split in ("val", "test"):
            data = splits[split]
            if data.y is None:
                continue
            preds[split] = self.classify_images(data.floats(device)).cpu()
            out[f"{split}_error_pct"] = 100 * (preds[split] != data.y).float().mean().item()
        train_y = splits.train.y
        out["n_labelled"] = int((train_y >= 0).sum()) if train_y is not None else 0
        if out_dir is not None and "test" in preds:
            from aaekit.report import figures

            np.save(out_dir / "test_predictions.npy", preds["test"].numpy())
            if "val" in preds:  # what recipe choices read, never the test split's
                np.save(out_dir / "val_predictions.npy", preds["val"].numpy())
            if splits.train.index is not None and train_y is not None:
                np.save(out_dir / "labelled_indices.npy", splits.train.index[train_y >= 0].numpy())
            figures.save_confusion(splits.test.y.numpy(), preds["test"].numpy(), self.n_classes,
                                   out_dir / "confusion.png", title=f"test error {out['test_error_pct']:.2f} %")
            if len(splits.test.image_shape) >= 2:
                x = splits.test.floats(device)[:10]
                figures.save_grid(self.style_grid(x).cpu().numpy(), splits.test.image_shape, out_dir / "style.png",
                                  ncol=self.n_classes + 1, title="test image, then its style with each class")
        return out

    @torch.no_grad()
    def style_grid(self, x: torch.Tensor) -> torch.Tensor:
        """Per image of ``x``: the image, then its style z decoded with each class's one-hot y (rows:
        styles, columns: classes), flattened row by row."""
        z = self.heads(x)[1].float()
        n, k = len(x), self.n_classes
        y = torch.eye(k, device=x.device).repeat(n, 1)
        decoded = self.decode(torch.cat([y, z.repeat_interleave(k, 0)], 1)).float().reshape(n, k, -1)
        return torch.cat([x[:, None].float(), decoded], 1).reshape(n * (k + 1), -1)


class ClusteringAAE(SemiSupervisedAAE):
    """The unsupervised clustering AAE (paper Sec. 6, Fig. 9, Table 3): the semi-supervised model
    with ``n_clusters`` classes and no classification phase; labels are never trained on, only read
    by the measures. Its cluster of an image is the argmax of q(y | x); its cluster heads are the
    decoder's images of y = one-hot(i), z = 0."""

    kind = "clustering_aae"

    def __init__(self, x_dim: int, code_dim: int, prior: Prior, n_clusters: int = 16, **kwargs: Any) -> None:
        super().__init__(x_dim, code_dim, prior, n_classes=n_clusters, classify=False, **kwargs)

    @torch.no_grad()
    def cluster_logits(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """The class head's logits of each image, (N, n_clusters), float32: q(y | x) is their
        softmax (the paper's metric ranks images by them, as a saturated softmax ties)."""
        return torch.cat([self.heads(x[i : i + batch_size])[0].float() for i in range(0, len(x), batch_size)])

    @torch.no_grad()
    def heads_images(self) -> torch.Tensor:
        """The cluster heads: the decoder's images of y = one-hot(i), z = 0, one row per cluster."""
        device = next(self.decoder.parameters()).device
        code = torch.cat([torch.eye(self.n_classes, device=device),
                          torch.zeros(self.n_classes, self.style_dim, device=device)], 1)
        return self.decode(code).float()

    def extra_diagnostics(self, x, z, y=None):
        """Each discriminator's held-out accuracies and, with labels, the clustering measures of
        these images alone (their own images name the cluster heads: a diagnostic, not the paper's
        validation-then-test metric)."""
        from aaekit.metrics.clustering import cluster_metrics

        out = self._d_accuracies(z)
        if y is not None and bool((y >= 0).all()):
            logits, labels = self.cluster_logits(x).cpu().numpy(), y.cpu().numpy()
            m = cluster_metrics(logits, labels, logits.argmax(1), labels)
            out.update(cluster_error_pct=m["cluster_error_pct"], nmi=m["nmi"], empty_clusters=m["empty_clusters"])
        return out

    def final_evaluation(self, splits, device, out_dir: Path | None) -> dict[str, Any]:
        """The clustering measures of :func:`aaekit.metrics.clustering.cluster_metrics` (cluster
        heads named on the validation split, measured on the test split); with ``out_dir``,
        ``assignments.npz`` (test and validation clusters, the validation images' q(y | x) and the
        logits it is the softmax of, the labels each cluster takes), ``clusters.png`` (Fig. 9: a
        row per cluster, its head, then test images assigned to it) and ``cluster_sizes.png``."""
        from aaekit.metrics.clustering import cluster_metrics, head_labels

        logits = {split: self.cluster_logits(splits[split].floats(device)).cpu() for split in ("val", "test")}
        assign = {split: logits[split].argmax(1).numpy() for split in logits}
        logits_val = logits["val"].numpy()
        y_val, y_test = splits.val.y, splits.test.y
        labelled = y_val is not None and y_test is not None and bool((y_val >= 0).all() and (y_test >= 0).all())
        out: dict[str, Any] = {"n_clusters": self.n_classes}
        heads = None
        if labelled:
            out.update(cluster_metrics(logits_val, y_val.numpy(), assign["test"], y_test.numpy()))
            heads = head_labels(logits_val, y_val.numpy())
        else:
            out["cluster_sizes"] = np.bincount(assign["test"], minlength=self.n_classes).tolist()
        if out_dir is None:
            return out
        from aaekit.report import figures

        np.savez_compressed(out_dir / "assignments.npz", test=assign["test"], val=assign["val"],
                            q_val=F.softmax(logits["val"], 1).numpy(), logits_val=logits_val,
                            head_labels=heads if heads is not None else np.zeros(0, int))
        title = (f"test clustering error {out['cluster_error_pct']:.2f} % (bar: the cluster's label)"
                 if labelled else "test images per cluster")
        figures.save_cluster_sizes(out["cluster_sizes"], None if heads is None else heads.tolist(),
                                   out_dir / "cluster_sizes.png", title=title)
        shape = splits.test.image_shape
        if len(shape) >= 2:
            x, per_row = splits.test.floats(device), 10
            rows = []
            for k, head in enumerate(self.heads_images()):
                members = x[torch.from_numpy(assign["test"] == k).to(x.device)][:per_row].float()
                blank = torch.zeros(per_row - len(members), x.shape[1], device=x.device)
                rows.append(torch.cat([head[None], members, blank]))
            figures.save_grid(torch.cat(rows).cpu().numpy(), shape, out_dir / "clusters.png", ncol=per_row + 1,
                              title="a row per cluster: its head (y one-hot, z = 0), then its test images")
        return out
