"""Your own nets from Python: any aaekit model built on user nn.Modules, trained by the one trainer."""

import torch
from torch import nn

from aaekit.data import load_splits
from aaekit.models import AAE, SemiSupervisedAAE
from aaekit.nets import CustomNets
from aaekit.priors import Gaussian
from aaekit.train import Trainer


class SmallConvEncoder(nn.Module):
    def __init__(self, out_dim):
        super().__init__()
        self.net = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ELU(),
                                 nn.Flatten(), nn.Linear(8 * 4 * 4, out_dim))

    def forward(self, x):
        return self.net(x)


def custom_nets(made):
    def keep(kind, module):
        made.append((kind, module))
        return module

    return CustomNets(
        encoder=lambda out: keep("encoder", SmallConvEncoder(out)),
        decoder=lambda inp: keep("decoder", nn.Sequential(nn.Linear(inp, 64), nn.ELU(), nn.Linear(64, 64))),
        discriminator=lambda inp: keep(f"discriminator_{inp}", nn.Sequential(nn.Linear(inp, 32), nn.LeakyReLU(0.2),
                                                                             nn.Linear(32, 1))),
        image_shape=(8, 8))


def test_an_aae_on_your_own_nets_trains_with_the_one_trainer(tiny):
    cfg = tiny(train={"epochs": 6, "batch_size": 20, "precision": "fp32", "progress": False, "device": "cpu",
                      "optim": {"reconstruction": {"name": "adam", "lr": 0.003}}})
    splits = load_splits(cfg.data, seed=0)
    made = []
    torch.manual_seed(0)
    model = AAE(splits.train.dim, 2, Gaussian(2), nets=custom_nets(made))
    assert [k for k, _ in made] == ["encoder", "decoder", "discriminator_2"]
    assert model.encoder is made[0][1] and model.decoder is made[1][1] and model.adversary.net is made[2][1]
    history = Trainer(model, cfg, splits.train, splits.val, cfg.run_dir).fit()
    assert history[-1]["val_recon_sse"] < 0.7 * history[0]["val_recon_sse"]
    assert torch.isfinite(model.encode(splits.test.floats("cpu"))).all()


def test_the_semisupervised_aae_asks_your_nets_for_the_widths_it_needs():
    made = []
    model = SemiSupervisedAAE(64, 3, Gaussian(3), n_classes=4, nets=custom_nets(made))
    # the encoder emits the 4 class logits and the 3-D style; one discriminator for each adversary
    assert [k for k, _ in made] == ["encoder", "decoder", "discriminator_4", "discriminator_3"]
    assert model.encode(torch.rand(5, 64)).shape == (5, 7)
