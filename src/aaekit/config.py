"""Typed experiment configs: dataclasses whose defaults are the paper's set-up; YAML only overrides.

Validation happens once, at load; any wrong key or value raises ``ConfigError`` whose message is a
single line naming the key (the CLI prints it without a traceback).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# The models whose encoder has a class head y under a Cat prior.
CATEGORICAL_KINDS = ("semisupervised_aae", "clustering_aae", "dimred_aae", "dimred_clustering_aae")


class ConfigError(ValueError):
    """A config key or value is wrong; the message is one line naming it."""


@dataclass
class DataConfig:
    # "mnist", or the path of a .npy/.npz file with the user's images (see aaekit.data.arrays).
    dataset: str = "mnist"
    # MNIST folder; None -> $AAEKIT_DATA, else ./data/mnist.
    data_dir: str | None = None
    download: bool = True
    # Validation images carved from the training set with a fixed seed: no model choice ever
    # looks at the test set.
    val_size: int = 10000
    split_seed: int = 0
    # Use only the first N images of the (shuffled) training split: quick runs and tests.
    train_subset: int | None = None
    # Keep the labels of only N training images (the same number per class; the rest get -1,
    # "no label"), drawn with labelled_seed (None: the run's seed). None: every label is kept.
    labelled: int | None = None
    labelled_seed: int | None = None


@dataclass
class ModelConfig:
    kind: str = "aae"
    # Paper, Fig. 2: a 2-D code for the visualisation experiments.
    code_dim: int = 2
    # Paper, Appendix A [memory, PAPER.md sec. 2]: every net is 2 x 1000 ReLU.
    encoder_hidden: list[int] = field(default_factory=lambda: [1000, 1000])
    decoder_hidden: list[int] = field(default_factory=lambda: [1000, 1000])
    discriminator_hidden: list[int] = field(default_factory=lambda: [1000, 1000])
    # Weights drawn from N(0, init_std^2), biases zero [memory, PAPER.md sec. 2];
    # None: PyTorch's default (Kaiming-uniform) initialisation.
    init_std: float | None = 0.01
    # "sse": per-image sum of squared errors (the paper's Euclidean cost, PAPER.md sec. 1b);
    # "bce": Bernoulli log-likelihood, the usual VAE choice on MNIST.
    recon_loss: str = "sse"
    # Gaussian noise added to the encoder's input during training only (0 = none).
    input_noise: float = 0.0
    # Classes of the labels (supervised_aae: the decoder's one-hot input).
    n_classes: int = 10
    # supervised_aae and semisupervised_aae, not in the paper: the (style) discriminator also sees the
    # label beside the code (and beside each prior sample), which pushes every class's styles onto the
    # same prior (semisupervised_aae: the label is the encoder's own q(y | x)).
    adversary_sees_label: bool = False
    # semisupervised_aae only: train the encoder's class head on the labelled images alone (the
    # classification phase only), the paper's "NN baseline" row of Table 2.
    classifier_only: bool = False
    # semisupervised_aae only, not in the paper: shift each labelled image of the classification phase
    # by a random whole number of pixels, up to this many in each direction (0: none; square images).
    labelled_shift: int = 0
    # semisupervised_aae and clustering_aae, not in the paper: in training, every image the encoder
    # reads (each phase) is first moved by a random whole number of pixels, up to this many in each
    # direction (then input_noise is added); the reconstruction target stays the unmoved image, so the
    # code is pushed to ignore small shifts (0: none; square images). With labelled_shift the
    # classification phase's images are moved by both.
    input_shift: int = 0
    # clustering_aae: the number of clusters K, the size of the softmax y under its Cat(K) prior
    # (paper Table 3: 16 and 30).
    n_clusters: int = 16
    # dimred_aae and dimred_clustering_aae (paper Sec. 7): the threshold eta below which a pair of
    # cluster heads (rows of W_C) is pushed apart by max(0, eta - distance); 0 = no such cost. The
    # paper gives no value.
    head_margin: float = 0.0
    # semisupervised_aae, clustering_aae and the dimred kinds, not in the paper: the class adversary
    # (on y) also sees, beside each y, the mean y of its mini-batch (beside each prior sample, the
    # mean of its batch of prior samples; "minibatch discrimination", Salimans et al. 2016). It can
    # then tell a batch that uses few classes from the uniform Cat prior's while the softmax is still
    # soft, before it saturates on those few and the others die (what the clustering AAE does
    # without it: 3 of 16 clusters used after one epoch).
    minibatch_adversary: bool = False
    # The encoder's and decoder's nets: "mlp" (the paper's, of encoder_hidden / decoder_hidden) or
    # "conv" (aaekit.nets.conv, on (H, W) images): per stage a 3 x 3 convolution of conv_channels[i]
    # channels halving the image, then fully connected hidden layers of encoder_hidden /
    # decoder_hidden. With the DCGAN switches off it is a classic CNN (max-pooling, upsampling).
    nets: str = "mlp"
    conv_channels: list[int] = field(default_factory=lambda: [32, 64])
    all_conv: bool = False  # conv: strided / transposed convolutions instead of pooling / upsampling
    no_fc: bool = False  # conv: no fully connected hidden layers
    batchnorm: bool = False  # batch norm in the encoder and decoder (not on their image layers)
    discriminator_batchnorm: bool = False  # batch norm in the discriminators (not on their input layer)
    # Not in the paper: dropout after each hidden ReLU of the MLP encoder and decoder / of the
    # discriminators, the probability of zeroing a unit, in training only (0 = none).
    dropout: float = 0.0
    discriminator_dropout: float = 0.0
    # The aae's q(z | x) (paper Sec. 2): deterministic (its experiments' choice) or gaussian (a mean
    # and a log-variance per dimension; training codes are draws, models/aae.py).
    posterior: str = "deterministic"
    # semisupervised_aae and clustering_aae, not in the paper: Gaussian noise of this std (in units
    # of the style prior's std) added to the style z the decoder reads in the reconstruction phase,
    # in training only (0 = none). It caps what the style can carry (about 0.5 log2(1 + 1/s^2) bits
    # per dimension), so what the decoder needs most has to go through y.
    style_noise: float = 0.0


@dataclass
class PriorConfig:
    kind: str = "gaussian"
    dim: int | None = None  # None -> model.code_dim
    std: float = 1.0
    # Mixture of 2-D Gaussians laid out radially as in the paper's Fig. 2b: component k is an
    # elongated Gaussian at angle 2*pi*k/n. Shape values are those of common reimplementations
    # (the paper does not state them).
    n_components: int = 10
    mog_radius: float = 1.4
    mog_radial_std: float = 0.5
    mog_tangential_std: float = 0.1
    # Swiss roll: 10 equal segments along the roll, digit k on segment k (Fig. 4).
    roll_radius: float = 3.0
    roll_turns: float = 2.0
    # Width of the roll: std of Gaussian noise added to each sample (0: a curve of no width).
    roll_noise: float = 0.0


@dataclass
class OptimConfig:
    name: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    # Clip this phase's gradient to this L2 norm before each step (None: no clipping).
    grad_clip: float | None = None
    # The learning rate is multiplied by gamma at each milestone epoch.
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1


@dataclass
class TrainConfig:
    epochs: int = 5000  # paper, Appendix A [memory]
    batch_size: int = 100
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "auto"  # auto (bf16 where the hardware has it) | bf16 | fp32
    # torch.compile the model's nets: none | default | max-autotune. The first steps of a run (and
    # each new batch shape) pay the compile time. (reduce-overhead is refused: see validate.)
    compile: str = "none"
    # On a GPU, capture each training step (every phase, its random draws and optimizer steps) as
    # one CUDA graph and replay it for every full batch (aaekit.train.graph); the trainer falls back
    # to eager steps, saying why, where a model or setting cannot be captured. No effect on a CPU.
    # On by default: on an H200 it trained the Table 1 AAE to the eager steps' losses, 7.5x faster
    # (results/bench/epochs_h200.json). With train.seeds the step of all seeds is one graph, their
    # draws from one shared stream (aaekit.train.seeds).
    cuda_graph: bool = True
    # Train several seeds in one process as one batched computation (aaekit.train.seeds), e.g.
    # [0, 1, 2]: each seed's run goes to <out_dir>/seed<N> (out_dir unset: runs/<name>/seed<N>) and
    # is the run that seed would make alone (`seed` is then unused). Empty: one run, of `seed`.
    seeds: list[int] = field(default_factory=list)
    # Per-phase overrides of the model's default optimizer, e.g. {reconstruction: {lr: 0.001}}.
    optim: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Gradient-norm clip for every phase that sets no grad_clip of its own (None: no clipping).
    grad_clip: float | None = None
    log_every: int = 50  # steps between progress-bar updates (each reads losses: a sync)
    # The held-out diagnostics (the val_ columns of log.csv) every this many epochs, and always after
    # the first and the last: on a GPU one epoch's steps can take less time than they do.
    val_every: int = 1
    # A checkpoint every this many epochs, and always after the last: a stopped run resumes from the
    # latest, at most this many epochs back.
    checkpoint_every: int = 1
    progress: bool = True
    tensorboard: bool = False
    threads: int | None = None  # torch intra-op threads on CPU; None = torch's default
    # Treat denormal floats as zero on CPU while training: the paper's small init (std 0.01) yields
    # denormal activations and gradients, which x86 CPUs process up to several times slower.
    flush_denormal: bool = True


@dataclass
class Config:
    name: str = "experiment"
    seed: int = 0
    out_dir: str | None = None  # None -> runs/<name>/seed<seed>
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) if self.out_dir else Path("runs") / self.name / f"seed{self.seed}"


CHOICES: dict[str, tuple[str, ...]] = {
    "model.kind": ("aae", "vae", "supervised_aae", "label_aae", "semisupervised_aae", "clustering_aae",
                   "dimred_aae", "dimred_clustering_aae"),
    "model.recon_loss": ("sse", "bce"),
    "model.nets": ("mlp", "conv"),
    "prior.kind": ("gaussian", "mog", "swissroll", "categorical"),
    "train.precision": ("auto", "bf16", "fp32"),
    "train.compile": ("none", "default", "max-autotune"),
}
OPTIM_CHOICES = ("sgd", "adam")
POSITIVE = {
    "model.code_dim", "model.init_std", "prior.std", "prior.n_components", "prior.mog_radial_std",
    "prior.mog_tangential_std", "prior.roll_radius", "prior.roll_turns", "train.epochs",
    "train.batch_size", "train.log_every", "data.val_size", "data.labelled", "model.n_classes", "model.n_clusters",
    "train.threads", "prior.dim", "train.val_every", "train.checkpoint_every",
}


def _suggest(key: str, options: typing.Iterable[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(key, list(options), n=1)
    return f" (did you mean '{prefix}.{close[0]}'?)".replace("'.", "'") if close else ""


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against the type hint ``tp``; return it (ints widen to floats)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, path)
            except ConfigError:
                pass
        raise ConfigError(f"config key '{path}': expected {_type_name(tp)}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{path}': expected a mapping, got {value!r}")
        return _build(tp, value, path)
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config key '{path}': expected a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_coerce(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{path}': expected a mapping, got {value!r}")
        _, item = typing.get_args(tp)
        return {str(k): _coerce(v, item, f"{path}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string: take what float() takes
            try:
                value = float(value.strip())
            except ValueError:
                pass
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"config key '{path}': expected a finite number, got {value!r}")
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    raise ConfigError(f"config key '{path}': expected {_type_name(tp)}, got {value!r}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _build(cls: type, values: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            raise ConfigError(f"unknown config key '{path}'{_suggest(str(key), names, prefix)}")
        kwargs[key] = _coerce(value, hints[key], path)
    return cls(**kwargs)


def validate(cfg: Config) -> Config:
    """Range and choice checks that types alone cannot express; raises ConfigError."""
    flat = _flatten(cfg.to_dict())
    if cfg.train.compile == "reduce-overhead":  # measured on an H200 (issue 18)
        raise ConfigError("config key 'train.compile': reduce-overhead is not offered: its CUDA graphs crash in "
                          "the second epoch (a phase reads a net's output that a later replay overwrote); "
                          "train.cuda_graph: true runs each whole training step as one CUDA graph instead")
    for key, options in CHOICES.items():
        if flat[key] not in options:
            raise ConfigError(f"config key '{key}': {flat[key]!r} is not one of {', '.join(options)}")
    for key in POSITIVE:
        if flat[key] is not None and flat[key] <= 0:
            raise ConfigError(f"config key '{key}': must be > 0, got {flat[key]!r}")
    for key in ("model.all_conv", "model.no_fc"):
        if flat[key] and cfg.model.nets != "conv":
            raise ConfigError(f"config key '{key}': a switch of model.nets: conv, and model.nets is {cfg.model.nets!r}")
    if cfg.model.nets == "conv" and not cfg.model.conv_channels:
        raise ConfigError("config key 'model.conv_channels': a conv net needs at least one stage")
    for key in ("model.discriminator_batchnorm", "model.discriminator_dropout"):
        if flat[key] and cfg.model.kind == "vae":
            raise ConfigError(f"config key '{key}': the vae has no discriminator")
    for key in ("model.dropout", "model.discriminator_dropout"):
        if not 0 <= flat[key] < 1:
            raise ConfigError(f"config key '{key}': a probability in [0, 1), got {flat[key]!r}")
    if cfg.model.posterior not in ("deterministic", "gaussian"):
        raise ConfigError(f"config key 'model.posterior': deterministic or gaussian, not {cfg.model.posterior!r}")
    if cfg.model.posterior != "deterministic" and cfg.model.kind != "aae":
        raise ConfigError(f"config key 'model.posterior': only the aae has it, not {cfg.model.kind!r}"
                          + (" (the vae's posterior is always gaussian)" if cfg.model.kind == "vae" else ""))
    if cfg.model.dropout and cfg.model.nets != "mlp":
        raise ConfigError(f"config key 'model.dropout': only the mlp nets have it, and model.nets is "
                          f"{cfg.model.nets!r}")
    for key in ("model.encoder_hidden", "model.decoder_hidden", "model.discriminator_hidden", "model.conv_channels"):
        if any(h <= 0 for h in flat[key]):
            raise ConfigError(f"config key '{key}': layer sizes must be > 0, got {flat[key]!r}")
    if cfg.data.train_subset is not None and cfg.data.train_subset <= 0:
        raise ConfigError(f"config key 'data.train_subset': must be > 0, got {cfg.data.train_subset}")
    if cfg.train.grad_clip is not None and cfg.train.grad_clip <= 0:
        raise ConfigError(f"config key 'train.grad_clip': must be > 0, got {cfg.train.grad_clip}")
    if cfg.model.style_noise and cfg.model.kind not in ("semisupervised_aae", "clustering_aae"):
        raise ConfigError(f"config key 'model.style_noise': only the semisupervised_aae and the clustering_aae "
                          f"have it, not {cfg.model.kind!r}")
    for key in ("model.input_noise", "prior.roll_noise", "model.labelled_shift", "model.head_margin",
                "model.style_noise", "model.input_shift"):
        if flat[key] < 0:
            raise ConfigError(f"config key '{key}': must be >= 0, got {flat[key]}")
    if cfg.prior.kind in ("mog", "swissroll") and cfg.model.code_dim != 2:
        raise ConfigError(
            f"config key 'model.code_dim': the {cfg.prior.kind} prior is 2-D, got {cfg.model.code_dim}"
        )
    if cfg.model.kind == "supervised_aae" and cfg.data.labelled is not None:
        raise ConfigError("config key 'data.labelled': the supervised_aae needs every training label; set it to null")
    if cfg.model.minibatch_adversary and cfg.model.kind not in CATEGORICAL_KINDS:
        raise ConfigError(f"config key 'model.minibatch_adversary': only models with a class head y have it "
                          f"({', '.join(CATEGORICAL_KINDS)}), not {cfg.model.kind!r}")
    if cfg.model.classifier_only and cfg.model.kind != "semisupervised_aae":
        raise ConfigError(f"config key 'model.classifier_only': only the semisupervised_aae has it, not "
                          f"{cfg.model.kind!r}")
    if cfg.model.labelled_shift and cfg.model.kind not in ("semisupervised_aae", "dimred_aae"):
        raise ConfigError(f"config key 'model.labelled_shift': only the semisupervised_aae and dimred_aae have "
                          f"it, not {cfg.model.kind!r}")
    if cfg.model.input_shift and cfg.model.kind not in ("semisupervised_aae", "clustering_aae"):
        raise ConfigError(f"config key 'model.input_shift': only the semisupervised_aae and the clustering_aae "
                          f"have it, not {cfg.model.kind!r}")
    if cfg.model.head_margin and not cfg.model.kind.startswith("dimred_"):
        raise ConfigError(f"config key 'model.head_margin': only the dimred_aae and dimred_clustering_aae have "
                          f"it, not {cfg.model.kind!r}")
    if cfg.model.kind in CATEGORICAL_KINDS and cfg.prior.kind != "gaussian":
        what = "n_classes" if cfg.model.kind in ("semisupervised_aae", "dimred_aae") else "n_clusters"
        raise ConfigError(f"config key 'prior.kind': the {cfg.model.kind}'s style prior is gaussian (its class "
                          f"prior is Cat(model.{what})), not {cfg.prior.kind!r}")
    if cfg.model.adversary_sees_label and cfg.model.kind not in ("supervised_aae", "semisupervised_aae",
                                                                 "clustering_aae"):
        raise ConfigError(f"config key 'model.adversary_sees_label': only the supervised_aae, the "
                          f"semisupervised_aae and the clustering_aae have it, "
                          f"not {cfg.model.kind!r} (label_aae's discriminator always sees the labels)")
    if not valid_device(cfg.train.device):
        raise ConfigError(f"config key 'train.device': {cfg.train.device!r} is not auto, cpu or cuda[:N]")
    if cfg.prior.dim is not None:
        if cfg.prior.kind != "gaussian":
            raise ConfigError(f"config key 'prior.dim': the {cfg.prior.kind} prior has a fixed dimension and "
                              "ignores it; leave it unset")
        if cfg.prior.dim != cfg.model.code_dim:
            raise ConfigError(f"config key 'prior.dim': {cfg.prior.dim}, but model.code_dim is "
                              f"{cfg.model.code_dim}; the prior is drawn in the code's dimension (leave it unset)")
    for phase, overrides in cfg.train.optim.items():
        optim_config(overrides, OptimConfig(), f"train.optim.{phase}")
    seeds = cfg.train.seeds
    if len(set(seeds)) != len(seeds) or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds):
        raise ConfigError(f"config key 'train.seeds': must be distinct integers >= 0, got {seeds!r}")
    return cfg


def valid_device(name: str) -> bool:
    """auto, cpu, cuda or cuda:N."""
    if name in ("auto", "cpu", "cuda"):
        return True
    index = name.partition(":")[2] if name.startswith("cuda:") else ""
    return index.isdigit()


def optim_config(overrides: dict[str, Any], default: OptimConfig, path: str) -> OptimConfig:
    """A phase's optimizer: the model's default with the config's overrides applied."""
    merged = {**dataclasses.asdict(default), **overrides}
    opt = _build(OptimConfig, merged, path)
    if opt.name not in OPTIM_CHOICES:
        raise ConfigError(f"config key '{path}.name': {opt.name!r} is not one of sgd, adam")
    if opt.lr <= 0:
        raise ConfigError(f"config key '{path}.lr': must be > 0, got {opt.lr}")
    if not 0 <= opt.momentum < 1:
        raise ConfigError(f"config key '{path}.momentum': must be in [0, 1), got {opt.momentum}")
    if len(opt.betas) != 2 or not all(0 <= b < 1 for b in opt.betas):
        raise ConfigError(f"config key '{path}.betas': must be two numbers in [0, 1), got {opt.betas}")
    if opt.grad_clip is not None and opt.grad_clip <= 0:
        raise ConfigError(f"config key '{path}.grad_clip': must be > 0, got {opt.grad_clip}")
    if sorted(opt.milestones) != opt.milestones or any(m <= 0 for m in opt.milestones):
        raise ConfigError(f"config key '{path}.milestones': must be increasing positive epochs")
    return opt


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict) and k != "optim":
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config key '{dotted}': '{part}' is not a section")
        node = child
    node[parts[-1]] = value


