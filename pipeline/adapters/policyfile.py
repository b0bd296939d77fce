"""Reading the policy file: the one place the worker and the tools load a policy from disk."""

from __future__ import annotations

from pathlib import Path

from pipeline.domain.errors import PolicyError
from pipeline.domain.policy import Policy, load_policy


def load_policy_file(path: Path) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read the policy file: {exc}", source=str(path)) from None
    return load_policy(text, source=str(path))
