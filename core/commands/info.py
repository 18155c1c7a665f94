"""``cisr info [MODEL]``: list bundled models and devices, or show a checkpoint's model card."""

from __future__ import annotations

import json


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="list bundled models and devices, or show a checkpoint's metadata")
    p.add_argument("model", nargs="?", help="bundled model name or checkpoint path")
    p.set_defaults(func=run)


def run(args) -> int:
    import dataclasses
    from ..checkpoint import bundled_models, describe_checkpoint, load_checkpoint
    from ..devices import available_devices
    if args.model:
        lm = load_checkpoint(args.model)
        n = sum(p.numel() for p in lm.model.parameters())
        d = dataclasses.asdict(lm.descriptor) if lm.descriptor is not None else None
        print(json.dumps({"name": lm.name, "path": str(lm.path), "official_liif": lm.official,
                          "parameters": n, "descriptor": d, "spec": lm.spec, "meta": lm.meta},
                         indent=2, default=str))
        return 0
    print("bundled models:")
    for name, path in bundled_models().items():
        d = describe_checkpoint(path)
        print(f"  {name}: {d.display_name if d else 'not an image decoder'}  ({path})")
    print("devices: " + ", ".join(available_devices()))
    return 0
