import math

import pytest
import torch
from torch import nn

from aaekit.config import ConfigError
from aaekit.data.loader import Batch
from aaekit.models import AAE, VAE, build_model
from aaekit.nets import MLP, ConvEncoder, alive_units
from aaekit.priors import Gaussian, MixtureOfGaussians, SwissRoll


def small_aae(prior=None, **kw):
    return AAE(16, 2, prior or Gaussian(2), (8,), (8,), (8,), init_std=0.1, **kw)


def test_paper_nets():
    m = AAE(784, 8, Gaussian(8, 5.0))
    sizes = [(layer.in_features, layer.out_features) for layer in m.encoder if isinstance(layer, nn.Linear)]
    assert sizes == [(784, 1000), (1000, 1000), (1000, 8)]
    assert isinstance(m.decoder[-1], nn.Linear)  # logits; sigmoid is applied by decode()
    assert isinstance(m.discriminator[-1], nn.Linear)  # logits for binary_cross_entropy_with_logits
    w = m.encoder[2].weight
    assert abs(w.std().item() - 0.01) < 5e-4 and m.encoder[2].bias.abs().max() == 0
    d = m.decode(torch.randn(3, 8))
    assert d.shape == (3, 784) and d.min() >= 0 and d.max() <= 1


def test_phase_order_and_params():
    m = small_aae()
    phases = m.phases()
    assert [p.name for p in phases] == ["reconstruction", "discriminator", "generator"]
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    assert ids(phases[0].params) == ids([*m.encoder.parameters(), *m.decoder.parameters()])
    assert ids(phases[1].params) == ids(m.discriminator.parameters())
    assert ids(phases[2].params) == ids(m.encoder.parameters())
    assert phases[0].optimizer.lr == 0.01 and phases[0].optimizer.momentum == 0.9
    assert phases[1].optimizer.lr == 0.1 and phases[1].optimizer.momentum == 0.1


def test_discriminator_calls_prior_samples_real():
    """Real = prior samples (target 1), fake = codes (target 0): a discriminator that outputs +10 on
    prior samples and -10 on codes has near-zero loss and full accuracy."""
    torch.manual_seed(0)
    m = small_aae(prior=MixtureOfGaussians())
    x = torch.rand(50, 16)
    # encoder maps everything to far away from the prior
    with torch.no_grad():
        m.encoder[-1].weight.zero_()
        m.encoder[-1].bias.fill_(100.0)
    m.adversary.net = MLP(2, (), 1, init_std=None)
    with torch.no_grad():  # logit = 10 - 0.2 * (z1 + z2): > 0 near the prior, < 0 at (100, 100)
        m.discriminator[0].weight.fill_(-0.2)
        m.discriminator[0].bias.fill_(10.0)
    loss, logs = m.discriminator_loss(Batch(x))
    assert loss.item() < 1e-3
    assert logs["d_acc_prior"] == 1 and logs["d_acc_codes"] == 1
    assert m.generator_loss(Batch(x)).item() > 10  # the encoder is far from fooling it


def test_reconstruction_cost_is_per_image_sum():
    m = small_aae()
    x = torch.rand(4, 16)
    logits = torch.zeros(4, 16)
    assert torch.isclose(m.reconstruction_error(logits, x), (0.5 - x).pow(2).sum(1).mean())


def test_input_noise_only_in_training():
    m = small_aae(input_noise=0.3)
    batch = Batch(torch.zeros(1000, 16))
    assert abs(m.noisy(batch).std().item() - 0.3) < 0.01
    m.eval()
    assert torch.equal(m.noisy(batch), batch.x)


def test_vae_kl_exact_matches_monte_carlo():
    torch.manual_seed(0)
    v = VAE(16, 2, Gaussian(2, 2.0), (8,), (8,), init_std=0.1)
    mean, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.4]])
    exact = v.kl(mean, logvar, None)
    z = mean + (0.5 * logvar).exp() * torch.randn(200_000, 2)
    log_q = (-0.5 * ((z - mean) ** 2 / logvar.exp() + logvar + math.log(2 * math.pi))).sum(1)
    mc = (log_q - Gaussian(2, 2.0).log_prob(z)).mean()
    assert abs(exact.item() - mc.item()) < 0.01
    assert [p.name for p in v.phases()] == ["elbo"]


def test_vae_needs_a_density():
    with pytest.raises(ConfigError, match="the VAE needs a prior with a density"):
        VAE(16, 2, SwissRoll(), (8,), (8,))


def test_build_model_from_config(tiny):
    cfg = tiny()
    m = build_model(cfg, 64)
    assert isinstance(m, AAE) and m.encoder[0].in_features == 64
    cfg.model.kind = "vae"
    assert isinstance(build_model(cfg, 64), VAE)


def test_alive_units_counts_silenced_relus():
    net = MLP(4, (6, 6), 1, init_std=0.1)
    x = torch.randn(100, 4)
    assert alive_units(net, x) > 0.5
    with torch.no_grad():
        net[0].bias[:3] = -100.0  # three of twelve hidden units can never fire
    assert alive_units(net, x) <= 9 / 12


def test_alive_units_counts_a_convolution_channel_as_one_unit():
    net = ConvEncoder((6, 6), 2, channels=(4,), hidden=(5,), init_std=0.1)
    x = torch.rand(50, 36)
    assert alive_units(net, x) > 0.5
    with torch.no_grad():
        net.conv[0].bias[:2] = -100.0  # two of the four channels never fire, anywhere
        net.fc[0].bias[:] = -100.0  # nor any of the five hidden units
    assert alive_units(net, x) == pytest.approx(2 / 9)


def test_checkpoints_naming_the_discriminator_still_load():
    """Before the adversary was its own piece, a state dict named its net ``discriminator.*``."""
    a, b = small_aae(), small_aae()
    old = {k.replace("adversary.net.", "discriminator."): v for k, v in a.state_dict().items()}
    assert any(k.startswith("discriminator.") for k in old)
    b.load_state_dict(old)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
