"""The model's VM-size allow lists, the one rule for both the validator (bundled or locked
metadata) and the flow's pre-flight (the live registry's tags).

Sizes compare case-insensitively. A fine-tuning size off the model's list is refused; with no
list, the retired K80 sizes are refused (the notebook's rule). An inference size off its list is
only a warning: the service may still accept it.
"""

from __future__ import annotations

from collections.abc import Sequence

K80_SIZES = frozenset({"standard_nc6", "standard_nc12", "standard_nc24", "standard_nc24r"})


def finetune_refusal(size: str, allow: Sequence[str], model: str) -> str | None:
    """Why fine-tuning `model` on `size` is refused, or None when it is allowed."""
    if allow and size.lower() not in {s.lower() for s in allow}:
        return f"{size} is not on {model}'s fine-tuning allow list: {', '.join(allow)}"
    if not allow and size.lower() in K80_SIZES:
        return f"{size} (K80) cannot fine-tune this model"
    return None


def inference_warning(size: str, allow: Sequence[str], model: str) -> str | None:
    """Why serving `model` on `size` deserves a warning, or None."""
    if allow and size.lower() not in {s.lower() for s in allow}:
        return f"{size} is not on {model}'s inference allow list: {', '.join(allow)}"
    return None
