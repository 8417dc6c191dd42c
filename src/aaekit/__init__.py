"""aaekit: Adversarial Autoencoders (Makhzani et al., 2015) in PyTorch."""

__version__ = "0.1.0"
