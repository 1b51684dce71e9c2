"""Datasets, the top-down pipeline, heatmap targets and SynthPose."""

from vipnas.data.metadata import COCO, CROWDPOSE, DATASETS, MPII, POSETRACK18, DatasetInfo, get_dataset_info

__all__ = ["COCO", "CROWDPOSE", "DATASETS", "MPII", "POSETRACK18", "DatasetInfo", "get_dataset_info"]
