"""The conditions of the degradation benchmark: ``clean``, any transform spec of ``spoofbench.augment``
(``codec:opus@12k``, ``noise:white@10dB``, ``chain(...)``), adversarial attacks (``adv:fgsm@40dB``,
``adv:pgd@40dB``, ``adv:transfer=SYSTEM@40dB``) and named sets (``standard``, ``asvspoof2021-la``).

A condition's key (in ``robustness.json``, the tables and the cache) is its canonical spec string.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from spoofbench.augment import Transform, TransformError, available_transforms, parse_transform
from spoofbench.augment.base import compact_spec
from spoofbench.detectors.neural.adversarial import ATTACK_SYNTAX, DEFAULT_PGD_STEPS, AttackSpec, parse_attack
from spoofbench.protocols.errors import ConfigError

CLEAN = "clean"

#: A broad default set: codecs at several bitrates, the telephone channel, noise levels, rooms, resampling.
STANDARD = (
    "codec:mp3@16k", "codec:mp3@32k", "codec:mp3@64k", "codec:aac@32k", "codec:opus@8k", "codec:opus@16k",
    "codec:gsm", "codec:g722", "pstn",
    "noise:white@20dB", "noise:white@10dB", "noise:white@0dB", "noise:pink@10dB",
    "reverb:rt60=0.3", "reverb:rt60=0.8", "resample:8k",
)

#: The transmission conditions of the ASVspoof 2021 LA evaluation (Delgado et al. 2021, evaluation plan; the
#: ``codec`` column none|alaw|pstn|g722|ulaw|gsm|opus of its keys), simulated with real codecs: the challenge
#: sent its audio through real VoIP and PSTN networks, which no local simulation reproduces exactly.
ASVSPOOF2021_LA = {
    "LA-C1 (none)": CLEAN,
    "LA-C2 (a-law, VoIP)": "codec:alaw",
    "LA-C3 (PSTN)": "pstn",
    "LA-C4 (G.722, VoIP)": "codec:g722",
    "LA-C5 (µ-law, VoIP)": "codec:ulaw",
    "LA-C6 (GSM, PSTN)": "codec:gsm",
    "LA-C7 (Opus, VoIP)": "codec:opus@16k",
}

CONDITION_SETS: dict[str, tuple[str, ...]] = {
    "standard": STANDARD,
    "asvspoof2021-la": tuple(ASVSPOOF2021_LA.values()),
}

_TRANSFER = re.compile(r"transfer=([A-Za-z0-9_+.\-]+)@(.+)")


@dataclass(frozen=True)
class Condition:
    """One column of the benchmark. ``kind``: "clean", "transform" (the same degraded audio for every
    system), "whitebox" (crafted against each differentiable system itself) or "transfer" (crafted on the
    system ``source`` and scored by every system)."""

    spec: str
    kind: str
    transform: Transform | None = None
    attack: AttackSpec | None = None
    source: str | None = None
    label: str = ""

    @property
    def adversarial(self) -> bool:
        return self.kind in ("whitebox", "transfer")


def _adversarial(text: str) -> Condition:
    body = text[len("adv:"):]
    try:
        m = _TRANSFER.fullmatch(body)
        if m:  # the budget alone means PGD (adv:transfer=rawnet2.small@40dB); an attack may be named
            budget = m.group(2)
            attack = parse_attack(budget if budget.startswith(("fgsm", "pgd")) else f"pgd@{budget}")
            default = attack.method == "pgd" and attack.steps == DEFAULT_PGD_STEPS
            shown = f"{attack.snr_db:g}dB" if default else attack.spec
            return Condition(f"adv:transfer={m.group(1)}@{shown}", "transfer", attack=attack, source=m.group(1))
        attack = parse_attack(body)
    except ConfigError:
        raise ConfigError(f"condition {text!r}: expected adv:{ATTACK_SYNTAX.split(', e.g.')[0]}, or "
                          "adv:transfer=SYSTEM@SNRdB (crafted with PGD on SYSTEM of this run)") from None
    return Condition(f"adv:{attack.spec}", "whitebox", attack=attack)


def parse_condition(text: str) -> Condition:
    text = compact_spec(str(text))
    if text == CLEAN:
        return Condition(CLEAN, "clean")
    if text.startswith("adv:"):
        return _adversarial(text)
    try:
        transform = parse_transform(text)
    except TransformError as exc:
        raise ConfigError(f"{exc}; or a condition set ({', '.join(CONDITION_SETS)}), clean, "
                          f"adv:{ATTACK_SYNTAX.split(', e.g.')[0]}, adv:transfer=SYSTEM@SNRdB") from None
    return Condition(transform.spec, "transform", transform=transform)


def parse_conditions(items: list[str]) -> list[Condition]:
    """The conditions named (sets expanded, each once, in order), ``clean`` first: every number is compared
    with it. One :class:`ConfigError` line naming the valid names for an unknown one."""
    labels = {spec: label for label, spec in ASVSPOOF2021_LA.items()}
    out: dict[str, Condition] = {CLEAN: Condition(CLEAN, "clean")}
    for item in items:
        item = item.strip()
        if not item:
            continue
        named = CONDITION_SETS.get(item)
        if named is None and item not in CONDITION_SETS and re.fullmatch(r"[a-z0-9\-]+", item) \
                and ":" not in item and item not in available_transforms() and item != CLEAN:
            close = difflib.get_close_matches(item, list(CONDITION_SETS) + list(available_transforms()), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown condition {item!r}{hint}; valid: condition sets "
                              f"{', '.join(CONDITION_SETS)}; clean; transforms "
                              + ", ".join(s for s, _ in available_transforms().values())
                              + f", chain(A,B,...); adv:{ATTACK_SYNTAX.split(', e.g.')[0]}, "
                                "adv:transfer=SYSTEM@SNRdB")
        for text in named or (item,):
            c = parse_condition(text)
            if item == "asvspoof2021-la" and text in labels:
                c = Condition(c.spec, c.kind, c.transform, c.attack, c.source, labels[text])
            if c.spec == CLEAN and c.label:
                out[CLEAN] = c
            out.setdefault(c.spec, c)
    return list(out.values())
