"""The main jobs on the embedded default, end to end on SynthPose.

- :mod:`vipnas.demo.spatial` — ``vipnas demo``: the spatial ViPNAS pipeline (supernet, search, extraction,
  fine-tuning, a table on a held-out test split);
- :mod:`vipnas.demo.video` — ``vipnas demo --video``: the temporal pipeline on SynthPose videos (key network,
  T-ViPNet supernet, computation allocation, S-ViPNAS every frame against T-ViPNAS at equal average MACs);
- :mod:`vipnas.demo.ablations` — the paper's temporal ablations (Table 3, Fig. 6a, Fig. 6b, Table 4) as
  functions of one prepared temporal run.
"""

from vipnas.demo.spatial import (
    FULL,
    LONG,
    PRETRAINED,
    PRETRAINED_KEYS,
    QUICK,
    DemoSettings,
    demo_evaluators,
    demo_overrides,
    file_digest,
    pretrained_supernet,
    run_demo,
    stage_dir,
    supernet_config,
)

__all__ = [
    "FULL",
    "LONG",
    "PRETRAINED",
    "PRETRAINED_KEYS",
    "QUICK",
    "DemoSettings",
    "demo_evaluators",
    "demo_overrides",
    "file_digest",
    "pretrained_supernet",
    "run_demo",
    "stage_dir",
    "supernet_config",
]
