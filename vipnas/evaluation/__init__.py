"""Evaluation: flip test, instance scoring and OKS-NMS, COCO / CrowdPose / PoseTrack18 / MPII metrics."""
