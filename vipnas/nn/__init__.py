"""Plain ``torch.nn`` building blocks: layers (activations, attention, conv-BN-act, the staged backbone) and the
blocks every static network is made of, built from the block specs of :mod:`vipnas.space.blocks`.

A leaf layer: it imports only torch and :mod:`vipnas.space`; :mod:`vipnas.elastic` (the supernets' operators) and
:mod:`vipnas.models` (networks, supernets, checkpoints) build on it. A deployed model needs nothing else.
"""
