"""``cisr info [MODEL] [--json]``: list bundled models and devices, or show a model's card
(for a fixed-scale model of another project, through spandrel: its architecture and scale).

The card is printed for people: name, architecture, scale range, a training summary and the
metrics the file records; file paths of the training machine (``/work/...``, ``/home/...``)
are shown by their last component only. ``--json`` prints the raw card (spec, descriptor and
``meta`` as stored).
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List

#: absolute paths inside card strings (POSIX, ``~``, Windows drive letters)
_PATH_RE = re.compile(r"(?<![\w.])(?:~|[A-Za-z]:)?[/\\](?:[^\s,;:()\[\]'\"]+[/\\])*([^\s,;:()\[\]'\"/\\]*)")


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="list bundled models and devices, or show a model's card",
                       description="Without MODEL: the bundled models and the devices of this machine. With "
                                   "MODEL (a bundled name or a checkpoint file): its model card, readable "
                                   "(--json: the raw card).")
    p.add_argument("model", nargs="?", help="bundled model name or checkpoint path")
    p.add_argument("--json", action="store_true", help="print the raw card as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..checkpoint import bundled_models, describe_checkpoint
    from ..devices import available_devices, cuda_devices
    from ..fixed_scale import load_model
    from ..render.sources import describe_source
    if args.model:
        lm = load_model(args.model)
        desc = describe_source(lm, must_render=True)   # an encoder or discriminator alone: upscale's words, status 1
        if desc.native_scale is not None:
            print_fixed_card(desc, args.json)
            return 0
        n = sum(p.numel() for p in lm.model.parameters())
        if args.json:
            print(json.dumps(raw_card(lm, n), indent=2, default=str))
        else:
            print("\n".join(card_lines(lm, n, bundled=args.model in bundled_models())))
        return 0
    if args.json:
        raise_usage("--json needs a MODEL")
    print("bundled models:")
    for name, path in bundled_models().items():
        d = describe_checkpoint(path)
        print(f"  {name}: {d.display_name if d else 'not an image decoder'}  ({path})")
    gpus = {n: label for n, label in cuda_devices()}
    names = []
    for d in available_devices():
        if d == "cuda" and gpus:
            names += [f"{n} ({label})" for n, label in gpus.items()]
        else:
            names.append(d)
    print("devices: " + ", ".join(names))
    return 0


def print_fixed_card(desc, as_json: bool) -> None:
    """The card of a model that runs at one native scale (a
    :class:`~cisr_zoom.core.render.sources.SourceDescriptor` with ``native_scale``)."""
    f = desc.facts
    tags = list(f.get("tags") or ())
    runner = f.get("runner", "spandrel")
    card = {"name": desc.name, "path": str(desc.path), "kind": f"{desc.kind} ({runner})",
            "architecture": desc.architecture, "scale": desc.native_scale, "purpose": f.get("purpose"),
            "tags": tags, "parameters": f.get("parameters")}
    if as_json:
        print(json.dumps(card, indent=2))
        return
    print(f"{desc.name}: {desc.display_name} (a fixed-scale model, "
          f"{'loaded through spandrel' if runner == 'spandrel' else 'run natively'})")
    for k, v in (("file", desc.path), ("architecture", f"{desc.architecture}"
                                       f"{' (' + ', '.join(tags) + ')' if tags else ''}; {f.get('parameters'):,} parameters"),
                 ("scale", f"x{desc.native_scale} only; other scales are resampled from it"),
                 ("purpose", f.get("purpose")), ("training", "not recorded (the file is a bare state dict)")):
        print(f"  {k + ':':<13} {v}")


def raise_usage(message: str) -> None:
    from ..errors import UsageError
    raise UsageError(message)


def raw_card(lm, parameters: int) -> Dict[str, Any]:
    import dataclasses
    d = dataclasses.asdict(lm.descriptor) if lm.descriptor is not None else None
    return {"name": lm.name, "path": str(lm.path), "official_liif": lm.official, "parameters": parameters,
            "descriptor": d, "spec": lm.spec, "meta": lm.meta}


def scrub(text: Any) -> str:
    """``text`` with every absolute path replaced by its last component (``/work/x/T91`` -> ``T91``)."""
    return _PATH_RE.sub(lambda m: m.group(1) or "…", str(text))


def _num(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return scrub(v)
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:.4g}"


def _architecture(lm) -> str:
    args = lm.spec.get("args") or {}
    enc = args.get("encoder_spec") if isinstance(args.get("encoder_spec"), dict) else {}
    ea = enc.get("args") if isinstance(enc.get("args"), dict) else {}
    parts = [str(lm.spec.get("name", "?"))]
    if enc:
        sizes = ", ".join(f"{k} {ea[k]}" for k in ("n_resblocks", "n_feats", "D", "G0") if k in ea)
        parts.append(f"encoder {enc.get('name', '?')}" + (f" ({sizes})" if sizes else ""))
    imnet = args.get("imnet_spec") if isinstance(args.get("imnet_spec"), dict) else {}
    hidden = (imnet.get("args") or {}).get("hidden_list") if isinstance(imnet.get("args"), dict) else None
    if isinstance(hidden, list) and hidden:
        parts.append(f"MLP {' x '.join(str(h) for h in hidden)}")
    if args.get("image_skip"):
        parts.append("image skip")
    return ", ".join(parts)


def _scale_range(meta: Dict[str, Any]) -> str:
    td = meta.get("training_data") if isinstance(meta.get("training_data"), dict) else {}
    r = td.get("scale_range")
    if not (isinstance(r, list) and len(r) == 2):
        train = ((meta.get("config") or {}).get("datasets") or {}).get("train") if isinstance(meta.get("config"), dict) else None
        if isinstance(train, dict) and "scale_min" in train and "scale_max" in train:
            r = [train["scale_min"], train["scale_max"]]
    trained = f"trained on x{_num(r[0])} to x{_num(r[1])}; " if isinstance(r, list) and len(r) == 2 else ""
    return f"{trained}renders any scale (continuous)"


def _losses(meta: Dict[str, Any]) -> str:
    losses = meta.get("losses")
    if not isinstance(losses, dict):
        return ""
    terms = []
    for v in losses.values():
        if isinstance(v, dict) and "type" in v:
            terms.append(f"{_num(v.get('weight', 1))} * {v['type']}")
    return " + ".join(terms)


def _training(meta: Dict[str, Any]) -> List[str]:
    out = []
    it = meta.get("total_iterations", meta.get("iterations"))
    sessions = meta.get("sessions") if isinstance(meta.get("sessions"), list) else []
    minutes = 0.0
    for s in sessions:
        if isinstance(s, dict):
            m = s.get("minutes")
            minutes += float(m) if isinstance(m, (int, float)) else float(s.get("wall_time_s") or 0) / 60
    if not sessions and isinstance(meta.get("wall_time_s"), (int, float)):
        minutes = meta["wall_time_s"] / 60
    hw = meta.get("hardware") if isinstance(meta.get("hardware"), dict) else {}
    where = " ".join(str(x) for x in (hw.get("device"), f"({hw['cpu']})" if hw.get("cpu") else None) if x)
    if it is not None:
        text = f"{_num(it)} iterations"
        if len(sessions) > 1:
            text += f" in {len(sessions)} sessions"
        if minutes:
            text += f", {minutes:.0f} min"
        if where:
            text += f" on {scrub(where)}"
        out.append(text)
    td = meta.get("training_data") if isinstance(meta.get("training_data"), dict) else {}
    sets = meta.get("training_sets") or [scrub(d) for d in td.get("dirs") or []]
    if sets or td:
        data = ", ".join(scrub(s) for s in sets) if sets else "?"
        extra = []
        if td.get("images"):
            extra.append(f"{_num(td['images'])} images")
        if td.get("megapixels"):
            extra.append(f"{_num(td['megapixels'])} MP")
        out.append(f"data: {data}" + (f" ({', '.join(extra)})" if extra else "")
                   + (f"; {scrub(td['degradation'])}" if td.get("degradation") else ""))
    loss = _losses(meta)
    if loss:
        out.append(f"loss: {loss}" + (f" (perceptual term: {scrub(meta['perceptual_term'])})"
                                       if meta.get("perceptual_term") not in (None, "none") else ""))
    init = meta.get("initialised_from_model") or meta.get("initialised_from")
    if init:
        out.append(f"initialised from: {scrub(init)}")
    if meta.get("training_note"):
        out.append(f"note: {scrub(meta['training_note'])}")
    return out


def _metrics(meta: Dict[str, Any]) -> List[str]:
    out = []

    def flat(prefix: str, v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                flat(f"{prefix} {k}".strip(), x)
        elif isinstance(v, list):
            out.append(f"{prefix}: {' / '.join(_num(x) for x in v)}")
        elif v is not None:
            out.append(f"{prefix}: {_num(v)}")

    if isinstance(meta.get("metrics"), dict):
        flat("", meta["metrics"])
    val = meta.get("validation")
    if isinstance(val, dict) and isinstance(val.get("last"), dict):
        last = dict(val["last"])
        it = last.pop("iter", None)
        flat(f"held-out validation{f' (iteration {it})' if it is not None else ''}", last)
    return out


def card_lines(lm, parameters: int, bundled: bool = False) -> List[str]:
    """The readable card of a loaded model (one item per line, nothing of the training
    machine's file system)."""
    from ..checkpoint import INPUTS
    meta = lm.meta or {}
    d = lm.descriptor
    title = d.display_name if d is not None else "not an image decoder"
    rows = [("file", "bundled with CiSR Zoom" if bundled else str(lm.path)),
            ("architecture", f"{_architecture(lm)}; {parameters:,} parameters")]
    if d is not None:
        rows.append(("family", d.family))
        rows.append(("scale range", _scale_range(meta)))
        rows.append(("precisions", ", ".join(d.precisions)))
    if meta.get("weights_dtype"):
        rows.append(("weights", f"stored as {meta['weights_dtype']}, computed in float32 or the chosen precision"))
    if lm.official:
        rows.append(("training", "an official LIIF checkpoint: the file has no model card"))
    else:
        train = _training(meta)
        rows += [("training" if i == 0 else "", t) for i, t in enumerate(train)] or [("training", "not recorded")]
    if meta.get("released"):
        rows.append(("released", scrub(meta["released"])))
    if isinstance(meta.get("inputs"), str) and meta["inputs"] in INPUTS:
        rows.append(("made for", INPUTS[meta["inputs"]][1]))
    if meta.get("licence"):
        rows.append(("licence", scrub(meta["licence"]) + (" (the notice is in the card: --json)" if meta.get("notice")
                                                          else "")))
    metrics = _metrics(meta)
    rows += [("metrics" if i == 0 else "", m) for i, m in enumerate(metrics)] or [
        ("metrics", "none recorded in the file" + (" (see the bundled models' README, resources/weights/README.md)"
                                                   if bundled else ""))]
    width = max(len(k) for k, _ in rows) + 1
    return [f"{lm.name}: {title}"] + [f"  {(k + ':') if k else '':<{width}} {v}" for k, v in rows]
