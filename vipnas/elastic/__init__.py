"""Elastic operators and blocks: slices of one max-size weight, each with a static ``torch.nn`` twin."""