def parse_overrides(items: typing.Sequence[str]) -> dict[str, Any]:
    """``["train.epochs=5", "prior.kind=mog"]`` -> nested dict; values are parsed as YAML."""
    tree: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        _set_dotted(tree, key.strip(), value)
    return tree


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def from_dict(values: dict[str, Any]) -> Config:
    if not isinstance(values, dict):
        raise ConfigError(f"a config must be a mapping of keys, got {type(values).__name__}")
    return validate(_build(Config, values, ""))


def _read_yaml(path: Path) -> dict[str, Any]:
    """The mapping a YAML config file holds, or a one-line ConfigError naming the file."""
    if not path.is_file():
        raise ConfigError(f"config file {path} {'is a folder' if path.is_dir() else 'does not exist'}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not a text (UTF-8 YAML) file") from None
    except OSError as e:
        raise ConfigError(f"config file {path} cannot be read ({e.strerror})") from None
    try:
        values = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys")
    return values


def read_config_file(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file's values with those of the ``base:`` config it names (a path relative to the
    file; bases may have bases) under them: the file's own keys win, sections merge key by key."""
    path = Path(path)
    values = _read_yaml(path)
    base = values.pop("base", None)
    if base is None:
        return values
    if not isinstance(base, str) or not base:
        raise ConfigError(f"config key 'base' in {path}: the path of the config it extends, got {base!r}")
    base_path = path.parent / base
    if base_path.resolve() in _seen + (path.resolve(),):
        raise ConfigError(f"config key 'base' in {path}: {base} extends itself (a cycle of base configs)")
    if not base_path.is_file():
        raise ConfigError(f"config key 'base' in {path}: {base_path} does not exist")
    return _merge(read_config_file(base_path, _seen + (path.resolve(),)), values)


def load_config(path: str | Path | None, overrides: typing.Sequence[str] = ()) -> Config:
    """Read a YAML config (or none: all defaults), with its ``base:`` configs under it, and apply
    ``key=value`` overrides."""
    values = read_config_file(path) if path is not None else {}
    return from_dict(_merge(values, parse_overrides(overrides)))


def save_config(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
