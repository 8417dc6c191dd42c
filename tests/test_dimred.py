"""Dimensionality reduction with AAEs (paper Sec. 7): the code W_C y + z and the cluster-head cost."""

import numpy as np
import pytest
import torch

from aaekit.models import DimRedAAE, DimRedClusteringAAE, build_model
from aaekit.run import train_run


def dimred(tiny, kind="dimred_aae", out="run", epochs=3, margin=1.0, **model):
    m = {"kind": kind, "code_dim": 2, "encoder_hidden": [32, 32], "decoder_hidden": [32, 32],
         "discriminator_hidden": [16], "init_std": 0.1, "input_noise": 0.3, "head_margin": margin, **model}
    if kind == "dimred_aae":
        m["n_classes"] = 4
        data = {"dataset": tiny().data.dataset, "val_size": 50, "labelled": 20}
    else:
        m["n_clusters"] = 6
        data = {"dataset": tiny().data.dataset, "val_size": 50}
    return tiny(out, model=m, data=data,
                train={"epochs": epochs, "batch_size": 20, "precision": "fp32", "progress": False, "device": "cpu"})


def test_the_decoder_reads_w_c_y_plus_z(tiny):
    model = build_model(dimred(tiny), 64)
    assert isinstance(model, DimRedAAE) and model.decoder[0].in_features == 2
    assert model.cluster_heads.shape == (4, 2) and any(p is model.cluster_heads for p in model.autoencoder_parameters())
    x = torch.rand(5, 64)
    code = model.encode(x)  # [softmax y, z], what the adversaries see
    y, z = code[:, :4], code[:, 4:]
    assert torch.allclose(model.reduce(code), y @ model.cluster_heads + z)
    assert torch.allclose(model.decode_logits(code), model.decoder(y @ model.cluster_heads + z))
    one_hot = torch.cat([torch.eye(4)[1:2], torch.zeros(1, 2)], 1)  # a pure class and no style: its head
    assert torch.allclose(model.reduce(one_hot)[0], model.cluster_heads[1])


def test_the_head_cost_pushes_close_heads_apart_and_leaves_far_ones_alone(tiny):
    model = build_model(dimred(tiny, margin=1.0), 64)
    with torch.no_grad():
        model.cluster_heads.copy_(torch.tensor([[0.0, 0.0], [0.3, 0.0], [5.0, 5.0], [-5.0, 5.0]]))
    penalty = model.head_penalty()
    assert penalty.item() == pytest.approx(0.7)  # only the pair 0-1, 0.3 apart: 1.0 - 0.3
    penalty.backward()
    grad = model.cluster_heads.grad
    assert torch.equal(grad[2:], torch.zeros(2, 2))  # the far heads feel nothing
    assert grad[0, 0] > 0 and grad[1, 0] < 0  # descending moves head 0 left and head 1 right: apart
    with torch.no_grad():
        model.cluster_heads -= 0.1 * grad
    assert torch.dist(model.cluster_heads[0], model.cluster_heads[1]) > 0.3
    assert build_model(dimred(tiny, margin=0.0), 64).head_penalty().item() == 0


def test_semisupervised_dimred_learns_and_draws_its_map(tiny):
    result = train_run(dimred(tiny, epochs=8))
    out, m = result["run_dir"], result["metrics"]
    assert m["test_error_pct"] < 30 and m["head_min_distance"] > 0
    saved = np.load(out / "reduced.npz")
    assert saved["z"].shape == (50, 2) and saved["heads"].shape == (4, 2)
    assert (out / "map.png").is_file() and (out / "confusion.png").is_file()
    assert "reconstruction_head_penalty" in (out / "log.csv").read_text().splitlines()[0]


def test_unsupervised_dimred_is_measured_as_a_clustering(tiny):
    result = train_run(dimred(tiny, kind="dimred_clustering_aae", epochs=2))
    m = result["metrics"]
    assert isinstance(build_model(dimred(tiny, kind="dimred_clustering_aae"), 64), DimRedClusteringAAE)
    assert "cluster_error_pct" in m and "test_error_pct" not in m and sum(m["cluster_sizes"]) == 50
    assert (result["run_dir"] / "map.png").is_file() and (result["run_dir"] / "clusters.png").is_file()
    with pytest.raises(Exception, match="only the dimred_aae and dimred_clustering_aae have it"):
        tiny(model={"kind": "aae", "head_margin": 1.0})
