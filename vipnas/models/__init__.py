"""Static pose networks, supernets, the model registry, checkpoints and complexity counting."""

from vipnas.models.checkpoint import load_model, read_checkpoint, save_model
from vipnas.models.complexity import Complexity, arch_complexity, measure_complexity
from vipnas.models.metadata import ModelMetadata
from vipnas.models.pose import PoseNetwork, build_static
from vipnas.models.registry import MODELS, create_model, list_models
from vipnas.models.supernet import PoseSupernet

__all__ = [
    "MODELS",
    "Complexity",
    "ModelMetadata",
    "PoseNetwork",
    "PoseSupernet",
    "arch_complexity",
    "build_static",
    "create_model",
    "list_models",
    "load_model",
    "measure_complexity",
    "read_checkpoint",
    "save_model",
]
