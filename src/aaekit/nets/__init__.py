from aaekit.nets.mlp import MLP

__all__ = ["MLP"]
