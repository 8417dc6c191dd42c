from aaekit.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from aaekit.train.trainer import Trainer, TrainingDiverged

__all__ = ["CheckpointError", "Trainer", "TrainingDiverged", "load_checkpoint", "save_checkpoint"]
