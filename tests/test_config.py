import pytest

from aaekit.config import Config, ConfigError, load_config, parse_overrides


def test_defaults_are_the_papers_setup():
    cfg = Config()
    assert cfg.model.encoder_hidden == [1000, 1000] and cfg.model.discriminator_hidden == [1000, 1000]
    assert cfg.model.init_std == 0.01 and cfg.train.batch_size == 100
    assert cfg.model.recon_loss == "sse" and cfg.data.val_size == 10000


def test_yaml_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\nmodel: {code_dim: 8}\nprior: {kind: gaussian, std: 5}\n")
    cfg = load_config(p, ["train.epochs=3", "train.optim.reconstruction.lr=0.5", "model.encoder_hidden=[10, 20]"])
    assert cfg.model.code_dim == 8 and cfg.prior.std == 5.0 and cfg.train.epochs == 3
    assert cfg.train.optim == {"reconstruction": {"lr": 0.5}}
    assert cfg.model.encoder_hidden == [10, 20]


@pytest.mark.parametrize("override, message", [
    ("train.epoch=3", "unknown config key 'train.epoch' (did you mean 'train.epochs'?)"),
    ("model.code_dim=two", "config key 'model.code_dim': expected int"),
    ("prior.kind=uniform", "config key 'prior.kind': 'uniform' is not one of"),
    ("train.epochs=0", "config key 'train.epochs': must be > 0"),
    ("train.optim.generator.nme=sgd", "unknown config key 'train.optim.generator.nme'"),
    ("train.optim.generator.lr=-1", "config key 'train.optim.generator.lr': must be > 0"),
    ("model.code_dim=8", "the mog prior is 2-D"),
])
def test_bad_values_name_the_key(tmp_path, override, message):
    p = tmp_path / "c.yaml"
    p.write_text("prior: {kind: mog}\n")
    with pytest.raises(ConfigError) as e:
        load_config(p, [override])
    assert message in str(e.value) and "\n" not in str(e.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["novalue"])


def test_a_config_extends_its_base_key_by_key(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "root.yaml").write_text("name: root\nmodel: {code_dim: 8, input_noise: 0.3}\n"
                                        "train: {epochs: 50, optim: {generator: {lr: 0.5, momentum: 0.5}}}\n")
    (tmp_path / "sub" / "mid.yaml").write_text("base: ../root.yaml\nname: mid\nmodel: {code_dim: 4}\n")
    (tmp_path / "sub" / "leaf.yaml").write_text("base: mid.yaml\nname: leaf\ntrain: {optim: {generator: {lr: 0.1}}}\n")
    cfg = load_config(tmp_path / "sub" / "leaf.yaml", ["train.epochs=7"])
    assert cfg.name == "leaf" and cfg.model.code_dim == 4 and cfg.model.input_noise == 0.3
    assert cfg.train.epochs == 7 and cfg.train.optim == {"generator": {"lr": 0.1, "momentum": 0.5}}


def test_bad_base_configs_name_the_file(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("base: b.yaml\n")
    b.write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="a cycle of base configs"):
        load_config(a)
    a.write_text("base: missing.yaml\n")
    with pytest.raises(ConfigError, match=r"config key 'base' in .*a.yaml: .*missing.yaml does not exist"):
        load_config(a)
    a.write_text("base: [1]\n")
    with pytest.raises(ConfigError, match="the path of the config it extends"):
        load_config(a)


def test_shipped_configs_load():
    from pathlib import Path

    configs = sorted((Path(__file__).parents[1] / "configs").rglob("*.yaml"))
    assert configs, "no configs shipped"
    for path in configs:
        cfg = load_config(path)
        assert cfg.name == path.stem, f"{path.name}: name must match the file name"
