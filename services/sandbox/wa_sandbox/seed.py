"""The sandbox's starting data: one WABA, ten Spanish bakery numbers, the ``po_notification`` template.

Other services' tests may import it::

    from wa_sandbox.seed import load_seed
    seed = load_seed()
    phone_number_id = seed["phone_numbers"][0]["id"]
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

SEED_WABA_ID = "100000000000001"
SEED_TEMPLATE_NAME = "po_notification"


def load_seed(path: str | Path | None = None) -> dict[str, Any]:
    """Return a fresh copy of the seed (the packaged ``seed.json`` unless ``path`` names another file)."""
    if path is None:
        text = resources.files("wa_sandbox").joinpath("seed.json").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def seed_phone_number_ids(path: str | Path | None = None) -> list[str]:
    """The phone_number_ids of the seed, in order."""
    return [number["id"] for number in load_seed(path)["phone_numbers"]]
